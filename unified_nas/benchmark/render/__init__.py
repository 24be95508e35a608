"""Benchmark report renderers: self-contained HTML (inline SVG, works offline), Markdown, JSON.

One module per job: :mod:`.rows` (number formats, the tables' rows, the
sentences), :mod:`.figures` (the SVG charts), :mod:`.html` and
:mod:`.markdown` (the two documents). This module holds the renderers by
format (:data:`BENCH_RENDERERS`) and writes them (:func:`write_rendered`), and
re-exports every name of the modules, so ``from unified_nas.benchmark.render
import ...`` reaches them all.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from unified_nas.benchmark.render.figures import (
    REFERENCE_COLOR,
    fig_average_rank,
    fig_best_so_far_time,
    fig_best_so_far_trials,
    fig_pareto,
    fig_score_distribution,
    fig_test_per_seed,
    fig_timeline,
    fig_vs_size,
)
from unified_nas.benchmark.render.html import CSS, html_table, render_html
from unified_nas.benchmark.render.markdown import md_table, md_text, render_md
from unified_nas.benchmark.render.rows import (
    EXPLAIN,
    fmt_ci,
    fmt_iqm,
    fmt_num,
    fmt_std,
    headline_key,
    headline_text,
    pair_rows,
    rank_rows,
    rank_text,
    reference_text,
    run_rows,
    start_text,
    stopped_rows,
    summary_rows,
)

__all__ = [
    "BENCH_RENDERERS",
    "CSS",
    "EXPLAIN",
    "REFERENCE_COLOR",
    "fig_average_rank",
    "fig_best_so_far_time",
    "fig_best_so_far_trials",
    "fig_pareto",
    "fig_score_distribution",
    "fig_test_per_seed",
    "fig_timeline",
    "fig_vs_size",
    "fmt_ci",
    "fmt_iqm",
    "fmt_num",
    "fmt_std",
    "headline_key",
    "headline_text",
    "html_table",
    "md_table",
    "md_text",
    "pair_rows",
    "rank_rows",
    "rank_text",
    "reference_text",
    "render_html",
    "render_json",
    "render_md",
    "run_rows",
    "start_text",
    "stopped_rows",
    "summary_rows",
    "write_rendered",
]


def render_json(d: dict[str, Any]) -> str:
    return json.dumps(d, indent=1)


BENCH_RENDERERS = {"html": render_html, "md": render_md, "json": render_json}


def write_rendered(
    d: dict[str, Any], renderers: Mapping[str, Callable[[dict[str, Any]], str]], out_dir: Any
) -> list[str]:
    """Writes ``report.<format>`` for each renderer of ``d`` into ``out_dir`` (created); returns the paths.

    Args:
        d: The report's data.
        renderers: ``{format: renderer}``, e.g. :data:`BENCH_RENDERERS`.
        out_dir: The folder.

    Returns:
        The paths written, in the renderers' order.
    """
    from pathlib import Path

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt_, fn in renderers.items():
        p = out / f"report.{fmt_}"
        p.write_text(fn(d))
        paths.append(str(p))
    return paths
