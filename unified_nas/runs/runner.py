"""Runs one recipe on one backend: check, translate, run, normalize, store.

The runner owns everything backends share: loading data, the run directory,
the results store (each trial committed as it ends), progress output, the
budget and the final summary. Backends only translate, search and normalize.
"""

from __future__ import annotations

import secrets
import sys
import time
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from unified_nas.backends.base import Backend as BaseBackend
from unified_nas.core.environment import environment
from unified_nas.core.errors import UnasError, UserError
from unified_nas.core.limits import MAX_SEED
from unified_nas.data import recorded_digests
from unified_nas.recipe import Budget, Recipe, load_recipe_text
from unified_nas.report.records import RunReport, TrialRecord
from unified_nas.report.store import ResultsStore
from unified_nas.runs.context import RunContext
from unified_nas.runs.lifecycle import (
    Replay,
    ResumeDiverged,
    owner_alive,
    raise_if_terminated,
    shown_status,
    this_process,
)
from unified_nas.runs.progress import Progress
from unified_nas.runs.registry import entries, get_backend
from unified_nas.runs.setup import check_creatable, check_data_fits, set_up
from unified_nas.space import space_size, start_sample

# check_creatable and check_data_fits live in runs.setup; callers that check before a run import them from here.
__all__ = ["check_creatable", "check_data_fits", "join_run", "new_run_id", "resume_run", "run_recipe"]


def new_run_id(recipe: Recipe, backend: str) -> str:
    """A new run's id: ``<date>-<time>-<recipe>-<backend>-<4 hex digits>``."""
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{recipe.name}-{backend}-{secrets.token_hex(2)}"


def run_recipe(
    recipe: Recipe,
    backend_name: str,
    *,
    strategy: str | None = None,
    trials: int | None = None,
    time_s: float | None = None,
    seed: int | None = None,
    pruner: str | None = None,
    store: ResultsStore | str | Path,
    runs_dir: Path | str = "unas-runs",
    progress: bool = True,
    extra_options: Mapping[str, Any] | None = None,
    option_texts: Mapping[str, str] | None = None,
    run_id: str | None = None,
    threads: int | str | None = None,
    jobs: int = 1,
    device: str | None = None,
    expect_data: Mapping[str, str] | None = None,
) -> RunReport:
    """Runs a recipe on a backend and stores the normalized report.

    Everything that can be refused (backend, options, strategy arguments,
    seed, data, the store itself) is checked before the store is created or
    the run directory made, so refused input writes nothing.

    Args:
        recipe: A validated recipe.
        backend_name: Registered backend name.
        strategy, trials, time_s, seed, pruner: CLI overrides of the recipe (None keeps it).
        store: Results store, or the path of one (opened only once the input is checked);
            every trial is committed as it ends.
        runs_dir: Parent of the run directory (toolkit files such as Optuna's study live there).
        progress: Show progress on stderr (and let toolkits log); False keeps the run quiet.
        extra_options: Backend option overrides, typed (API callers).
        option_texts: Backend option overrides as ``--option KEY=VALUE`` texts (the CLI), converted
            to each option's declared type.
        run_id: Use this id (a benchmark assigns ids before its runs start); default: a new one.
        threads: Framework threads for the run's trials (``--threads``): a count, ``"auto"`` (the cores
            shared by ``jobs`` runs) or None (one; see :mod:`unified_nas.runs.threads`).
        jobs: Runs sharing this machine's cores at once (a benchmark's ``--jobs``).
        device: Where torch trains (``--device auto|cpu|cuda|cuda:N``); None: the recipe's
            ``device:``, else the CPU (see :mod:`unified_nas.evaluation.devices`).
        expect_data: The digests the recipe's data must have (``split_sha256``, ``content_sha256``
            as the Dataset has them; an empty content digest: the split alone is checked), e.g. a
            benchmark's, so that none of its runs uses a data file or table replaced since it
            started; None: any.

    Returns:
        The finished report (status ``complete``).

    Raises:
        UserError: Bad input, before anything runs (nothing is written); also data other than
            ``expect_data``.
        StoreError: The store cannot be opened or written (nothing is written).
        UnasError / Exception: The run failed; the report with every finished
            trial is stored with status ``failed`` first.
        KeyboardInterrupt: Re-raised after storing the report as ``interrupted``.
    """
    seed = recipe.seed if seed is None else seed
    if not 0 <= seed <= MAX_SEED:
        raise UserError(f"seed: {seed} is not in 0..{MAX_SEED}")
    backend = get_backend(backend_name)
    options = backend.options(recipe, {"strategy": strategy, "pruner": pruner, **(extra_options or {})}, option_texts)
    setup = set_up(
        recipe,
        backend,
        options,
        seed,
        # The file or table may have been replaced since the caller took its digests (a benchmark, when it
        # started): this run's numbers would then be compared with numbers on other data.
        expect_data=None
        if expect_data is None
        else (
            expect_data,
            f"data of recipe {recipe.name} is not the data expected: its data file or table changed since "
            "the benchmark started",
        ),
        threads=threads,
        jobs=jobs,
        device=device if device is not None else recipe.device,
    )
    data, evaluator = setup.data, setup.evaluator
    budget = Budget(
        trials if trials is not None else recipe.budget.trials,
        time_s if time_s is not None else recipe.budget.time_s,
        recipe.budget.simulated_s,
    )
    backend.check_arguments(recipe, options, seed, budget)
    run_id = run_id or new_run_id(recipe, backend.name)
    # Absolute: resume and export may run from another working directory.
    run_dir = (Path(runs_dir) / run_id).resolve()
    check_creatable(run_dir)
    store = store if isinstance(store, ResultsStore) else ResultsStore(store)
    try:
        run_dir.mkdir(parents=True, exist_ok=False)
    except OSError as e:
        raise UserError(f"cannot create run directory {run_dir}: {e.strerror or e}") from None
    decls = recipe.space.decls()
    report = RunReport(
        run_id=run_id,
        recipe={
            "name": recipe.name,
            "hash": recipe.content_hash,
            "text": recipe.source,
            "base_dir": str(Path(recipe.base_dir).resolve()),
        },
        backend={"name": backend.name, "version": backend.version()},
        strategy=options.strategy,
        options=options.to_dict(),
        seed=seed,
        objectives=[{"metric": o.metric, "direction": o.direction} for o in recipe.objectives],
        budget_asked={
            "trials": budget.trials,
            "time_s": budget.time_s,
            "simulated_s": budget.simulated_s,
            "epochs_per_trial": recipe.protocol.epochs if recipe.evaluation.trains else None,
        },
        evaluation=recipe.evaluation.describe(),
        constraints=[b.to_dict() for b in recipe.constraints],
        data=data.describe(),
        space={
            "kind": recipe.space.kind,
            "size": str(space_size(decls)),
            "params": [d.to_dict() for d in decls],
            # Where strategies that start from the defaults, and default_first runs, begin: the same on every backend.
            "start": start_sample(decls),
        },
        environment={
            **environment(backend.packages),
            "threads": setup.threads,
            "device": setup.device.describe(),
            **_latency_settings(recipe),
        },
        run_dir=str(run_dir),
        started_at=time.time(),
        process=this_process(),
    )
    try:
        store.save_run(report)
    except Exception:
        run_dir.rmdir()  # nothing was stored: leave no empty run directory behind
        raise
    ctx = RunContext(
        recipe,
        data,
        seed,
        budget,
        options,
        run_dir,
        run_id,
        lambda rec: None,
        quiet=not progress,
        evaluator=evaluator,
        packages=report.environment["packages"],
    )
    return _execute(backend, ctx, report, store, progress, replay=None)


def _latency_settings(recipe: Recipe) -> dict[str, Any]:
    """How ``latency_ms`` is measured, for the report of a recipe that names it (a latency means nothing without it)."""
    if "latency_ms" not in recipe.metric_names:
        return {}
    import torch

    from unified_nas.evaluation.latency import DEFAULT_REPEATS, DEFAULT_WARMUP  # deferred: imports torch

    return {
        "latency": {
            "statistic": "median",
            "runtime": "torch",
            "batch_size": 1,
            "threads": torch.get_num_threads(),
            "warmup": DEFAULT_WARMUP,
            "repeats": DEFAULT_REPEATS,
        }
    }


def resume_run(
    run_id: str, *, store: ResultsStore | str | Path, progress: bool = True, threads: int | str | None = None
) -> RunReport:
    """Continues a killed, interrupted or failed run until its budget is spent.

    The backend's strategy restarts with the run's seed; trials finished
    before are answered from the store (not trained again, not stored twice)
    and the strategy sees them as it did the first time; then the search goes
    on (see :mod:`unified_nas.runs.lifecycle`). The budget is the run's own: the
    trial count, and what is left of its wall-clock budget.

    Args:
        run_id: The run (a full id, a unique prefix or ``latest``).
        store: The results store that holds it.
        progress: As for :func:`run_recipe`.
        threads: As for :func:`run_recipe` (this attempt's; the report keeps the earlier ones per attempt).

    Returns:
        The finished report.

    Raises:
        UserError: The run is complete, still running, from another host, its
            data changed, or its backend cannot resume this strategy.
        ResumeDiverged: The strategy did not propose the stored samples again
            (nothing stored is changed).
    """

    store = store if isinstance(store, ResultsStore) else ResultsStore(store)
    report = store.load_run(run_id)
    stored_status, status = report.status, shown_status(report.status, report.process)
    if status == "complete":
        raise UserError(f"run {report.run_id} is complete; nothing to resume")
    if status == "running":
        alive = owner_alive(report.process)
        # alive is only true for a process record (owner_alive):
        where = (
            f"process {cast('dict[str, Any]', report.process)['pid']}"
            if alive
            else f"host {(report.process or {}).get('host', '?')}"
        )
        raise UserError(f"run {report.run_id} is still running ({where}); stop it first")
    # The recipe as the run started, checked again as any recipe file is.
    recipe = load_recipe_text(
        report.recipe["text"], report.recipe["base_dir"], report.recipe["name"], f"run {report.run_id}"
    )
    backend = get_backend(report.backend["name"])
    options = backend.options(recipe, report.options)
    options.resume = True
    if backend.version() != report.backend["version"]:  # replay relies on the strategy behaving exactly as before
        raise UserError(
            f"run {report.run_id} ran on {backend.name} {report.backend['version']}, this is "
            f"{backend.version()}; resume it with that version, or start a new run"
        )
    setup = set_up(
        recipe,
        backend,
        options,
        report.seed,
        expect_data=(
            recorded_digests(report.data),
            f"data of run {report.run_id} changed since it ran (its trials would mix two data sets); start a new run",
        ),
        threads=threads,
        jobs=1,
        # The device the run asked for when it started (a resumed run on another machine resolves it again).
        device=(report.environment.get("device") or {}).get("requested"),
    )
    # What the earlier attempt left, for the report: how it ended, how long it searched, what it kept.
    report.attempts.append(
        {
            "status": status,
            "error": report.error,
            "trials": len(report.trials),
            "active_s": report.current_attempt_s(),
            "process": report.process,
            "threads": report.environment.get("threads"),
            "resumed_at": time.time(),
        }
    )
    report.environment = {**report.environment, "threads": setup.threads, "device": setup.device.describe()}
    owner = report.process
    report.status, report.error, report.ended_at, report.process = "running", None, None, this_process()
    asked = report.budget_asked
    time_left = None if asked.get("time_s") is None else max(0.0, asked["time_s"] - report.active_s())
    # Simulated time is counted again from the replayed trials, so the whole budget is handed on.
    budget = Budget(asked.get("trials"), time_left, asked.get("simulated_s"))
    # A stored supernet (or anything else the evaluator prepared) is checked before the run is claimed:
    # a damaged one is refused with nothing written.
    setup.evaluator.restore(Path(report.run_dir))
    if not store.claim_run(report, stored_status, owner):
        raise UserError(f"run {report.run_id} was claimed by another process meanwhile")
    ctx = RunContext(
        recipe,
        setup.data,
        report.seed,
        budget,
        options,
        Path(report.run_dir),
        report.run_id,
        lambda rec: None,
        quiet=not progress,
        evaluator=setup.evaluator,
    )
    return _execute(backend, ctx, report, store, progress, replay=Replay(list(report.trials)))


def _execute(
    backend: BaseBackend[Any, Any],
    ctx: RunContext,
    report: RunReport,
    store: ResultsStore,
    progress: bool,
    replay: Replay | None,
) -> RunReport:
    """Runs the search of a stored run: every trial stored as it ends, the report saved however it ends."""
    recipe = ctx.recipe
    bar = Progress(ctx.budget.trials, ctx.directions, recipe.objectives[0].metric, progress)
    for rec in report.trials:
        bar.update(rec)

    def on_record(rec: TrialRecord) -> None:
        kept = replay.consume(rec) if replay is not None else None
        if kept is None:  # else finished in an earlier attempt: stored and counted already
            store.add_trial(ctx.run_id, rec)
            report.trials.append(rec)
            bar.update(rec)
        ctx.simulated_s += (kept or rec).simulated_s or 0.0

    def on_native(native_trial: Any) -> None:
        ctx.emit(backend.normalize(native_trial, ctx))

    ctx.emit_record, ctx.replay = on_record, replay
    try:
        _prepare_evaluation(ctx, report, store, progress)
        backend.run(backend.translate(ctx), ctx, on_native)
        raise_if_terminated()  # a SIGTERM the toolkit's code swallowed still ends the run as interrupted
        report.status = "complete"
        report.stopped_early = _short_of_budget(ctx, report)
    except KeyboardInterrupt as e:
        report.status, report.error = "interrupted", "interrupted by the user"
        e.unas_run_id = ctx.run_id  # type: ignore[attr-defined]  # for the CLI's "continue with" hint
        raise
    except ResumeDiverged as e:
        report.status, report.error = "failed", str(e)
        raise
    except Exception as e:
        report.status = "failed"
        report.error = (
            f"{type(e).__name__}: {e}"
            if isinstance(e, UnasError)
            else traceback.format_exc(limit=3).strip().splitlines()[-1]
        )
        raise
    finally:
        bar.close()
        report.search_cost = ctx.search_cost
        report.ended_at = time.time()
        report.summarize()
        store.save_run(report)
    return report


def _prepare_evaluation(ctx: RunContext, report: RunReport, store: ResultsStore, progress: bool) -> None:
    """The evaluator's work before the search (a supernet's training), on the run's clock; its cost is stored at once.

    Stored before the first trial, so a run killed in its search keeps the record of what it spent.
    """
    assert ctx.evaluator is not None

    def say(line: str) -> None:
        raise_if_terminated()  # called per epoch: a SIGTERM a finalizer swallowed still ends a long training here
        if progress:
            print(line, file=sys.stderr, flush=True)

    cost = ctx.evaluator.prepare(ctx.run_dir, say)
    if cost is not None:
        ctx.report_search_cost(cost)
        report.search_cost = cost
        store.save_run(report)


def _short_of_budget(ctx: RunContext, report: RunReport) -> str | None:
    """Why a search that ended on its own spent fewer trials than asked (None: it spent them, or a time budget ended it).

    The backend's reason (:meth:`RunContext.stop_early`) where it gave one, else a generic one: a run is
    never ``complete`` short of its budget without saying so.
    """
    asked, done = ctx.budget.trials, len(report.trials)
    if asked is None or done >= asked or ctx.out_of_budget():
        return None
    why = ctx.stop_reason or "the strategy proposed no further sample"
    return f"{done} of {asked} trials: {why}"


def join_run(
    run_id: str,
    storage: str,
    *,
    backend_name: str | None = None,
    trials: int | None = None,
    threads: int | str | None = None,
    device: str | None = None,
    progress: bool = True,
) -> int:
    """``unas worker``: joins a run's search shared through a storage, from any process or machine.

    The worker rebuilds the run from the description its first process left
    in the storage (:meth:`RunContext.describe_for_workers`): the same recipe,
    split, protocol, options and budget. It stores nothing itself: the run's
    first process stores every worker's trials in the unified store.

    Args:
        run_id: The run (as ``unas run ... --storage`` printed it).
        storage: The storage URL the run was started with.
        backend_name: The backend; None: the one installed backend that shares searches.
        trials: At most this many trials here (None: until the run's budget is done).
        threads, device: As for :func:`run_recipe`, for this worker.
        progress: Let the toolkit log.

    Returns:
        Trials this worker ran.

    Raises:
        UserError: No backend shares searches, no such run in the storage, a malformed run
            description there (the backend's ``shared_run`` checks its shape), or the data
            here differs from the run's.
    """

    if backend_name is None:
        sharing = [n for n, e in sorted(entries().items()) if e.installed() and e.backend_class().shares_searches]
        if len(sharing) != 1:
            raise UserError(f"worker: give --backend (backends that share a search: {', '.join(sharing) or 'none'})")
        backend_name = sharing[0]
    backend = get_backend(backend_name)
    if not backend.shares_searches:
        raise UserError(f"worker: backend {backend_name} cannot share a search between processes")
    info = backend.shared_run(run_id, storage)
    r = info["recipe"]
    recipe = load_recipe_text(r["text"], r["base_dir"], r["name"], f"run {run_id}")
    if recipe.evaluation.supernet is not None:
        # Its supernet lives in the first process's run directory, which another machine cannot read.
        raise UserError(f"worker: run {run_id} is scored by a supernet; workers cannot join it (run it in one process)")
    # This worker's way to the storage (a host name may differ between machines), not the first process's.
    options = backend.options(recipe, {**info["options"], "storage": storage})
    here = environment(backend.packages)["packages"]
    for name, theirs in info.get("packages", {}).items():
        if here.get(name) != theirs:
            raise UserError(
                f"worker: run {run_id} runs {name} {theirs}, this is {here.get(name, 'not installed')}; "
                "install the run's versions"
            )
    setup = set_up(
        recipe,
        backend,
        options,
        info["seed"],
        expect_data=(info["data"], f"worker: the data of run {run_id} differs here (another file, or another split)"),
        threads=threads,
        jobs=1,
        device=device if device is not None else recipe.device,
    )
    budget = Budget(trials=info["budget"]["trials"], time_s=info["budget"]["time_s"])
    started = float(info.get("started", time.time()))
    import tempfile

    with tempfile.TemporaryDirectory(prefix=f"unas-worker-{run_id}-") as scratch:
        ctx = RunContext(
            recipe,
            setup.data,
            info["seed"],
            budget,
            options,
            Path(scratch),
            run_id,
            lambda rec: None,
            quiet=not progress,
            evaluator=setup.evaluator,
            started=started,
        )
        return int(backend.join(backend.translate(ctx), ctx, storage, trials))
