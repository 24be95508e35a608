"""How a run lives and ends: which process owns it, whether it died, and resuming it.

A run row says ``running`` while its process works. If that process is killed
(``kill -9``, a machine crash) nobody rewrites the row, so readers compare the
owner recorded in the report (host, pid, process start time) with the live
system and show such a run as ``died``.

Resuming works the same way on every backend: the backend's own strategy is
started again from scratch with the run's seed, and every evaluation whose
trial was already finished is answered from the store instead of being
trained again (:class:`Replay`). The strategy therefore sees the finished
trials exactly as the first time (same samples, same scores, same pruning
decisions) and goes on where the killed process stopped. This needs the
strategy to propose the same samples for the same seed and results, which the
conformance suite checks for every backend; if it ever does not, the resume
stops with :class:`ResumeDiverged` and changes nothing already stored.
"""

from __future__ import annotations

import json
import os
import signal
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from unified_nas.evaluation.train.result import EpochCallback, TrialResult
from unified_nas.report.records import TrialRecord


# -- which process owns a run ------------------------------------------------------------------------
def _start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (Linux), to tell a reused pid apart."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
            return int(f.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def _machine() -> dict[str, Any]:
    """Where pids mean something: the host name, this boot, and this pid namespace.

    Two containers may share a host name (and a store volume) but not a pid
    namespace; after a reboot the same pid is another process.
    """
    try:
        pidns = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        pidns = None
    return {"host": socket.gethostname(), "boot_id": _read("/proc/sys/kernel/random/boot_id"), "pidns": pidns}


def this_process() -> dict[str, Any]:
    """The owner record of a run started by this process."""
    pid = os.getpid()
    return {**_machine(), "pid": pid, "start_ticks": _start_ticks(pid)}


def owner_alive(owner: Mapping[str, Any] | None) -> bool | None:
    """Whether the process that owns a run is still alive.

    Args:
        owner: The report's ``process`` record (see :func:`this_process`).

    Returns:
        True or False when this machine can tell; None when the run belongs to
        another host, boot or pid namespace (or an old report without an owner).
    """
    if not owner or any(owner.get(k) != v for k, v in _machine().items()):
        return None
    pid = int(owner["pid"])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        pass
    ticks = _start_ticks(pid)
    return ticks is None or owner.get("start_ticks") is None or ticks == owner["start_ticks"]


def shown_status(status: str, owner: Mapping[str, Any] | None) -> str:
    """The status to show: ``died`` for a ``running`` run whose process is gone."""
    if status == "running" and owner_alive(owner) is False:
        return "died"
    return status


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C would be, so a terminated run ends as an interrupted one.

    A KeyboardInterrupt subclass on purpose: the runner, the benchmark and
    the toolkits already stop cleanly on KeyboardInterrupt (the run is stored
    as ``interrupted`` with every finished trial), while Python's default
    SIGTERM handling would kill the process with nothing saved.
    """


_terminate_requested = False


def _raise_terminated(signum: int, frame: object) -> None:
    global _terminate_requested
    _terminate_requested = True
    raise Terminated()


def handle_sigterm() -> None:
    """Turns SIGTERM into :class:`Terminated` in this process (call from the main thread)."""
    signal.signal(signal.SIGTERM, _raise_terminated)


def raise_if_terminated() -> None:
    """Raises :class:`Terminated` again if SIGTERM arrived earlier in this process.

    Python runs a signal handler wherever the main thread happens to be. When
    that is a finalizer or a weakref callback (TensorFlow and keras-tuner run
    many of these during garbage collection), the interpreter prints
    "Exception ignored" and the raised :class:`Terminated` is lost: the run
    went on to finish and exit 0 (seen in CI). The runner calls this at safe
    points (before each trial, after each stored trial), so a swallowed
    SIGTERM still stops the run at the next one.

    Raises:
        Terminated: SIGTERM was received.
    """
    if _terminate_requested:
        raise Terminated()


# -- resuming ----------------------------------------------------------------------------------------
class ReplayedTrialFailed(Exception):
    """A trial that failed in the first attempt fails again on resume, with its first error."""


class ResumeDiverged(BaseException):
    """The strategy proposed a different sample than the first attempt did at the same trial.

    A BaseException, like KeyboardInterrupt, on purpose: every toolkit catches
    ``Exception`` from a trial and records a failed trial, but this must end
    the search, since replaying further would pair stored results with other
    samples.
    """


def _canonical(sample: Mapping[str, Any]) -> str:
    return json.dumps(sample, sort_keys=True)


@dataclass
class Replay:
    """The finished trials of an earlier attempt, handed back to a restarted strategy in order.

    Backends run trials one at a time: trial ``i`` is evaluated, then emitted,
    before trial ``i + 1`` is proposed. So the ``i``-th emitted record of the
    new attempt is the ``i``-th stored one, and an evaluation asks about the
    first stored trial not yet emitted (a trial that failed before its
    evaluation, e.g. while its model was built, fails the same way again and
    is emitted without asking).

    Attributes:
        records: The stored finished trials, ordered by index.
        emitted: How many of them the new attempt has emitted so far.
    """

    records: list[TrialRecord]
    emitted: int = 0

    def __post_init__(self) -> None:
        self.records = sorted(self.records, key=lambda r: r.index)

    @property
    def active(self) -> bool:
        """True while stored trials remain to be replayed."""
        return self.emitted < len(self.records)

    def _expect(self, sample: Mapping[str, Any], where: str) -> TrialRecord:
        rec = self.records[self.emitted]
        if _canonical(rec.sample) != _canonical(sample):
            raise ResumeDiverged(
                f"resume diverged at trial {rec.index} ({where}): the strategy proposed {dict(sample)} where the "
                f"first attempt had {rec.sample}; the {len(self.records)} stored trials are kept unchanged"
            )
        return rec

    def result(self, sample: Mapping[str, Any], on_epoch: EpochCallback | None = None) -> TrialResult | None:
        """The stored outcome of the trial now being evaluated, or None to train it.

        The stored per-epoch history goes through ``on_epoch`` again, so a
        pruner sees the same intermediate values and prunes at the same epoch.

        Raises:
            ReplayedTrialFailed: The trial failed in the first attempt.
            ResumeDiverged: ``sample`` is not the stored trial's sample, or the
                pruner decides otherwise than it did.
        """
        if not self.active:
            return None
        rec = self._expect(sample, "evaluation")
        if rec.status == "failed":
            raise ReplayedTrialFailed(f"failed in the first attempt: {(rec.error or '').strip()[-500:]}")
        if on_epoch is not None:
            pruned = any(on_epoch(int(row.get("epoch", 0)), dict(row)) for row in rec.history)
            if pruned != (rec.status == "pruned"):  # any() stops at the first "prune", as training would
                raise ResumeDiverged(
                    f"resume diverged at trial {rec.index}: the pruner now "
                    f"{'prunes' if pruned else 'keeps'} a trial that was {rec.status}; "
                    f"the {len(self.records)} stored trials are kept unchanged"
                )
        return TrialResult(
            metrics=dict(rec.metrics),
            test_accuracy=rec.test_accuracy,
            history=list(rec.history),
            params=rec.params or 0,
            flops=rec.flops or 0,
            train_s=rec.train_s,
            stopped="pruned" if rec.status == "pruned" else None,
            simulated_s=rec.simulated_s,
            true_accuracy=rec.true_accuracy,
            violations=rec.violations,
        )

    def hand_over(self) -> set[int]:
        """Ends replay at once, for a search that keeps its own history and proposes nothing again.

        A shared Optuna study lives on in its storage: resuming attaches to it
        instead of restarting the strategy, so no stored trial comes back. What
        comes back is every trial that finished while the run's first process
        was gone, and only those must be stored.

        Returns:
            The indices of the stored trials (the toolkit's trial numbers).
        """
        self.emitted = len(self.records)
        return {r.index for r in self.records}

    def consume(self, record: TrialRecord) -> TrialRecord | None:
        """Matches an emitted record against the stored one.

        Returns:
            The stored record (keep it, do not store the new one), or None
            once replay is over (store the new record).

        Raises:
            ResumeDiverged: The emitted trial is not the stored one.
        """
        if not self.active:
            return None
        rec = self._expect(record.sample, "result")
        self.emitted += 1
        return rec
