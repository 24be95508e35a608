"""Fault test: `unas run` killed (SIGKILL) or terminated (SIGTERM) mid-search, then `unas run --resume`.

On every backend: the killed run is shown as ``died``, the terminated one is
stored as ``interrupted`` (exit 143), and the resumed run completes its trial
budget with every finished trial kept once and unchanged. The resumed run also
equals an uninterrupted run with the same seed, trial by trial: the backend's
strategy saw the stored trials (including failed ones) as it did the first time.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from tests.conftest import start_unas, unas
from unified_nas.runs.registry import entries

# lr 1e30 with SGD overflows (a failed trial): the replay must fail it again, as the first attempt did.
RECIPE = """
name: faults
data: {name: digits}
space:
  type: macro
  depth: {low: 1, high: 2}
  layer: {op: linear, width: [16, 32, 64], activation: [relu, tanh]}
training: {epochs: 3, batch_size: 64, optimizer: sgd, lr: [0.01, 0.1, 1.0e30]}
budget: {trials: 6}
seed: 1
"""
TRIALS = 6
BACKENDS = sorted(entries())


def stored(store: Path) -> tuple[list[dict], dict]:
    """(trial records by index, run row) of the one run in ``store``, read without writing."""
    db = sqlite3.connect(f"{store.resolve().as_uri()}?mode=ro", uri=True)
    try:
        trials = [json.loads(r) for (r,) in db.execute("SELECT record FROM trials ORDER BY idx")]
        rows = list(db.execute("SELECT run_id, status FROM runs"))
    finally:
        db.close()
    assert len(rows) <= 1
    return trials, ({"run_id": rows[0][0], "status": rows[0][1]} if rows else {})


def _need(name: str) -> None:
    if not entries()[name].installed():
        pytest.skip(f"{name} toolkit not installed")


def _key(t: dict) -> tuple:
    return json.dumps(t["sample"], sort_keys=True), t["status"], t["objectives"]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("faults")
    (d / "faults.yaml").write_text(RECIPE)
    return d


@pytest.fixture(scope="module")
def uninterrupted(workdir):
    """Uninterrupted runs with the same seed, per backend (made once)."""
    cache: dict[str, list[dict]] = {}

    def get(name: str) -> list[dict]:
        if name not in cache:
            d = workdir / f"ref-{name}"
            d.mkdir()
            r = unas("run", str(workdir / "faults.yaml"), "--backend", name, "--quiet", "--store", "s.sqlite", cwd=d)
            assert r.returncode == 0, r.stderr
            cache[name] = stored(d / "s.sqlite")[0]
            assert len(cache[name]) == TRIALS
        return cache[name]

    return get


def _stop_after_two_trials(name: str, recipe: Path, base: Path, sig: int) -> tuple[str, list[dict], Path, Path]:
    """Starts ``unas run``, sends ``sig`` once two trials are stored.

    A trial of this recipe takes a fraction of a second, so on a busy machine the
    run can store its whole budget between two looks at the store: then the signal
    would land on a finished search and test nothing. That try is discarded and the
    run started again in a fresh folder (up to 5 tries).

    Returns:
        (stderr, trials stored after the signal, store path, folder the run ran in).
    """
    for attempt in range(5):
        cwd = base / f"try{attempt}"
        cwd.mkdir()
        store = cwd / "s.sqlite"
        proc = start_unas("run", recipe, "--backend", name, "--quiet", "--store", store, cwd=cwd)
        deadline = time.time() + 300
        before: list[dict] = []
        while time.time() < deadline and proc.poll() is None:
            if store.exists():
                try:
                    before = stored(store)[0]
                except sqlite3.OperationalError:  # the writer holds a lock for a moment
                    pass
            if len(before) >= 2:
                break
            time.sleep(0.05)
        if len(before) >= TRIALS or (proc.poll() is not None and proc.returncode == 0):
            proc.kill()  # the race was lost: the search ended before the signal
            proc.communicate()
            continue
        assert proc.poll() is None, f"the run ended before it could be killed: {proc.communicate()[1][-2000:]}"
        assert 2 <= len(before) < TRIALS
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == (-signal.SIGKILL if sig == signal.SIGKILL else 128 + signal.SIGTERM), err
        return err, stored(store)[0], store, cwd  # SIGTERM: a trial may have ended while stopping
    pytest.fail("5 runs stored their whole budget before the signal could be sent")


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
@pytest.mark.parametrize("name", BACKENDS)
def test_killed_run_resumes_to_its_budget(name, sig, workdir, uninterrupted, tmp_path):
    _need(name)
    err, before, store, cwd = _stop_after_two_trials(name, workdir / "faults.yaml", tmp_path, sig)
    run_id = stored(store)[1]["run_id"]
    if sig == signal.SIGKILL:
        assert stored(store)[1]["status"] == "running"  # nobody could rewrite it ...
        listing = unas("runs", "--store", str(store), cwd=cwd)
        assert f"{run_id}  faults  {name}  died" in listing.stdout  # ... but it is shown as died
    else:
        assert "unas: terminated" in err and f"unas run --resume {run_id}`" in err
        assert stored(store)[1]["status"] == "interrupted"
    assert len(before) < TRIALS

    r = unas("run", "--resume", run_id[:12], "--quiet", "--store", str(store), cwd=cwd)
    assert r.returncode == 0, r.stderr
    after, row = stored(store)
    assert row["status"] == "complete"
    assert [t["index"] for t in after] == list(range(TRIALS))  # every trial once, none lost or doubled
    assert after[: len(before)] == before  # finished trials kept unchanged, not redone
    assert [_key(t) for t in after] == [_key(t) for t in uninterrupted(name)]  # as if never killed
    report = json.loads(unas("report", run_id, "--format", "json", "--store", str(store), cwd=cwd).stdout)
    assert report["attempts"][0]["status"] == ("died" if sig == signal.SIGKILL else "interrupted")
    assert report["attempts"][0]["trials"] == len(before)


# Two objectives: NNI's evolution and AutoKeras's greedy oracle see a scalarised score that depends on the
# trials before it (observed ranges) and on the run seed (weights), so a resumed run must rebuild it exactly.
TWO_OBJECTIVES = RECIPE.replace(
    "budget: {trials: 6}", "objectives: [{metric: val_accuracy}, {metric: params}]\nbudget: {trials: 6}"
)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["nni", "autokeras"])
def test_a_scalarised_run_resumes_as_if_never_killed(name, tmp_path):
    _need(name)
    recipe = tmp_path / "two.yaml"
    recipe.write_text(TWO_OBJECTIVES)
    ref = tmp_path / "ref"
    ref.mkdir()
    r = unas("run", str(recipe), "--backend", name, "--quiet", "--store", "s.sqlite", cwd=ref)
    assert r.returncode == 0, r.stderr
    uninterrupted = stored(ref / "s.sqlite")[0]
    _, before, store, cwd = _stop_after_two_trials(name, recipe, tmp_path, signal.SIGKILL)
    run_id = stored(store)[1]["run_id"]
    r = unas("run", "--resume", run_id[:12], "--quiet", "--store", str(store), cwd=cwd)
    assert r.returncode == 0, r.stderr
    after = stored(store)[0]
    assert after[: len(before)] == before
    assert [_key(t) for t in after] == [_key(t) for t in uninterrupted]


@pytest.mark.slow
def test_two_resumes_of_one_died_run_at_once_one_proceeds(workdir, tmp_path):
    """Before, both passed the claim (a died run is stored as running, and a claim leaves it running),
    both trained the remaining trials, and the attempt history kept one of them."""
    _, before, store, cwd = _stop_after_two_trials("reference", workdir / "faults.yaml", tmp_path, signal.SIGKILL)
    run_id = stored(store)[1]["run_id"]
    procs = [start_unas("run", "--resume", run_id, "--quiet", "--store", store, cwd=cwd) for _ in range(2)]
    results = sorted((p.wait(timeout=300), p.stderr.read() if p.stderr else "") for p in procs)
    assert [code for code, _ in results] == [0, 2], results
    assert "claimed by another process" in results[1][1] or "is still running" in results[1][1], results[1][1]
    after, row = stored(store)
    assert row["status"] == "complete" and [t["index"] for t in after] == list(range(TRIALS))
    assert after[: len(before)] == before
    report = json.loads(unas("report", run_id, "--format", "json", "--store", str(store), cwd=cwd).stdout)
    assert len(report["attempts"]) == 1 and report["attempts"][0]["status"] == "died"


@pytest.mark.slow
def test_resume_refuses_a_complete_run_and_writes_nothing(workdir, tmp_path):
    _need("optuna")
    store, recipe = tmp_path / "s.sqlite", tmp_path / "ok.yaml"
    recipe.write_text(RECIPE.replace("lr: [0.01, 0.1, 1.0e30]", "lr: 0.1"))
    assert (
        unas(
            "run", str(recipe), "--backend", "optuna", "--trials", "1", "--quiet", "--store", str(store), cwd=tmp_path
        ).returncode
        == 0
    )
    snapshot = store.read_bytes()
    r = unas("run", "--resume", "latest", "--store", str(store), cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.strip().endswith("is complete; nothing to resume")
    assert store.read_bytes() == snapshot
    r = unas("run", "--resume", "latest", "--backend", "nni", "--store", str(store), cwd=tmp_path)
    assert r.returncode == 2 and "drop --backend" in r.stderr


@pytest.mark.slow
def test_run_with_no_complete_trial_exits_1(workdir, tmp_path):
    _need("optuna")
    recipe = tmp_path / "diverge.yaml"
    # relu: with tanh a 1e30 step can leave the loss finite (saturated logits), and the trial "completes".
    recipe.write_text(RECIPE.replace("lr: [0.01, 0.1, 1.0e30]", "lr: 1.0e30").replace("[relu, tanh]", "relu"))
    r = unas("run", str(recipe), "--backend", "optuna", "--trials", "2", "--quiet", cwd=tmp_path)
    assert r.returncode == 1
    assert r.stderr.strip().splitlines()[-1].startswith("unas: error: no trial completed (2 failed, 0 pruned)")
    assert "TrainingDiverged" in r.stderr
