"""NNI's own ``NasExperiment`` with its default engine (``engine: web`` / ``--option engine=web``).

For users who want NNI's web UI or parallel trial processes. Unlike NNI's
defaults: the manager listens on 127.0.0.1 only (option ``manager_host``; NNI
listens on every interface) on a free port, every experiment file stays in
``<run_dir>/nni-experiments`` (never ``~/nni-experiments``), results are
collected before the manager stops (NNI's API cannot read them afterwards),
and a manager in ERROR is an error (``NasExperiment.run`` returns True anyway).
The first two are workarounds for NNI 3.0 (web_workarounds.py).
"""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from unified_nas.backends.nni import trial as trial_mod
from unified_nas.backends.nni.normalize import NativeTrial
from unified_nas.backends.nni.run import make_evaluator, make_strategy, start_with
from unified_nas.backends.nni.space import UnasModelSpace
from unified_nas.backends.nni.web_workarounds import (
    DEFAULT_MANAGER_HOST,
    MANAGER_HOSTS,
    experiment_file_in_run_dir_nni30,
    manager_loopback_nni30,
)
from unified_nas.errors import UnasError
from unified_nas.space import start_values
from unified_nas.threads import share_with_children

if TYPE_CHECKING:
    from unified_nas.runner import RunContext

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


def _stderr_tail(exp_dir: Path, job_id: str, lines: int = 15) -> str | None:
    # NNI 3.0's local training service: <exp id>/environments/<env>/trials/<job id>/trial.stderr
    for p in exp_dir.glob(f"*/environments/*/trials/{job_id}/trial.stderr"):
        text = p.read_text(errors="replace").strip().splitlines()
        return "\n".join(text[-lines:]) or None
    return None


def run_web(spec: dict[str, Any], ctx: RunContext, emit: Callable[[NativeTrial], None]) -> None:
    """Runs the strategy through NNI's NasExperiment and its Node.js manager.

    Args:
        spec: The model space's spec (``space.make_spec``).
        ctx: The run; ``ctx.options.extra`` may hold ``trial_concurrency``,
            ``port`` and ``manager_host`` (127.0.0.1, 0.0.0.0 or ::).
        emit: Called with each finished trial, after the manager's run.

    Raises:
        UnasError: If ``manager_host`` is not one NNI can work with, or if the
            NNI manager ends in ERROR.
    """
    from nni.nas.experiment import NasExperiment

    opts = ctx.options.extra
    host = str(opts.get("manager_host") or DEFAULT_MANAGER_HOST)
    if host not in MANAGER_HOSTS:
        raise UnasError(
            f"backends.nni.manager_host {host!r}: expected one of {', '.join(MANAGER_HOSTS)} "
            "(NNI's own clients reach its manager at localhost)"
        )
    run_dir = ctx.run_dir.resolve()
    space = UnasModelSpace(spec)
    evaluator = make_evaluator(ctx, trial_mod.env_json(ctx.recipe, ctx.seed, run_dir))
    results = run_dir / "trial_results"
    strategy = make_strategy(ctx.options.strategy, ctx.seed, ctx.options.strategy_args, ctx.budget.trials)
    if ctx.options.default_first:
        start_with(strategy, start_values(ctx.recipe.space.decls()))
    exp = NasExperiment(space, evaluator, strategy)
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
    logging.getLogger("nni").setLevel(logging.WARNING)
    started = time.time()
    # Both workarounds change this process's environment (NNI's launcher gives
    # the manager no env of its own), so they span the whole run: the manager
    # is started inside exp.run, which returns only when the search is done.
    with experiment_file_in_run_dir_nni30(run_dir), manager_loopback_nni30(host):
        try:
            exp.run(port=port, wait_completion=True)
            status = exp.get_status()
            jobs = exp.list_trial_jobs()  # only readable while the manager runs
        finally:
            exp.stop()
    if status == "ERROR":
        raise UnasError(f"NNI manager ended in ERROR; see {workdir}/{exp.id}/log/nnimanager.log")
    _emit_jobs(jobs, workdir, results, started, emit)


def _emit_jobs(
    jobs: list[Any], workdir: Path, results: Path, started: float, emit: Callable[[NativeTrial], None]
) -> None:
    done = sorted((j for j in jobs if j.status in TERMINAL), key=lambda j: j.endTime or 0)
    for i, job in enumerate(done):
        path = results / f"{job.trialJobId}.json"
        payload = json.loads(path.read_text()) if path.exists() else {}
        metric = {"unas": payload} if "result" in payload else None
        sample = payload.get("sample") or _job_sample(job)
        status = "Trained" if job.status == "SUCCEEDED" and metric else "Failed"
        error = (
            None
            if status == "Trained"
            else (payload.get("error") or _stderr_tail(workdir, job.trialJobId) or f"NNI trial {job.status}")
        )
        start = (job.startTime or started * 1000) / 1000
        emit(NativeTrial(i, sample, status, metric, start, (job.endTime or job.startTime) / 1000, error))


def _job_sample(job: Any) -> dict[str, Any]:
    try:
        params = job.hyperParameters[0]
        params = json.loads(params) if isinstance(params, str) else params
        model = params.get("parameters", params)
        return dict(model.get("sample") or {})
    except (AttributeError, IndexError, KeyError, TypeError, ValueError):
        return {}
