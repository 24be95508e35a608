"""Benchmark report renderers: self-contained HTML (inline SVG, works offline), Markdown, JSON."""

from __future__ import annotations

import json
import re
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from html import escape
from typing import Any, cast

from unified_nas.benchmark.stats import ALPHA
from unified_nas.benchmark.svg import PALETTE, Plot


def fmt_num(v: Any, digits: int = 4) -> str:
    """A float to ``digits`` significant digits, None as "-", anything else as ``str``."""
    if v is None:
        return "-"
    return f"{v:.{digits}g}" if isinstance(v, float) else str(v)


def _pm(s: dict[str, Any] | None) -> str:
    if not s or s.get("mean") is None:
        return "-"
    return f"{s['mean']:.4g}" + (f" ± {s['ci95']:.2g}" if s.get("ci95") is not None else "")


def fmt_ci(ci: Sequence[float] | None) -> str:
    """The interval as ' [low, high]', or '' for none (it follows the value it belongs to)."""
    return "" if ci is None else f" [{ci[0]:.4g}, {ci[1]:.4g}]"


def fmt_iqm(s: dict[str, Any] | None) -> str:
    """An IQM with its bootstrap interval ("-" for none, e.g. a report written before IQMs were).

    Args:
        s: A dict with ``iqm`` and ``iqm_ci95`` (:func:`~unified_nas.benchmark.summary.score_stats`).

    Returns:
        "iqm [low, high]".
    """
    if not s or s.get("iqm") is None:
        return "-"
    return f"{s['iqm']:.4g}" + fmt_ci(s.get("iqm_ci95"))


# One sentence per statistic, under its table or figure: what the reader sees and how to read it.
EXPLAIN = {
    "iqm": (
        "IQM: interquartile mean of the runs' final scores over seeds (the mean of the middle 50%, robust to one "
        "lucky or failed seed; the mean below 4 seeds), with its 95% percentile-bootstrap interval in brackets."
    ),
    "pairs": (
        "P(A > B): probability that a run of A ends better than a run of B (0.5 = no difference), with its 95% "
        "bootstrap interval (few seeds make it look narrower than it is); p: two-sided Mann-Whitney U test, "
        "Holm-adjusted over all pairs; significant: adjusted p < {alpha}."
    ),
    "no_pairs": "Fewer than two backends have final scores: nothing to compare.",
    "rank": (
        "Average rank of each backend's best-so-far at each trial over seeds (1 = best, ties share a rank, "
        "a run with no result yet ranks last): the backend with the smallest rank leads at that point of the search."
    ),
}


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


def fig_average_rank(d: dict[str, Any]) -> str:
    """Average rank of each backend's best-so-far vs trial; rank 1 (best) at the top."""
    ranks = d["average_rank"]
    k, n = len(ranks["by_backend"]), ranks["trials"]
    # Room above rank 1 for the legend (top right), which would otherwise hide the leader's line.
    room = (14 * k + 6) / (Plot.H - Plot.T - Plot.B)
    top = min(1.0, (1 - room * k) / (1 - room))
    # A y range from k down to ``top`` turns the axis over: leading is higher on the chart.
    p = Plot((1, max(n, 2)), (k, top), "Average rank vs trial (1 = best, top; over seeds)", "trial", "average rank")
    for b, c in _colors(d).items():
        curve = ranks["by_backend"].get(b, [])
        p.line([(i + 1, r) for i, r in enumerate(curve)], c)
    return p.svg(_legend(d), yticks=[(r, str(r)) for r in range(1, k + 1)])


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
        "IQM [95% CI]",
        "true acc mean ± CI" if table else "test acc mean ± CI",
        "true acc IQM [95% CI]" if table else "test acc IQM [95% CI]",
        "retrained test",
        "time to target s (median)",
        "complete/pruned/failed/infeasible",
        "wall s (total)",
        "overhead s/trial (median)",
    ]
    rows = []
    for b, s in d["backends"].items():
        rows.append(
            [
                b,
                fmt_num(s["version"]),
                fmt_num(s["strategy"]),
                f"{s['runs_complete']}/{s['runs']}",
                fmt_num(s["objective"]["max"] if d["directions"][0] == "maximize" else s["objective"]["min"]),
                _pm(s["objective"]),
                fmt_num(s["objective"]["median"]),
                fmt_iqm(s["objective"]),
                _pm(s["true" if table else "test"]),
                fmt_iqm(s["true" if table else "test"]),
                _pm(s["retrain_test"]),
                f"{fmt_num(s['time_to_target_s']['median'], 3)} ({s['reached_target']} reached)",
                "/".join(str(s["trials"].get(k, 0)) for k in ("complete", "pruned", "failed", "infeasible")),
                f"{s['wall_s']:.1f}",
                fmt_num(s["overhead_s"]["median"], 3),
            ]
        )
    return head, rows


def _is_table(d: dict[str, Any]) -> bool:
    return (d.get("evaluation") or {}).get("mode") == "table"


def pair_rows(d: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Every pair of backends on each compared score (``bench_data``'s ``comparisons``).

    Args:
        d: Output of ``bench_data``.

    Returns:
        The header and one row per pair and score (none with fewer than 2 backends with scores).
    """
    head = ["A", "B", "final score", "P(A > B) [95% CI]", "Mann-Whitney p", "Holm p", "significant", "runs A/B"]
    names = {"objective": d["metric"], "true": "true accuracy", "test": "test accuracy"}
    rows = [
        [
            c["a"],
            c["b"],
            names.get(what, what),
            f"{c['p']:.3g}{fmt_ci(c['ci95'])}",
            f"{c['mannwhitney_p']:.3g}",
            f"{c['holm_p']:.3g}",
            "yes" if c["significant"] else "no",
            f"{c['n_x']}/{c['n_y']}",
        ]
        for what, pairs in (d.get("comparisons") or {}).items()
        for c in pairs
    ]
    return head, rows


def _ranked(d: dict[str, Any]) -> bool:
    """The report has average ranks worth showing: 2 or more backends (one alone is always first)."""
    ranks = d.get("average_rank") or {}
    return len(ranks.get("by_backend", {})) >= 2 and ranks.get("trials", 0) > 0


def rank_rows(d: dict[str, Any], points: int = 5) -> tuple[list[str], list[list[str]]]:
    """Each backend's average rank (``bench_data``'s ``average_rank``) at a few trials, first and last included.

    Args:
        d: Output of ``bench_data``.
        points: Trials shown (fewer if the curves are shorter).

    Returns:
        The header (``backend`` and ``trial N`` per trial shown) and one row per backend.
    """
    ranks = d.get("average_rank") or {"trials": 0, "by_backend": {}}
    n = ranks["trials"]
    at = sorted({round(1 + i * (n - 1) / max(points - 1, 1)) for i in range(points)}) if n else []
    head = ["backend"] + [f"trial {t}" for t in at]
    return head, [[b] + [f"{curve[t - 1]:.2f}" for t in at] for b, curve in ranks["by_backend"].items()]


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
                fmt_num(sp.get("trials")),
                fmt_num(sp.get("simulated_s" if table else "epochs")),
                fmt_num(sp.get("wall_s"), 3),
                fmt_num(inc.get("objectives", [None])[0]),
                fmt_num(inc.get("true_accuracy" if table else "test_accuracy")),
                fmt_num(r.get("hypervolume")),
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


def _pairs_html(d: dict[str, Any]) -> str:
    """The section of pairwise comparisons, or a sentence why there is none."""
    head, rows = pair_rows(d)
    if not rows:
        return f"<h2>Pairwise comparisons</h2><p>{escape(EXPLAIN['no_pairs'])}</p>"
    return f"<h2>Pairwise comparisons</h2>{html_table(head, rows)}<p>{escape(_explain_pairs(d))}</p>"


def _explain_pairs(d: dict[str, Any]) -> str:
    """How to read the pairwise table, and, with too few seeds, that no difference can be significant."""
    return " ".join([EXPLAIN["pairs"].format(alpha=d.get("alpha", ALPHA)), *d.get("power_note", [])])


CSS = """body{font-family:system-ui,sans-serif;margin:24px;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:8px 0 18px;font-size:13px}td,th{border:1px solid #ccc;padding:3px 7px;text-align:left}
th{background:#f0f0f0}.warn{background:#fff4e5;border:1px solid #f0a030;padding:8px 12px;margin:10px 0}
.charts{display:flex;flex-wrap:wrap;gap:14px}pre{background:#f6f6f6;padding:10px;overflow:auto;font-size:12px}
figure{margin:0}"""


def start_text(d: dict[str, Any]) -> str:
    """Where the runs start: the recipe's start point, and which runs evaluated it first.

    Read from each run's options, not the benchmark's flag: a recipe may turn
    ``default_first`` on under one backend only, which the reader must see.

    Args:
        d: Output of ``bench_data``.

    Returns:
        One sentence.
    """
    on = sorted({r["backend"] for r in d["runs"] if r.get("default_first")})
    off = sorted({r["backend"] for r in d["runs"] if not r.get("default_first")})
    if on and not off:
        first = "every run evaluated it as trial 0 (default_first)"
    elif not on:
        first = "default_first was off: only strategies that start from their defaults begin there"
    else:
        first = (
            f"UNEQUAL START: runs of {', '.join(on)} evaluated it as trial 0 (default_first), "
            f"runs of {', '.join(off)} did not"
        )
    return f"Start point (each parameter's default:, else its neutral value): {json.dumps(d['start'])}; {first}."


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
    if _ranked(d):
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
Incumbents are chosen on validation; {"the table's true accuracy" if _is_table(d) else "test accuracy"} is reported for them only. Target for "time to target":
{fmt_num(d["target"])} (the weakest final best of all runs unless set). Created
{time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(d["created_at"]))}.</p>
{warn or "<p>Budgets asked and spent are equal across runs.</p>"}
{f"<p>{escape(start_text(d))}</p>" if d.get("start") is not None else ""}
{f"<p>{escape(reference_text(d))}</p>" if d.get("reference") else ""}
<h2>Per backend</h2>{html_table(*summary_rows(d))}<p>{escape(EXPLAIN["iqm"])}</p>
{_pairs_html(d)}
<h2>Figures</h2>{f"<p>{escape(EXPLAIN['rank'])}</p>" if _ranked(d) else ""}<div class="charts">{"".join(f"<figure>{f}</figure>" for f in figs)}</div>
<h2>Runs: budget asked and spent</h2>{html_table(*run_rows(d))}
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
        md_text(EXPLAIN["iqm"]),
        "",
        "## Pairwise comparisons",
        "",
    ]
    head, rows = pair_rows(d)
    lines += [md_table(head, rows), "", md_text(_explain_pairs(d))] if rows else [md_text(EXPLAIN["no_pairs"])]
    if _ranked(d):
        lines += ["", "## Average rank by trial", "", md_table(*rank_rows(d)), "", md_text(EXPLAIN["rank"])]
    lines += [
        "",
        "## Runs",
        "",
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
