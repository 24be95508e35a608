"""The AutoKeras 3 backend: the recipe as an ``ak.AutoModel`` with one custom block.

Nothing here imports Keras at module import: Keras fixes its compute backend
(TensorFlow or PyTorch) when first imported, so that happens in ``prepare``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from unified_nas.backends.autokeras.keras_env import KERAS_BACKENDS, select_keras_backend
from unified_nas.backends.autokeras.normalize import NativeTrial, normalize_trial
from unified_nas.backends.autokeras.strategies import STRATEGIES
from unified_nas.backends.autokeras.workarounds import hide_tensorflow, quiet_native_stderr
from unified_nas.backends.base import Backend as BaseBackend
from unified_nas.backends.base import Capabilities, Options
from unified_nas.core.errors import Gap
from unified_nas.runs.options import OptionSpec
from unified_nas.space import Categorical, FloatRange, IntRange

if TYPE_CHECKING:
    from unified_nas.recipe import Recipe
    from unified_nas.report.records import TrialRecord
    from unified_nas.runs.context import RunContext

# Metrics Keras logs per epoch, hence usable as keras-tuner objectives.
LOGGED_METRICS = ("val_accuracy", "val_loss")


def _values(v: Any) -> list[Any]:
    if isinstance(v, Categorical):
        return v.values()
    if isinstance(v, (IntRange, FloatRange)):
        return [v.low, v.high]
    return [v]


def l2_decay_gap(recipe: Recipe) -> Gap | None:
    """Torch's adam/sgd decay is coupled L2; Keras optimizers only decay decoupled (AdamW-style)."""
    t = recipe.space.training
    if any(_values(t.weight_decay)) and any(o in ("adam", "sgd") for o in _values(t.optimizer)):
        return Gap(
            "weight_decay with optimizer adam/sgd",
            "toolkit",
            "Keras has no coupled L2 decay like torch's; use optimizer adamw (decoupled, equal in both)",
        )
    return None


class Backend(BaseBackend[tuple[Any, Any], NativeTrial]):  # (input node, output node) of the AutoKeras graph
    name = "autokeras"
    toolkit = "autokeras"
    capabilities = Capabilities(space_kinds=frozenset({"macro", "cell", "dense_cell"}), scalarisation=True)
    strategies = STRATEGIES
    default_strategy = "greedy"
    option_specs = (
        OptionSpec(
            "keras_backend",
            "str",
            "tensorflow",
            "Keras's compute backend (torch runs without importing TensorFlow)",
            choices=KERAS_BACKENDS,
        ),
        OptionSpec(
            "max_model_size", "int", None, "AutoKeras's own limit: larger models fail their trial (parameters)", low=1
        ),
    )
    requires = ("autokeras", "keras")
    extra = "autokeras"
    packages = ("autokeras", "keras", "keras-tuner", "tensorflow", "tensorflow-cpu", "torch")

    def gaps(self, recipe: Recipe, options: Options) -> list[Gap]:
        gaps = super().gaps(recipe, options)
        metric = recipe.objectives[0].metric
        if metric not in LOGGED_METRICS and recipe.evaluation.trains:
            gaps.append(
                Gap(
                    f"objective '{metric}'",
                    "toolkit",
                    f"keras-tuner ranks trained trials by a metric Keras logs: {', '.join(LOGGED_METRICS)}",
                )
            )
        decay = l2_decay_gap(recipe)
        if decay is not None:
            gaps.append(decay)
        if recipe.protocol.precision != "fp32" and recipe.evaluation.trains:
            # Keras's mixed precision is a process-wide policy set before any layer is built; a warm run
            # process would carry it into the next run. Refused rather than half-applied.
            gaps.append(
                Gap(
                    f"training.precision {recipe.protocol.precision}",
                    "adapter",
                    "mixed precision is applied by the torch trainer (nni, optuna, reference) only",
                )
            )
        if options.extra.get("max_model_size") is not None and not recipe.evaluation.trains:
            ev = recipe.evaluation
            gaps.append(
                Gap(
                    f"max_model_size on {f'proxy {ev.proxy}' if ev.proxy else f'table {ev.table}'}",
                    "adapter",
                    "AutoKeras enforces it while building a model, which a trial that is not trained does not do",
                )
            )
        if options.resume and options.strategy == "hyperband":
            gaps.append(
                Gap(
                    "resuming strategy 'hyperband'",
                    "adapter",
                    "promoted trials load their parent's "
                    "weights from the keras-tuner project, which a resume does not keep",
                )
            )
        return gaps

    def prepare(self, options: Options) -> None:
        keras_backend = options.extra.get("keras_backend", "tensorflow")
        select_keras_backend(keras_backend)
        if keras_backend == "torch":
            hide_tensorflow()
        with quiet_native_stderr():  # TF_IMPORT_LOG_TF221
            import unified_nas.backends.autokeras.run  # noqa: F401  (Keras, AutoKeras, keras-tuner)

    def check_arguments(self, recipe: Recipe, options: Options, seed: int, budget: Any) -> None:
        from unified_nas.backends.autokeras.run import (
            tuner_arguments,
        )  # deferred: imports AutoKeras, Keras and TensorFlow

        tuner_arguments(options.strategy, options.toolkit_args)

    def translate(self, ctx: RunContext) -> tuple[Any, Any]:
        """The AutoKeras graph (input -> UnasBlock -> UnasHead); the AutoModel and its project are made in run."""
        from unified_nas.backends.autokeras.run import search_graph  # deferred: imports AutoKeras, Keras and TensorFlow

        return search_graph(ctx.recipe.space)

    def run(self, space: tuple[Any, Any], ctx: RunContext, report: Callable[[NativeTrial], None]) -> None:
        from unified_nas.backends.autokeras.run import run_search  # deferred: imports AutoKeras, Keras and TensorFlow

        run_search(space, ctx, report)

    def normalize(self, native_trial: NativeTrial, ctx: RunContext) -> TrialRecord:
        return normalize_trial(native_trial, ctx)
