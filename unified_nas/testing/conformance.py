"""Backend-agnostic checks: capabilities, translate, run, normalize.

``check_backend(name, tmp_dir)`` runs every check against a real toolkit on
tiny real data (one epoch per trial) and raises AssertionError on the first
violation. Each check is also exposed for parametrized test suites.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from unified_nas.backends.base import UNIFIED_STRATEGIES
from unified_nas.errors import UnsupportedFeatures
from unified_nas.recipe import Recipe, parse_recipe
from unified_nas.registry import get_backend
from unified_nas.report.records import STATUSES, RunReport
from unified_nas.report.store import ResultsStore
from unified_nas.runner import run_recipe
from unified_nas.space import validate_sample

SPACES: dict[str, dict[str, Any]] = {
    "mlp": {"depth": {"low": 1, "high": 2}, "layer": {"op": "linear", "width": [8, 16], "activation": ["relu", "tanh"]}},
    "cnn": {"depth": {"low": 1, "high": 2}, "layer": {"op": ["conv", "max_pool"], "kernel": [3, 5], "width": [4, 8],
                                                       "pool": ["none", "max"], "skip": [False, True]}},
    "cell": {"type": "cell", "nodes": 2, "cells": 2, "reductions": [1], "channels": 4,
             "ops": ["none", "skip_connect", "max_pool_3x3", "sep_conv_3x3"]},
}
# Extra recipes for strategies that refuse searched training hyperparameters
# (one-shot) or reduction cells (Proxyless): fixed lr, with and without reductions.
FIXED_TRAINING = {"cell_fixed": "cell", "cell_flat": "cell"}


def conformance_recipes(objectives: int = 1) -> dict[str, Recipe]:
    """Tiny finite recipes on digits (one epoch per trial, lr searched from a list)."""
    objs = [{"metric": "val_accuracy"}] + ([{"metric": "params"}] if objectives > 1 else [])
    spaces = {**SPACES, "cell_fixed": SPACES["cell"], "cell_flat": {**SPACES["cell"], "reductions": []}}
    return {kind: parse_recipe({"name": f"conformance_{kind}", "data": {"name": "digits"}, "space": space,
                                "training": {"epochs": 1, "batch_size": 128,
                                             "lr": 0.003 if kind in FIXED_TRAINING else [0.003, 0.01]},
                                "objectives": objs, "budget": {"trials": 2}}, source=f"conformance {kind}")
            for kind, space in spaces.items()}


def first_accepted(name: str, strategy: str, objectives: int = 1) -> Recipe | None:
    """The first conformance recipe the backend accepts for ``strategy`` (None if it refuses all)."""
    backend = get_backend(name)
    for recipe in conformance_recipes(objectives).values():
        if not backend.gaps(recipe, backend.options(recipe, {"strategy": strategy})):
            return recipe
    return None


def check_describe(name: str) -> None:
    """Capabilities are data: names, strategies from the unified vocabulary, a default."""
    d = get_backend(name).describe()
    assert d["name"] == name and d["version"] != "not installed"
    assert d["default_strategy"] in d["strategies"]
    unknown = set(d["strategies"]) - set(UNIFIED_STRATEGIES)
    assert not unknown, f"strategies outside the unified vocabulary: {unknown}"


def check_run(name: str, recipe: Recipe, tmp_dir: Path, strategy: str | None = None, trials: int = 2) -> RunReport:
    """A real run: every record normalized, canonical, stored, and timed."""
    store = ResultsStore(Path(tmp_dir) / "unas.sqlite")
    report = run_recipe(recipe, name, strategy=strategy, trials=trials, seed=0, store=store,
                        runs_dir=Path(tmp_dir) / "runs", progress=False)
    assert report.status == "complete", report.error
    one_shot = get_backend(name).strategies[report.strategy].one_shot
    expected = 1 if one_shot else trials  # a one-shot strategy exports one architecture
    assert len(report.trials) == expected, f"{len(report.trials)} records, expected {expected}"
    if one_shot:
        assert report.search_cost and report.search_cost["supernet_wall_s"] > 0
    decls = recipe.space.decls()
    for t in report.trials:
        assert t.status in STATUSES
        validate_sample(decls, t.sample)
        if t.status == "complete":
            assert set(t.metrics) >= {"val_accuracy", "val_loss"}
            assert len(t.objectives) == len(recipe.objectives)
            assert t.params and t.params > 0 and t.flops and t.flops > 0
            assert 0 < t.train_s <= t.duration_s, (t.train_s, t.duration_s)
            assert len(t.history) == recipe.protocol.epochs
    stored = store.load_run(report.run_id)
    assert [t.to_dict() for t in stored.trials] == [t.to_dict() for t in report.trials]
    assert stored.incumbent is not None and stored.incumbent["test_accuracy"] is not None
    store.close()
    return report


def check_declared_gap(name: str, recipe: Recipe, strategy: str) -> None:
    """A strategy the backend does not offer fails before any work, naming backend and strategy."""
    backend = get_backend(name)
    options = backend.options(recipe, {"strategy": strategy})
    try:
        backend.check(recipe, options)
    except UnsupportedFeatures as e:
        assert e.backend == name and f"strategy '{strategy}'" in str(e)
        return
    raise AssertionError(f"{name} accepted strategy {strategy!r} it does not declare")


def check_backend(name: str, tmp_dir: Path) -> None:
    """Runs all checks on one backend with its default strategy."""
    check_describe(name)
    for kind, recipe in conformance_recipes().items():
        if kind in SPACES and recipe.space.kind in get_backend(name).capabilities.space_kinds:
            check_run(name, recipe, Path(tmp_dir) / kind)
    offered = get_backend(name).strategies
    for strategy in UNIFIED_STRATEGIES:
        if strategy not in offered:
            check_declared_gap(name, conformance_recipes()["mlp"], strategy)
