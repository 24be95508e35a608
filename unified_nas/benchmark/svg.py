"""Minimal inline-SVG charts (plots, critical-difference diagrams): no JavaScript, no CDN, they render anywhere offline."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from html import escape

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")

#: A title's font size, its line step, and the estimated width of one of its characters (0.6 em: conservative,
#: a bold proportional font's average is below it), so that a title is wrapped before a browser would cut it.
TITLE_SIZE = 13
TITLE_STEP = 16
TITLE_CHAR = 0.6 * TITLE_SIZE
TITLE_SIDE = 8  # free pixels kept at each end of a title line


def title_lines(title: str, width: float) -> list[str]:
    """``title`` wrapped at spaces into lines that fit ``width`` pixels by the estimate above.

    Args:
        title: The figure's title.
        width: The figure's width.

    Returns:
        One or more lines (a word longer than a line is split).
    """
    chars = max(8, int((width - 2 * TITLE_SIDE) / TITLE_CHAR))
    return textwrap.wrap(title, chars) or [""]


def title_svg(lines: Sequence[str], width: float) -> str:
    """The title lines as centred bold ``<text class="title">`` elements, one per line from the top."""
    return "".join(
        f'<text class="title" x="{width / 2}" y="{16 + TITLE_STEP * i}" font-size="{TITLE_SIZE}" font-weight="bold" '
        f'text-anchor="middle">{escape(line)}</text>'
        for i, line in enumerate(lines)
    )


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi <= lo:
        hi = lo + 1.0
    step = 10 ** math.floor(math.log10((hi - lo) / n))
    for m in (1, 2, 2.5, 5, 10):
        if (hi - lo) / (step * m) <= n:
            step *= m
            break
    start = math.ceil(lo / step) * step
    return [round(start + i * step, 10) for i in range(int((hi - start) / step) + 1)]


def fmt(v: float) -> str:
    if v != 0 and (abs(v) >= 1e4 or abs(v) < 1e-3):
        return f"{v:.2g}"
    return f"{v:.4g}"


class Plot:
    """A 2-D plot area with axes; marks are added, then :meth:`svg` renders it.

    Args:
        x, y: Data ranges (lo, hi). log_x: Logarithmic x axis.
        title, xlabel, ylabel: Text.
    """

    W, H, L, R, T, B = 560, 300, 62, 14, 28, 42

    def __init__(
        self, x: tuple[float, float], y: tuple[float, float], title: str, xlabel: str, ylabel: str, log_x: bool = False
    ) -> None:
        self.log_x = log_x
        lo, hi = x
        if log_x:
            lo, hi = math.log10(max(lo, 1e-12)), math.log10(max(hi, 1e-12))
        pad = (hi - lo) * 0.04 or 0.5
        self.x0, self.x1 = lo - pad, hi + pad
        ypad = (y[1] - y[0]) * 0.06 or 0.05
        self.y0, self.y1 = y[0] - ypad, y[1] + ypad
        self.title, self.xlabel, self.ylabel = title, xlabel, ylabel
        # A long title wraps; each further line moves the plot down and makes the figure taller by as much.
        self.title_lines = title_lines(title, self.W)
        extra = TITLE_STEP * (len(self.title_lines) - 1)
        self.T, self.H = Plot.T + extra, Plot.H + extra
        self.marks: list[str] = []

    def px(self, x: float) -> float:
        if self.log_x:
            x = math.log10(max(x, 1e-12))
        return self.L + (x - self.x0) / (self.x1 - self.x0) * (self.W - self.L - self.R)

    def py(self, y: float) -> float:
        return self.H - self.B - (y - self.y0) / (self.y1 - self.y0) * (self.H - self.T - self.B)

    def line(
        self,
        pts: Sequence[tuple[float, float]],
        color: str,
        width: float = 2,
        dash: str = "",
        step: bool = False,
        opacity: float = 1.0,
    ) -> None:
        if not pts:
            return
        coords = []
        for i, (x, y) in enumerate(pts):
            if step and i:
                coords.append(f"{self.px(x):.1f},{self.py(pts[i - 1][1]):.1f}")
            coords.append(f"{self.px(x):.1f},{self.py(y):.1f}")
        self.marks.append(
            f'<polyline fill="none" stroke="{color}" stroke-width="{width}" '
            f"{f'stroke-opacity={chr(34)}{opacity}{chr(34)} ' if opacity < 1 else ''}"
            f'{f"stroke-dasharray={chr(34)}{dash}{chr(34)} " if dash else ""}points="{" ".join(coords)}"/>'
        )

    def band(self, xs: Sequence[float], lo: Sequence[float], hi: Sequence[float], color: str) -> None:
        if not xs:
            return
        top = [f"{self.px(x):.1f},{self.py(y):.1f}" for x, y in zip(xs, hi)]
        bot = [f"{self.px(x):.1f},{self.py(y):.1f}" for x, y in zip(reversed(xs), reversed(lo))]
        self.marks.append(f'<polygon fill="{color}" fill-opacity="0.18" stroke="none" points="{" ".join(top + bot)}"/>')

    def dot(self, x: float, y: float, color: str, r: float = 3.5, title: str = "", hollow: bool = False) -> None:
        fill = "none" if hollow else color
        tip = f"<title>{escape(title)}</title>" if title else ""
        self.marks.append(
            f'<circle cx="{self.px(x):.1f}" cy="{self.py(y):.1f}" r="{r}" fill="{fill}" '
            f'fill-opacity="0.75" stroke="{color}">{tip}</circle>'
        )

    def rect(
        self, x0: float, x1: float, y0: float, y1: float, color: str, title: str = "", opacity: float = 0.85
    ) -> None:
        x, w = self.px(x0), max(0.8, self.px(x1) - self.px(x0))
        y, h = self.py(y1), max(0.8, self.py(y0) - self.py(y1))
        tip = f"<title>{escape(title)}</title>" if title else ""
        self.marks.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" fill="{color}" '
            f'fill-opacity="{opacity}">{tip}</rect>'
        )

    def text(self, x: float, y: float, s: str, anchor: str = "middle") -> None:
        self.marks.append(
            f'<text x="{self.px(x):.1f}" y="{self.py(y):.1f}" font-size="11" text-anchor="{anchor}">{escape(s)}</text>'
        )

    def svg(
        self,
        legend: Sequence[tuple[str, str]] = (),
        xticks: Sequence[tuple[float, str]] | None = None,
        yticks: Sequence[tuple[float, str]] | None = None,
    ) -> str:
        W, H, L, R, T, B = self.W, self.H, self.L, self.R, self.T, self.B
        parts = [
            f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{W}" height="{H}" '
            f'viewBox="0 0 {W} {H}" role="img" aria-label="{escape(self.title)}">',
            title_svg(self.title_lines, W),
            f'<rect x="{L}" y="{T}" width="{W - L - R}" height="{H - T - B}" fill="#fafafa" stroke="#999"/>',
        ]
        if xticks is None:
            if self.log_x:
                xticks = [(10**e, fmt(10**e)) for e in range(math.ceil(self.x0), math.floor(self.x1) + 1)]
            else:
                xticks = [(v, fmt(v)) for v in nice_ticks(self.x0, self.x1)]
        if yticks is None:
            yticks = [(v, fmt(v)) for v in nice_ticks(self.y0, self.y1)]
        for v, label in xticks:
            x = self.px(v)
            if L - 0.5 <= x <= W - R + 0.5:
                parts.append(
                    f'<line x1="{x:.1f}" y1="{H - B}" x2="{x:.1f}" y2="{H - B + 4}" stroke="#666"/>'
                    f'<text x="{x:.1f}" y="{H - B + 15}" font-size="10" text-anchor="middle">{escape(label)}</text>'
                )
        for v, label in yticks:
            y = self.py(v)
            if T - 0.5 <= y <= H - B + 0.5:
                parts.append(
                    f'<line x1="{L}" y1="{y:.1f}" x2="{W - R}" y2="{y:.1f}" stroke="#e4e4e4"/>'
                    f'<text x="{L - 5}" y="{y + 3:.1f}" font-size="10" text-anchor="end">{escape(label)}</text>'
                )
        parts.append(
            f'<text x="{(L + W - R) / 2}" y="{H - 6}" font-size="11" text-anchor="middle">{escape(self.xlabel)}</text>'
        )
        parts.append(
            f'<text x="12" y="{(T + H - B) / 2}" font-size="11" text-anchor="middle" '
            f'transform="rotate(-90 12 {(T + H - B) / 2})">{escape(self.ylabel)}</text>'
        )
        parts.extend(self.marks)
        for i, (name, color) in enumerate(legend):
            y = T + 12 + 14 * i
            parts.append(
                f'<rect x="{W - R - 110}" y="{y - 8}" width="10" height="10" fill="{color}"/>'
                f'<text x="{W - R - 96}" y="{y + 1}" font-size="11">{escape(name)}</text>'
            )
        parts.append("</svg>")
        return "".join(parts)


def cd_diagram(
    names: Sequence[str],
    ranks: Sequence[float],
    cd: float | None,
    groups: Sequence[Sequence[int]],
    title: str,
    colors: Sequence[str] = PALETTE,
) -> str:
    """A critical-difference diagram (Demšar 2006, JMLR 7, Fig. 1) as self-contained SVG.

    A rank axis from 1 (best, left) to k; each competitor is marked at its average rank and
    named at the end of a line, the better half on the left and the worse on the right (the
    nearer a name sits to the axis, the more extreme its rank); a bar of length CD above the
    axis; under it, a thick bar across each group of competitors that are not significantly
    different.

    Args:
        names: The competitors.
        ranks: Their average ranks (1 = best), in the order of ``names``.
        cd: The critical difference (None: no CD bar).
        groups: Index lists of competitors not significantly different (bars under the axis).
        title: Shown on top and given as the figure's accessible name.
        colors: A colour per competitor (cycled), for its mark on the axis.

    Returns:
        The ``<svg>`` element; every text is escaped.
    """
    k = len(names)
    W, side, axis_y, step = 640, 170, 74, 18
    heading = title_lines(title, W)
    axis_y += TITLE_STEP * (len(heading) - 1)  # the CD bar and the axis below every title line
    top = max(k, 2)  # one competitor still gets an axis from 1 to 2

    def x(r: float) -> float:
        return side + (r - 1) / (top - 1) * (W - 2 * side)

    order = sorted(range(k), key=lambda i: ranks[i])
    left = (k + 1) // 2
    label_y = axis_y + 14 + 7 * len(groups)
    H = label_y + step * max(left, 1) + 8
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{W}" height="{H}" '
        f'viewBox="0 0 {W} {H}" role="img" aria-label="{escape(title)}">',
        title_svg(heading, W),
        f'<line x1="{x(1):.1f}" y1="{axis_y}" x2="{x(top):.1f}" y2="{axis_y}" stroke="#222" stroke-width="1.5"/>',
    ]
    for i in range(2 * (top - 1) + 1):  # ticks at every half rank, labelled at whole ones
        r = 1 + i / 2
        whole = i % 2 == 0
        parts.append(
            f'<line x1="{x(r):.1f}" y1="{axis_y}" x2="{x(r):.1f}" y2="{axis_y - (6 if whole else 3)}" stroke="#222"/>'
        )
        if whole:
            parts.append(f'<text x="{x(r):.1f}" y="{axis_y - 9}" font-size="11" text-anchor="middle">{int(r)}</text>')
    if cd is not None:
        # A CD longer than the axis is drawn to its end; the label gives the length.
        end = x(min(1 + cd, top))
        bar = axis_y - 36  # 38 under a one-line title, lower by as much as the title grew
        parts.append(
            f'<g class="cd"><title>critical difference {fmt(cd)}</title>'
            f'<line x1="{x(1):.1f}" y1="{bar}" x2="{end:.1f}" y2="{bar}" stroke="#222" stroke-width="2"/>'
            f'<line x1="{x(1):.1f}" y1="{bar - 5}" x2="{x(1):.1f}" y2="{bar + 5}" stroke="#222"/>'
            f'<line x1="{end:.1f}" y1="{bar - 5}" x2="{end:.1f}" y2="{bar + 5}" stroke="#222"/>'
            f'<text x="{(x(1) + end) / 2:.1f}" y="{bar - 8}" font-size="11" text-anchor="middle">CD = {fmt(cd)}</text></g>'
        )
    for g, members in enumerate(groups):
        lo, hi = min(ranks[i] for i in members), max(ranks[i] for i in members)
        y = axis_y + 8 + 7 * g
        tip = "not significantly different: " + ", ".join(names[i] for i in members)
        parts.append(
            f'<line class="group" x1="{x(lo) - 4:.1f}" y1="{y}" x2="{x(hi) + 4:.1f}" y2="{y}" stroke="#222" '
            f'stroke-width="4" stroke-linecap="round"><title>{escape(tip)}</title></line>'
        )
    for pos, i in enumerate(order):
        on_left = pos < left
        y = label_y + step * (pos if on_left else k - 1 - pos)
        end = side - 12 if on_left else W - side + 12
        label = f"{names[i]} ({ranks[i]:.2f})"
        parts.append(
            f'<polyline fill="none" stroke="#555" points="{x(ranks[i]):.1f},{axis_y} {x(ranks[i]):.1f},{y} '
            f'{end:.1f},{y}"/>'
            f'<circle cx="{x(ranks[i]):.1f}" cy="{axis_y}" r="4" fill="{colors[i % len(colors)]}">'
            f"<title>{escape(label)}</title></circle>"
            f'<text x="{end + (-4 if on_left else 4):.1f}" y="{y + 4}" font-size="12" '
            f'text-anchor="{"end" if on_left else "start"}">{escape(label)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
