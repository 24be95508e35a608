"""The benchmark report as one self-contained HTML page: inline CSS and SVG, no scripts, no external resources.

Every text that comes from the recipe, the store or a toolkit is escaped
(``html.escape``) on its way into the page; the figures come from
:mod:`~unified_nas.benchmark.render.figures`, the tables and sentences from
:mod:`~unified_nas.benchmark.render.rows`.
"""

from __future__ import annotations

import json
import time
from html import escape
from typing import Any

from unified_nas.benchmark.render.figures import (
    fig_average_rank,
    fig_best_so_far_time,
    fig_best_so_far_trials,
    fig_pareto,
    fig_score_distribution,
    fig_test_per_seed,
    fig_timeline,
    fig_vs_size,
)
from unified_nas.benchmark.render.fronts import fig_fronts
from unified_nas.benchmark.render.incumbents import caption, incumbent_drawings
from unified_nas.benchmark.render.rows import (
    EXPLAIN,
    explain_pairs,
    fmt_num,
    front_rows,
    front_text,
    headline_key,
    headline_text,
    is_table,
    multiobjective,
    pair_rows,
    rank_text,
    ranked,
    reference_text,
    run_rows,
    start_text,
    stopped_early,
    stopped_rows,
    summary_rows,
)
from unified_nas.report.architecture import render_svg


def html_table(head: list[str], rows: list[list[str]]) -> str:
    """An HTML table; every header and cell is escaped text.

    Args:
        head: Column names.
        rows: Rows of cells.

    Returns:
        The ``<table>`` element.
    """
    th = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{th}</tr>{body}</table>"


def _stopped_html(d: dict[str, Any]) -> str:
    """The runs that stopped early, per backend ("" when none did)."""
    if not stopped_early(d):
        return ""
    return f"<p>Runs that stopped early, short of their trial budget:</p>{html_table(*stopped_rows(d))}"


def _accuracy_said(d: dict[str, Any]) -> str:
    """Which accuracy the report gives the incumbents, for the opening paragraph."""
    if headline_key(d) == "true":
        return "the table's true accuracy of each incumbent is the headline (see below)"
    return (
        "the table's true accuracy is reported for them only"
        if is_table(d)
        else "test accuracy is reported for them only"
    )


def _pairs_html(d: dict[str, Any]) -> str:
    """The section of pairwise comparisons, or a sentence why there is none."""
    head, rows = pair_rows(d)
    if not rows:
        return f"<h2>Pairwise comparisons</h2><p>{escape(EXPLAIN['no_pairs'])}</p>"
    return f"<h2>Pairwise comparisons</h2>{html_table(head, rows)}<p>{escape(explain_pairs(d))}</p>"


def _fronts_html(d: dict[str, Any]) -> str:
    """Several objectives: the backends ranked by hypervolume, how it was measured, every run's front ("" otherwise)."""
    if not multiobjective(d):
        return ""
    return (
        f"<h2>Pareto fronts by hypervolume</h2>{html_table(*front_rows(d))}<p>{escape(front_text(d))}</p>"
        f"<div class='charts'><figure>{fig_fronts(d)}</figure></div>"
    )


def _incumbents_html(d: dict[str, Any]) -> str:
    """The section of each backend's incumbent drawn (its best seed's), or a sentence why there is none."""
    shown = incumbent_drawings(d)
    if not shown:
        return "<h2>Incumbents</h2><p>No run has an incumbent (no complete trial) to draw.</p>"
    figs = []
    for inc, drawing, genotype in shown:
        # The picture names every op already; without one, the one-line genotype (or why there is none) instead.
        shown_as = render_svg(drawing) if drawing is not None else f"<p><code>{escape(genotype)}</code></p>"
        figs.append(f"<figure class='incumbent'>{shown_as}<figcaption>{escape(caption(inc, d))}</figcaption></figure>")
    return (
        "<h2>Incumbents</h2><p>Each backend's answer, drawn: the incumbent of its best seed, chosen on the "
        f"validation score ({escape(d['metric'])}) as every incumbent is; the same picture as "
        "<code>unas show RUN -o FILE.svg</code>.</p>"
        f"<div class='charts'>{''.join(figs)}</div>"
    )


CSS = """body{font-family:system-ui,sans-serif;margin:24px;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:8px 0 18px;font-size:13px}td,th{border:1px solid #ccc;padding:3px 7px;text-align:left}
th{background:#f0f0f0}.warn{background:#fff4e5;border:1px solid #f0a030;padding:8px 12px;margin:10px 0}
.charts{display:flex;flex-wrap:wrap;gap:14px}pre{background:#f6f6f6;padding:10px;overflow:auto;font-size:12px}
figure{margin:0}svg.architecture{max-width:100%;height:auto}figcaption{font-size:13px;max-width:760px}"""


def render_html(d: dict[str, Any]) -> str:
    """A self-contained page: inline CSS and SVG only (no scripts, no external resources)."""
    warn = "".join(f"<div class='warn'>&#9888; {escape(w)}</div>" for w in d["warnings"])
    figs = [
        fig_best_so_far_trials(d),
        fig_best_so_far_time(d),
        fig_score_distribution(d),
        fig_test_per_seed(d),
        fig_vs_size(d, "params"),
        fig_vs_size(d, "flops"),
        fig_timeline(d),
    ]
    if is_table(d):  # no test accuracy to plot; simulated training time instead
        figs[3] = fig_best_so_far_time(d, "best_so_far_simulated_time")
    if ranked(d):
        figs.insert(1, fig_average_rank(d))
    if len(d["objectives"]) == 2:
        figs.insert(0, fig_pareto(d))
    env = d["environment"]
    cfg = d["config"]
    return f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>unified-nas benchmark {escape(d["bench_id"])}</title><style>{CSS}</style></head><body>
<h1>Benchmark {escape(d["bench_id"])}</h1>
<p>Recipe <b>{escape(d["recipe"]["name"])}</b> on {escape(str(d["data"].get("name")))}; backends
{escape(", ".join(cfg["backends"]))}; seeds {escape(str(cfg["seeds"]))}; budget per run: trials={escape(str(cfg["trials"] or "recipe"))},
time={escape(str(cfg["time_s"]) + " s" if cfg["time_s"] else "no limit")}; objectives {escape(", ".join(o["metric"] + " (" + o["direction"] + ")" for o in d["objectives"]))}.
Incumbents are chosen on validation; {_accuracy_said(d)}. Target for "time to target":
{fmt_num(d["target"])} (the weakest final best of all runs unless set). Created
{time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(d["created_at"]))}.</p>
{warn or "<p>Budgets asked and spent are equal across runs.</p>"}
{f"<p>{escape(start_text(d))}</p>" if d.get("start") is not None else ""}
{f"<p>{escape(reference_text(d))}</p>" if d.get("reference") else ""}
<h2>Per backend</h2>{html_table(*summary_rows(d))}{f"<p>{escape(headline_text(d))}</p>" if headline_text(d) else ""}<p>{escape(EXPLAIN["iqm"])}</p>
{_pairs_html(d)}
{_fronts_html(d)}
<h2>Figures</h2>{f"<p>{escape(rank_text(d))}</p>" if ranked(d) else ""}<div class="charts">{"".join(f"<figure>{f}</figure>" for f in figs)}</div>
{_incumbents_html(d)}
<h2>Runs: budget asked and spent</h2>{_stopped_html(d)}{html_table(*run_rows(d))}
<h2>Environment</h2><pre>{escape(json.dumps(env, indent=1))}</pre>
<h2>Recipe</h2><pre>{escape(d["recipe"].get("text", ""))}</pre>
</body></html>
"""
