"""The benchmark report as GitHub-flavoured Markdown: the summary tables and sentences, no figures.

Every stored or toolkit text goes through :func:`md_text`, which makes it
inert inline Markdown (HTML-escaped, Markdown syntax backslash-escaped, one
line); the tables and sentences come from
:mod:`~unified_nas.benchmark.render.rows`.
"""

from __future__ import annotations

import json
import re
from html import escape
from typing import Any

from unified_nas.benchmark.render.incumbents import caption, incumbent_drawings
from unified_nas.benchmark.render.rows import (
    EXPLAIN,
    explain_pairs,
    fmt_num,
    front_rows,
    front_text,
    headline_text,
    multiobjective,
    pair_rows,
    rank_rows,
    rank_text,
    ranked,
    reference_text,
    run_rows,
    start_text,
    stopped_early,
    stopped_rows,
    summary_rows,
)

# Markdown syntax a name or an error text could carry: code spans, emphasis, links/images, table cells.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|])")


def md_text(v: Any) -> str:
    """Any stored or toolkit text as inert inline Markdown.

    Markdown renderers pass raw HTML through, so ``<``, ``>`` and ``&`` are
    HTML-escaped; Markdown's own inline syntax (code, emphasis, links, the
    ``|`` of table cells) is backslash-escaped; line breaks become spaces, as
    a newline would end a table row or a blockquote and let the rest of the
    text start headings or lists of its own.

    Args:
        v: A value to show (``str()`` is taken).

    Returns:
        One line that renders as the characters of ``str(v)`` (line breaks shown as spaces).
    """
    text = " ".join(str(v).splitlines())
    return _MD_SPECIAL.sub(r"\\\1", escape(text, quote=False))


def md_table(head: list[str], rows: list[list[str]]) -> str:
    """A GitHub-flavoured Markdown table; every cell goes through :func:`md_text`.

    Args:
        head: Column names.
        rows: Rows of cells, as many as ``head``.

    Returns:
        The table's lines, joined.
    """
    return "\n".join(
        ["| " + " | ".join(md_text(h) for h in head) + " |", "|" + "---|" * len(head)]
        + ["| " + " | ".join(md_text(c) for c in row) + " |" for row in rows]
    )


def render_md(d: dict[str, Any]) -> str:
    """The benchmark report as GitHub-flavoured Markdown: summary tables, no figures.

    Every text that comes from the recipe, the store or a toolkit (names,
    strategies, versions, errors in warnings) goes through :func:`md_text`.

    Args:
        d: Output of ``bench_data``.

    Returns:
        The Markdown document.
    """

    cfg = d["config"]
    time_s = f"{cfg['time_s']} s" if cfg["time_s"] else "no limit"
    lines = [
        f"# Benchmark {md_text(d['bench_id'])}",
        "",
        f"Recipe **{md_text(d['recipe']['name'])}**; backends {md_text(', '.join(cfg['backends']))}; "
        f"seeds {md_text(cfg['seeds'])}; budget per run trials={md_text(cfg['trials'] or 'recipe')}, "
        f"time={md_text(time_s)}. Incumbents chosen on validation. "
        f"Target: {md_text(fmt_num(d['target']))}. Figures: report.html.",
        "",
    ]
    lines += [f"> **Warning:** {md_text(w)}" for w in d["warnings"]] or [
        "Budgets asked and spent are equal across runs."
    ]
    if d.get("start") is not None:
        lines += ["", md_text(start_text(d))]
    if d.get("reference"):
        lines += ["", md_text(reference_text(d))]
    # The environment stays verbatim: inside a fenced block nothing is rendered, and json.dumps puts a quote,
    # digit, bracket or literal first on every line, so no line of it can close the fence.
    lines += [
        "",
        "## Per backend",
        "",
        md_table(*summary_rows(d)),
        "",
        *([md_text(headline_text(d)), ""] if headline_text(d) else []),
        md_text(EXPLAIN["iqm"]),
        "",
        "## Pairwise comparisons",
        "",
    ]
    head, rows = pair_rows(d)
    lines += [md_table(head, rows), "", md_text(explain_pairs(d))] if rows else [md_text(EXPLAIN["no_pairs"])]
    if multiobjective(d):
        lines += ["", "## Pareto fronts by hypervolume", "", md_table(*front_rows(d)), "", md_text(front_text(d))]
    if ranked(d):
        lines += ["", "## Average rank by trial", "", md_table(*rank_rows(d)), "", md_text(rank_text(d))]
    lines += ["", "## Incumbents", ""]
    shown = incumbent_drawings(d)
    lines += [f"- {md_text(caption(inc, d))}: {md_text(genotype)}" for inc, _, genotype in shown] or [
        "No run has an incumbent (no complete trial) to describe."
    ]
    if shown:
        lines += ["", "Pictures of them: report.html, or `unas show RUN -o FILE.svg` for any run."]
    lines += ["", "## Runs", ""]
    if stopped_early(d):  # runs that spent less than asked, per backend, before every run's budget
        lines += ["Runs that stopped early, short of their trial budget:", "", md_table(*stopped_rows(d)), ""]
    lines += [
        md_table(*run_rows(d)),
        "",
        "## Environment",
        "",
        "```json",
        json.dumps(d["environment"], indent=1),
        "```",
        "",
    ]
    return "\n".join(lines)
