"""Benchmark report renderers: self-contained HTML (inline SVG, works offline), Markdown, JSON."""

from __future__ import annotations

import json
import re
import statistics
import time
from collections.abc import Sequence
from html import escape
from typing import Any, cast

from unified_nas.bench.svg import PALETTE, Plot


def _f(v: Any, digits: int = 4) -> str:
    if v is None:
        return "-"
    return f"{v:.{digits}g}" if isinstance(v, float) else str(v)


def _pm(s: dict[str, Any] | None) -> str:
    if not s or s.get("mean") is None:
        return "-"
    return f"{s['mean']:.4g}" + (f" ± {s['ci95']:.2g}" if s.get("ci95") is not None else "")


def _colors(d: dict[str, Any]) -> dict[str, str]:
    return {b: PALETTE[i % len(PALETTE)] for i, b in enumerate(d["config"]["backends"])}


def _legend(d: dict[str, Any]) -> list[tuple[str, str]]:
    return list(_colors(d).items())


def _yrange(vals: list[float]) -> tuple[float, float]:
    return (min(vals), max(vals)) if vals else (0.0, 1.0)


def _mean_band(p: Plot, columns: Sequence[tuple[float, Sequence[float]]], color: str) -> None:
    """Draws the mean of each column's values as a line over their min..max band."""
    xs = [x for x, _ in columns]
    p.band(xs, [min(v) for _, v in columns], [max(v) for _, v in columns], color)
    p.line([(x, statistics.fmean(v)) for x, v in columns], color)


REFERENCE_COLOR = "#777"


def fig_best_so_far_trials(d: dict[str, Any]) -> str:
    col, metric = _colors(d), d["metric"]
    vals = [v for r in d["runs"] for v in r.get("best_so_far", []) if v is not None]
    n = max((len(r.get("best_so_far", [])) for r in d["runs"]), default=1)
    ref = d.get("reference")
    title = f"Best-so-far {metric} vs trial (mean, band = min..max over seeds)"
    legend = _legend(d)
    if ref:
        vals += [ref["optimum"], *ref["random_lower"], *ref["random_upper"]]
        title = (
            f"Best-so-far {metric} vs trial; grey: random search, 95% band of the mean of "
            f"{ref['seeds']} runs; dashed: table optimum (best mean over recorded seeds)"
        )
        legend = legend + [("random search", REFERENCE_COLOR)]
    p = Plot((1, max(n, 2)), _yrange(vals), title, "trial", metric)
    if ref:
        xs = list(range(1, len(ref["random_mean"]) + 1))
        p.band(xs, ref["random_lower"], ref["random_upper"], REFERENCE_COLOR)
        p.line(list(zip(xs, ref["random_mean"])), REFERENCE_COLOR, 1)
        p.line([(1, ref["optimum"]), (max(n, 2), ref["optimum"])], REFERENCE_COLOR, 1, dash="4 3")
    for b, c in col.items():
        curves = [r["best_so_far"] for r in d["runs"] if r["backend"] == b and r.get("best_so_far")]
        columns = []
        for i in range(max((len(c_) for c_ in curves), default=0)):
            at = [cv[min(i, len(cv) - 1)] for cv in curves if cv[min(i, len(cv) - 1)] is not None]
            if at:
                columns.append((i + 1, at))
        _mean_band(p, columns, c)
    return p.svg(legend)


def _value_at(times: list[float], values: list[float | None], t: float) -> float | None:
    """Best-so-far of a run at wall time ``t`` (None before its first complete trial ended)."""
    out = None
    for ti, v in zip(times, values):
        if ti <= t:
            out = v
    return out


def fig_best_so_far_time(d: dict[str, Any], clock: str = "best_so_far_time") -> str:
    """Best-so-far against wall-clock time, or (``clock="best_so_far_simulated_time"``) simulated training time."""
    col, metric = _colors(d), d["metric"]
    vals = [v for r in d["runs"] for v in r.get("best_so_far", []) if v is not None]
    tmax = max((t for r in d["runs"] for t in r.get(clock) or []), default=1.0)
    what = "simulated training time (the table's)" if clock != "best_so_far_time" else "wall-clock"
    p = Plot(
        (0, tmax),
        _yrange(vals),
        f"Best-so-far {metric} vs {what} (mean, band = min..max over seeds)",
        "seconds",
        metric,
    )
    grid = [tmax * i / 80 for i in range(81)]
    for b, c in col.items():
        runs = [r for r in d["runs"] if r["backend"] == b and r.get("best_so_far") and r.get(clock)]
        columns = []
        for t in grid:  # drawn from the time every seed has a result
            at = [_value_at(r[clock], r["best_so_far"], t) for r in runs]
            if runs and all(v is not None for v in at):
                columns.append((t, cast("list[float]", at)))  # no None: checked just above
        _mean_band(p, columns, c)
    if d.get("target") is not None:
        p.line([(0, d["target"]), (tmax, d["target"])], "#555", 1, dash="4 3")
    return p.svg(_legend(d) + [("target", "#555")])


def fig_score_distribution(d: dict[str, Any]) -> str:
    col, metric = _colors(d), d["metric"]
    names = list(col)
    vals = [t["objectives"][0] for r in d["runs"] for t in r["trials"] if t["objectives"]]
    p = Plot(
        (-0.5, len(names) - 0.5), _yrange(vals), f"Distribution of trial {metric} (complete trials)", "backend", metric
    )
    for i, b in enumerate(names):
        scores = [t["objectives"][0] for r in d["runs"] if r["backend"] == b for t in r["trials"] if t["objectives"]]
        for j, v in enumerate(scores):
            p.dot(i + ((j * 37) % 21 - 10) / 60, v, col[b], 3, f"{b}: {v:.4g}")
        if scores:
            m = statistics.median(scores)
            p.line([(i - 0.25, m), (i + 0.25, m)], "#222", 2)
    return p.svg(xticks=[(i, b) for i, b in enumerate(names)])


def fig_test_per_seed(d: dict[str, Any]) -> str:
    col = _colors(d)
    names = list(col)
    pts = [(i, r) for i, b in enumerate(names) for r in d["runs"] if r["backend"] == b and r["incumbent"]]
    vals = [r["incumbent"]["test_accuracy"] for _, r in pts if r["incumbent"]["test_accuracy"] is not None]
    vals += [x for _, r in pts if r.get("retrain") for x in r["retrain"]["test_accuracy"]]
    p = Plot(
        (-0.5, len(names) - 0.5),
        _yrange(vals),
        "Final test accuracy of each run's incumbent, per seed (hollow: retrained)",
        "backend",
        "test accuracy",
    )
    seeds = sorted({x["seed"] for x in d["runs"]})
    for i, r in pts:
        off = (seeds.index(r["seed"]) - (len(seeds) - 1) / 2) * 0.12
        if r["incumbent"]["test_accuracy"] is not None:
            p.dot(i + off, r["incumbent"]["test_accuracy"], col[r["backend"]], 5, f"seed {r['seed']}")
            p.text(i + off, r["incumbent"]["test_accuracy"], f"s{r['seed']}")
        for x in (r.get("retrain") or {}).get("test_accuracy", []):
            p.dot(i + off + 0.05, x, col[r["backend"]], 3, f"seed {r['seed']} retrained", hollow=True)
    return p.svg(xticks=[(i, b) for i, b in enumerate(names)])


def fig_vs_size(d: dict[str, Any], key: str) -> str:
    col, metric = _colors(d), d["metric"]
    sign = 1 if d["directions"][0] == "maximize" else -1
    pts = [
        (r["backend"], t[key], t["objectives"][0]) for r in d["runs"] for t in r["trials"] if t["objectives"] and t[key]
    ]
    xs = [x for _, x, _ in pts] or [1, 10]
    p = Plot(
        (min(xs), max(xs)),
        _yrange([y for *_, y in pts]),
        f"{metric} vs {key}; lines: Pareto fronts",
        f"{key} (log)",
        metric,
        log_x=True,
    )
    for b, c in col.items():
        mine = sorted((x, y) for bb, x, y in pts if bb == b)
        for x, y in mine:
            p.dot(x, y, c, 3, f"{b}: {key}={x}, {metric}={y:.4g}")
        front, best = [], None
        for x, y in mine:  # sorted by size: keep points better than every smaller one
            if best is None or sign * y > sign * best:
                front.append((x, y))
                best = y
        p.line(front, c, 1.5, step=True)
    return p.svg(_legend(d))


def fig_timeline(d: dict[str, Any]) -> str:
    col = _colors(d)
    runs = [r for r in d["runs"] if r["trials"]]
    tmax = max((t["start_s"] + t["duration_s"] for r in runs for t in r["trials"]), default=1.0)
    p = Plot(
        (0, tmax),
        (0, max(len(runs) - 1, 1)),
        "Timeline of trials (dark: training, light: overhead, red: failed)",
        "seconds since run start",
        "",
    )
    p.H, p.L = max(160, 60 + 26 * len(runs)), 92
    for i, r in enumerate(runs):
        for t in r["trials"]:
            s, e = t["start_s"], t["start_s"] + t["duration_s"]
            if t["status"] == "failed":
                p.rect(s, e, i - 0.3, i + 0.3, "#d62728", f"trial {t['index']} failed: {t['error']}")
                continue
            p.rect(s, e, i - 0.3, i + 0.3, "#cccccc", f"trial {t['index']}: {t['duration_s']:.2f}s", 1)
            p.rect(
                s,
                s + t["train_s"],
                i - 0.3,
                i + 0.3,
                col[r["backend"]],
                f"trial {t['index']} training {t['train_s']:.2f}s, overhead {t['overhead_s']:.2f}s",
            )
    return p.svg(yticks=[(i, f"{r['backend']} s{r['seed']}") for i, r in enumerate(runs)])


def fig_pareto(d: dict[str, Any]) -> str:
    col = _colors(d)
    o1, o2 = (o["metric"] for o in d["objectives"])
    pts = [
        (r["backend"], t["objectives"], t["index"] in r["pareto_front"])
        for r in d["runs"]
        for t in r["trials"]
        if t["objectives"]
    ]
    p = Plot(
        _yrange([o[1] for _, o, _ in pts]),
        _yrange([o[0] for _, o, _ in pts]),
        f"Pareto sets: {o1} vs {o2} (filled: on the run's front)",
        o2,
        o1,
    )
    for b, o, on in pts:
        p.dot(o[1], o[0], col[b], 4 if on else 2.5, f"{b}: {o1}={o[0]:.4g}, {o2}={o[1]:.4g}", hollow=not on)
    return p.svg(_legend(d))


def _table(head: list[str], rows: list[list[str]]) -> str:
    th = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{th}</tr>{body}</table>"


def summary_rows(d: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    table = _is_table(d)
    head = [
        "backend",
        "version",
        "strategy",
        "runs ok",
        f"best {d['metric']}",
        "mean ± 95% CI",
        "median",
        "true acc mean ± CI" if table else "test acc mean ± CI",
        "retrained test",
        "time to target s (median)",
        "complete/pruned/failed",
        "wall s (total)",
        "overhead s/trial (median)",
    ]
    rows = []
    for b, s in d["backends"].items():
        rows.append(
            [
                b,
                _f(s["version"]),
                _f(s["strategy"]),
                f"{s['runs_complete']}/{s['runs']}",
                _f(s["objective"]["max"] if d["directions"][0] == "maximize" else s["objective"]["min"]),
                _pm(s["objective"]),
                _f(s["objective"]["median"]),
                _pm(s["true" if table else "test"]),
                _pm(s["retrain_test"]),
                f"{_f(s['time_to_target_s']['median'], 3)} ({s['reached_target']} reached)",
                "/".join(str(s["trials"][k]) for k in ("complete", "pruned", "failed")),
                f"{s['wall_s']:.1f}",
                _f(s["overhead_s"]["median"], 3),
            ]
        )
    return head, rows


def _is_table(d: dict[str, Any]) -> bool:
    return (d.get("evaluation") or {}).get("mode") == "table"


def run_rows(d: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    table = _is_table(d)
    head = [
        "backend",
        "seed",
        "run",
        "status",
        "budget asked",
        "trials spent",
        "simulated s" if table else "epochs",
        "wall s",
        f"incumbent {d['metric']}",
        "true acc" if table else "test acc",
        "hypervolume",
    ]
    rows = []
    for r in d["runs"]:
        inc, sp = r["incumbent"] or {}, r.get("budget_spent") or {}
        asked = r.get("budget_asked") or {}
        limits = f"trials={asked.get('trials')}, time={asked.get('time_s')}"
        if asked.get("simulated_s") is not None:
            limits += f", simulated={asked['simulated_s']}"
        rows.append(
            [
                r["backend"],
                str(r["seed"]),
                r["run_id"],
                r["status"],
                limits,
                _f(sp.get("trials")),
                _f(sp.get("simulated_s" if table else "epochs")),
                _f(sp.get("wall_s"), 3),
                _f(inc.get("objectives", [None])[0]),
                _f(inc.get("true_accuracy" if table else "test_accuracy")),
                _f(r.get("hypervolume")),
            ]
        )
    return head, rows


def reference_text(d: dict[str, Any]) -> str:
    """One sentence on the table's reference lines ("" unless the recipe is evaluated by a table)."""
    ref = d.get("reference")
    if not ref:
        return ""
    n = ref["trials"]
    return (
        f"Table {ref['table']} ({ref['dataset']}): optimum {ref['optimum']:.4f} (best mean accuracy of the "
        f"table); uniform random search after {n} trials: mean of {ref['seeds']} runs expected in "
        f"[{ref['random_lower'][-1]:.4f}, {ref['random_upper'][-1]:.4f}] (95%), mean {ref['random_mean'][-1]:.4f}. "
        "True accuracy: the table's mean over its recorded training seeds of each incumbent."
    )


CSS = """body{font-family:system-ui,sans-serif;margin:24px;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:8px 0 18px;font-size:13px}td,th{border:1px solid #ccc;padding:3px 7px;text-align:left}
th{background:#f0f0f0}.warn{background:#fff4e5;border:1px solid #f0a030;padding:8px 12px;margin:10px 0}
.charts{display:flex;flex-wrap:wrap;gap:14px}pre{background:#f6f6f6;padding:10px;overflow:auto;font-size:12px}
figure{margin:0}"""


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
    if _is_table(d):  # no test accuracy to plot; simulated training time instead
        figs[3] = fig_best_so_far_time(d, "best_so_far_simulated_time")
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
Incumbents are chosen on validation; {"the table's true accuracy" if _is_table(d) else "test accuracy"} is reported for them only. Target for "time to target":
{_f(d["target"])} (the weakest final best of all runs unless set). Created
{time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(d["created_at"]))}.</p>
{warn or "<p>Budgets asked and spent are equal across runs.</p>"}
{f"<p>{escape(reference_text(d))}</p>" if d.get("reference") else ""}
<h2>Per backend</h2>{_table(*summary_rows(d))}
<h2>Figures</h2><div class="charts">{"".join(f"<figure>{f}</figure>" for f in figs)}</div>
<h2>Runs: budget asked and spent</h2>{_table(*run_rows(d))}
<h2>Environment</h2><pre>{escape(json.dumps(env, indent=1))}</pre>
<h2>Recipe</h2><pre>{escape(d["recipe"].get("text", ""))}</pre>
</body></html>
"""


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


def render_md(d: dict[str, Any]) -> str:
    """The benchmark report as GitHub-flavoured Markdown: summary tables, no figures.

    Every text that comes from the recipe, the store or a toolkit (names,
    strategies, versions, errors in warnings) goes through :func:`md_text`.

    Args:
        d: Output of ``bench_data``.

    Returns:
        The Markdown document.
    """

    def table(head: list[str], rows: list[list[str]]) -> str:
        return "\n".join(
            ["| " + " | ".join(md_text(h) for h in head) + " |", "|" + "---|" * len(head)]
            + ["| " + " | ".join(md_text(c) for c in row) + " |" for row in rows]
        )

    cfg = d["config"]
    time_s = f"{cfg['time_s']} s" if cfg["time_s"] else "no limit"
    lines = [
        f"# Benchmark {md_text(d['bench_id'])}",
        "",
        f"Recipe **{md_text(d['recipe']['name'])}**; backends {md_text(', '.join(cfg['backends']))}; "
        f"seeds {md_text(cfg['seeds'])}; budget per run trials={md_text(cfg['trials'] or 'recipe')}, "
        f"time={md_text(time_s)}. Incumbents chosen on validation. "
        f"Target: {md_text(_f(d['target']))}. Figures: report.html.",
        "",
    ]
    lines += [f"> **Warning:** {md_text(w)}" for w in d["warnings"]] or [
        "Budgets asked and spent are equal across runs."
    ]
    if d.get("reference"):
        lines += ["", md_text(reference_text(d))]
    # The environment stays verbatim: inside a fenced block nothing is rendered, and json.dumps puts a quote,
    # digit, bracket or literal first on every line, so no line of it can close the fence.
    lines += [
        "",
        "## Per backend",
        "",
        table(*summary_rows(d)),
        "",
        "## Runs",
        "",
        table(*run_rows(d)),
        "",
        "## Environment",
        "",
        "```json",
        json.dumps(d["environment"], indent=1),
        "```",
        "",
    ]
    return "\n".join(lines)


def render_json(d: dict[str, Any]) -> str:
    return json.dumps(d, indent=1)


BENCH_RENDERERS = {"html": render_html, "md": render_md, "json": render_json}


def write_reports(store: Any, bench_id: str, out_dir: Any) -> list[str]:
    """Writes report.html, report.md and report.json of a benchmark into ``out_dir``; returns the paths."""
    from pathlib import Path

    from unified_nas.bench.summary import bench_data

    d = bench_data(store, bench_id)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt_, fn in BENCH_RENDERERS.items():
        p = out / f"report.{fmt_}"
        p.write_text(fn(d))
        paths.append(str(p))
    return paths
