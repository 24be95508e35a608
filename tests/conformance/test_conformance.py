"""The conformance suite over every registered backend (skipped where not installed).

Structure: capabilities as data, every unified strategy runs or is a declared
gap. The behaviour promises (records, budgets, reproducibility, ...) are in
test_behaviour.py.
"""

from __future__ import annotations

import pytest

from unified_nas.core.vocabulary import UNIFIED_STRATEGIES
from unified_nas.runs.registry import entries, get_backend
from unified_nas.testing import conformance as C

BACKENDS = sorted(entries())


def _need(name: str):
    if not entries()[name].installed():
        pytest.skip(f"{name} toolkit not installed")
    return get_backend(name)


@pytest.mark.parametrize("name", BACKENDS)
def test_describe(name):
    _need(name)
    C.check_describe(name)


def _strategy_cases():
    for name in BACKENDS:
        for strategy in UNIFIED_STRATEGIES:
            yield name, strategy


@pytest.mark.slow
@pytest.mark.parametrize("name,strategy", list(_strategy_cases()))
def test_every_unified_strategy_runs_or_is_a_declared_gap(name, strategy, tmp_path):
    backend = _need(name)
    s = backend.strategies.get(strategy)
    if s is None:
        C.check_declared_gap(name, C.conformance_recipes()["mlp"], strategy)
        return
    if s.missing():
        # Offered, but its optional dependency is absent: a clear pre-run error naming the extra.
        recipe = C.conformance_recipes()["mlp"]
        with pytest.raises(
            Exception, match=rf"strategy '{strategy}' \(toolkit: needs .*pip install 'unified-nas\[{s.extra}\]'"
        ):
            backend.check(recipe, backend.options(recipe, {"strategy": strategy}))
        pytest.skip(f"{strategy}: optional dependency not installed ({', '.join(s.missing())})")
    if s.numeric_only:
        # A numeric-only strategy must refuse categorical spaces, then run a numeric one.
        with pytest.raises(Exception, match="numeric parameters only"):
            backend.check(
                C.conformance_recipes()["mlp"], backend.options(C.conformance_recipes()["mlp"], {"strategy": strategy})
            )
        from unified_nas.recipe import parse_recipe

        numeric = parse_recipe(
            {
                "name": "numeric",
                "data": {"name": "digits"},
                "space": {"depth": {"low": 1, "high": 2}, "layer": {"op": "linear", "width": {"low": 8, "high": 32}}},
                "training": {"epochs": 1, "lr": {"low": 0.001, "high": 0.01, "log": True}},
            }
        )
        C.check_run(name, numeric, tmp_path, strategy=strategy, trials=3)
        return
    objectives = 2 if s.multi_objective and strategy in ("nsga2",) else 1
    recipe = C.first_accepted(name, strategy, objectives)
    assert recipe is not None, f"{name} offers {strategy!r} but refuses every conformance recipe"
    C.check_run(name, recipe, tmp_path, strategy=strategy, trials=3)
    if s.categorical_only:
        from unified_nas.recipe import parse_recipe

        continuous = parse_recipe(
            {
                "name": "c",
                "data": {"name": "digits"},
                "space": {"layer": {"op": "linear", "width": 8}},
                "training": {"lr": {"low": 0.001, "high": 0.01}},
            }
        )
        with pytest.raises(Exception, match="handles choices only; continuous: lr"):
            backend.check(continuous, backend.options(continuous, {"strategy": strategy}))
