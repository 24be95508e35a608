"""The benchmark report renderers show stored and toolkit text as text, never as markup."""

from __future__ import annotations

import re
from typing import Any

import pytest

from unified_nas.benchmark.render import md_text, render_html, render_md
from unified_nas.benchmark.suite import render_suite_html, render_suite_md
from unified_nas.benchmark.summary import comparisons, mean_ci, rank_curves, score_stats

# HTML, a table pipe, emphasis, a link, a code span and a line break that would start a heading.
EVIL = "<script>alert(1)</script> a|b *em* [click](javascript:alert(2)) `code`\n# injected heading"


def bench_dict(text: str) -> dict[str, Any]:
    """A ``bench_data``-shaped dict with ``text`` in every free-text field a recipe, store or toolkit fills.

    Args:
        text: The text to plant.

    Returns:
        What ``bench_data`` would return for two backends of one run each (one complete and one
        failed trial), with the pairwise comparison and average ranks ``bench_data`` computes.
    """
    backend = f"nni{text}"
    stats = score_stats([0.9, 0.8])
    trials = [
        {
            "index": 0,
            "status": "complete",
            "objectives": [0.9],
            "val_accuracy": 0.9,
            "params": 100,
            "flops": 1000,
            "start_s": 0.0,
            "duration_s": 1.0,
            "train_s": 0.8,
            "overhead_s": 0.2,
            "error": None,
        },
        {
            "index": 1,
            "status": "failed",
            "objectives": None,
            "val_accuracy": None,
            "params": None,
            "flops": None,
            "start_s": 1.0,
            "duration_s": 0.5,
            "train_s": None,
            "overhead_s": 0.5,
            "error": [f"ValueError: {text}"],
        },
    ]
    run = {
        "backend": backend,
        "seed": 0,
        "run_id": f"run-{text}",
        "status": f"failed {text}",
        "error": text,
        "retrain": None,
        "strategy": f"evolution{text}",
        "version": f"3.0{text}",
        "run_status": "complete",
        "budget_asked": {"trials": 2, "time_s": None},
        "budget_spent": {"trials": 2, "epochs": 2, "wall_s": 1.5},
        "incumbent": {"objectives": [0.9], "test_accuracy": 0.88, "val_accuracy": 0.9},
        "search_cost": None,
        "pareto_front": [0],
        "hypervolume": None,
        "time_to_target_s": 1.0,
        "best_so_far": [0.9, 0.9],
        "best_so_far_time": [1.0, 1.5],
        "trials": trials,
    }
    # A second backend whose run ends worse: the comparison tables have a row naming both.
    other = {**run, "backend": f"optuna{text}", "incumbent": {**run["incumbent"], "objectives": [0.8]}}
    other["best_so_far"] = [0.8, 0.8]
    names = [backend, other["backend"]]
    return {
        "bench_id": f"bench-{text}",
        "created_at": 0.0,
        "metric": f"val_accuracy{text}",
        "config": {"backends": names, "seeds": [0], "trials": 2, "time_s": None},
        "directions": ["maximize"],
        "objectives": [{"metric": f"val_accuracy{text}", "direction": "maximize"}],
        "target": 0.9,
        "recipe": {"name": f"tiny{text}", "text": f"name: tiny{text}"},
        "data": {"name": f"digits{text}"},
        "environment": {"python": "3.11", "note": text},
        "backends": {
            name: {
                "version": f"3.0{text}",
                "strategy": f"evolution{text}",
                "runs": 1,
                "runs_complete": 0,
                "val": stats,
                "objective": stats,
                "test": stats,
                "retrain_test": mean_ci([]),
                "time_to_target_s": mean_ci([1.0]),
                "reached_target": 1,
                "trials": {"complete": 1, "pruned": 0, "failed": 1},
                "wall_s": 1.5,
                "overhead_s": mean_ci([0.2, 0.5]),
                "hypervolume": None,
            }
            for name in names
        },
        "runs": [run, other],
        "warnings": [f"{backend} seed 0: run failed ({text})"],
        "alpha": 0.05,
        "comparisons": {"objective": comparisons([run, other], names, "objective", 1)},
        "average_rank": rank_curves([run, other], names, [0], 1),
    }


def _cells(row: str) -> list[str]:
    """A Markdown table row's cells: split on the pipes that are not backslash-escaped."""
    return re.split(r"(?<!\\)\|", row.strip())[1:-1]


def test_md_text_neutralises_html_markdown_and_line_breaks():
    assert md_text("<script>&") == "&lt;script&gt;&amp;"
    assert md_text("a|b") == "a\\|b"
    assert md_text("digits_mlp *x* [l](u) `c` C:\\d") == "digits\\_mlp \\*x\\* \\[l\\](u) \\`c\\` C:\\\\d"
    assert md_text("one\ntwo\r\nthree") == "one two three"
    assert md_text(3) == "3"


def test_markdown_report_has_no_raw_html_and_intact_tables():
    md = render_md(bench_dict(EVIL))
    # The report writes no HTML of its own: any '<' before the (verbatim) environment block came from the data.
    body, env = md.split("```json", 1)
    assert "<" not in body and "&lt;script&gt;" in body
    assert "\\[click\\](javascript" in body and "\\*em\\*" in body
    assert not any(line.startswith("# injected") for line in md.splitlines())
    # Tables are blocks of consecutive "|" lines: per backend, pairwise comparisons, average rank, runs.
    tables = [b.splitlines() for b in re.split(r"\n(?!\|)[^\n]*\n?", body) if b.startswith("|")]
    assert [len(t) for t in tables] == [4, 3, 4, 4]  # header, rule, a row per backend / pair / backend / run
    for table in tables:
        assert len({len(_cells(line)) for line in table}) == 1, table
    assert '"note": "<script>' in env  # verbatim inside the fence, where renderers show it as code


def test_markdown_report_renders_without_script_in_a_real_markdown_renderer():
    markdown_it = pytest.importorskip("markdown_it")

    # CommonMark with raw HTML passed through (as renderers do before any sanitising) and GFM tables.
    md = markdown_it.MarkdownIt("commonmark", {"html": True}).enable("table")
    html = md.render(render_md(bench_dict(EVIL)))
    assert "<script" not in html  # the fenced environment comes out as escaped code too
    assert "<a href" not in html and "<em>" not in html and "<h1>injected" not in html
    first_table = html.split("<table>", 2)[1]
    header = first_table.split("</tr>", 1)[0]
    row = first_table.split("<tbody>", 1)[1].split("</tr>", 1)[0]
    assert header.count("<th>") == row.count("<td>") == 15


def test_html_report_escapes_every_planted_text():
    page = render_html(bench_dict(EVIL))
    assert "<script" not in page.lower()
    assert "&lt;script&gt;" in page
    # The new sections name the backends too: the pairwise table and the average-rank figure's legend.
    assert "Pairwise comparisons" in page and "Average rank vs trial" in page


def test_reports_escape_planted_text_in_the_new_sections():
    d = bench_dict(EVIL)
    md = render_md(d)
    pairs = md.split("## Pairwise comparisons", 1)[1].split("##", 1)[0]
    assert "nni&lt;script&gt;alert(1)&lt;/script&gt; a\\|b" in pairs and "<" not in pairs
    ranks = md.split("## Average rank by trial", 1)[1].split("##", 1)[0]
    assert "optuna&lt;script&gt;" in ranks and "<" not in ranks


def suite_dict(text: str) -> dict[str, Any]:
    """A ``suite_data``-shaped dict with ``text`` in every name a store holds (backends, recipes, ids, warnings)."""
    names = [f"nni{text}", f"optuna{text}"]
    score = {"iqm": 0.9, "iqm_ci95": [0.85, 0.95], "n": 2}
    return {
        "created_at": 0.0,
        "alpha": 0.05,
        "score": "IQM",
        "backends": names,
        "recipes": [
            {
                "bench_id": f"bench-{text}-{i}",
                "recipe": f"tiny{text}{i}",
                "metric": f"val_accuracy{text}",
                "direction": "maximize",
                "seeds": 2,
                "trials": 3,
                "scores": {b: score for b in names},
                "ranks": {b: 1.5 for b in names},
                "warnings": [],
            }
            for i in range(2)
        ],
        "average_ranks": {b: 1.5 for b in names},
        "friedman": {"chi2": None, "p": None, "reason": "needs 3 backends", "significant": False},
        "nemenyi": {"q_alpha": 1.96, "cd": 1.39, "groups": [names]},
        "warnings": [f"recipe tiny{text} has 2 benchmarks"],
    }


def test_suite_reports_escape_every_planted_text():
    d = suite_dict(EVIL)
    page = render_suite_html(d)
    assert "<script" not in page.lower() and "&lt;script&gt;" in page
    md = render_suite_md(d)
    assert "<" not in md and "&lt;script&gt;" in md
    assert not any(line.startswith("# injected") for line in md.splitlines())
    for line in md.splitlines():
        if line.startswith("|"):
            assert len(_cells(line)) in (2, 6), line  # average-rank table: 2 cells; scores table: 4 + 2 backends
