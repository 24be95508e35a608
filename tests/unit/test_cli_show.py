"""`unas show`: a stored trial drawn through the real CLI, from a real small run, and its refusals."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml
from PIL import Image

from tests.conftest import ROOT, unas
from unified_nas.report.store import ResultsStore

SVG = "{http://www.w3.org/2000/svg}"


def _recipe(tmp: Path, name: str, **changes: object) -> Path:
    """A bundled recipe with one epoch per trial and few trials, written into ``tmp``."""
    raw = yaml.safe_load((ROOT / "recipes" / f"{name}.yaml").read_text())
    raw["training"]["epochs"] = 1
    raw["budget"] = {"trials": 3}
    raw.update(changes)
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def cell_run(tmp_path_factory) -> tuple[Path, str]:
    """A real 3-trial Optuna run of the DARTS cell recipe on digits: its folder and run id."""
    pytest.importorskip("optuna")
    tmp = tmp_path_factory.mktemp("show")
    out = unas("run", _recipe(tmp, "digits_cell"), "--backend", "optuna", "--quiet", cwd=tmp)
    assert out.returncode == 0, out.stderr[-3000:]
    store = ResultsStore(tmp / "unas.sqlite", readonly=True)
    try:
        return tmp, store.resolve_id("latest")
    finally:
        store.close()


def _load(tmp: Path, run_id: str):
    store = ResultsStore(tmp / "unas.sqlite", readonly=True)
    try:
        return store.load_run(run_id)
    finally:
        store.close()


def test_show_latest_best_writes_an_svg_naming_the_incumbents_ops(cell_run):
    tmp, run_id = cell_run
    out = unas("show", "latest", "--trial", "best", "-o", "a.svg", cwd=tmp)
    assert out.returncode == 0, out.stderr
    report = _load(tmp, run_id)
    inc = report.incumbent
    assert inc is not None
    assert out.stdout.strip() == f"wrote a.svg: trial {inc['index']} of {run_id} (optuna, cell space, svg)"
    root = ET.fromstring((tmp / "a.svg").read_text())
    assert root.get("class") == "architecture" and root.get("data-kind") == "cell"
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert any(t and t.endswith(f"trial {inc['index']} (the incumbent)") for t in texts)
    ops = [v for k, v in inc["sample"].items() if "/op_" in k]
    assert len(ops) == 2 * 2 * 2  # normal and reduction cell, 2 nodes of 2 edges each
    labels = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "op"]
    assert sorted(labels) == sorted(ops)  # every edge of both cells, each named by its op
    assert "normal cell (cells 0)" in texts and "reduction cell (cells 1, 2)" in texts


def test_show_a_trial_by_index_as_png(cell_run):
    tmp, run_id = cell_run
    out = unas("show", run_id[:20], "--trial", "0", "--output", "t0.png", cwd=tmp)
    assert out.returncode == 0, out.stderr
    with Image.open(tmp / "t0.png") as img:
        img.verify()
    assert out.stdout.startswith(f"wrote t0.png: trial 0 of {run_id}")


def test_the_run_table_names_the_incumbents_architecture(cell_run):
    tmp, run_id = cell_run
    out = unas("report", run_id, cwd=tmp)
    assert out.returncode == 0, out.stderr
    inc = _load(tmp, run_id).incumbent
    assert inc is not None
    line = next(x for x in out.stdout.splitlines() if x.startswith("  architecture: "))
    assert line.startswith("  architecture: normal: 0 = ") and " | reduce: 0 = " in line
    assert all(str(v) in line for k, v in inc["sample"].items() if "/op_" in k)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("latest", "--trial", "99", "-o", "x.svg"), "has no trial 99 (indices 0..2)"),
        (("latest", "--trial", "first", "-o", "x.svg"), "--trial: expected 'best' or a trial index, got 'first'"),
        (("no-such-run", "-o", "x.svg"), "no run 'no-such-run'"),
        (("latest", "-o", "x.pdf"), "'x.pdf' must end in .svg or .png"),
        (("latest", "-o", "x"), "'x' must end in .svg or .png"),
        (("latest", "-o", "missing/x.svg"), "folder 'missing' does not exist"),
        (("latest", "--store", "other.sqlite", "-o", "x.svg"), "other.sqlite"),
        (("bench-1", "-o", "x.svg"), "is a benchmark or suite, not a run"),
    ],
)
def test_refusals_are_one_line_exit_2_and_write_nothing(cell_run, args, message):
    tmp, _ = cell_run
    before = sorted(p.name for p in tmp.iterdir())
    out = unas("show", *args, cwd=tmp)
    assert out.returncode == 2, (out.stdout, out.stderr)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("unas: error: ") and message in lines[0], out.stderr
    assert out.stdout == ""
    assert sorted(p.name for p in tmp.iterdir()) == before  # no picture, no temporary file, no new store


def test_a_run_without_a_complete_trial_has_no_incumbent_to_show(tmp_path):
    """Every trial of this run is infeasible (a params bound no network meets): --trial best is refused."""
    pytest.importorskip("optuna")
    recipe = _recipe(tmp_path, "digits_nb201", constraints={"params": {"max": 10}})
    out = unas("run", recipe, "--backend", "optuna", "--trials", "2", "--quiet", cwd=tmp_path)
    assert out.returncode == 1 and "no trial completed (0 failed, 0 pruned, 2 infeasible)" in out.stderr, out.stderr
    out = unas("show", "latest", "-o", "a.svg", cwd=tmp_path)
    assert out.returncode == 2 and "has no complete trial, so no incumbent; pick one with --trial N" in out.stderr
    assert not (tmp_path / "a.svg").exists()
    # An infeasible trial still has its sample: it can be drawn by index.
    out = unas("show", "latest", "--trial", "1", "-o", "a.svg", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    root = ET.fromstring((tmp_path / "a.svg").read_text())
    assert root.get("data-kind") == "dense_cell"
    assert len([t for t in root.iter(f"{SVG}text") if t.get("class") == "op"]) == 6


@pytest.mark.parametrize(
    ("sample", "message"),
    [
        ({}, "trial 3 of run RUN has no sample to draw"),
        ({"normal/op_2_0": "<bogus>"}, "trial 3 of run RUN has a sample its space does not accept"),
    ],
)
def test_a_trial_without_a_usable_sample_is_refused(cell_run, tmp_path, sample, message):
    """A trial stored without a sample, or with one its space refuses (a store edited by hand): exit 2, nothing written."""
    import shutil

    from unified_nas.report.records import TrialRecord

    src, run_id = cell_run
    shutil.copy(src / "unas.sqlite", tmp_path / "unas.sqlite")
    store = ResultsStore(tmp_path / "unas.sqlite")
    try:
        store.add_trial(run_id, TrialRecord(index=3, native_id="3", status="failed", sample=sample, error="x"))
    finally:
        store.close()
    before = sorted(p.name for p in tmp_path.iterdir())
    out = unas("show", run_id, "--trial", "3", "-o", "a.svg", cwd=tmp_path)
    assert out.returncode == 2 and message.replace("RUN", run_id) in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == before
