"""Runs an Optuna study: sampler and pruner from unified names; the study is saved as a journal in the run directory."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import optuna

from unified_nas.backends.optuna.journal import STUDY_FILE, save_study
from unified_nas.backends.optuna.shared import (
    RUN_ATTR,
    SURPLUS_ATTR,
    WORKER_ATTR,
    budget_done,
    finished_unreported,
    settle,
    within_budget,
    worker_tag,
)
from unified_nas.backends.optuna.storage import journal_errors, open_storage
from unified_nas.core.errors import RecipeError, UserError, format_failure
from unified_nas.space import start_sample

if TYPE_CHECKING:
    from unified_nas.backends.optuna.translate import Suggest
    from unified_nas.runs.context import RunContext


def make_sampler(strategy: str, seed: int, args: dict[str, Any]) -> optuna.samplers.BaseSampler:
    """Unified strategy name -> seeded Optuna sampler (``args`` go to its constructor).

    Raises:
        RecipeError: If ``args`` holds a keyword the sampler does not take.
    """
    S = optuna.samplers
    factories: dict[str, Callable[..., optuna.samplers.BaseSampler]] = {
        "random": S.RandomSampler,
        "tpe": S.TPESampler,
        "hyperband": S.TPESampler,
        "grid": S.BruteForceSampler,
        "cmaes": S.CmaEsSampler,
        "bayesian": S.GPSampler,
        "nsga2": S.NSGAIISampler,
        "evolution": S.NSGAIISampler,
    }
    try:
        with warnings.catch_warnings():
            # BruteForceSampler/GPSampler are marked experimental; the pin on optuna keeps them stable for us.
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return factories[strategy](seed=seed, **args)
    except TypeError as e:
        raise RecipeError("backends.optuna.strategy_args", f"{strategy}: {e}") from None


def make_pruner(name: str) -> optuna.pruners.BasePruner:
    return {
        "none": optuna.pruners.NopPruner,
        "median": optuna.pruners.MedianPruner,
        "hyperband": optuna.pruners.HyperbandPruner,
    }[name]()


class SurplusTrial(Exception):
    """A shared study's trial started after its budget was taken by other workers (failed at once)."""


def make_objective(
    suggest: Suggest, ctx: RunContext, prune: bool, shared: bool = False
) -> Callable[[optuna.Trial], Any]:
    """The objective: suggest a canonical sample, train it with the shared protocol, return the objectives.

    A failing trial keeps its traceback in the user attribute ``error`` (the
    record's error); Optuna then marks it FAIL and goes on (``catch=Exception``).

    Args:
        suggest: The search space as a suggestion function.
        ctx: The run's context (training, objectives).
        prune: Report each epoch's primary metric and stop when Optuna's pruner says so.
        shared: The study is shared by several workers (:mod:`.shared`): a trial beyond the
            run's budget is surplus and fails at once; each trial records its worker.

    Returns:
        The function ``study.optimize`` calls per trial.
    """
    primary = ctx.recipe.objectives[0].metric

    def evaluate(trial: optuna.Trial) -> Any:
        if shared:  # first of all: a RUNNING trial without it is known dead (shared.fail_dead_trials)
            trial.set_user_attr(WORKER_ATTR, worker_tag(trial.number))
        if shared and not within_budget(trial.study, trial.number, ctx.budget.trials):
            # Another worker took the last trial of the budget: this one is surplus, not run, not stored.
            trial.set_user_attr(SURPLUS_ATTR, True)
            trial.study.stop()
            raise SurplusTrial(f"trial {trial.number} is beyond the run's budget of {ctx.budget.trials}")
        sample = suggest(trial)
        trial.set_user_attr("sample", sample)

        def on_epoch(epoch: int, row: dict[str, float]) -> bool:
            if not prune or primary not in row:
                return False
            trial.report(row[primary], epoch)
            return trial.should_prune()

        result = ctx.evaluate(sample, on_epoch)
        trial.set_user_attr("result", result.to_dict())
        # Optuna's own constraint handling (5.0: Trial.set_constraint, which replaced samplers'
        # constraints_func): how far each bound is violated, <= 0 when met. TPE, NSGA-II and GP rank
        # infeasible trials below feasible ones; the other samplers see only their worst scores.
        known = {**result.metrics, "params": result.params, "flops": result.flops}
        for bound in ctx.recipe.constraints:
            trial.set_constraint(bound.metric, bound.violation(known[bound.metric]))
        if result.stopped == "pruned":
            raise optuna.TrialPruned()
        values = ctx.objective_values(result)  # raises on a NaN objective: the cause reaches the record
        return values[0] if len(values) == 1 else values

    def objective(trial: optuna.Trial) -> Any:
        try:
            return evaluate(trial)
        except (optuna.TrialPruned, SurplusTrial):
            raise
        except Exception as e:
            # The innermost frames say where it went wrong; the outer ones would only be this objective's callers.
            trial.set_user_attr("error", format_failure(e))
            raise

    return objective


class _DropFailedTrialWarnings(logging.Filter):
    """Drops the two warnings Optuna logs per failed trial, the first with the full traceback.

    Optuna's ``study._optimize`` logger logs nothing else at WARNING or above
    (Optuna 5.0), so its level is the test; its INFO lines (pruned trials) are
    below the verbosity we set anyway.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno < logging.WARNING


@contextlib.contextmanager
def optuna_logging(quiet: bool) -> Iterator[None]:
    """Optuna's logging during a study: no failed-trial tracebacks; nothing at all when ``quiet``.

    A failed trial's traceback is in its record and our progress line says
    "failed", so Optuna's warnings about it are repeated noise. Both the
    verbosity and the filter are restored on exit, also when the study raises.

    Args:
        quiet: Progress output is off (``unas run --quiet``): silence Optuna completely.

    Yields:
        Nothing; Optuna logs as configured inside the block.
    """
    verbosity = optuna.logging.get_verbosity()
    optimize_logger = logging.getLogger("optuna.study._optimize")
    drop = _DropFailedTrialWarnings()
    optimize_logger.addFilter(drop)
    if quiet:
        # CRITICAL, not disable_default_handler(): without a handler Python's last-resort handler would
        # print Optuna's warnings on stderr all the same.
        optuna.logging.set_verbosity(optuna.logging.CRITICAL)
    try:
        yield
    finally:
        optimize_logger.removeFilter(drop)
        optuna.logging.set_verbosity(verbosity)


def _reported(
    study: optuna.Study,
    trial: optuna.trial.FrozenTrial,
    report: Callable[[optuna.trial.FrozenTrial], None],
    ctx: RunContext,
) -> None:
    """Optuna's per-trial callback: hand the trial to the run, then stop the study if the run's budget is spent."""
    report(trial)
    if ctx.out_of_budget():
        study.stop()  # Optuna's own way to end optimize() after this trial (its timeout knows no simulated time)


def study_storage(ctx: RunContext) -> optuna.storages.JournalStorage:
    """The run's saved study: an Optuna journal file in the run directory.

    Open it with ``optuna.load_study(study_name=RUN_ID,
    storage=JournalStorage(JournalFileBackend(PATH)))`` or ``optuna-dashboard
    PATH``. A journal rather than an SQLite database: copying 100 trials into
    Optuna's RDB storage took 1.3 s here, into a journal 0.11 s
    (``optuna.copy_study``), a cost every run pays at its end.
    """
    from optuna.storages.journal import JournalFileBackend

    return optuna.storages.JournalStorage(JournalFileBackend(str((ctx.run_dir / STUDY_FILE).resolve())))


def run_study(suggest: Suggest, ctx: RunContext, report: Callable[[optuna.trial.FrozenTrial], None]) -> optuna.Study:
    """Optimises within the budget, then saves the study as ``<run_dir>/optuna.journal`` (:func:`study_storage`).

    The study lives in memory during the search and is written to the journal
    at the end (:func:`save_study`), also when the search fails or is interrupted: Optuna's RDB
    storage costs ~130 ms of SQL per trial on these machines (measured with
    benchmarks/optuna_overhead.py), while every finished trial is already
    committed to the unas store by the callback, so nothing is lost.

    Optuna's own logging is tamed for the run (:func:`optuna_logging`): no
    traceback per failed trial, and nothing at all when ``ctx.quiet``.

    Args:
        suggest: The search space as a suggestion function.
        ctx: The run's context (budget, options, ``evaluate``).
        report: Called with each finished trial (Optuna's callback).

    Returns:
        The finished study.

    Raises:
        KeyboardInterrupt: Ctrl-C; the trial it cut off is not emitted (Optuna calls no callback for it).
        journal.StudyNotSaved: The search ended well but its journal could not be written (a full disk).
    """
    opts = ctx.options
    if opts.extra.get("storage"):
        return run_shared_study(suggest, ctx, report)
    sampler, pruner, prune = _study_parts(opts, ctx.seed)
    memory = optuna.storages.InMemoryStorage()
    study = optuna.create_study(
        study_name=ctx.run_id,
        storage=memory,
        sampler=sampler,
        pruner=pruner,
        directions=ctx.directions,  # type: ignore[arg-type]  # Optuna wants Literals; recipes allow only these
    )
    if opts.default_first:  # Optuna's own way to fix a trial's parameters; the sampler sees it as any trial
        study.enqueue_trial(start_sample(ctx.recipe.space.decls()))
    try:
        with optuna_logging(ctx.quiet):
            study.optimize(
                make_objective(suggest, ctx, prune=prune),
                n_trials=ctx.budget.trials,
                timeout=ctx.budget.time_s,
                catch=(Exception,),
                callbacks=[lambda _study, trial: _reported(study, trial, report, ctx)],
                gc_after_trial=False,
                show_progress_bar=False,
            )
    finally:
        if study.trials:
            # Ending in an exception (Ctrl-C, a failure): that exception must still say how the run ended.
            save_study(memory, ctx, failing=sys.exc_info()[0] is not None)
    return study


def _study_parts(opts: Any, seed: int) -> tuple[optuna.samplers.BaseSampler, optuna.pruners.BasePruner, bool]:
    """The seeded sampler, the pruner, and whether trials report epochs to it (one definition for every study)."""
    pruner = "hyperband" if opts.strategy == "hyperband" else opts.pruner
    return make_sampler(opts.strategy, seed, opts.strategy_args), make_pruner(pruner), pruner != "none"


def _search_shared(
    study: optuna.Study,
    ctx: RunContext,
    objective: Any,
    sync: Callable[[], None],
    cap: int | None = None,
) -> int:
    """This process's share of a shared study, the same loop for the run's first process and for workers.

    Runs trials until the run's trial budget is done, its wall-clock budget
    (counted from the run's start, in every process) is spent, or ``cap``
    trials ran here; then waits until no trial of any process is left running,
    storing finished trials (``sync``) as they come, and runs the retry of a
    dead worker's trial if one is waiting (see :func:`.shared.settle`).

    Args:
        study: The shared study.
        ctx: The run's context (budget, clock).
        objective: :func:`make_objective` with ``shared=True``.
        sync: Stores finished trials (the first process); a no-op in workers.
        cap: At most this many trials here (``unas worker --trials``).

    Returns:
        Trials run here (surplus ones not counted).
    """
    mine: list[int] = []

    def after_trial(s: optuna.Study, t: optuna.trial.FrozenTrial) -> None:
        if not t.user_attrs.get(SURPLUS_ATTR):
            mine.append(t.number)
        sync()
        if ctx.out_of_budget() or budget_done(s, ctx.budget.trials) or (cap is not None and len(mine) >= cap):
            s.stop()

    while True:
        if not (ctx.out_of_budget() or budget_done(study, ctx.budget.trials) or (cap is not None and len(mine) >= cap)):
            with optuna_logging(ctx.quiet):
                study.optimize(
                    objective,
                    timeout=ctx.time_left(),
                    catch=(Exception,),
                    callbacks=[after_trial],
                    gc_after_trial=False,
                    show_progress_bar=False,
                )
        if not settle(study, ctx.budget.trials, sync, ctx.out_of_budget, quiet=ctx.quiet):
            return len(mine)  # nothing left to run here; every trial of every process has finished
        if cap is not None and len(mine) >= cap:
            return len(mine)  # a retry is waiting, but this worker has done its share


def run_shared_study(
    suggest: Suggest, ctx: RunContext, report: Callable[[optuna.trial.FrozenTrial], None]
) -> optuna.Study:
    """Creates the run's study in a shared storage (``--storage``) and runs this process's share of it.

    The study carries what ``unas worker`` needs to join (:data:`RUN_ATTR`).
    This process stores every worker's finished trials in the unified store,
    and returns once no trial of any process is left running (see :mod:`.shared`).

    Resuming (``unas run --resume`` after this process died or was stopped)
    attaches to the study as it is in the storage: the trials stored before
    are not proposed or stored again, the trials workers finished meanwhile
    are stored now, a trial the dead process left running is failed and
    retried (:func:`.shared.settle`), and the search goes on to the budget.

    Raises:
        UserError: The storage cannot be opened, holds a study of this name already
            (a new run), no longer holds the run's study (a resume), or is a journal
            file that got damaged (:func:`.storage.journal_errors`).
    """
    opts = ctx.options
    sampler, pruner, prune = _study_parts(opts, ctx.seed)
    # A journal damaged while the study runs (a worker's disk filled up) is named, not a bare JSONDecodeError.
    with journal_errors(opts.extra["storage"]):
        storage = open_storage(opts.extra["storage"])
        reported: set[int] = set()
        if ctx.resuming:
            try:
                study = optuna.load_study(study_name=ctx.run_id, storage=storage, sampler=sampler, pruner=pruner)
            except KeyError:
                raise UserError(
                    f"--storage: the study of run {ctx.run_id} is gone from {opts.extra['storage']}"
                ) from None
            reported = ctx.hand_over_replay()
        else:
            try:
                study = optuna.create_study(
                    study_name=ctx.run_id,
                    storage=storage,
                    sampler=sampler,
                    pruner=pruner,
                    directions=ctx.directions,  # type: ignore[arg-type]
                )
            except optuna.exceptions.DuplicatedStudyError:
                raise UserError(f"--storage: a study named {ctx.run_id} exists there already") from None
            study.set_user_attr(RUN_ATTR, ctx.describe_for_workers())
            if opts.default_first:
                study.enqueue_trial(start_sample(ctx.recipe.space.decls()))
        # Printed even with --quiet: the run id is what other processes need to join, and they may start now.
        print(
            f"run {ctx.run_id}: other processes join with: unas worker {ctx.run_id} --storage URL",
            file=sys.stderr,
            flush=True,
        )

        def sync() -> None:
            for t in finished_unreported(study, reported):
                reported.add(t.number)
                report(t)

        _search_shared(study, ctx, make_objective(suggest, ctx, prune=prune, shared=True), sync)
        return study


def join_study(ctx: RunContext, suggest: Suggest, storage_url: str, trials: int | None) -> int:
    """``unas worker``: runs trials of a shared study until the run's budget is done (or ``trials`` here).

    Args:
        ctx: The run rebuilt from the study's :data:`RUN_ATTR` (its budget and clock are the run's).
        suggest: The search space as a suggestion function.
        storage_url: The ``--storage`` URL.
        trials: At most this many trials in this worker (None: until the run's budget is done).

    Returns:
        Trials this worker ran (surplus ones not counted).

    Raises:
        UserError: The storage is a journal file that got damaged (:func:`.storage.journal_errors`).
    """
    # Another seed per worker: with the run's own seed every worker's sampler would propose the same samples.
    sampler, pruner, prune = _study_parts(ctx.options, (ctx.seed + 1 + os.getpid()) % 2**32)
    with journal_errors(storage_url):
        study = optuna.load_study(
            study_name=ctx.run_id, storage=open_storage(storage_url), sampler=sampler, pruner=pruner
        )
        return _search_shared(study, ctx, make_objective(suggest, ctx, prune=prune, shared=True), lambda: None, trials)
