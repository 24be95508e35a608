"""The one registry of metrics: name, direction, what it costs, how it is computed.

Every metric a recipe may name as an objective or a constraint is declared
here once. Parsing (``recipe.py``), evaluation (:mod:`unified_nas.evaluation.evaluators`),
the values a toolkit is told (:func:`objective_values`) and the renderers all
read this table; nothing else lists metric names.

Costs, cheapest first:
    * ``analytic``: counted from the architecture, nothing is built (``params``, ``flops``).
    * ``zero_cost``: a training-free proxy on the freshly initialised torch twin of the
      sample and one seeded minibatch of the training data (:mod:`unified_nas.evaluation.proxies`).
    * ``measured``: timed on this machine (``latency_ms``: :mod:`unified_nas.evaluation.latency`).
    * ``trained``: known only after training under the recipe's protocol (or from a table).

Everything but ``trained`` is known before a trial trains, so a recipe's
``constraints:`` may only use those, and they are checked before any training.

Importing this module imports nothing heavy: computing a metric imports torch lazily.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    pass

COSTS = ("analytic", "zero_cost", "measured", "trained")
# What a toolkit is told for a trained metric of a trial that was not trained (infeasible) when the
# metric has no natural bound in that direction: far beyond any value a trained network reaches, finite
# so that every toolkit's JSON and model-fitting accepts it.
UNBOUNDED_WORST = 1e9
# Non-finite proxy values (naswot's log det of a singular kernel is -inf) are kept as the largest finite
# double of that sign: the order against every finite value is unchanged, and reports stay strict JSON.
FINITE_MAX = sys.float_info.max


@dataclass(frozen=True)
class Metric:
    """One metric.

    Attributes:
        name: The name recipes, records and reports use.
        direction: The natural direction (``maximize`` or ``minimize``): an objective's default.
        cost: One of :data:`COSTS`.
        how: How it is computed, for ``unas metrics`` and the docs.
        low, high: Bounds of its values where they exist (``val_accuracy`` is in [0, 1]); the
            worst value in a direction is the bound on the bad side, else ±:data:`UNBOUNDED_WORST`.
    """

    name: str
    direction: str
    cost: str
    how: str
    low: float | None = None
    high: float | None = None

    def worst(self, direction: str) -> float:
        """The worst value in ``direction``: what a toolkit is told for an untrained (infeasible) trial.

        Args:
            direction: The objective's direction.

        Returns:
            The bound on the bad side, or ±:data:`UNBOUNDED_WORST`.
        """
        if direction == "maximize":
            return self.low if self.low is not None else -UNBOUNDED_WORST
        return self.high if self.high is not None else UNBOUNDED_WORST


_PROXY_HOW = "on the initialised torch twin, one seeded training minibatch (unified_nas.evaluation.proxies)"
METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("val_accuracy", "maximize", "trained", "accuracy on the validation split after training", 0.0, 1.0),
        Metric("val_loss", "minimize", "trained", "mean cross-entropy on the validation split after training", 0.0),
        Metric("train_loss", "minimize", "trained", "mean training cross-entropy of the last epoch", 0.0),
        Metric("params", "minimize", "analytic", "trainable parameters, counted from the architecture", 0.0),
        Metric("flops", "minimize", "analytic", "FLOPs of one example's forward pass (2 per multiply-add)", 0.0),
        Metric(
            "latency_ms",
            "minimize",
            "measured",
            "median forward time of one example on this machine, torch eager, after warm-up (unified_nas.evaluation.latency)",
            0.0,
        ),
        Metric("synflow", "maximize", "zero_cost", "synaptic flow, Tanaka et al. 2020; " + _PROXY_HOW),
        Metric("snip", "maximize", "zero_cost", "connection sensitivity |g*w|, Lee et al. 2019; " + _PROXY_HOW),
        Metric(
            "grad_norm", "maximize", "zero_cost", "norm of the loss gradients, Abdelfattah et al. 2021; " + _PROXY_HOW
        ),
        Metric("jacov", "maximize", "zero_cost", "input-Jacobian correlation, Mellor et al. 2020 (v1); " + _PROXY_HOW),
        Metric("naswot", "maximize", "zero_cost", "ReLU-code kernel log det, Mellor et al. ICML 2021; " + _PROXY_HOW),
    )
}
PROXY_METRICS = tuple(n for n, m in METRICS.items() if m.cost == "zero_cost")
#: The column ``unas tabulate`` adds beside the proxies for a recipe with ``evaluation: {supernet: ...}``:
#: each architecture's validation accuracy with weights inherited from the table's one trained supernet.
SUPERNET_SCORE = "supernet"
# Known before training: what constraints may use.
PRE_TRAINING = tuple(n for n, m in METRICS.items() if m.cost != "trained")


def metric(name: str) -> Metric:
    """The registered metric ``name``.

    Raises:
        KeyError: Not registered.
    """
    return METRICS[name]


def finite(value: float) -> float:
    """``value`` with ±inf replaced by the largest finite double of its sign (NaN is kept: undefined).

    Args:
        value: A metric value.

    Returns:
        A value that orders like ``value`` and is valid strict JSON unless NaN.
    """
    if math.isinf(value):
        return FINITE_MAX if value > 0 else -FINITE_MAX
    return value


@dataclass(frozen=True)
class Bound:
    """One constraint of a recipe: ``metric`` must lie within [``min``, ``max``] (either may be None).

    Attributes:
        metric: A metric known before training (:data:`PRE_TRAINING`).
        min, max: The bounds, inclusive.
    """

    metric: str
    min: float | None = None
    max: float | None = None

    def violation(self, value: float) -> float:
        """How far ``value`` is outside the bounds (<= 0 inside): Optuna's constraint convention.

        Args:
            value: The metric's value.

        Returns:
            ``value - max`` or ``min - value``, whichever is larger; NaN counts as violated by 1.
        """
        if math.isnan(value):
            return 1.0
        amounts = [value - self.max if self.max is not None else -math.inf]
        amounts.append(self.min - value if self.min is not None else -math.inf)
        return max(amounts)

    def describe_violation(self, value: float) -> str:
        """The record's text for a violated bound, e.g. ``params 61234 > max 50000``."""
        if self.max is not None and not value <= self.max:
            return f"{self.metric} {value:.6g} > max {self.max:.6g}"
        return f"{self.metric} {value:.6g} < min {self.min:.6g}"

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "min": self.min, "max": self.max}


def violations(bounds: Sequence[Bound], values: Mapping[str, float]) -> list[str]:
    """The violated bounds, as record texts (empty: feasible).

    Args:
        bounds: The recipe's constraints.
        values: Metric values of the sample (every bound's metric present).

    Returns:
        One text per violated bound.
    """
    return [b.describe_violation(values[b.metric]) for b in bounds if b.violation(values[b.metric]) > 0]


def objective_values(
    metrics: Mapping[str, float],
    params: int,
    flops: int,
    objectives: Iterable[tuple[str, str]],
    feasible: bool = True,
) -> list[float]:
    """What every toolkit is told for a trial: its objective values in recipe order.

    An infeasible trial was not trained: a trained metric it lacks is told as
    the metric's worst value in the objective's direction (a toolkit without
    constraints then ranks it last); metrics known before training keep their
    real value.

    Args:
        metrics: The trial's metric values.
        params, flops: Its counted parameters and FLOPs.
        objectives: ``(metric, direction)`` pairs, in recipe order.
        feasible: False for a trial that violated a constraint.

    Returns:
        The values.

    Raises:
        KeyError: A feasible trial lacks an objective metric.
        ValueError: An objective of a feasible trial is NaN (the trial fails on every backend).
    """
    counted = {"params": float(params), "flops": float(flops)}
    out = []
    for name, direction in objectives:
        value = float(metrics[name]) if name in metrics else counted.get(name)
        if not feasible and (value is None or math.isnan(value)):
            value = METRICS[name].worst(direction)
        if value is None:
            raise KeyError(name)
        if math.isnan(value):
            # One rule for every backend: a NaN cannot be ranked, so the trial fails and says why
            # (toolkits would otherwise each do something else: NNI takes it, Optuna fails it quietly).
            raise ValueError(f"objective {name} is NaN")
        out.append(value)
    return out
