"""The benchmark report's figures: one inline SVG chart (:mod:`unified_nas.benchmark.svg`) per function, drawn from ``bench_data``'s output.

Each ``fig_*`` function returns the ``<svg>`` element of one chart; backends
get the same colour in every chart (:data:`~unified_nas.benchmark.svg.PALETTE`,
in the benchmark's backend order). :func:`~unified_nas.benchmark.render.html.render_html`
decides which charts a report shows.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any, cast

from unified_nas.benchmark.svg import PALETTE, Plot
from unified_nas.core.multiobjective import measured


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
        # Two lines at most once wrapped (Plot wraps titles to the figure's width).
        title = (
            f"Best-so-far {metric} vs trial; grey: random search (mean of {ref['seeds']} runs, 95% band); "
            "dashed: table optimum"
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
    """Average rank of each backend's best-so-far (or, on a table, its answer's true accuracy) vs trial; rank 1 (best) at the top."""
    ranks = d["average_rank"]
    k, n = len(ranks["by_backend"]), ranks["trials"]
    # Room above rank 1 for the legend (top right), which would otherwise hide the leader's line.
    room = (14 * k + 6) / (Plot.H - Plot.T - Plot.B)
    top = min(1.0, (1 - room * k) / (1 - room))
    # A y range from k down to ``top`` turns the axis over: leading is higher on the chart.
    title = (
        "Average rank vs trial of the answer's true accuracy (1 = best, top; over seeds)"
        if ranks.get("of") == "true_so_far"  # a table benchmark ranks its headline, not the observed best-so-far
        else "Average rank vs trial (1 = best, top; over seeds)"
    )
    p = Plot((1, max(n, 2)), (k, top), title, "trial", "average rank")
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
    what = "the table's simulated training time" if clock != "best_so_far_time" else "wall-clock time"
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
    p.H, p.L = max(160, 60 + 26 * len(runs)) + p.T - Plot.T, 92  # + the room a wrapped title took
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
        # An infinity (or its stored stand-in) has no place on an axis: left out of the picture.
        if t["objectives"] and measured(t["objectives"][0]) and measured(t["objectives"][1])
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
