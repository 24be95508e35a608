"""Runs an AutoKeras AutoModel search under the recipe's budget, seed and protocol."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import autokeras as ak
import keras_tuner

from unified_nas.backends.autokeras.normalize import NativeTrial
from unified_nas.backends.autokeras.space import UnasBlock, UnasHead
from unified_nas.backends.autokeras.strategies import STRATEGIES
from unified_nas.backends.autokeras.tuner import SCALARISED_METRIC, TrialEnv, tuner_class
from unified_nas.backends.autokeras.workarounds import frozen_heap
from unified_nas.backends.base import accepted_keywords
from unified_nas.core.errors import RecipeError
from unified_nas.evaluation.train.keras_protocol import one_hot, protocol_callbacks

if TYPE_CHECKING:
    from unified_nas.runs.context import RunContext
    from unified_nas.space import SearchSpace

# Harmless warnings AutoKeras triggers on every run (not ours to act on).
QUIET = (
    "The structure of `inputs` doesn't match",  # AutoTuner passes a bare array where Keras expects a list
    "Skipping variable loading for optimizer",  # get_best_model reloads weights into a fresh, unbuilt optimizer
)
PROJECT = "autokeras"  # the project directory inside the run directory


@contextlib.contextmanager
def no_trial_tracebacks() -> Iterator[None]:
    """keras-tuner prints each failed trial's traceback (``keras_tuner.config.DEBUG``, True by default).

    The traceback is kept in the trial's record (``trial.message``, set whatever DEBUG says) and the
    progress line says "failed", so printing it is repeated noise, and with ``--quiet`` it is not quiet.
    Optuna's runs drop their failed-trial tracebacks the same way (backends/optuna/run.py).
    """
    from keras_tuner.src import config

    debug, config.DEBUG = config.DEBUG, False
    try:
        yield
    finally:
        config.DEBUG = debug


UNLIMITED = 10**9


# Set by build_automodel from the recipe and the run: a strategy argument may not override them.
RESERVED = (
    "inputs",
    "outputs",
    "project_name",
    "directory",
    "objective",
    "tuner",
    "overwrite",
    "seed",
    "max_trials",
    "max_model_size",
    "hyperparameters",
    "tune_new_entries",
    "hypermodel",
    "oracle",
    "unas",
    "optimizer",
    "loss",
    "metrics",
    "logger",
    "tuner_id",
    "distribution_strategy",
)


def tuner_arguments(strategy: str, args: dict[str, Any]) -> dict[str, Any]:
    """Checks ``strategy_args`` against what the strategy's tuner and oracle take.

    keras-tuner passes unknown keywords down a chain of ``**kwargs`` and fails
    deep inside (a ``TypeError`` after the run began); this reads the named
    parameters of every ``__init__`` in the tuner's class hierarchy instead.

    Returns:
        ``args`` unchanged.

    Raises:
        RecipeError: Naming ``backends.autokeras.strategy_args.<key>``.
    """
    names = accepted_keywords(tuner_class(strategy)) or set()
    allowed = sorted(names - set(RESERVED))
    for key in args:
        field = f"backends.autokeras.strategy_args.{key}"
        if key in RESERVED:
            raise RecipeError(
                field,
                "is set by unified-nas from the recipe and the run (the project lives in the run directory); remove it",
            )
        if key not in names:
            raise RecipeError(field, f"unknown argument of the {strategy} tuner (takes {', '.join(allowed)})")
    return args


def native_seed(seed: int) -> int:
    """AutoKeras treats ``seed=0`` as "no seed" (``if seed:``): its oracle gets ``seed + 1``."""
    return seed + 1


def pinned_hyperparameters(ctx: RunContext) -> keras_tuner.HyperParameters:
    """AutoKeras's own tunables, fixed so the oracle never searches them.

    The model is compiled from the canonical ``optimizer``/``lr`` (see the
    tuner); these Fixed values mirror the recipe's where AutoKeras can express them.
    """
    t = ctx.recipe.space.training
    hp = keras_tuner.HyperParameters()
    fixed_opt = t.optimizer if isinstance(t.optimizer, str) and t.optimizer in ("adam", "sgd") else "adam"
    hp.Fixed("optimizer", fixed_opt)
    hp.Fixed("learning_rate", float(t.lr) if isinstance(t.lr, (int, float)) else 1e-3)
    return hp


def search_graph(space: SearchSpace) -> tuple[Any, Any]:
    """The search space as an AutoKeras graph: one :class:`UnasBlock`, one :class:`UnasHead`.

    Args:
        space: The recipe's search space.

    Returns:
        ``(input node, output node)``, what ``ak.AutoModel`` takes.
    """
    inp = ak.Input()
    return inp, UnasHead()(UnasBlock(space)(inp))


def build_automodel(graph: tuple[Any, Any], ctx: RunContext, emit: Callable[[NativeTrial], None]) -> ak.AutoModel:
    """The recipe as an ``ak.AutoModel`` over ``graph``, with our tuner for the run's strategy.

    Args:
        graph: From :func:`search_graph`.
        ctx: The run's context.
        emit: Called with each finished trial.

    Returns:
        The AutoModel, not yet fitted.
    """
    recipe, strategy = ctx.recipe, ctx.options.strategy
    objective = recipe.objectives[0]
    inp, out = graph
    kwargs = dict(ctx.options.toolkit_args)
    if strategy == "hyperband":
        kwargs.setdefault("max_epochs", recipe.protocol.epochs)  # AutoKeras's default is 1000
        # keras-tuner stops after one pass over the brackets (1 trial when max_epochs is 1): the trial budget decides.
        kwargs.setdefault("hyperband_iterations", UNLIMITED)
    objectives = tuple((o.metric, o.direction) for o in recipe.objectives)
    env = TrialEnv(
        recipe.space,
        ctx.data,
        recipe.protocol,
        ctx.seed,
        emit,
        ctx.out_of_budget,
        ctx.evaluate,
        objectives,
        trains=recipe.evaluation.trains,
        stop_early=ctx.stop_early,
        scalarise=ctx.scalariser(),
    )
    oracle_objective = (
        keras_tuner.Objective(objective.metric, "max" if objective.direction == "maximize" else "min")
        if env.scalarise is None
        else keras_tuner.Objective(SCALARISED_METRIC, "min")
    )
    model = ak.AutoModel(
        inputs=inp,
        outputs=out,
        project_name=PROJECT,
        directory=str(ctx.run_dir),
        objective=oracle_objective,
        tuner=tuner_class(strategy),
        overwrite=True,
        seed=native_seed(ctx.seed),
        max_trials=ctx.budget.trials or UNLIMITED,
        max_model_size=ctx.options.extra.get("max_model_size"),
        hyperparameters=pinned_hyperparameters(ctx),
        tune_new_entries=True,
        unas=env,
        **kwargs,
    )
    # A failing architecture is a failed record, not the end of the search (default: 3 in a row abort).
    model.tuner.oracle.max_consecutive_failed_trials = UNLIMITED
    if ctx.options.default_first and not STRATEGIES[strategy].starts_at_default:
        start_with_defaults(model.tuner.oracle)
    return model


def start_with_defaults(oracle: keras_tuner.Oracle) -> None:
    """``default_first``: the oracle's first trial is every hyperparameter at its default.

    Our block declares each parameter's default as the recipe's start value
    (``space.declare``), so the defaults are the start point. keras-tuner's
    oracles take no initial sample in general (only AutoKeras's greedy one
    has ``initial_hps``), so the first ``populate_space`` is answered here,
    for every oracle alike; later calls are the oracle's own. Hyperband
    declares ``default_first=False``: its brackets own the trial schedule.

    Args:
        oracle: The tuner's oracle, before the search starts.
    """
    populate = oracle.populate_space
    pending = [True]

    def populate_space(trial_id: str) -> dict[str, Any]:
        if not (pending and pending.pop()):
            return populate(trial_id)
        hps = keras_tuner.HyperParameters()
        for hp in oracle.hyperparameters.space:  # as keras-tuner fills a trial: active parameters only
            hps.merge([hp])
            if hps.is_active(hp):
                hps.values[hp.name] = hp.default
        return {"status": keras_tuner.engine.trial.TrialStatus.RUNNING, "values": hps.values}

    oracle.populate_space = populate_space


def run_search(graph: tuple[Any, Any], ctx: RunContext, emit: Callable[[NativeTrial], None]) -> None:
    """Runs the search; every finished trial goes to ``emit`` as it ends.

    Args:
        graph: From :func:`search_graph`.
        ctx: The run's context.
        emit: Called with each finished trial.

    Raises:
        Exception: Whatever AutoKeras raises, except its end-of-search model
            export when no trial completed (the failed records say why).
    """
    data, protocol = ctx.data, ctx.recipe.protocol
    completed: list[bool] = []

    def record(t: NativeTrial) -> None:
        completed.append(t.status == "COMPLETED")
        emit(t)

    automodel = build_automodel(graph, ctx, record)
    # Each trial fits with its own batch size (the tuner sets it); this one only feeds AutoKeras's data analysis.
    batch = ctx.recipe.space.training.batch_size
    # frozen_heap pays one full collection (~0.4 s) to spare keras-tuner's collection before each model build;
    # a run that trains nothing builds no model (measured: no full collection of its own in 100 looked-up trials).
    heap = frozen_heap() if ctx.recipe.evaluation.trains else contextlib.nullcontext()
    with heap, no_trial_tracebacks(), warnings.catch_warnings():
        for message in QUIET:
            warnings.filterwarnings("ignore", message=message)
        try:
            automodel.fit(
                x=data.x_train,
                y=one_hot(data.y_train, data.num_classes),
                validation_data=(data.x_val, one_hot(data.y_val, data.num_classes)),
                epochs=protocol.epochs,
                batch_size=batch if isinstance(batch, int) else 32,
                callbacks=protocol_callbacks(protocol),
                verbose=0,
            )
        except Exception:
            # After the last trial AutoKeras reloads and saves the best model (unified-nas does not use it). It
            # crashes there with no completed trial, and when the best trial was never fitted: a table's, a proxy's
            # (the tuner raises NotFitted before building anything) or one finished in an earlier attempt of a
            # resumed run (its weights went with the earlier project). Every record is stored by then.
            if not (automodel.tuner.unas_search_done and (not any(completed) or automodel.tuner.unas_unfitted)):
                raise
