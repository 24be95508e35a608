"""Metrics known before training, computed for one sample (analytic, zero-cost proxies, measured latency).

The registry (:mod:`unified_nas.core.metrics`) says what each metric is; this
module computes the ones a trial knows before it trains, for constraints and
for evaluation by proxy.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from unified_nas.core.metrics import METRICS, finite
from unified_nas.network import compile_plan

if TYPE_CHECKING:
    from unified_nas.data import Dataset
    from unified_nas.space import SearchSpace


def compute_before_training(
    names: Iterable[str], space: SearchSpace, sample: Mapping[str, Any], data: Dataset, seed: int
) -> dict[str, float]:
    """The values of metrics known before training, for one sample.

    Args:
        names: Metrics of cost analytic, zero_cost or measured.
        space: The recipe's search space.
        sample: A canonical sample of it.
        data: The run's data (proxies draw their minibatch from its training split).
        seed: The run seed (the proxies' weights and minibatch; the same on every backend).

    Returns:
        ``{name: value}``; proxies with ±inf kept as :func:`finite` values, NaN as NaN.

    Raises:
        KeyError: A name is not registered or is a trained metric.
    """
    wanted = list(dict.fromkeys(names))
    bad = [n for n in wanted if METRICS[n].cost == "trained"]
    if bad:
        raise KeyError(f"{', '.join(bad)} is known only after training")
    out: dict[str, float] = {}
    if any(METRICS[n].cost == "analytic" for n in wanted):
        plan = compile_plan(space.resolve(sample), data.input_shape, data.num_classes)
        out.update({"params": float(plan.params), "flops": float(plan.flops)})
    proxies = [n for n in wanted if METRICS[n].cost == "zero_cost"]
    if proxies:
        from unified_nas.evaluation.proxies import compute_proxies  # deferred: imports torch

        scores = compute_proxies(space, sample, data, seed, names=proxies)
        out.update({n: finite(scores[n]) for n in proxies})
    if "latency_ms" in wanted:
        from unified_nas.evaluation.latency import sample_latency  # deferred: imports torch

        out["latency_ms"] = sample_latency(space, sample, data.input_shape, data.num_classes, seed=seed).median_ms
    return {n: out[n] for n in wanted}
