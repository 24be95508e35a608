"""Several objectives on single-objective strategies: the ``scalarisation`` strategy argument, and real runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_on, tiny_recipe
from unified_nas.core.errors import RecipeError, UnsupportedFeatures
from unified_nas.core.multiobjective import describe_scalarisation as describe
from unified_nas.report.records import dominates
from unified_nas.report.render import render_table
from unified_nas.runs.registry import get_backend
from unified_nas.runs.scalarise import Scalariser, resolve

METRICS = ["val_accuracy", "params"]
DIRS = ["maximize", "minimize"]
TWO = [{"metric": "val_accuracy"}, {"metric": "params"}]
SPACE = {
    "depth": {"low": 1, "high": 2},
    "layer": {"op": "linear", "width": [8, 16, 32, 64], "activation": ["relu", "tanh"]},
}


def test_resolve_fills_every_default_so_the_run_records_them():
    assert resolve(None, METRICS, "p") == {
        "method": "chebyshev",
        "weights": "per_trial",
        "rho": 0.05,
        "ranges": "observed",
    }
    assert resolve("chebyshev", METRICS, "p") == resolve(None, METRICS, "p")  # the method alone: a shorthand
    assert resolve({"method": "weighted_sum", "weights": [3, 1]}, METRICS, "p") == {
        "method": "weighted_sum",
        "weights": [3.0, 1.0],  # as given: divided by their sum where used
        "ranges": "observed",
    }
    spec = resolve({"weights": "per_trial", "rho": 0.1, "ranges": "known"}, METRICS, "p")
    assert resolve(spec, METRICS, "p") == spec  # resolving a resolved one (a resumed run) changes nothing


@pytest.mark.parametrize(
    "raw, field, words",
    [
        ({"method": "pbi"}, "p.method", "is not one of chebyshev, weighted_sum"),
        ({"weights": "sometimes"}, "p.weights", "is not one of per_run, per_trial"),
        ({"rho": -1}, "p.rho", "is not a number in 0..1"),
        ({"rho": True}, "p.rho", "is not a number in 0..1"),
        ({"method": "weighted_sum"}, "p.weights", "needs a list of 2 weights"),
        ({"method": "weighted_sum", "weights": [1, 2, 3]}, "p.weights", "needs a list of 2 weights"),
        ({"method": "weighted_sum", "weights": [1, -1]}, "p.weights", "finite number >= 0"),
        ({"method": "weighted_sum", "weights": [0, 0]}, "p.weights", "at least one weight"),
        ({"method": "weighted_sum", "weights": [1, 1], "rho": 0.1}, "p.rho", "only the chebyshev"),
        ({"ranges": "guessed"}, "p.ranges", "is not one of observed, known"),
        ({"methd": "chebyshev"}, "p.methd", "unknown field"),
        (["chebyshev"], "p", "expected a mapping"),
    ],
)
def test_resolve_refuses_with_the_field_named(raw, field, words):
    with pytest.raises(RecipeError) as info:
        resolve(raw, METRICS, "p")
    assert str(info.value).startswith(field + ":") and words in str(info.value)


def test_a_resumed_weighted_sum_scores_to_the_last_bit():
    """A resumed run resolves its stored arguments again; dividing the weights twice changed their last bits."""
    three = ["val_accuracy", "params", "flops"]
    first = resolve({"method": "weighted_sum", "weights": [0.6, 0.3, 0.1]}, three, "p")
    again = resolve(first, three, "p")
    assert again == first
    dirs = ["maximize", "minimize", "minimize"]
    a, b = Scalariser(first, three, dirs, 0), Scalariser(again, three, dirs, 0)
    for v in ([0.5, 1e5, 1e7], [0.7, 2e5, 3e7], [0.6, 1.5e5, 2e7]):
        assert a(v) == b(v)


def test_infinite_proxy_values_neither_squash_the_ranges_nor_give_nan():
    big = 1.7976931348623157e308  # how an infinite proxy is stored
    s = Scalariser(resolve(None, ["synflow", "params"], "p"), ["synflow", "params"], DIRS, 0)
    scores = [s(v) for v in ([1.0, 100.0], [big, 50.0], [-big, 400.0], [3.0, 200.0], [float("inf"), 10.0])]
    assert all(0.0 <= x <= 1.05 for x in scores), scores
    # the finite ones still spread: [1, 3] is the observed synflow range
    assert scores[3] != scores[0]


def test_a_dominated_trial_scores_worse_under_any_weights():
    for seed in range(20):  # 20 weight draws (one per run seed)
        s = Scalariser(resolve({"weights": "per_run"}, METRICS, "p"), METRICS, DIRS, seed)
        s([0.5, 1000.0])
        s([0.9, 100.0])
        better, worse = s([0.8, 200.0]), s([0.7, 300.0])  # same ranges: the second is dominated
        assert better < worse


def test_first_trial_is_not_the_best_possible_score():
    s = Scalariser(resolve(None, METRICS, "p"), METRICS, DIRS, 0)
    first = s([0.9, 500.0])
    assert first > 0  # no range yet: the middle of each objective
    assert s([0.95, 400.0]) == pytest.approx(0.0)  # best in both so far


def test_weights_per_run_are_one_draw_per_seed_and_per_trial_draws_are_reproducible():
    run = resolve({"weights": "per_run"}, METRICS, "p")
    a, b = Scalariser(run, METRICS, DIRS, 3), Scalariser(run, METRICS, DIRS, 4)
    assert a.weights is not None and b.weights is not None and a.weights != b.weights
    assert abs(sum(a.weights) - 1) < 1e-12
    trial = resolve({"weights": "per_trial"}, METRICS, "p")
    vectors = [[0.5, 500.0], [0.9, 900.0], [0.6, 100.0], [0.7, 600.0], [0.8, 300.0], [0.55, 700.0], [0.65, 400.0]]
    one, again = Scalariser(trial, METRICS, DIRS, 3), Scalariser(trial, METRICS, DIRS, 3)
    first = [one(v) for v in vectors]
    assert len(set(first)) > 3
    assert [again(v) for v in vectors] == first  # a resumed run's replay scores as the first attempt did


def test_infeasible_trial_scores_worst_and_leaves_ranges_alone():
    s = Scalariser(resolve(None, METRICS, "p"), METRICS, DIRS, 0)
    s([0.5, 100.0])
    s([0.9, 200.0])
    assert s([0.0, 1e9], feasible=False) > max(s([0.1, 1000.0]), 1.0)
    assert max(v[1] for v in s.seen) == 1000.0


def test_known_ranges_use_the_metric_registry_bounds():
    s = Scalariser(
        resolve({"method": "weighted_sum", "weights": [1, 0], "ranges": "known"}, METRICS, "p"), METRICS, DIRS, 0
    )
    assert s([0.75, 10.0]) == pytest.approx(0.25)  # val_accuracy in [0, 1]; params has no upper bound: observed


def test_describe_names_method_and_weights():
    text = describe(resolve({"method": "weighted_sum", "weights": [1, 3]}, METRICS, "p"), 0, METRICS)
    assert text == "weighted sum; weights val_accuracy 0.25, params 0.75; observed ranges"
    assert describe(resolve({"weights": "per_run"}, METRICS, "p"), 0, METRICS).startswith(
        "augmented Chebyshev (ParEGO, rho 0.05); weights val_accuracy "
    )
    assert "drawn anew for every trial" in describe(resolve({"weights": "per_trial"}, METRICS, "p"), 0, METRICS)


@pytest.mark.parametrize("name, strategy", [("nni", "evolution"), ("autokeras", "greedy")])
def test_default_strategies_get_the_scalarisation_recorded_and_the_toolkit_never_sees_it(name, strategy):
    backend = get_backend(name)
    recipe = tiny_recipe(SPACE, objectives=TWO)
    options = backend.options(recipe, {})
    assert options.strategy == strategy
    assert options.strategy_args["scalarisation"]["method"] == "chebyshev"
    assert "scalarisation" not in options.toolkit_args
    backend.check(recipe, options)  # no gap: the default strategy searches two objectives


def test_scalarisation_is_refused_where_nothing_is_combined():
    optuna, nni = get_backend("optuna"), get_backend("nni")
    two, one = tiny_recipe(SPACE, objectives=TWO), tiny_recipe(SPACE)
    with pytest.raises(RecipeError, match=r"strategy_args.scalarisation: strategy 'nsga2' does not take"):
        optuna.options(two, {"strategy": "nsga2", "strategy_args": {"scalarisation": {}}})
    with pytest.raises(RecipeError, match="the recipe has one objective"):
        nni.options(one, {"strategy_args": {"scalarisation": {}}})
    with pytest.raises(RecipeError, match=r"backends.nni.strategy_args.scalarisation.method"):
        nni.options(two, {"strategy_args": {"scalarisation": {"method": "pbi"}}})
    web = nni.options(two, {}, {"engine": "web"})
    with pytest.raises(UnsupportedFeatures, match="2 objectives with engine 'web'"):
        nni.check(two, web)
    # Optuna's hyperband optimises one number and Optuna's adapter does not scalarise: still refused.
    with pytest.raises(UnsupportedFeatures, match="2 objectives with strategy 'hyperband'"):
        optuna.check(two, optuna.options(two, {"strategy": "hyperband"}))


def _front(report) -> list:
    return [t for t in report.trials if t.index in report.pareto_front]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["nni", "autokeras"])
def test_two_objectives_run_on_the_default_strategy_and_give_a_front(name, store, tmp_path):
    recipe = tiny_recipe(SPACE, data="breast_cancer", objectives=TWO, seed=0)
    report = run_on(name, recipe, store, tmp_path, trials=10)
    assert report.status == "complete"
    assert report.options["strategy_args"]["scalarisation"] == resolve(None, METRICS, "p")
    front = _front(report)
    assert len(front) >= 2
    text = render_table(report)  # the run report names the scalarisation beside the strategy
    assert (
        "objectives combined for the strategy by augmented Chebyshev (ParEGO, rho 0.05); weights drawn anew for every trial"
        in text
    )
    done = [t for t in report.trials if t.status == "complete"]
    for f in front:  # the core's front: nothing complete dominates a point of it
        assert not any(dominates(o.objectives, f.objectives, DIRS) for o in done)


@pytest.mark.slow
def test_autokeras_oracle_ranks_trials_by_the_scalarised_score(store, tmp_path):
    recipe = tiny_recipe(SPACE, data="breast_cancer", objectives=TWO, seed=1)
    report = run_on("autokeras", recipe, store, tmp_path, trials=6)
    scores = {}
    for f in Path(report.run_dir).glob("autokeras/trial_*/trial.json"):
        d = json.loads(f.read_text())
        scores[int(d["trial_id"])] = d["score"]
    s = Scalariser(report.options["strategy_args"]["scalarisation"], METRICS, DIRS, report.seed)
    expected = [s(t.objectives) for t in sorted(report.trials, key=lambda t: t.index)]
    assert [scores[i] for i in sorted(scores)] == pytest.approx(expected)


def test_rescoring_lets_a_later_trial_beat_one_that_scored_zero_early():
    """A trial best so far in every objective scored 0 for good: later, better trials could never beat it."""
    s = Scalariser(resolve(None, METRICS, "p"), METRICS, DIRS, 0)
    vectors = ([0.80, 50000.0], [0.85, 40000.0], [0.95, 41000.0], [0.84, 20000.0])
    first = [s(v) for v in vectors]
    assert first[1] == 0.0  # best in both when it was scored
    now = [s.rescore(v) for v in vectors]
    assert now[1] > 0.0 and min(now[2], now[3]) < now[1]  # the far more accurate or half-size trial wins now
    assert now[3] == pytest.approx(first[3])  # the latest trial: the same ranges and weights as when scored


@pytest.mark.slow
def test_nni_evolution_population_is_rescored_after_every_trial(store, tmp_path, monkeypatch):
    from unified_nas.backends.nni import run as nni_run

    seen: list[list[tuple[str, float]]] = []
    original = nni_run.rescore_population

    def observed(strategy, env):
        original(strategy, env)
        members = [(nni_run.trial_mod.sample_key(m.x), m.y) for m in strategy._population]
        for key, y in members:  # every member scored as the latest ranges and weights give it
            assert y == pytest.approx(-env.scalarise.rescore(*env.scored[key]))
        seen.append(members)

    monkeypatch.setattr(nni_run, "rescore_population", observed)
    recipe = tiny_recipe(SPACE, data="breast_cancer", objectives=TWO, seed=2)
    report = run_on("nni", recipe, store, tmp_path, trials=8)
    assert report.status == "complete" and len(seen) == 8
    assert max(len(members) for members in seen) >= 3  # the population grew and was re-scored


@pytest.mark.slow
def test_autokeras_completed_trials_are_rescored_after_every_trial(store, tmp_path, monkeypatch):
    from unified_nas.backends.autokeras.tuner import UnasTunerMixin

    checks: list[int] = []
    original = UnasTunerMixin._rescore_completed

    def observed(self, trial_id, values, feasible):
        original(self, trial_id, values, feasible)
        done = [t for t in self.oracle.trials.values() if t.trial_id != trial_id and t.score is not None]
        for t in done:
            assert t.score == pytest.approx(self.unas.scalarise.rescore(*self.unas_scalarised[t.trial_id]))
        checks.append(len(done))

    monkeypatch.setattr(UnasTunerMixin, "_rescore_completed", observed)
    recipe = tiny_recipe(SPACE, data="breast_cancer", objectives=TWO, seed=2)
    report = run_on("autokeras", recipe, store, tmp_path, trials=5)
    assert report.status == "complete" and checks == [0, 1, 2, 3, 4]
