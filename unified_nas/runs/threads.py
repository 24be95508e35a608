"""Framework threads per run: every backend's trials get the same share of the cores.

Left alone, torch starts one OpenMP thread per core and TensorFlow sizes its
pools the same way, whatever else runs. On a busy 2-core machine that turned a
0.3 s digits_mlp training into 20 s of threads spinning against each other, so
wall-clock curves compared thread contention rather than search. A run
therefore sets, before and after its toolkit is imported:

* ``OMP_NUM_THREADS``, ``MKL_NUM_THREADS``, ``OPENBLAS_NUM_THREADS`` (native
  libraries read them when they load);
* ``TF_NUM_INTRAOP_THREADS``, ``TF_NUM_INTEROP_THREADS`` (TensorFlow reads them
  when its runtime starts) and ``tf.config.threading`` if TensorFlow is loaded;
* ``torch.set_num_threads`` / ``torch.set_num_interop_threads``;
* ``OMP_WAIT_POLICY=PASSIVE`` unless the user set a policy: OpenMP's default
  lets an idle thread spin for its next task, and a spinning thread whose
  core another process holds stalls the whole team. Measured here with one
  other busy process (``benchmarks/threads_bench.py`` worker): a digits_mlp
  training on 2 threads took 3.2-5.9 s spinning and 0.28-0.51 s passive
  (1 thread: 0.25 s either way). On a quiet machine passive threads cost
  more wake-ups (0.79 s against 0.22 s spinning), a bounded loss against an
  unbounded one.

How many: one intra-op thread per run unless the user says otherwise, and
the cores go to runs side by side (``unas bench --jobs``). Measured on 2
cores with ``benchmarks/threads_bench.py``, every network our recipes ship
trains fastest on one thread, quiet or busy (digits_mlp 0.18 s on one
thread, 0.22-0.79 s on two; digits_cnn 0.44 s against 0.82-0.97 s): their
ops are too small to split, and a split pays a synchronisation per op.
``--threads auto`` gives ``cores // jobs`` (the cores this process may run
on, shared by the runs that run at once) for networks large enough to gain
from it; ``--threads N`` sets N. Inter-op pools get one thread: the networks
are chains of ops, and a second pool only competes for the same cores. What
was applied (read back from the frameworks) goes into the run report's
environment, so a reader sees the conditions of every timing.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any

from unified_nas.core.errors import UserError

# Read by the native libraries and TensorFlow at load time; set before any framework is imported.
_INTRA_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TF_NUM_INTRAOP_THREADS")
_INTER_VARS = ("TF_NUM_INTEROP_THREADS",)
# A child process of a run (NNI's web-engine trials) reads the run's choice from here.
ENV_VAR = "UNAS_THREADS"
INTER_OP_THREADS = 1
WAIT_POLICY_VAR = "OMP_WAIT_POLICY"
DEFAULT_THREADS = 1  # see the module docstring for the measurements behind it
AUTO = "auto"
# Upper bound of --threads and --jobs: more than any machine's cores, and far below the values that
# overflow OpenMP's and torch's C integers (libgomp: "Invalid value", torch: "Overflow when unpacking").
MAX_THREADS = 4096


def cores_available() -> int:
    """The CPU cores this process may run on (its affinity mask, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def threads_per_run(jobs: int = 1, threads: int | str | None = None) -> tuple[int, str]:
    """How many intra-op threads each run gets, and why.

    Args:
        jobs: Runs that share the cores at once (a benchmark's ``--jobs``).
        threads: The user's ``--threads``: a count, ``"auto"`` (the cores shared by ``jobs``
            runs), or None for the default of one thread per run.

    Returns:
        ``(threads, source)``, the source a short text for the report.

    Raises:
        UserError: ``jobs`` outside 1..MAX_THREADS, or ``threads`` neither ``"auto"`` nor an integer in
            1..MAX_THREADS (naming which).
    """
    if isinstance(jobs, bool) or not isinstance(jobs, int) or not 1 <= jobs <= MAX_THREADS:
        raise UserError(f"jobs: expected an integer in 1..{MAX_THREADS}, got {jobs!r}")
    if threads is None:
        return DEFAULT_THREADS, "default: one per run (cores go to concurrent runs, --jobs)"
    if threads == AUTO:
        cores = cores_available()
        return max(1, cores // jobs), f"auto: {cores} core(s) / {jobs} concurrent run(s)"
    if isinstance(threads, bool) or not isinstance(threads, int) or not 1 <= threads <= MAX_THREADS:
        raise UserError(f"threads: expected an integer in 1..{MAX_THREADS} or 'auto', got {threads!r}")
    return threads, "--threads"


def parse_threads(text: str) -> int | str:
    """A ``--threads`` value from the command line: ``auto`` or an integer >= 1.

    Raises:
        UserError: Anything else, with the reason.
    """
    value: int | str = text
    if text != AUTO:
        try:
            value = int(text)
        except ValueError:
            pass  # refused just below, with the same message as any other bad value
    threads_per_run(1, value)
    return value


def thread_environment(threads: int, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables that native libraries and TensorFlow read when they load, set for ``threads``.

    Args:
        threads: Intra-op threads.
        environ: The environment to start from (default: this process's).

    Returns:
        A copy of ``environ`` with the thread variables set (a child process's ``env``).
    """
    env = dict(os.environ if environ is None else environ)
    env.update({var: str(threads) for var in _INTRA_VARS})
    env.update({var: str(INTER_OP_THREADS) for var in _INTER_VARS})
    if not env.get(WAIT_POLICY_VAR):  # the user's policy stands; else idle threads sleep (module docstring)
        env[WAIT_POLICY_VAR] = "PASSIVE"
    env[ENV_VAR] = str(threads)
    return env


def set_thread_environment(threads: int) -> None:
    """Sets :func:`thread_environment` in this process, before a framework is imported; children inherit it.

    Args:
        threads: Intra-op threads.
    """
    os.environ.update(thread_environment(threads))


def plan_threads(threads: int | str | None, jobs: int = 1) -> tuple[int, str]:
    """A process's thread count (:func:`threads_per_run`), set in the environment before any toolkit loads.

    Call :func:`apply_threads` with the result once the frameworks are imported.

    Args:
        threads: ``--threads``: a count, ``"auto"`` or None.
        jobs: Runs sharing this machine's cores.

    Returns:
        (threads, where the number came from).

    Raises:
        UserError: A bad ``threads`` or ``jobs``.
    """
    count, source = threads_per_run(jobs, threads)
    set_thread_environment(count)
    return count, source


def _torch_threads(threads: int) -> dict[str, int] | None:
    torch = sys.modules.get("torch")  # never import a framework just to configure it
    if torch is None:
        return None
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(INTER_OP_THREADS)
    except RuntimeError:
        pass  # torch allows it once, before any inter-op work: a second run in one process keeps the first
    return {"intra_op": torch.get_num_threads(), "inter_op": torch.get_num_interop_threads()}


def _tensorflow_threads(threads: int) -> dict[str, int] | None:
    tf = sys.modules.get("tensorflow")
    if tf is None:
        return None
    threading = tf.config.threading
    for setter, value in (
        (threading.set_intra_op_parallelism_threads, threads),
        (threading.set_inter_op_parallelism_threads, INTER_OP_THREADS),
    ):
        try:
            setter(value)
        except RuntimeError:
            pass  # TensorFlow's runtime already started: its pools were sized from the environment set earlier
    return {
        "intra_op": threading.get_intra_op_parallelism_threads(),
        "inter_op": threading.get_inter_op_parallelism_threads(),
    }


def apply_threads(threads: int, source: str = "") -> dict[str, Any]:
    """Sets every loaded framework's threads and returns what they report back.

    Call :func:`set_thread_environment` first (before the imports), then this
    once the toolkit is loaded.

    Args:
        threads: Intra-op threads.
        source: Why this count (see :func:`threads_per_run`), recorded as is.

    Returns:
        The record for the run report: the count, its source, the environment
        variables and each loaded framework's intra/inter-op threads.
    """
    set_thread_environment(threads)
    record: dict[str, Any] = {
        "threads": threads,
        "source": source,
        "cores_available": cores_available(),
        "env": {var: os.environ[var] for var in (*_INTRA_VARS, *_INTER_VARS, WAIT_POLICY_VAR)},
    }
    for name, frame in (("torch", _torch_threads(threads)), ("tensorflow", _tensorflow_threads(threads))):
        if frame is not None:
            record[name] = frame
    return record


def share_with_children(processes: int) -> int:
    """Divides the run's thread count among ``processes`` trial processes running at once.

    A backend that trains trials in child processes, several at a time, calls
    this before starting them, so its trials together use what one in-process
    trial would (children read it with :func:`apply_inherited_threads`).

    Args:
        processes: Trial processes that run at the same time.

    Returns:
        The count each child gets (at least 1).
    """
    text = os.environ.get(ENV_VAR, "")
    share = max(1, (int(text) if text.isdigit() else DEFAULT_THREADS) // max(1, processes))
    os.environ[ENV_VAR] = str(share)
    return share


def apply_inherited_threads() -> dict[str, Any] | None:
    """In a child process of a run (e.g. an NNI trial process): applies the run's thread count.

    Returns:
        The record of :func:`apply_threads`, or None outside a run.
    """
    text = os.environ.get(ENV_VAR)
    if not text or not text.isdigit() or int(text) < 1:
        return None
    return apply_threads(int(text), "inherited from the run")
