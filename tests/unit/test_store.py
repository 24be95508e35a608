"""Records, the SQLite store and the renderers."""

from __future__ import annotations

import json

import pytest

from unified_nas.core.errors import StoreError
from unified_nas.report.records import RunReport, TrialRecord, pareto_front
from unified_nas.report.render import render_csv, render_json, render_table
from unified_nas.report.store import ResultsStore


def _report(run_id="r1", objectives=(("val_accuracy", "maximize"),)):
    return RunReport(
        run_id=run_id,
        recipe={"name": "x", "hash": "h", "text": "t"},
        backend={"name": "b", "version": "1"},
        strategy="s",
        options={},
        seed=0,
        objectives=[{"metric": m, "direction": d} for m, d in objectives],
        budget_asked={"trials": 3},
        data={},
        space={},
        environment={},
        run_dir=".",
        started_at=1.0,
    )


def _trial(i, acc, params=100, status="complete", test=0.5):
    return TrialRecord(
        i,
        str(i),
        status,
        {"a": i},
        {"val_accuracy": acc},
        [acc] if status == "complete" else None,
        params=params,
        start_time=1.0 + i,
        duration_s=1.0,
        train_s=0.75,
        test_accuracy=test,
    )


def test_round_trip_and_incumbent_only_test_accuracy(store):
    store.save_run(_report())
    for t in (_trial(0, 0.5, test=0.4), _trial(1, 0.9, test=0.88), _trial(2, 0.0, status="failed")):
        store.add_trial("r1", t)
    rep = store.load_run("latest")
    assert [t.status for t in rep.trials] == ["complete", "complete", "failed"]
    assert rep.incumbent["index"] == 1 and rep.incumbent["test_accuracy"] == 0.88
    assert rep.budget_spent["complete"] == 2 and rep.budget_spent["failed"] == 1
    d = json.loads(render_json(rep))
    assert "test_accuracy" not in d["trials"][0] and d["trials"][0]["overhead_s"] == 0.25
    assert d["schema_version"] == 1 and d["trials"][0]["schema_version"] == 1
    assert render_csv(rep).splitlines()[0].startswith("index,native_id,status,objective.val_accuracy")
    assert "incumbent: trial 1" in render_table(rep)


def test_prefix_and_unknown_ids(store):
    store.save_run(_report("abc-1"))
    store.save_run(_report("abd-2"))
    assert store.resolve_id("abc") == "abc-1"
    with pytest.raises(StoreError, match="matches 2 runs"):
        store.resolve_id("ab")
    with pytest.raises(StoreError, match="no run 'zz'"):
        store.resolve_id("zz")
    # A prefix is literal: SQL LIKE would read '%' and '_' as wildcards and open some other run.
    for pattern in ("%", "a%", "ab_-1", "_bc"):
        with pytest.raises(StoreError, match=f"no run '{pattern}'"):
            store.resolve_id(pattern)


def test_unknown_schema_is_refused(store):
    store.save_run(_report())
    store._db.execute("UPDATE runs SET report=json_set(report, '$.schema_version', 99)")
    store._db.commit()
    with pytest.raises(StoreError, match="schema_version 99"):
        store.load_run("r1")


def test_not_a_store(tmp_path):
    p = tmp_path / "junk.sqlite"
    p.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not a unified-nas results store"):
        ResultsStore(p)


def test_pareto_front():
    ts = [_trial(0, 0.9, 500), _trial(1, 0.8, 100), _trial(2, 0.7, 300), _trial(3, 0.95, 900)]
    for t in ts:
        t.objectives = [t.metrics["val_accuracy"], t.params]
    assert pareto_front(ts, ["maximize", "minimize"]) == [0, 1, 3]
