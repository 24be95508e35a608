"""NNI's own ``NasExperiment`` with its default engine (``engine: web`` / ``--option engine=web``).

For users who want NNI's web UI or parallel trial processes. Unlike NNI's
defaults: the manager listens on 127.0.0.1 only (option ``manager_host``; NNI
listens on every interface) on a free port, every experiment file stays in
``<run_dir>/nni-experiments`` (never ``~/nni-experiments``), each trial is
stored as it finishes (NNI's API cannot read them once the manager stopped),
Ctrl-C and SIGTERM end the run as interrupted with its finished trials (NNI's
``run`` swallows them), the manager dies with the run even when that is
SIGKILLed (watchdog.py), and a manager in ERROR is an error
(``NasExperiment.run`` returns True anyway). The first two are workarounds for
NNI 3.0 (web_workarounds.py).
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nni.nas.experiment import NasExperiment

from unified_nas.backends.nni import trial as trial_mod
from unified_nas.backends.nni.normalize import NativeTrial
from unified_nas.backends.nni.run import make_evaluator, make_strategy, start_with
from unified_nas.backends.nni.space import UnasModelSpace
from unified_nas.backends.nni.watchdog import ManagerWatchdog
from unified_nas.backends.nni.web_workarounds import (
    DEFAULT_MANAGER_HOST,
    MANAGER_HOSTS,
    experiment_file_in_run_dir_nni30,
    manager_loopback_nni30,
)
from unified_nas.core.errors import UnasError
from unified_nas.runs.threads import share_with_children
from unified_nas.space import start_values

if TYPE_CHECKING:
    from unified_nas.runs.context import RunContext

TERMINAL = {"SUCCEEDED", "FAILED", "USER_CANCELED", "SYS_CANCELED", "EARLY_STOPPED"}


def free_port(host: str = DEFAULT_MANAGER_HOST) -> int:
    """A TCP port nothing listens on right now at ``host``, the address the manager will bind.

    Args:
        host: An IPv4 or IPv6 address.

    Returns:
        The port number.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def port_is_free(port: int, host: str = DEFAULT_MANAGER_HOST) -> bool:
    """Whether the manager could listen on ``port`` at ``host`` now (as NNI's ``_ensure_port_idle`` will ask).

    NNI's launcher refuses a port that answers a connection on localhost, and
    the manager needs to bind it; both are tried.

    Args:
        port: The TCP port.
        host: The address the manager will bind (an IPv4 or IPv6 address).

    Returns:
        True if nothing answers on localhost at ``port`` and ``host:port`` can be bound.
    """
    try:
        socket.create_connection(("localhost", port), timeout=1).close()
        return False  # something answers
    except OSError:
        pass
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as s:
        if sys.platform != "win32":  # as Node.js binds: a port whose old connections linger in TIME_WAIT is free
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _stderr_tail(exp_dir: Path, job_id: str, lines: int = 15) -> str | None:
    # NNI 3.0's local training service: <exp id>/environments/<env>/trials/<job id>/trial.stderr
    for p in exp_dir.glob(f"*/environments/*/trials/{job_id}/trial.stderr"):
        text = p.read_text(errors="replace").strip().splitlines()
        return "\n".join(text[-lines:]) or None
    return None


class _Collector:
    """Emits every finished NNI trial once, in order of completion, as soon as it is seen finished.

    The run stores each emitted trial at once, so a run interrupted (or killed)
    halfway keeps what its trials computed. NNI's API reads trials only from
    the running manager; once it is gone, what the trials wrote to
    ``results`` is all there is (:meth:`emit_written`).

    Args:
        workdir: NNI's experiment working directory (trial stderr for failures).
        results: Where the trials write their result or traceback (``<job id>.json``).
        started: When the search started (Unix time).
        emit: The run's callback for a finished trial.
    """

    def __init__(self, workdir: Path, results: Path, started: float, emit: Callable[[NativeTrial], None]) -> None:
        self.workdir, self.results, self.started, self.emit = workdir, results, started, emit
        self.emitted: set[str] = set()
        self.last_poll = 0.0

    def emit_jobs(self, jobs: list[Any]) -> None:
        """Emits the finished jobs among ``jobs`` not emitted yet.

        Args:
            jobs: NNI's trial jobs (``Experiment.list_trial_jobs``).
        """
        done = sorted(
            (j for j in jobs if j.status in TERMINAL and j.trialJobId not in self.emitted),
            key=lambda j: j.endTime or 0,
        )
        for job in done:
            payload = self._payload(self.results / f"{job.trialJobId}.json")
            metric = {"unas": payload} if "result" in payload else None
            sample = payload.get("sample") or _job_sample(job)
            status = "Trained" if job.status == "SUCCEEDED" and metric else "Failed"
            error = (
                None
                if status == "Trained"
                else (payload.get("error") or _stderr_tail(self.workdir, job.trialJobId) or f"NNI trial {job.status}")
            )
            start = (job.startTime or self.started * 1000) / 1000
            end = (job.endTime or job.startTime or time.time() * 1000) / 1000
            self._emit(job.trialJobId, NativeTrial(len(self.emitted), sample, status, metric, start, end, error))

    def emit_written(self) -> None:
        """Emits the trials that wrote a result or a traceback and were not emitted yet (the manager is gone)."""
        paths = sorted(self.results.glob("*.json"), key=lambda p: p.stat().st_mtime)
        for path in paths:
            payload = self._payload(path)
            if path.stem in self.emitted or not ("result" in payload or "error" in payload):
                continue
            status, metric = ("Trained", {"unas": payload}) if "result" in payload else ("Failed", None)
            end = path.stat().st_mtime
            sample = payload.get("sample") or {}
            native = NativeTrial(len(self.emitted), sample, status, metric, self.started, end, payload.get("error"))
            self._emit(path.stem, native)

    def poll(self, exp: Any, every_s: float = 1.0) -> None:
        """Emits the trials finished since the last poll; at most once per ``every_s`` seconds.

        Args:
            exp: The running experiment.
            every_s: Least time between two reads of the manager's trial list.
        """
        now = time.time()
        if now - self.last_poll < every_s:
            return
        self.last_poll = now
        try:
            jobs = exp.list_trial_jobs()
        except Exception:  # the manager is busy or stopping: the next poll, or the last one, reads them
            return
        self.emit_jobs(jobs)

    def salvage(self, exp: Any) -> None:
        """On an interrupt: emits every finished trial, from the manager if it still answers, else from the files.

        Args:
            exp: The experiment (its manager may be gone).
        """
        try:
            self.emit_jobs(exp.list_trial_jobs())
        except Exception:  # noqa: S110  (the manager is gone: the files below are what is left)
            pass
        self.emit_written()

    def _emit(self, job_id: str, native: NativeTrial) -> None:
        self.emitted.add(job_id)  # first: a trial the run refuses to store is not offered twice
        self.emit(native)

    @staticmethod
    def _payload(path: Path) -> dict[str, Any]:
        try:
            payload = json.loads(path.read_text())
        except (OSError, ValueError):  # absent, or half-written by a trial killed meanwhile
            return {}
        return payload if isinstance(payload, dict) else {}


class WatchedExperiment(NasExperiment):
    """NNI's ``NasExperiment`` whose manager dies with this process and whose finished trials are collected.

    * Right after NNI starts the manager, a :class:`ManagerWatchdog` is armed
      on its pid (MANAGER_WATCHDOG): a SIGKILLed run leaves no manager behind.
    * NNI's engine asks :meth:`get_status` about once a second, from the
      thread running the strategy (budget checks, waiting for models); that
      is when ``on_poll`` runs, on the thread that owns the run's store.

    Attributes:
        watchdog: The manager's watchdog, once the manager started.
        on_poll: Called after each status read on the experiment's own thread.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.watchdog: ManagerWatchdog | None = None
        self.on_poll: Callable[[], None] | None = None
        self._thread = threading.get_ident()

    def _start_nni_manager(self, *args: Any, **kwargs: Any) -> None:
        # Armed the moment NNI's launcher has the manager's Popen: start_experiment then waits seconds
        # for the REST server and sends the config before it returns, and a SIGKILL may come meanwhile.
        from nni.experiment import launcher

        start_rest_server = launcher._start_rest_server

        def start_watched(*a: Any, **kw: Any) -> Any:
            proc = start_rest_server(*a, **kw)
            self.watchdog = ManagerWatchdog(proc.pid)
            return proc

        launcher._start_rest_server = start_watched
        try:
            super()._start_nni_manager(*args, **kwargs)
        finally:
            launcher._start_rest_server = start_rest_server

    def get_status(self) -> str:
        status = super().get_status()
        if self.on_poll is not None and threading.get_ident() == self._thread:
            self.on_poll()
        return status


@contextlib.contextmanager
def nni_output(quiet: bool) -> Iterator[None]:
    """NNI logs warnings and errors only; nothing at all to stdout when ``quiet``; restored afterwards.

    NNI logs every step (and every sample) at INFO, in colour, through a
    stdout handler it adds to its ``nni`` logger when imported; our progress
    line replaces that. Its experiment log file (``experiment.log``) keeps
    everything either way.

    Args:
        quiet: The run is ``--quiet``.
    """
    from nni.runtime import log as nni_log

    logger = logging.getLogger("nni")
    level = logger.level
    logger.setLevel(logging.WARNING)
    handler = nni_log._handlers.pop("_stdout_", None) if quiet else None
    if handler is not None:
        logger.removeHandler(handler)
    try:
        yield
    finally:
        logger.setLevel(level)
        if handler is not None:
            nni_log._handlers["_stdout_"] = handler
            logger.addHandler(handler)


def run_web(spec: dict[str, Any], ctx: RunContext, emit: Callable[[NativeTrial], None]) -> None:
    """Runs the strategy through NNI's NasExperiment and its Node.js manager.

    Each trial is emitted about a second after it finishes; on Ctrl-C or
    SIGTERM the finished ones not emitted yet are, then the manager is
    stopped and the interrupt goes on to the runner.

    Args:
        spec: The model space's spec (``space.make_spec``).
        ctx: The run; ``ctx.options.extra`` may hold ``trial_concurrency``,
            ``port`` and ``manager_host`` (127.0.0.1, 0.0.0.0 or ::).
        emit: Called with each finished trial, in order of completion.

    Raises:
        UnasError: If ``manager_host`` is not one NNI can work with, or if the
            NNI manager ends in ERROR.
        KeyboardInterrupt: Ctrl-C or SIGTERM (``Terminated``), after the finished trials were emitted.
    """
    opts = ctx.options.extra
    host = str(opts.get("manager_host") or DEFAULT_MANAGER_HOST)
    if host not in MANAGER_HOSTS:
        raise UnasError(
            f"backends.nni.manager_host {host!r}: expected one of {', '.join(MANAGER_HOSTS)} "
            "(NNI's own clients reach its manager at localhost)"
        )
    run_dir = ctx.run_dir.resolve()
    with nni_output(ctx.quiet):  # NNI logs at INFO from the first use of exp.config on
        space = UnasModelSpace(spec)
        evaluator = make_evaluator(ctx, trial_mod.env_json(ctx.recipe, ctx.seed, run_dir))
        strategy = make_strategy(ctx.options.strategy, ctx.seed, ctx.options.toolkit_args, ctx.budget.trials)
        if ctx.options.default_first:
            start_with(strategy, start_values(ctx.recipe.space.decls()))
        _run(WatchedExperiment(space, evaluator, strategy), ctx, host, run_dir, emit)


def _run(
    exp: WatchedExperiment, ctx: RunContext, host: str, run_dir: Path, emit: Callable[[NativeTrial], None]
) -> None:
    """Configures and runs ``exp`` (see :func:`run_web`).

    Raises:
        UnasError: If the NNI manager ends in ERROR.
        KeyboardInterrupt: Ctrl-C or SIGTERM, after the finished trials were emitted.
    """
    opts = ctx.options.extra
    results = run_dir / "trial_results"
    workdir = run_dir / "nni-experiments"
    exp.config.experiment_working_directory = str(workdir)
    exp.config.trial_concurrency = int(opts.get("trial_concurrency", 1))
    share_with_children(exp.config.trial_concurrency)  # k trial processes at once share the run's threads
    if ctx.budget.trials:
        exp.config.max_trial_number = ctx.budget.trials
    if ctx.budget.time_s:
        exp.config.max_experiment_duration = f"{int(ctx.budget.time_s)}s"
    exp.config.trial_code_directory = str(Path.cwd())
    port = int(opts.get("port") or free_port(host))
    collector = _Collector(workdir, results, time.time(), emit)
    exp.on_poll = functools.partial(collector.poll, exp)
    # Both workarounds change this process's environment (NNI's launcher gives
    # the manager no env of its own), so they span the whole run: the manager
    # is started inside exp.start, which returns only when the strategy is done.
    with experiment_file_in_run_dir_nni30(run_dir), manager_loopback_nni30(host):
        try:
            # Not exp.run: on Ctrl-C it stops the manager and returns None, so the trials
            # finished until then could not be read anymore and the interrupt would be lost.
            exp.start(port=port)
            exp._wait_completion()
            status = exp.get_status()
            collector.emit_jobs(exp.list_trial_jobs())  # only readable while the manager runs
        except KeyboardInterrupt:
            collector.salvage(exp)
            raise
        finally:
            try:
                exp.stop()
            finally:
                if exp.watchdog is not None:
                    exp.watchdog.release()
    if status == "ERROR":
        raise UnasError(f"NNI manager ended in ERROR; see {workdir}/{exp.id}/log/nnimanager.log")


def _job_sample(job: Any) -> dict[str, Any]:
    try:
        params = job.hyperParameters[0]
        params = json.loads(params) if isinstance(params, str) else params
        model = params.get("parameters", params)
        return dict(model.get("sample") or {})
    except (AttributeError, IndexError, KeyError, TypeError, ValueError):
        return {}
