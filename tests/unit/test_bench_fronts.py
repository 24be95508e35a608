"""Pareto fronts compared like single scores: one hypervolume frame per benchmark, ranks, pairwise tests, the figure."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

import pytest

from tests.conftest import unas
from unified_nas.benchmark.render.fronts import staircase
from unified_nas.benchmark.summary import REFERENCE_MARGIN, frame_hypervolume, hypervolume_frame, hypervolume_ranks

DIRS = ["maximize", "minimize"]


def test_one_frame_from_the_best_and_worst_values_seen():
    frame = hypervolume_frame([[0.9, 100.0], [0.8, 50.0], [0.95, 400.0]], ["val_accuracy", "params"], DIRS)
    assert frame["best"] == [0.95, 50.0] and frame["worst"] == [0.8, 400.0]
    assert frame["reference"] == pytest.approx([0.8 - 0.1 * 0.15, 400.0 + 0.1 * 350.0])
    box = (1 + REFERENCE_MARGIN) ** 2
    # The ideal point (best in both) dominates the whole box; the worst point only its margin.
    assert frame_hypervolume(frame, [[0.95, 50.0]]) == pytest.approx(box)
    assert frame_hypervolume(frame, [[0.8, 400.0]]) == pytest.approx(REFERENCE_MARGIN**2)
    # Two points: (0, 1) and (1, 0) in the unit square, reference (1.1, 1.1).
    assert frame_hypervolume(frame, [[0.95, 400.0], [0.8, 50.0]]) == pytest.approx(2 * 1.1 * 0.1 - 0.1 * 0.1)
    assert frame_hypervolume(frame, []) == 0.0


def test_stand_ins_for_infinities_set_no_bound_and_the_reference_stays_finite():
    big = 1.7976931348623157e308
    frame = hypervolume_frame([[1.0, 100.0], [3.0, 50.0], [big, 400.0], [-big, 10.0]], ["synflow", "params"], DIRS)
    assert frame["best"] == [3.0, 10.0] and frame["worst"] == [1.0, 400.0]
    assert all(abs(v) < 1e6 for v in frame["reference"])
    json.dumps(frame, allow_nan=False)
    box = (1 + REFERENCE_MARGIN) ** 2
    assert frame_hypervolume(frame, [[big, 10.0]]) == pytest.approx(box)  # beyond the best end: the best end


def test_three_objectives_use_the_exact_hypervolume():
    frame = hypervolume_frame([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]], ["a", "b", "c"], ["minimize"] * 3)
    assert frame_hypervolume(frame, [[0.0, 0.0, 0.0]]) == pytest.approx(1.1**3)
    assert frame_hypervolume(frame, [[0.5, 0.0, 0.0], [0.0, 0.5, 0.0]]) == pytest.approx(
        0.6 * 1.1 * 1.1 + 1.1 * 0.6 * 1.1 - 0.6 * 0.6 * 1.1
    )


def test_ranks_per_seed_larger_first_and_a_missing_run_last():
    runs = [
        {"backend": "a", "seed": 0, "hypervolume": 0.9},
        {"backend": "b", "seed": 0, "hypervolume": 0.5},
        {"backend": "c", "seed": 0, "hypervolume": 0.5},
        {"backend": "a", "seed": 1, "hypervolume": None},
        {"backend": "b", "seed": 1, "hypervolume": 0.7},
    ]
    ranks = hypervolume_ranks(runs, ["a", "b", "c"])
    assert ranks == {
        "a": pytest.approx((1 + 2.5) / 2),
        "b": pytest.approx((2.5 + 1) / 2),
        "c": pytest.approx((2.5 + 2.5) / 2),
    }


def test_fronts_figure_draws_monotone_staircases_with_three_objectives():
    from unified_nas.benchmark.render.fronts import fig_fronts

    metrics, dirs = ["val_accuracy", "params", "flops"], ["maximize", "minimize", "minimize"]
    # Non-dominated in three objectives, but (0.9, 300) is dominated by (0.95, 200) in the first two.
    trials = [[0.9, 300.0, 1.0], [0.95, 200.0, 9.0], [0.8, 100.0, 5.0]]
    d = {
        "hypervolume_frames": {"observed": hypervolume_frame(trials, metrics, dirs)},
        "config": {"backends": ["a"]},
        "runs": [
            {
                "backend": "a",
                "seed": 0,
                "pareto_front": [0, 1, 2],
                "trials": [{"index": i, "objectives": o} for i, o in enumerate(trials)],
            }
        ],
    }
    svg = fig_fronts(d)
    ET.fromstring(svg)
    assert "val_accuracy=0.9," not in svg  # the point dominated in the two drawn objectives is left out
    assert "val_accuracy=0.95," in svg and "val_accuracy=0.8," in svg


def test_staircase_bounds_what_the_front_dominates():
    # x minimised (params), y maximised (accuracy): best x first, y climbing back to the reference's x.
    steps = staircase([(300.0, 0.95), (100.0, 0.9)], (500.0, 0.8), better_x=-1)
    assert steps == [(100.0, 0.8), (100.0, 0.9), (300.0, 0.9), (300.0, 0.95), (500.0, 0.95)]
    assert staircase([], (1.0, 1.0), 1) == []


RECIPE = """
name: mo
data: {name: breast_cancer}
space:
  type: macro
  depth: {low: 1, high: 2}
  layer: {op: linear, width: [4, 8, 16, 32, 64], activation: [relu, tanh]}
training: {epochs: 2, batch_size: 64, optimizer: adamw, lr: 0.01}
objectives:
  - {metric: val_accuracy, direction: maximize}
  - {metric: params, direction: minimize}
budget: {trials: 5}
seed: 0
backends:
  optuna: {strategy: nsga2}
"""


@pytest.mark.slow
def test_bench_ranks_three_backends_by_hypervolume(tmp_path):
    (tmp_path / "mo.yaml").write_text(RECIPE)
    r = unas("bench", "mo.yaml", "--backends", "nni,optuna,autokeras", "--seeds", "2", "--jobs", "2", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    folder = next((tmp_path / "unas-runs").glob("bench-*"))
    data = json.loads((folder / "report.json").read_text())
    frame = data["hypervolume_frames"]["observed"]
    assert frame["metrics"] == ["val_accuracy", "params"] and len(frame["reference"]) == 2
    for name in ("nni", "optuna", "autokeras"):
        s = data["backends"][name]
        assert s["hypervolume"]["n"] == 2 and s["hypervolume"]["iqm"] is not None
        assert 1 <= s["hypervolume_rank"] <= 3
    assert data["backends"]["nni"]["scalarisation"]["method"] == "chebyshev"
    assert data["backends"]["optuna"]["scalarisation"] is None  # nsga2: natively multi-objective
    assert len(data["comparisons"]["hypervolume"]) == 3
    md = (folder / "report.md").read_text()
    section = md[md.index("## Pareto fronts") :]
    ranked = re.findall(r"^\| (\d) \| (\w+) \|", section, re.M)
    assert [n for n, _ in ranked] == ["1", "2", "3"] and {b for _, b in ranked} == {"nni", "optuna", "autokeras"}
    assert "evolution (scalarised: augmented Chebyshev, weights per trial)" in section
    assert "greedy (scalarised: augmented Chebyshev, weights per trial)" in section
    html = (folder / "report.html").read_text()
    fronts = re.search(r"<svg[^>]*aria-label=\"Pareto fronts[^\"]*\".*?</svg>", html, re.S)
    assert fronts is not None
    ET.fromstring(fronts.group(0))
