"""Runs an Optuna study: sampler and pruner from unified names, SQLite storage in the run directory."""
from __future__ import annotations

import traceback
import warnings
from typing import TYPE_CHECKING, Any, Callable

import optuna

from unified_nas.errors import RecipeError

if TYPE_CHECKING:
    from unified_nas.runner import RunContext

    from unified_nas.backends.optuna.translate import Suggest


def make_sampler(strategy: str, seed: int, args: dict[str, Any]) -> optuna.samplers.BaseSampler:
    """Unified strategy name -> seeded Optuna sampler (``args`` go to its constructor).

    Raises:
        RecipeError: If ``args`` holds a keyword the sampler does not take.
    """
    S = optuna.samplers
    factories: dict[str, Callable[..., optuna.samplers.BaseSampler]] = {
        "random": S.RandomSampler, "tpe": S.TPESampler, "hyperband": S.TPESampler,
        "grid": S.BruteForceSampler, "cmaes": S.CmaEsSampler, "bayesian": S.GPSampler,
        "nsga2": S.NSGAIISampler, "evolution": S.NSGAIISampler,
    }
    try:
        with warnings.catch_warnings():
            # BruteForceSampler/GPSampler are marked experimental; the pin on optuna keeps them stable for us.
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return factories[strategy](seed=seed, **args)
    except TypeError as e:
        raise RecipeError("backends.optuna.strategy_args", f"{strategy}: {e}") from None


def make_pruner(name: str) -> optuna.pruners.BasePruner:
    return {"none": optuna.pruners.NopPruner, "median": optuna.pruners.MedianPruner,
            "hyperband": optuna.pruners.HyperbandPruner}[name]()


def make_objective(suggest: "Suggest", ctx: "RunContext", prune: bool) -> Callable[[optuna.Trial], Any]:
    """The objective: suggest a canonical sample, train it with the shared protocol, return the objectives."""
    primary = ctx.recipe.objectives[0].metric

    def objective(trial: optuna.Trial) -> Any:
        sample = suggest(trial)
        trial.set_user_attr("sample", sample)

        def on_epoch(epoch: int, row: dict[str, float]) -> bool:
            if not prune or primary not in row:
                return False
            trial.report(row[primary], epoch)
            return trial.should_prune()

        try:
            result = ctx.evaluate(sample, on_epoch)
        except Exception:
            # Kept for the record; Optuna marks the trial FAIL and goes on (catch=Exception).
            trial.set_user_attr("error", traceback.format_exc(limit=4))
            raise
        trial.set_user_attr("result", result.to_dict())
        if result.stopped == "pruned":
            raise optuna.TrialPruned()
        values = ctx.objective_values(result)
        return values[0] if len(values) == 1 else values

    return objective


def study_path(ctx: "RunContext") -> str:
    """The SQLite URL of the run's study (open it with optuna.load_study or optuna-dashboard)."""
    return f"sqlite:///{(ctx.run_dir / 'optuna.sqlite3').resolve()}"


def run_study(suggest: "Suggest", ctx: "RunContext", normalize: Callable) -> optuna.Study:
    """Optimises within the budget, then saves the study as ``<run_dir>/optuna.sqlite3``.

    The study lives in memory during the search and is copied to SQLite at the
    end, also when the search fails or is interrupted: Optuna's RDB storage
    costs ~130 ms of SQL per trial on these machines (measured with
    benchmarks/optuna_overhead.py), while every finished trial is already
    committed to the unas store by the callback, so nothing is lost.
    """
    opts = ctx.options
    pruner = "hyperband" if opts.strategy == "hyperband" else opts.pruner
    memory = optuna.storages.InMemoryStorage()
    study = optuna.create_study(
        study_name=ctx.run_id, storage=memory, sampler=make_sampler(opts.strategy, ctx.seed, opts.strategy_args),
        pruner=make_pruner(pruner), directions=ctx.directions)
    try:
        study.optimize(
            make_objective(suggest, ctx, prune=pruner != "none"),
            n_trials=ctx.budget.trials, timeout=ctx.budget.time_s, catch=(Exception,),
            callbacks=[lambda _study, trial: ctx.emit(normalize(trial, ctx))], gc_after_trial=False,
            show_progress_bar=False)
    finally:
        if study.trials:
            optuna.copy_study(from_study_name=ctx.run_id, from_storage=memory, to_storage=study_path(ctx))
    return study
