"""The behaviour suite: every promise of ``unified_nas.testing.behaviour`` on every registered backend.

One test per promise, parametrized over every backend the entry points
register (nni, optuna, autokeras, the toolkit-free reference backend, and any
third party's), skipped where its toolkit is not installed. A promise a
backend declares it cannot keep (``promise_gaps``, read from its declared
data) is a strict expected failure: when the gap gets fixed, the test fails
until the declaration goes.

The markers are applied when the test runs (``request.applymarker``), not at
collection: reading a backend's data imports its toolkit (seconds for NNI or
TensorFlow), which collecting the suite must not cost.

The last tests check the suite itself, with variants of the reference
backend that break one promise each: a check that cannot fail checks nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from unified_nas.backends.reference import Backend as Reference
from unified_nas.runs.registry import entries
from unified_nas.testing import behaviour as B
from unified_nas.testing.conformance import SPACES

BACKENDS = sorted(entries())


def _promise(name: str, promise: str, request: pytest.FixtureRequest) -> None:
    """Skips a backend that is not installed; marks a promise it declares it cannot keep as a strict xfail."""
    if not entries()[name].installed():
        pytest.skip(f"{name} toolkit not installed")
    reason = B.promise_gaps(name).get(promise)
    if reason:
        request.applymarker(pytest.mark.xfail(strict=True, reason=f"declared gap: {reason}"))


@pytest.mark.slow
@pytest.mark.parametrize("name", BACKENDS)
def test_same_seed_same_trials_another_seed_other_samples(name, request, tmp_path):
    _promise(name, "reproducible", request)
    B.check_reproducible(name, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("name", BACKENDS)
def test_a_failing_trial_is_recorded_and_the_search_goes_on(name, request, tmp_path):
    _promise(name, "failed_trial", request)
    B.check_failed_trial(name, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("name", BACKENDS)
def test_default_first_starts_every_backend_at_the_start_point(name, request, tmp_path):
    _promise(name, "default_first", request)
    B.check_default_first(name, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("name", BACKENDS)
def test_the_trial_budget_holds_exactly(name, request, tmp_path):
    _promise(name, "trial_budget", request)
    B.check_trial_budget(name, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("name", BACKENDS)
def test_a_time_budget_ends_the_search(name, request, tmp_path):
    _promise(name, "time_budget", request)
    B.check_time_budget(name, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(SPACES))
@pytest.mark.parametrize("name", BACKENDS)
def test_records_validate_against_the_space(name, kind, request, tmp_path):
    _promise(name, "records", request)
    B.check_records(name, tmp_path, kinds=(kind,))


@pytest.mark.parametrize("name", BACKENDS)
def test_declared_gaps_are_refused_before_any_work(name, request, tmp_path):
    _promise(name, "gaps_refused", request)
    assert B.gap_cases(name), f"{name} declares no gap at all: nothing to check"
    B.check_gaps_refused(name, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("name", BACKENDS)
def test_ctrl_c_ends_the_search_and_keeps_the_finished_trials(name, request, tmp_path):
    _promise(name, "interrupt", request)
    B.check_interrupt(name, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("name", BACKENDS)
def test_nothing_is_written_outside_the_run_dir_and_the_store(name, request, tmp_path):
    _promise(name, "writes_confined", request)
    B.check_writes_confined(name, tmp_path)


def test_every_promise_has_a_test_here():
    tested = {
        "reproducible",
        "failed_trial",
        "trial_budget",
        "time_budget",
        "records",
        "gaps_refused",
        "default_first",
        "interrupt",
        "writes_confined",
    }
    assert set(B.PROMISES) == tested


# -- the suite catches what it should: reference backends that break one promise each ----------------
class IgnoresTheSeed(Reference):
    name = "ignores_the_seed"

    def run(self, native: Any, ctx: Any, report: Callable[[Any], None]) -> None:
        ctx.seed = 0
        super().run(native, ctx, report)


class IgnoresTheTimeBudget(Reference):
    """Declares the gap, and has it."""

    name = "ignores_the_time_budget"
    capabilities = dataclasses.replace(Reference.capabilities, time_budget=False)

    def run(self, native: Any, ctx: Any, report: Callable[[Any], None]) -> None:
        ctx.budget = dataclasses.replace(ctx.budget, time_s=None)
        super().run(native, ctx, report)


class DeclaresAFixedGap(Reference):
    """Declares it ignores time budgets, but keeps them (the gap was fixed, the declaration stayed)."""

    name = "declares_a_fixed_gap"
    capabilities = dataclasses.replace(Reference.capabilities, time_budget=False)


class SwallowsCtrlC(Reference):
    name = "swallows_ctrl_c"

    def run(self, native: Any, ctx: Any, report: Callable[[Any], None]) -> None:
        evaluate = ctx.evaluate

        def swallowing(sample: Any, on_epoch: Any = None, native: Any = None) -> Any:
            try:
                return evaluate(sample, on_epoch, native)
            except KeyboardInterrupt as e:  # what a toolkit catching BaseException would do
                raise RuntimeError("interrupted") from e

        ctx.evaluate = swallowing
        super().run(native, ctx, report)


class IgnoresTheStart(Reference):
    """Accepts default_first and starts with a random sample anyway."""

    name = "ignores_the_start"

    def run(self, native: Any, ctx: Any, report: Callable[[Any], None]) -> None:
        ctx.options.default_first = False
        super().run(native, ctx, report)


class ServesEveryPruner(Reference):
    """Declares pruners ("none",) but refuses nothing."""

    name = "serves_every_pruner"

    def gaps(self, recipe: Any, options: Any) -> list:
        return []


@pytest.fixture
def register(monkeypatch) -> Callable[[type], str]:
    """Registers a backend class of this module for the test (as its entry point would)."""
    from unified_nas.runs import registry

    real = registry.entries
    added: dict[str, Any] = {}

    def with_added() -> dict[str, Any]:
        return {**real(), **added}

    def add(cls: type) -> str:
        added[cls.name] = registry.BackendEntry(cls.name, f"{__name__}:{cls.__name__}")
        return cls.name

    monkeypatch.setattr(registry, "entries", with_added)
    return add


def test_reference_backend_is_registered_by_its_entry_point_only():
    from importlib.metadata import entry_points

    assert [ep.value for ep in entry_points(group="unified_nas.backends") if ep.name == "reference"] == [
        "unified_nas.backends.reference:Backend"
    ]
    assert Reference.capabilities.space_kinds == {"macro", "cell", "dense_cell"}


@pytest.mark.slow
def test_a_backend_that_ignores_the_seed_fails_reproducible(register, tmp_path):
    with pytest.raises(AssertionError, match="the seed does not reach the strategy"):
        B.check_reproducible(register(IgnoresTheSeed), tmp_path)


@pytest.mark.slow
def test_a_declared_gap_that_is_real_passes_and_a_fixed_one_fails(register, tmp_path):
    real, fixed = register(IgnoresTheTimeBudget), register(DeclaresAFixedGap)
    assert "time_budget" in B.promise_gaps(real)
    # Small numbers: the runaway search ends at its trial budget of 8 instead of running 500 trials.
    B.check_promise(real, "time_budget", tmp_path / "real", time_s=0.3, trials=8)
    with pytest.raises(AssertionError, match="drop the declaration"):
        B.check_promise(fixed, "time_budget", tmp_path / "fixed", time_s=0.3, trials=500)


@pytest.mark.slow
def test_a_backend_that_swallows_ctrl_c_fails_interrupt(register, tmp_path):
    with pytest.raises(AssertionError, match="did not end the search"):
        B.check_interrupt(register(SwallowsCtrlC), tmp_path)


@pytest.mark.slow
def test_a_backend_that_ignores_the_start_point_fails_default_first(register, tmp_path):
    with pytest.raises(AssertionError, match="first sample evaluated"):
        B.check_default_first(register(IgnoresTheStart), tmp_path)


@pytest.mark.slow
def test_an_undeclared_refusal_fails_gaps_refused(register, tmp_path):
    name = register(ServesEveryPruner)
    case = next(c for c in B.gap_cases(name) if c.id == "pruner-median")
    with pytest.raises(AssertionError, match="the run was not refused"):
        B.check_gap_refused(name, case, tmp_path)


def test_reference_refuses_strategy_arguments(tmp_path):
    from unified_nas.core.errors import RecipeError
    from unified_nas.runs.runner import run_recipe
    from unified_nas.testing.conformance import conformance_raw, recipe_from_raw

    raw = conformance_raw("mlp")
    raw["backends"] = {"reference": {"strategy_args": {"population": 3}}}
    with pytest.raises(
        RecipeError,
        match=r"backends.reference.strategy_args: random takes no arguments "
        r"\(got population\)",
    ):
        run_recipe(
            recipe_from_raw(raw), "reference", store=tmp_path / "s.sqlite", runs_dir=tmp_path / "runs", progress=False
        )
    assert list(Path(tmp_path).iterdir()) == []


@pytest.mark.slow
def test_reference_grid_visits_every_sample_once_then_stops(store, tmp_path):
    from tests.conftest import run_on
    from unified_nas.space import enumerate_samples
    from unified_nas.testing.conformance import conformance_raw, recipe_from_raw

    raw = conformance_raw("mlp")
    raw["space"]["depth"] = 1  # 2 widths x 2 activations x 2 learning rates
    recipe = recipe_from_raw(raw)
    every = list(enumerate_samples(recipe.space.decls()))
    report = run_on("reference", recipe, store, tmp_path, strategy="grid", trials=len(every) + 5, seed=0)
    assert report.status == "complete"
    assert [t.sample for t in report.trials] == every and len(every) == 8
