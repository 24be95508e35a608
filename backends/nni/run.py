"""Runs NNI multi-trial strategies headless: NNI's sequential engine, in-process.

No NasExperiment, no Node.js manager, no port, nothing written outside the run
directory; about 4 ms of engine overhead per trial instead of 6-8 s
(TOOLKITS.md). ``continue_on_failure=True`` so one failing trial is recorded
and the search goes on; its traceback goes into the record, not onto stderr.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from nni.nas.evaluator import FrozenEvaluator, FunctionalEvaluator
from nni.nas.execution import SequentialExecutionEngine
from nni.nas.execution.event import ModelEventType
from nni.nas.space import SimplifiedModelSpace

from unified_nas.backends.base import accepted_keywords
from unified_nas.backends.nni import trial as trial_mod
from unified_nas.backends.nni.normalize import NativeTrial
from unified_nas.backends.nni.space import TRAINING_LABELS, UnasModelSpace, from_canonical, mutable
from unified_nas.backends.nni.workarounds import TPE_NNI30, import_strategies, policy_based_rl
from unified_nas.core.errors import RecipeError, format_failure
from unified_nas.space import start_values

if TYPE_CHECKING:
    from unified_nas.runs.context import RunContext


S = import_strategies()


def make_strategy(name: str, seed: int, args: dict[str, Any], trials: int | None) -> Any:
    """Unified name -> seeded NNI strategy (``args`` go to its constructor).

    Raises:
        RecipeError: If ``args`` holds a keyword the strategy does not take.
    """
    args = dict(args)
    cls = {"random": S.Random, "grid": S.GridSearch, "evolution": S.RegularizedEvolution, "tpe": TPE_NNI30}.get(name)
    known = accepted_keywords(cls) if cls is not None else None
    unknown = sorted(set(args) - known) if known is not None else []
    if unknown:  # NNI's Random would drop them without a word
        assert cls is not None and known is not None  # unknown is only non-empty when they are
        raise RecipeError(
            f"backends.nni.strategy_args.{unknown[0]}",
            f"unknown argument of {cls.__name__} (takes {', '.join(sorted(known - {'seed'}))})",
        )
    try:
        if name == "random":
            return S.Random(seed=seed, **args)
        if name == "grid":
            return S.GridSearch(seed=seed, **args)
        if name == "evolution":
            # NNI's default population of 100 would make any small budget pure random search.
            pop = args.pop("population_size", max(2, min(100, (trials or 40) // 2)))
            return S.RegularizedEvolution(
                population_size=pop, sample_size=args.pop("sample_size", max(1, pop // 2)), seed=seed, **args
            )
        if name == "tpe":
            return TPE_NNI30(optimize_mode="maximize", seed=seed, **args)  # scores are sign-adjusted to maximise
        if name == "rl":
            import torch

            torch.manual_seed(seed)  # PolicyBasedRL has no seed argument; its policy samples from torch's RNG
            return policy_based_rl()(**args)
    except TypeError as e:
        raise RecipeError("backends.nni.strategy_args", f"{name}: {e}") from None
    raise KeyError(name)


class ModelOnRequest(FunctionalEvaluator):
    """NNI's ``FunctionalEvaluator``, handing the function NNI's frozen model space instead of the built network.

    NNI's ``Evaluator._execute`` builds the network before the function
    runs, and says subclasses may override it "to avoid instantiation of the
    deep learning model". We do: the trial function builds the network
    (``model.executable_model()``, exactly what NNI would have called) only if
    the run's evaluator trains it. A trial answered from a table or replayed
    from an earlier attempt then costs no network construction (about 120 ms
    for a NAS-Bench-201 network).
    """

    def _execute(self, model: Any) -> Any:
        return self.evaluate(model)

    def freeze(self, sample: dict[str, Any]) -> Any:
        """Frozen with its sample's training hyperparameters, still this class.

        NNI wraps an evaluator with searched arguments in a ``FrozenEvaluator``,
        whose own ``_execute`` would build the network first; instantiating
        the frozen copy at once (plain arguments: cheap) keeps :meth:`_execute`.
        """
        frozen = super().freeze(sample)
        return frozen.get() if isinstance(frozen, FrozenEvaluator) else frozen


def make_evaluator(ctx: RunContext, env: str) -> FunctionalEvaluator:
    """The evaluator: training hyperparameters as its (mutable) arguments."""
    space = ctx.recipe.space
    decls = {d.label: d for d in space.training.decls()}
    hp: dict[str, Any] = {}
    for name in TRAINING_LABELS:  # the labels UnasModelSpace leaves to the evaluator
        hp[name] = mutable(decls[name]) if name in decls else getattr(space.training, name)
    return ModelOnRequest(trial_mod.evaluate_model, env=env, **hp)


class RecordingEngine(SequentialExecutionEngine):
    """NNI's sequential engine that keeps the exception of the model it is running.

    NNI catches a failing model itself (``continue_on_failure``), logs the
    traceback and dispatches ``TrainingEnd`` with status ``Failed`` only; the
    exception never reaches our callbacks. It may also be raised outside our
    evaluator function (NNI freezes the sample and the evaluator first), so
    ``evaluate_model`` cannot be the one to keep it. Wrapping each model's
    ``execute`` catches it wherever it comes from.

    Attributes:
        failure: Traceback of the model being run (or the last one), None if it did not fail.
    """

    def __init__(self, *args: Any, out_of_budget: Callable[[], bool] = lambda: False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.failure: str | None = None
        self.out_of_budget = out_of_budget

    def budget_available(self) -> bool:
        """NNI's own trial and time budget, and the run's (simulated time): strategies ask before each model."""
        return super().budget_available() and not self.out_of_budget()

    def submit_models(self, *models: Any) -> None:
        """Runs ``models`` one by one as NNI does, remembering why one failed.

        Args:
            *models: Frozen ``ExecutableModelSpace`` instances from the strategy.
        """
        for model in models:
            self.failure = None
            # An instance attribute shadowing the method, for this one run.
            model.execute = functools.partial(self._recorded, model.execute)
            try:
                super().submit_models(model)
            finally:
                del model.execute

    def _recorded(self, execute: Callable[[], Any]) -> Any:
        """Calls a model's own ``execute``, keeping the traceback if it raises.

        Raises:
            Exception: Whatever ``execute`` raised, unchanged (NNI marks the model ``Failed``).
        """
        try:
            return execute()
        except Exception as e:  # KeyboardInterrupt is no failure: it passes untouched
            self.failure = format_failure(e)
            raise


def start_with(strategy: Any, values: Mapping[str, Any]) -> None:
    """``default_first``: the strategy's first random draw is the model of ``values`` (the start point).

    NNI 3.0's ``Random`` and ``RegularizedEvolution`` draw every new sample
    (Evolution: its initial population) through their ``random`` method and
    take no initial sample; answering the first call puts the start point at
    trial 0 and, for Evolution, into its population as any drawn individual.
    Strategies without such a method (TPE, grid, RL) declare
    ``default_first=False`` and are refused before the run.

    Args:
        strategy: A ``Random`` or ``RegularizedEvolution`` instance.
        values: Every label's start value, inactive labels included (NNI freezes them all).
    """
    draw = strategy.random
    pending = [True]

    def random(*args: Any, **kwargs: Any) -> Any:
        if not pending:
            return draw(*args, **kwargs)
        # Random passes the space it searches; Evolution keeps it as model_space (both after NNI's setup).
        space = args[0] if args else strategy.model_space
        sample = from_canonical(space.simplify(), values)
        model = space.freeze(sample)  # a start point NNI refuses raises here, and is not skipped silently
        dedup = getattr(strategy, "_dedup_helper", None)
        if dedup is not None:  # as the strategy's own draws do: the start point is not drawn again
            dedup.dedup(sample)
        pending.clear()
        return model

    strategy.random = random


def rescore_population(strategy: Any, env: trial_mod.TrialEnv) -> None:
    """Re-scores the members of an evolution's population as the latest trial's ranges and weights give them.

    NNI 3.0's RegularizedEvolution keeps ``Individual(x=sample, y=metric)`` in ``_population`` and
    picks parents by ``y``, never recomputed: a member scored against narrower ranges would keep an
    unbeatable score (see ``Scalariser.rescore``). Other strategies keep no scores we can reach.
    Pinned to NNI 3.0 (the last release): the attribute is read with a default, so a strategy
    without it is left alone.
    """
    population = getattr(strategy, "_population", None)
    if population is None or env.scalarise is None:
        return
    for member in population:
        kept = env.scored.get(trial_mod.sample_key(member.x))
        if kept is not None:
            member.y = -env.scalarise.rescore(*kept)


def run_headless(spec: dict[str, Any], ctx: RunContext, emit: Callable[[NativeTrial], None]) -> None:
    """Runs the strategy on the sequential engine; ``emit`` gets each finished trial.

    A trial cut off by Ctrl-C is not emitted: it did not fail, and a resumed
    run does it again. The KeyboardInterrupt goes on to the runner.

    Args:
        spec: The model space's spec (``space.make_spec``).
        ctx: The run's context (recipe, data, budget, options).
        emit: Called with each trial NNI finished (trained or failed).
    """
    key = f"inproc:{ctx.run_id}"
    env = trial_mod.TrialEnv(ctx.recipe, ctx.data, ctx.seed, ctx.evaluate, scalarise=ctx.scalariser())
    trial_mod.register(key, env)
    model_space = SimplifiedModelSpace.from_model(UnasModelSpace(spec), make_evaluator(ctx, key))
    engine = RecordingEngine(
        max_model_count=ctx.budget.trials,
        max_duration=ctx.budget.time_s,
        continue_on_failure=True,
        out_of_budget=ctx.out_of_budget,
    )
    state: dict[str, Any] = {"last": time.time(), "metric": None, "count": 0}

    def on_final(event: Any) -> None:
        state["metric"] = event.metric

    def on_end(event: Any) -> None:
        status = event.status.name if hasattr(event.status, "name") else str(event.status)
        if status == "Interrupted":
            return
        now = time.time()
        error = engine.failure if status == "Failed" else None
        emit(
            NativeTrial(
                state["count"], dict(event.model.sample or {}), status, state["metric"], state["last"], now, error
            )
        )
        state.update(last=now, metric=None, count=state["count"] + 1)

    engine.register_model_event_callback(ModelEventType.FinalMetric, on_final)
    engine.register_model_event_callback(ModelEventType.TrainingEnd, on_end)
    strategy = make_strategy(ctx.options.strategy, ctx.seed, ctx.options.toolkit_args, ctx.budget.trials)
    if env.scalarise is not None:
        env.after_score = lambda: rescore_population(strategy, env)
    if ctx.options.default_first:
        start_with(strategy, start_values(ctx.recipe.space.decls()))
    nni_logger = logging.getLogger("nni")
    # The engine logs each failure as an ERROR with the full traceback (and Ctrl-C as an ERROR too); the
    # record keeps the traceback and the progress line says "failed", so nothing of it is shown.
    engine_logger = logging.getLogger(SequentialExecutionEngine.__module__)
    levels = nni_logger.level, engine_logger.level
    nni_logger.setLevel(logging.WARNING)  # NNI logs every sample at INFO; our progress output replaces it
    engine_logger.setLevel(logging.CRITICAL)
    try:
        strategy(model_space, engine)
    finally:
        nni_logger.setLevel(levels[0])
        engine_logger.setLevel(levels[1])
        trial_mod.unregister(key)
