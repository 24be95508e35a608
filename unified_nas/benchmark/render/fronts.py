"""The benchmark report's Pareto-front figure: every run's attainment surface, drawn faintly, per backend.

A run's front is the set of its complete trials no other of its trials
dominates (the core's ``pareto_front``, the same for every backend). Its
*attainment surface* is the staircase bounding what the front dominates; one
faint staircase per run, in its backend's colour, shows how the backends'
fronts spread over the seeds, with the benchmark's hypervolume reference point
marked. With more than two objectives the figure shows the first two.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from unified_nas.benchmark.svg import PALETTE, Plot
from unified_nas.core.multiobjective import measured


def staircase(
    front: Sequence[tuple[float, float]], ref: tuple[float, float], better_x: int
) -> list[tuple[float, float]]:
    """The attainment surface of a 2-D front, from the reference's y to the reference's x.

    Args:
        front: Non-dominated (x, y) points.
        ref: The reference point (worse than every point in both).
        better_x: 1 if a larger x is better, -1 if a smaller one is.

    Returns:
        The staircase's corners (empty for no point).
    """
    pts = sorted(front, key=lambda p: -better_x * p[0])  # best x first: y gets worse along the front
    out: list[tuple[float, float]] = []
    for i, (x, y) in enumerate(pts):
        out += [(x, ref[1] if i == 0 else pts[i - 1][1]), (x, y)]
    if pts:
        out.append((ref[0], pts[-1][1]))
    return out


def _dominates(a: tuple[float, float], b: tuple[float, float], better: tuple[int, int]) -> bool:
    """Whether ``a`` is at least as good as ``b`` in both coordinates and better in one."""
    ge = [sa * x >= sa * y for sa, x, y in zip(better, a, b, strict=True)]
    return all(ge) and a != b


def fig_fronts(d: dict[str, Any]) -> str:
    """Each run's attainment surface on the first two objectives, faint, coloured by backend.

    Args:
        d: Output of ``bench_data`` for a benchmark with two or more objectives.

    Returns:
        The ``<svg>`` element.
    """
    frame = d["hypervolume_frames"]["observed"]
    (m1, m2), d2 = frame["metrics"][:2], frame["directions"][1]
    ref = (frame["reference"][1], frame["reference"][0])  # x: the second objective, y: the first
    col = {b: PALETTE[i % len(PALETTE)] for i, b in enumerate(d["config"]["backends"])}
    xs = [frame["best"][1], ref[0]]
    ys = [frame["best"][0], ref[1]]
    title = f"Pareto fronts: {m1} vs {m2}, one staircase per run (cross: hypervolume reference)"
    # Sizes (params, FLOPs, latency) spread over orders of magnitude: a log axis when they do.
    log_x = min(xs) > 0 and max(xs) / min(xs) > 20
    p = Plot((min(xs), max(xs)), (min(ys), max(ys)), title, m2 + (" (log scale)" if log_x else ""), m1, log_x=log_x)
    better = (1 if d2 == "maximize" else -1, 1 if frame["directions"][0] == "maximize" else -1)
    for r in d["runs"]:
        shown = [
            (t["objectives"][1], t["objectives"][0])
            for t in r["trials"]
            if t["objectives"]
            and t["index"] in (r.get("pareto_front") or [])
            and measured(t["objectives"][0])
            and measured(t["objectives"][1])
        ]
        # With more objectives, the run's front need not be a front in the two drawn: keep the points that are.
        front = [p for p in shown if not any(_dominates(q, p, better) for q in shown)]
        color = col.get(r["backend"], "#333")
        corners = staircase(front, ref, better[0])
        p.line(corners, color, width=1.5, opacity=0.45)  # faint: many runs overlap
        for x, y in front:
            p.dot(x, y, color, 2.5, f"{r['backend']} seed {r['seed']}: {m1}={y:.4g}, {m2}={x:.4g}")
    p.text(ref[0], ref[1], "×")
    return p.svg(list(col.items()))
