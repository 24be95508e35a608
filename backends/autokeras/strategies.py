"""The strategies the AutoKeras backend offers, as data (keras-tuner's oracles under unified names)."""

from __future__ import annotations

from unified_nas.backends.base import Strategy

STRATEGIES = {
    s.name: s
    for s in (
        Strategy("greedy", "Greedy", default_first=True),
        Strategy("random", "RandomSearch", default_first=True),
        Strategy("bayesian", "BayesianOptimization", default_first=True),
        # Hyperband's brackets own the trial schedule: no first trial to hand it.
        Strategy("hyperband", "Hyperband (patched: promoted trials)", multi_fidelity=True),
        Strategy("grid", "keras-tuner GridSearch", finite_only=True, default_first=True, starts_at_default=True),
    )
}
