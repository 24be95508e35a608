"""The words every backend shares: unified strategy names.

A backend offers strategies under these names (``--strategy random`` means
uniform random search on every backend that has it) and declares which ones,
as data, in its own folder; the core and the conformance suite read the
names from here, never from a backend.
"""

from __future__ import annotations

#: Every strategy name any backend may offer.
UNIFIED_STRATEGIES: tuple[str, ...] = (
    "random",
    "grid",
    "tpe",
    "evolution",
    "bayesian",
    "hyperband",
    "greedy",
    "rl",
    "cmaes",
    "nsga2",
    "darts",
    "gumbel_darts",
    "enas",
    "proxyless",
    "random_one_shot",
)

#: Pruner names (early stopping of bad trials); each backend declares the ones it offers.
UNIFIED_PRUNERS: tuple[str, ...] = ("none", "median", "hyperband")
