"""A small layered layout of a tiny DAG (a cell: at most a dozen nodes), left to right.

Why our own and not Graphviz's ``dot``: ``dot`` is a system binary (not a
Python dependency), so reports would draw architectures on some machines and
not on others; the layout libraries on PyPI bring large dependency trees for
graphs of eight nodes. A cell is small enough for the classic recipe, kept
simple:

1. **Layers**: a node's column is the longest path to it from a node without
   inputs (the cell's inputs sit in column 0, its output in the last column).
2. **Order**: within a column, nodes keep the order they were given (the
   cell's own numbering), centred on one middle line.
3. **Edges** leave a box's right side and enter the next box's left side as
   quadratic curves: parallel edges between the same two boxes fan out, and an
   edge whose straight course would cross another box bends above or below it.
4. **Labels** sit on their edge at the first of a few positions (the middle,
   then further along either way) where they overlap no box and no other label.

Everything is in pixels with the origin at the top left; the caller moves the
result where it belongs (:func:`shifted`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace

from unified_nas.report.architecture.geometry import (
    FONT_SIZE,
    LINE_HEIGHT,
    SMALL_FONT_SIZE,
    Box,
    Edge,
    Label,
    Point,
    point_at,
    quadratic,
    text_width,
)

PAD_X, PAD_Y = 10.0, 6.0  # inside a box, around its text
MIN_BOX_W = 44.0
ROW_GAP = 40.0  # between boxes of a column
FAN = 12.0  # between parallel edges at their middle (their ends are apart already: _ports)
NEST = 24.0  # between arcs bent to the same side over the same columns
BEND_CLEARANCE = 14.0  # between a bent edge and the box it avoids
LABEL_STOPS = (0.5, 0.4, 0.6, 0.3, 0.7, 0.22, 0.78)


@dataclass(frozen=True)
class GraphNode:
    """A node to lay out: its key, its kind (see ``geometry.FILLS``) and its lines of text."""

    key: str
    kind: str
    lines: tuple[str, ...]


@dataclass(frozen=True)
class GraphEdge:
    """An edge to lay out: from ``source`` to ``target`` (node keys), with an optional label."""

    source: str
    target: str
    label: str | None = None
    faint: bool = False


@dataclass(frozen=True)
class Panel:
    """A laid-out graph: its boxes and edges inside ``(0, 0) .. (width, height)``."""

    boxes: tuple[Box, ...]
    edges: tuple[Edge, ...]
    width: float
    height: float


def box_size(lines: Sequence[str]) -> tuple[float, float]:
    """The size of a box holding ``lines`` (text width estimate plus padding)."""
    w = max((text_width(line) for line in lines), default=0.0) + 2 * PAD_X
    return max(MIN_BOX_W, w), len(lines) * FONT_SIZE * LINE_HEIGHT + 2 * PAD_Y


def label_box(text: str, at: Point) -> Label:
    """A label of ``text`` centred at ``at``, its background a little larger than the text."""
    return Label(text, at[0], at[1], text_width(text, SMALL_FONT_SIZE) + 6, SMALL_FONT_SIZE * LINE_HEIGHT + 2)


def columns(nodes: Sequence[GraphNode], edges: Sequence[GraphEdge]) -> dict[str, int]:
    """Each node's column: the longest path to it (nodes must be given in an order where edges point forward).

    Raises:
        ValueError: An edge names an unknown node, or points backwards (the graph is not a DAG in that order).
    """
    order = {n.key: i for i, n in enumerate(nodes)}
    col = {n.key: 0 for n in nodes}
    for e in edges:
        if e.source not in order or e.target not in order:
            raise ValueError(f"edge {e.source} -> {e.target} names a node the graph does not have")
        if order[e.source] >= order[e.target]:
            raise ValueError(f"edge {e.source} -> {e.target} points backwards")
    for n in nodes:  # in the given (topological) order, so every source is final before its targets
        for e in edges:
            if e.target == n.key:
                col[n.key] = max(col[n.key], col[e.source] + 1)
    return col


def _place(nodes: Sequence[GraphNode], col: dict[str, int], gap: float) -> dict[str, Box]:
    """Boxes in columns ``gap`` apart, each column centred on the tallest one's middle."""
    n_cols = max(col.values(), default=0) + 1
    by_col: list[list[GraphNode]] = [[n for n in nodes if col[n.key] == c] for c in range(n_cols)]
    sizes = {n.key: box_size(n.lines) for n in nodes}
    heights = [sum(sizes[n.key][1] for n in ns) + ROW_GAP * max(len(ns) - 1, 0) for ns in by_col]
    middle = max(heights, default=0.0) / 2
    boxes, x = {}, 0.0
    for ns, h in zip(by_col, heights):
        width = max((sizes[n.key][0] for n in ns), default=MIN_BOX_W)
        y = middle - h / 2
        for n in ns:
            w, bh = sizes[n.key]
            boxes[n.key] = Box(n.key, n.kind, x + (width - w) / 2, y, w, bh, n.lines)
            y += bh + ROW_GAP
        x += width + gap
    return boxes


def _crossed(points: Sequence[Point], boxes: Sequence[Box]) -> list[Box]:
    """The boxes that a polyline passes through (its two ends excluded: they touch their own boxes)."""
    inner = points[2:-2]
    return [b for b in boxes if any(b.contains(p, 4.0) for p in inner)]


def _ports(edges: Sequence[GraphEdge], fans: dict[int, float], boxes: dict[str, Box]) -> dict[int, tuple[Point, Point]]:
    """Where each edge leaves its source (right side) and enters its target (left side).

    The edges at one side of a box are spread evenly over its height, ordered by where their other end
    lies (then by their fan), so that arrowheads into one node do not sit on top of each other and the
    edges do not cross on their way in or out.
    """
    out: dict[int, tuple[Point, Point]] = {}
    starts: dict[int, Point] = {}
    for key, b in boxes.items():
        leaving = sorted(
            (i for i, e in enumerate(edges) if e.source == key), key=lambda i: (boxes[edges[i].target].cy, fans[i])
        )
        for k, i in enumerate(leaving):
            starts[i] = (b.x + b.w, b.y + b.h * (k + 1) / (len(leaving) + 1))
    for key, b in boxes.items():
        entering = sorted(
            (i for i, e in enumerate(edges) if e.target == key), key=lambda i: (boxes[edges[i].source].cy, fans[i])
        )
        for k, i in enumerate(entering):
            out[i] = (starts[i], (b.x, b.y + b.h * (k + 1) / (len(entering) + 1)))
    return out


def _route(
    e: GraphEdge,
    ends: tuple[Point, Point],
    fan: float,
    boxes: dict[str, Box],
    bends: list[tuple[float, float, float, int]],
) -> tuple[Point, ...]:
    """The points of one edge: a fanned curve, bent around any box it would cross.

    Args:
        e: The edge.
        ends: Where it leaves its source and enters its target (:func:`_ports`).
        fan: Its offset from the straight course at the middle (parallel edges get different ones).
        boxes: Every box by key.
        bends: Edges bent so far as ``(x_from, x_to, y_of_middle, side)``: a new bend on the same side
            over the same columns goes further out, so nested arcs do not overlap.
    """
    p0, p2 = ends
    mid = ((p0[0] + p2[0]) / 2, (p0[1] + p2[1]) / 2)
    dx, dy = p2[0] - p0[0], p2[1] - p0[1]
    n = (dx * dx + dy * dy) ** 0.5 or 1.0
    # The quadratic's middle lies halfway between the chord's middle and the control point: twice the offset.
    control = (mid[0] - 2 * fan * dy / n, mid[1] + 2 * fan * dx / n)
    points = quadratic(p0, control, p2)
    others = [b for k, b in boxes.items() if k not in (e.source, e.target)]
    hit = _crossed(points, others)
    if not hit:
        return points
    # Bend over (side -1) or under (side +1) the boxes in the way: towards the side the edge already leans to,
    # alternating when it runs straight through their middles (a row of nodes, as in a dense cell).
    lean = mid[1] + fan - sum(b.cy for b in hit) / len(hit)
    side = (
        (-1 if lean < 0 else 1) if abs(lean) > 1 else (-1 if sum(1 for b in bends if b[3] < 0) <= len(bends) / 2 else 1)
    )
    for _ in range(8):  # each try clears the boxes hit so far, and any bend already on that side
        edge_y = min(b.y for b in hit) - BEND_CLEARANCE if side < 0 else max(b.y + b.h for b in hit) + BEND_CLEARANCE
        for x0, x1, y, sd in bends:
            if sd == side and x0 < p2[0] and p0[0] < x1:
                edge_y = min(edge_y, y - NEST) if side < 0 else max(edge_y, y + NEST)
        middle = (mid[0], edge_y)
        control = (2 * middle[0] - (p0[0] + p2[0]) / 2, 2 * middle[1] - (p0[1] + p2[1]) / 2)
        points = quadratic(p0, control, p2, 24)
        more = [b for b in _crossed(points, others) if b not in hit]
        if not more:
            bends.append((p0[0], p2[0], edge_y, side))
            return points
        hit += more
    bends.append((p0[0], p2[0], edge_y, side))
    return points


def _label(text: str, points: Sequence[Point], placed: list[Label], boxes: Sequence[Box]) -> Label:
    """The label of an edge at the first position along it that overlaps nothing (else its middle)."""
    for t in LABEL_STOPS:
        label = label_box(text, point_at(points, t))
        if not any(label.overlaps(b) for b in boxes) and not any(label.overlaps(o) for o in placed):
            return label
    return label_box(text, point_at(points, 0.5))


def layered(nodes: Sequence[GraphNode], edges: Sequence[GraphEdge]) -> Panel:
    """Lays out a small DAG left to right (the steps are in the module docstring).

    Args:
        nodes: In an order where every edge points forward (a cell's inputs, its nodes, its output).
        edges: Between those nodes; several between the same two nodes are fanned out.

    Returns:
        The panel, moved so that everything drawn starts at ``(0, 0)``.

    Raises:
        ValueError: An edge names an unknown node or points backwards.
    """
    col = columns(nodes, edges)
    widest = max((text_width(e.label, SMALL_FONT_SIZE) for e in edges if e.label), default=0.0)
    boxes = _place(nodes, col, max(64.0, widest + 56.0))
    parallel: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, e in enumerate(edges):
        parallel[(e.source, e.target)].append(i)
    fans = {i: (k - (len(ids) - 1) / 2) * FAN for ids in parallel.values() for k, i in enumerate(ids)}
    bends: list[tuple[float, float, float, int]] = []
    # Short edges first: the long ones then bend around what is already there.
    order = sorted(range(len(edges)), key=lambda i: (col[edges[i].target] - col[edges[i].source], i))
    ports = _ports(edges, fans, boxes)
    routed: dict[int, tuple[Point, ...]] = {i: _route(edges[i], ports[i], fans[i], boxes, bends) for i in order}
    placed: list[Label] = []
    drawn: list[Edge] = []
    for i, e in enumerate(edges):
        label = None
        if e.label:
            label = _label(e.label, routed[i], placed, list(boxes.values()))
            placed.append(label)
        drawn.append(Edge(e.source, e.target, routed[i], label, e.faint))
    return shifted(Panel(tuple(boxes.values()), tuple(drawn), 0.0, 0.0), 0.0, 0.0)


def extent(panel: Panel) -> tuple[float, float, float, float]:
    """``(x0, y0, x1, y1)`` around every box, edge point and label of ``panel``."""
    xs: list[float] = []
    ys: list[float] = []
    for b in panel.boxes:
        xs += [b.x, b.x + b.w]
        ys += [b.y, b.y + b.h]
    for e in panel.edges:
        xs += [p[0] for p in e.points]
        ys += [p[1] for p in e.points]
        if e.label:
            xs += [e.label.x - e.label.w / 2, e.label.x + e.label.w / 2]
            ys += [e.label.y - e.label.h / 2, e.label.y + e.label.h / 2]
    return (min(xs), min(ys), max(xs), max(ys)) if xs else (0.0, 0.0, 0.0, 0.0)


def shifted(panel: Panel, x: float, y: float) -> Panel:
    """``panel`` moved so that its extent starts at ``(x, y)``, its size set to that extent."""
    x0, y0, x1, y1 = extent(panel)
    dx, dy = x - x0, y - y0

    def move(p: Point) -> Point:
        return (p[0] + dx, p[1] + dy)

    boxes = tuple(replace(b, x=b.x + dx, y=b.y + dy) for b in panel.boxes)
    edges = tuple(
        replace(
            e,
            points=tuple(move(p) for p in e.points),
            label=None if e.label is None else replace(e.label, x=e.label.x + dx, y=e.label.y + dy),
        )
        for e in panel.edges
    )
    return Panel(boxes, edges, x1 - x0, y1 - y0)
