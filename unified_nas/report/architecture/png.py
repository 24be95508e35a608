"""The PNG painter: the same :class:`~.geometry.Drawing` as the SVG painter draws, rasterised with Pillow.

Pillow is a core dependency already (image data sets), so a PNG needs nothing
more; no system binary (Graphviz, Cairo, a browser) is involved. The image is
drawn at twice the drawing's size, so it stays sharp on high-density screens.

Fonts: DejaVu Sans Mono where the system has it (the monospace font the layout's
text widths are estimated for), else Pillow's bundled font. A line that a
font draws wider than its box is drawn a size smaller until it fits, so a
label never runs out of its background whatever font was found.
"""

from __future__ import annotations

import io
import math
from functools import lru_cache
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from unified_nas.report.architecture.geometry import (
    FILLS,
    FONT_SIZE,
    LINE_HEIGHT,
    SMALL_FONT_SIZE,
    Drawing,
    Point,
    arrowhead,
)

SCALE = 2
#: The most pixels a PNG gets (about 100 MB of RGB): a drawing from hostile stored data must not exhaust memory.
MAX_PIXELS = 32_000_000
EDGE_COLOR, FAINT_COLOR = "#444444", "#aaaaaa"


@lru_cache(maxsize=64)
def _font(size: int, bold: bool = False) -> Any:
    """A font of ``size`` pixels: DejaVu Sans Mono (Bold), else Pillow's default font."""
    for name in ("DejaVuSansMono-Bold.ttf", "DejaVuSansMono.ttf") if bold else ("DejaVuSansMono.ttf",):
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has one bitmap font of one size
        return ImageFont.load_default()


def _fitted(draw: ImageDraw.ImageDraw, text: str, size: float, room: float, bold: bool = False) -> Any:
    """The largest font up to ``size`` (drawing units) in which ``text`` fits ``room`` (drawing units)."""
    px = max(6, round(size * SCALE))
    while px > 6 and draw.textlength(text, font=_font(px, bold)) > room * SCALE:
        px -= 1
    return _font(px, bold)


def _s(p: Point) -> tuple[float, float]:
    return (p[0] * SCALE, p[1] * SCALE)


def _dashed(
    draw: ImageDraw.ImageDraw, points: tuple[Point, ...], color: str, dash: float = 5.0, gap: float = 4.0
) -> None:
    """A dashed polyline (Pillow draws solid lines only): dashes measured along its whole length."""
    on, left = True, dash
    for a, b in zip(points, points[1:]):
        n = math.dist(a, b)
        at = 0.0
        while at < n:
            step = min(left, n - at)
            if on:
                f0, f1 = at / n, (at + step) / n
                p = (a[0] + f0 * (b[0] - a[0]), a[1] + f0 * (b[1] - a[1]))
                q = (a[0] + f1 * (b[0] - a[0]), a[1] + f1 * (b[1] - a[1]))
                draw.line([_s(p), _s(q)], fill=color, width=SCALE)
            at += step
            left -= step
            if left <= 1e-9:
                on = not on
                left = dash if on else gap


def _text(draw: ImageDraw.ImageDraw, at: Point, text: str, font: Any, anchor: str, fill: str) -> None:
    """Draws ``text`` anchored at ``at`` (drawing units); a bitmap font (no anchors) is placed by its measured size."""
    try:
        draw.text(_s(at), text, fill=fill, font=font, anchor=anchor)
    except ValueError:  # Pillow's bitmap font takes no anchor: its top left corner, from the anchor by hand
        x, y = _s(at)
        w = draw.textlength(text, font=font)
        x -= {"m": w / 2, "r": w}.get(anchor[0], 0.0)
        y -= {"m": 5.0, "s": 10.0}.get(anchor[1], 0.0)
        draw.text((x, y), text, fill=fill, font=font)


def render_png(d: Drawing) -> bytes:
    """The drawing as PNG bytes.

    Args:
        d: The drawing (:func:`~.layout.draw_architecture`).

    Returns:
        A PNG image of ``2 x`` the drawing's size, white background.
    """
    if d.width * d.height * SCALE * SCALE > MAX_PIXELS:
        raise ValueError(f"the drawing is too large to paint ({d.width} x {d.height}); write .svg instead")
    img = Image.new("RGB", (math.ceil(d.width * SCALE), math.ceil(d.height * SCALE)), "white")
    draw = ImageDraw.Draw(img)
    for e in d.edges:
        color = FAINT_COLOR if e.faint else EDGE_COLOR
        if e.faint:
            _dashed(draw, e.points, color)
        else:
            draw.line([_s(p) for p in e.points], fill=color, width=SCALE, joint="curve")
        draw.polygon([_s(p) for p in arrowhead(e.points)], fill=color)
    for b in d.boxes:
        draw.rounded_rectangle(
            [_s((b.x, b.y)), _s((b.x + b.w, b.y + b.h))],
            radius=5 * SCALE,
            fill=FILLS.get(b.kind, "#ffffff"),
            outline="#555555",
            width=SCALE,
        )
        top = b.cy - (len(b.lines) - 1) * FONT_SIZE * LINE_HEIGHT / 2
        for i, line in enumerate(b.lines):
            font = _fitted(draw, line, FONT_SIZE, b.w - 4, bold=i == 0)
            _text(draw, (b.cx, top + i * FONT_SIZE * LINE_HEIGHT), line, font, "mm", "#000000")
    for e in d.edges:
        if e.label is None:
            continue
        lb = e.label
        draw.rectangle([_s((lb.x - lb.w / 2, lb.y - lb.h / 2)), _s((lb.x + lb.w / 2, lb.y + lb.h / 2))], fill="#ffffff")
        font = _fitted(draw, lb.text, SMALL_FONT_SIZE, lb.w - 2)
        _text(draw, (lb.x, lb.y), lb.text, font, "mm", "#888888" if e.faint else "#222222")
    for t in d.texts:
        anchor = {"start": "ls", "middle": "ms", "end": "rs"}.get(t.anchor, "ls")
        font = _fitted(draw, t.text, t.size, d.width - t.x, bold=t.bold)
        _text(draw, (t.x, t.y), t.text, font, anchor, "#000000")
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()
