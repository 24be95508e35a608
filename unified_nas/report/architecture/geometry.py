"""What a picture of an architecture is made of: boxes, edges and texts with coordinates, and nothing else.

The layout (:mod:`.layout`) computes one :class:`Drawing`; each painter
(:mod:`.svg`, :mod:`.png`) only draws what it is given, so the SVG and the PNG
of a trial show the same geometry. Coordinates are pixels, origin top left.

Text widths are estimated, not measured: 0.6 x the font size per character,
which is the advance of the monospace fonts the painters ask for (DejaVu Sans
Mono, Courier, Liberation Mono) and an upper bound for most proportional ones.
A layout that needs no font files can then run anywhere, and boxes sized by the
estimate hold their text in a browser as in Pillow.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

#: Advance of one character, as a fraction of the font size (monospace fonts: 0.6 em).
CHAR_WIDTH = 0.6
FONT_SIZE = 12.0
SMALL_FONT_SIZE = 11.0
LINE_HEIGHT = 1.3  # of the font size

#: Fill colours by box kind (DARTS's genotype plots: inputs green, nodes blue, output yellow).
FILLS = {
    "input": "#b8e6b8",
    "node": "#bcd8f2",
    "output": "#f7e08a",
    "layer": "#e3ecf7",
    "io": "#eeeeee",
}

Point = tuple[float, float]


def text_width(text: str, size: float = FONT_SIZE) -> float:
    """The estimated width of ``text`` in pixels (see the module docstring).

    Args:
        text: One line.
        size: Font size in pixels.

    Returns:
        ``0.6 * size * len(text)``.
    """
    return CHAR_WIDTH * size * len(text)


@dataclass(frozen=True)
class Box:
    """A rectangle with centred lines of text.

    Attributes:
        key: What the box stands for, unique in its drawing (``node 0``, ``layer 2``, ``c_{k-1}``).
        kind: ``input``, ``node``, ``output``, ``layer`` or ``io`` (its fill, :data:`FILLS`).
        x, y, w, h: Top left corner and size.
        lines: The text, one entry per line (the first in bold).
    """

    key: str
    kind: str
    x: float
    y: float
    w: float
    h: float
    lines: tuple[str, ...]

    @property
    def cx(self) -> float:
        return self.x + self.w / 2

    @property
    def cy(self) -> float:
        return self.y + self.h / 2

    def contains(self, p: Point, margin: float = 0.0) -> bool:
        """Whether ``p`` lies inside the box grown by ``margin`` on every side."""
        return (
            self.x - margin <= p[0] <= self.x + self.w + margin and self.y - margin <= p[1] <= self.y + self.h + margin
        )


@dataclass(frozen=True)
class Label:
    """The text on an edge: centred at ``(x, y)`` over a white background of ``w`` x ``h``."""

    text: str
    x: float
    y: float
    w: float
    h: float

    def overlaps(self, other: Label | Box, pad: float = 2.0) -> bool:
        """Whether the label's background and ``other`` (grown by ``pad``) intersect."""
        if isinstance(other, Box):
            ox, oy, ow, oh = other.x, other.y, other.w, other.h
        else:
            ox, oy, ow, oh = other.x - other.w / 2, other.y - other.h / 2, other.w, other.h
        x0, y0 = self.x - self.w / 2, self.y - self.h / 2
        return x0 < ox + ow + pad and ox - pad < x0 + self.w and y0 < oy + oh + pad and oy - pad < y0 + self.h


@dataclass(frozen=True)
class Edge:
    """A line between two boxes, drawn as a polyline with an arrowhead at its end.

    Attributes:
        source, target: The keys of the boxes it joins.
        points: The polyline (curves are sampled into points by the layout, so painters draw lines only).
        label: Its text (an op), or None.
        faint: Drawn grey and dashed: an edge that carries nothing (the op ``none``).
    """

    source: str
    target: str
    points: tuple[Point, ...]
    label: Label | None = None
    faint: bool = False


@dataclass(frozen=True)
class Text:
    """Free text: a panel's title, a note, the network's size."""

    text: str
    x: float
    y: float  # baseline
    size: float = FONT_SIZE
    bold: bool = False
    anchor: str = "start"  # start, middle or end (as SVG's text-anchor)
    role: str = ""  # "title" for the drawing's title (its SVG class: reports and tests find it by that)


@dataclass(frozen=True)
class Drawing:
    """One picture: its size, what is on it, and the numbers it shows.

    Attributes:
        width, height: In pixels.
        title: What the picture shows (the SVG's accessible name).
        kind: The space kind drawn: ``macro``, ``cell`` or ``dense_cell``.
        boxes, edges, texts: What to draw; edges under boxes, texts on top.
        params, flops: The whole network's, from its plan (None: the plan could not be built).
    """

    width: float
    height: float
    title: str
    kind: str
    boxes: tuple[Box, ...] = ()
    edges: tuple[Edge, ...] = ()
    texts: tuple[Text, ...] = ()
    params: int | None = None
    flops: int | None = None

    def box(self, key: str) -> Box:
        """The box called ``key``.

        Raises:
            KeyError: If there is none.
        """
        for b in self.boxes:
            if b.key == key:
                return b
        raise KeyError(key)


def quadratic(p0: Point, control: Point, p2: Point, steps: int = 16) -> tuple[Point, ...]:
    """A quadratic Bezier curve sampled into ``steps + 1`` points (a straight line if ``control`` is on it)."""
    out = []
    for i in range(steps + 1):
        t = i / steps
        a, b, c = (1 - t) ** 2, 2 * (1 - t) * t, t**2
        out.append((a * p0[0] + b * control[0] + c * p2[0], a * p0[1] + b * control[1] + c * p2[1]))
    return tuple(out)


def point_at(points: Sequence[Point], t: float) -> Point:
    """The point a fraction ``t`` of the way along a polyline (by length)."""
    lengths = [math.dist(a, b) for a, b in zip(points, points[1:])]
    goal, run = t * sum(lengths), 0.0
    for (a, b), n in zip(zip(points, points[1:]), lengths):
        if n and run + n >= goal:
            f = (goal - run) / n
            return (a[0] + f * (b[0] - a[0]), a[1] + f * (b[1] - a[1]))
        run += n
    return points[-1]


def arrowhead(points: Sequence[Point], length: float = 8.0, half_width: float = 4.0) -> tuple[Point, Point, Point]:
    """The triangle of an arrowhead at the end of a polyline, pointing along its last segment."""
    (x0, y0), (x1, y1) = points[-2], points[-1]
    n = math.hypot(x1 - x0, y1 - y0) or 1.0
    ux, uy = (x1 - x0) / n, (y1 - y0) / n
    bx, by = x1 - length * ux, y1 - length * uy
    return (x1, y1), (bx - half_width * uy, by + half_width * ux), (bx + half_width * uy, by - half_width * ux)


def human(n: int | None) -> str:
    """A count for a picture: ``12,345`` below a million, else ``1.23M`` / ``4.56G`` (None: ``-``)."""
    if n is None:
        return "-"
    for scale, unit in ((1e9, "G"), (1e6, "M")):
        if abs(n) >= scale:
            return f"{n / scale:.3g}{unit}"
    return f"{n:,}"
