"""Minimal inline-SVG charts: no JavaScript, no CDN, they render anywhere offline."""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")


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
        self.marks: list[str] = []

    def px(self, x: float) -> float:
        if self.log_x:
            x = math.log10(max(x, 1e-12))
        return self.L + (x - self.x0) / (self.x1 - self.x0) * (self.W - self.L - self.R)

    def py(self, y: float) -> float:
        return self.H - self.B - (y - self.y0) / (self.y1 - self.y0) * (self.H - self.T - self.B)

    def line(
        self, pts: Sequence[tuple[float, float]], color: str, width: float = 2, dash: str = "", step: bool = False
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
            f'<text x="{W / 2}" y="16" font-size="13" font-weight="bold" text-anchor="middle">{escape(self.title)}</text>',
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
