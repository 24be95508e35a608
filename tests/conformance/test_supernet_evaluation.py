"""Supernet recipes on every backend: one weight-sharing supernet trained before the search scores every trial.

Real searches of every registered backend (NNI, Optuna, AutoKeras, the
reference backend) on ``recipes/digits_nb201_supernet.yaml``. Checks: no
gradient step is taken after the supernet is trained (no trial trains a
network of its own, and AutoKeras never fits Keras); every backend trains the
same supernet (one seed, one bank digest) and a trial's score is that
supernet's score of its sample, so backends differ only in what they propose;
the cost is recorded and stored; a resumed run reloads the stored supernet
instead of training it again, and refuses a damaged one with one line,
changing nothing.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from tests.conftest import ROOT, run_on
from unified_nas.core.errors import UserError
from unified_nas.data import load_dataset
from unified_nas.evaluation.supernet import evaluator as supernet_evaluator
from unified_nas.evaluation.supernet.evaluator import SupernetScore
from unified_nas.evaluation.supernet.store import RECORD, WEIGHTS
from unified_nas.evaluation.supernet.train import score
from unified_nas.recipe import load_recipe
from unified_nas.report.render import render_table
from unified_nas.report.store import ResultsStore
from unified_nas.runs.registry import entries
from unified_nas.runs.runner import resume_run, run_recipe

BACKENDS = sorted(entries())
RECIPE = ROOT / "recipes" / "digits_nb201_supernet.yaml"


def _need(name: str) -> None:
    if not entries()[name].installed():
        pytest.skip(f"{name} toolkit not installed")


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """torch on one thread, as a run without --threads trains (sums in another order give other bits)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture(scope="module")
def reference() -> SupernetScore:
    """The recipe's supernet trained outside any run (seed 0): what every backend's run must train."""
    recipe = load_recipe(RECIPE)
    assert recipe.evaluation.supernet is not None
    ev = SupernetScore(recipe.evaluation.supernet, recipe.space, load_dataset(recipe.data), recipe.seed)
    with one_thread():
        ev.prepare(None)
    return ev


@pytest.fixture
def no_training_after_supernet(monkeypatch):
    """Fails any backward pass (or Keras fit) once the supernet has been trained: trials must not train."""
    trained = {"done": False}
    prepare, backward = SupernetScore.prepare, torch.Tensor.backward

    def prepare_then_forbid(self, *a, **kw):
        cost = prepare(self, *a, **kw)
        trained["done"] = True
        return cost

    def guarded_backward(self, *a, **kw):
        assert not trained["done"], "a trial trained a network (a backward pass after the supernet was trained)"
        return backward(self, *a, **kw)

    monkeypatch.setattr(SupernetScore, "prepare", prepare_then_forbid)
    monkeypatch.setattr(torch.Tensor, "backward", guarded_backward)
    return trained


@pytest.mark.slow
@pytest.mark.parametrize("name", BACKENDS)
def test_twelve_trials_scored_by_one_supernet(
    name, reference, no_training_after_supernet, store, tmp_path, monkeypatch
):
    _need(name)
    if name == "autokeras":
        import keras

        def no_fit(*a, **kw):
            raise AssertionError("AutoKeras fitted a Keras model in a supernet run")

        monkeypatch.setattr(keras.Model, "fit", no_fit)
    recipe = load_recipe(RECIPE)
    report = run_on(name, recipe, store, tmp_path, trials=12)
    assert no_training_after_supernet["done"]
    assert report.status == "complete" and report.budget_spent["complete"] == 12
    distinct = {tuple(sorted(t.sample.items())) for t in report.trials}
    assert len(distinct) >= 6, f"{name}: {len(distinct)} distinct architectures in 12 trials"
    cost = report.search_cost
    assert cost is not None and cost["kind"] == "supernet" and cost["supernet_wall_s"] > 0
    assert cost["supernet_epochs"] == 5 and cost["steps"] > 0 and not cost.get("reloaded")
    assert reference.supernet is not None
    assert cost["bank_sha256"] == reference.supernet.digest()  # the same supernet whichever backend searches
    run_dir = Path(report.run_dir)
    assert (run_dir / WEIGHTS).stat().st_size == cost["bytes"] and (run_dir / RECORD).is_file()
    for t in report.trials[:3]:  # a trial's score is the supernet's score of its sample, nothing of the backend's
        with one_thread():
            direct = score(reference.supernet, t.sample, reference.data, recalibration_batch_size=64, seed=recipe.seed)
        assert t.metrics["val_accuracy"] == pytest.approx(direct["val_accuracy"], abs=1e-12)
        assert t.test_accuracy == pytest.approx(direct["test_accuracy"], abs=1e-12)
        assert len(t.history) == 1 and t.params > 0 and t.flops > 0
    assert report.evaluation["mode"] == "supernet" and report.evaluation["framework"] == "torch"
    text = render_table(report)
    assert "evaluated by a supernet" in text and "no trial trained a network of its own" in text


def _stop_after(store_path: Path, report, kept: int) -> None:
    """Makes a finished run look interrupted after ``kept`` trials, as a kill would have left it."""
    report.status, report.trials = "interrupted", report.trials[:kept]
    store = ResultsStore(store_path)
    store.save_run(report)
    store.close()
    db = sqlite3.connect(store_path)
    with db:
        db.execute("DELETE FROM trials WHERE run_id = ? AND idx >= ?", (report.run_id, kept))
    db.close()


@pytest.mark.slow
def test_a_resumed_run_reuses_the_stored_supernet(tmp_path, monkeypatch):
    recipe = load_recipe(RECIPE)
    path = tmp_path / "s.sqlite"
    whole = run_recipe(recipe, "optuna", trials=8, store=ResultsStore(path), runs_dir=tmp_path / "runs", progress=False)
    expected = [(t.sample, t.metrics) for t in whole.trials]
    _stop_after(path, whole, 3)

    def no_training(*a, **kw):
        raise AssertionError("the resumed run trained its supernet again")

    monkeypatch.setattr(supernet_evaluator, "train_supernet", no_training)
    resumed = resume_run(whole.run_id, store=ResultsStore(path), progress=False)
    assert resumed.status == "complete"
    assert [(t.sample, t.metrics) for t in resumed.trials] == expected
    assert resumed.search_cost is not None and resumed.search_cost["reloaded"]
    assert resumed.search_cost["bank_sha256"] == whole.search_cost["bank_sha256"]


@pytest.mark.slow
def test_a_damaged_supernet_is_refused_and_a_missing_one_retrained(tmp_path):
    recipe = load_recipe(RECIPE)
    path = tmp_path / "s.sqlite"
    whole = run_recipe(recipe, "optuna", trials=4, store=ResultsStore(path), runs_dir=tmp_path / "runs", progress=False)
    expected = [(t.sample, t.metrics) for t in whole.trials]
    _stop_after(path, whole, 2)
    weights = Path(whole.run_dir) / WEIGHTS
    good = weights.read_bytes()
    weights.write_bytes(good[:-9] + bytes([good[-9] ^ 1]) + good[-8:])  # one bit flipped
    with pytest.raises(UserError, match=r"supernet\.pt is damaged") as e:
        resume_run(whole.run_id, store=ResultsStore(path), progress=False)
    assert "\n" not in str(e.value)
    stored = ResultsStore(path).load_run(whole.run_id)
    assert stored.status == "interrupted" and len(stored.trials) == 2 and not stored.attempts  # nothing written
    # Killed before the supernet was stored (no record): the resumed run trains it again, to the same values.
    weights.unlink()
    (Path(whole.run_dir) / RECORD).unlink()
    resumed = resume_run(whole.run_id, store=ResultsStore(path), progress=False)
    assert resumed.status == "complete" and not resumed.search_cost.get("reloaded")
    assert [(t.sample, t.metrics) for t in resumed.trials] == expected


@pytest.mark.slow
def test_sigterm_during_supernet_training_stops_at_the_next_epoch(tmp_path):
    import signal
    import time

    from tests.conftest import edited_recipe, start_unas

    long = edited_recipe(RECIPE, evaluation={"supernet": {"epochs": 2000}})  # minutes: it must not run to its end
    (tmp_path / "long.yaml").write_text(long.source)
    store = tmp_path / "s.sqlite"
    proc = start_unas("run", "long.yaml", "--backend", "optuna", "--store", store, cwd=tmp_path)
    deadline = time.time() + 120
    while time.time() < deadline and not list((tmp_path / "unas-runs").glob("*/supernet.json")):
        if proc.poll() is not None:
            break
        runs = list((tmp_path / "unas-runs").glob("*")) if (tmp_path / "unas-runs").exists() else []
        if runs:
            time.sleep(2)  # the run exists; its supernet is training now (an epoch takes a fraction of a second)
            break
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()[1][-2000:]
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "supernet: epoch" in err
    stored = ResultsStore(store).load_run("latest")
    assert stored.status == "interrupted" and not stored.trials and stored.search_cost is None
    assert not (Path(stored.run_dir) / RECORD).exists()  # no supernet stored: a resume trains it again
