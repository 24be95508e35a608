"""Runs NNI multi-trial strategies headless: NNI's sequential engine, in-process.

No NasExperiment, no Node.js manager, no port, nothing written outside the run
directory; about 4 ms of engine overhead per trial instead of 6-8 s
(TOOLKITS.md). ``continue_on_failure=True`` so one failing trial is recorded
and the search goes on.
"""
from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any, Callable

from nni.nas.evaluator import FunctionalEvaluator
from nni.nas.execution import SequentialExecutionEngine
from nni.nas.execution.event import ModelEventType
from nni.nas.space import SimplifiedModelSpace

from unified_nas.errors import RecipeError

from unified_nas.backends.nni import trial as trial_mod
from unified_nas.backends.nni.normalize import NativeTrial
from unified_nas.backends.nni.space import TRAINING_LABELS, UnasModelSpace, make_spec, mutable
from unified_nas.backends.nni.workarounds import TPE_NNI30, import_strategies, policy_based_rl

if TYPE_CHECKING:
    from unified_nas.runner import RunContext


S = import_strategies()


def make_strategy(name: str, seed: int, args: dict[str, Any], trials: int | None) -> Any:
    """Unified name -> seeded NNI strategy (``args`` go to its constructor).

    Raises:
        RecipeError: If ``args`` holds a keyword the strategy does not take.
    """
    args = dict(args)
    try:
        if name == "random":
            return S.Random(seed=seed, **args)
        if name == "grid":
            return S.GridSearch(seed=seed, **args)
        if name == "evolution":
            # NNI's default population of 100 would make any small budget pure random search.
            pop = args.pop("population_size", max(2, min(100, (trials or 40) // 2)))
            return S.RegularizedEvolution(population_size=pop, sample_size=args.pop("sample_size", max(1, pop // 2)),
                                          seed=seed, **args)
        if name == "tpe":
            return TPE_NNI30(optimize_mode="maximize", seed=seed, **args)  # scores are sign-adjusted to maximise
        if name == "rl":
            import torch

            torch.manual_seed(seed)  # PolicyBasedRL has no seed argument; its policy samples from torch's RNG
            return policy_based_rl()(**args)
    except TypeError as e:
        raise RecipeError("backends.nni.strategy_args", f"{name}: {e}") from None
    raise KeyError(name)


def make_evaluator(ctx: "RunContext", env: str) -> FunctionalEvaluator:
    """The evaluator: training hyperparameters as its (mutable) arguments."""
    space = ctx.recipe.space
    decls = {d.label: d for d in space.training.decls()}
    hp: dict[str, Any] = {}
    for name in TRAINING_LABELS:  # the labels UnasModelSpace leaves to the evaluator
        hp[name] = mutable(decls[name]) if name in decls else getattr(space.training, name)
    return FunctionalEvaluator(trial_mod.evaluate_model, env=env, **hp)


def run_headless(ctx: "RunContext", emit: Callable[[NativeTrial], None]) -> None:
    """Runs the strategy on the sequential engine; ``emit`` gets each finished trial."""
    spec = make_spec(ctx.recipe.space, ctx.data.input_shape, ctx.data.num_classes)
    key = f"inproc:{ctx.run_id}"
    env = trial_mod.TrialEnv(ctx.recipe, ctx.data, ctx.seed)
    trial_mod.register(key, env)
    model_space = SimplifiedModelSpace.from_model(UnasModelSpace(spec), make_evaluator(ctx, key))
    engine = SequentialExecutionEngine(max_model_count=ctx.budget.trials, max_duration=ctx.budget.time_s,
                                       continue_on_failure=True)
    state: dict[str, Any] = {"last": time.time(), "metric": None, "count": 0}

    def on_final(event: Any) -> None:
        state["metric"] = event.metric

    def on_end(event: Any) -> None:
        now = time.time()
        status = event.status.name if hasattr(event.status, "name") else str(event.status)
        error = env.errors.pop() if env.errors else None
        emit(NativeTrial(state["count"], dict(event.model.sample or {}), status, state["metric"], state["last"], now,
                         error))
        state.update(last=now, metric=None, count=state["count"] + 1)

    engine.register_model_event_callback(ModelEventType.FinalMetric, on_final)
    engine.register_model_event_callback(ModelEventType.TrainingEnd, on_end)
    strategy = make_strategy(ctx.options.strategy, ctx.seed, ctx.options.strategy_args, ctx.budget.trials)
    nni_logger = logging.getLogger("nni")
    level = nni_logger.level
    nni_logger.setLevel(logging.WARNING)  # NNI logs every sample at INFO; our progress output replaces it
    try:
        strategy(model_space, engine)
    finally:
        nni_logger.setLevel(level)
        trial_mod.unregister(key)
