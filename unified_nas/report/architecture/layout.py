"""From a canonical sample, its space and the network plan to a :class:`~.geometry.Drawing`.

One picture per space kind (``SearchSpace.kind``):

* ``cell`` (DARTS-style): the normal and the reduction cell, each drawn as
  DARTS's genotype plots draw them: inputs ``c_{k-2}`` and ``c_{k-1}``,
  intermediate nodes ``0 .. n-1``, each edge labelled with its op, every node
  feeding the output ``c_{k}`` (their concatenation).
* ``dense_cell`` (NAS-Bench-201): the one cell every stage repeats, nodes
  ``0`` (the cell's input) to ``n-1`` (its output), an edge from every node to
  every later one labelled with its op; ``none`` edges (which carry nothing)
  are grey and dashed, and a note says so.
* ``macro``: the layer stack top to bottom, one box per layer (op, kernel,
  width, activation, batch normalisation, pooling, output shape, parameters),
  skip connections as arcs beside the layers they bypass (``skip + projection`` where the channels change).

Every picture ends with the whole network's parameters and FLOPs, counted from
its plan (:func:`~unified_nas.network.compile_plan`), the numbers a trial
records. Op names are the sample's own (``skip_connect`` stays
``skip_connect``), as the recipe wrote them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from unified_nas.network import Plan, UnknownOp, compile_plan
from unified_nas.network.graph import Graph
from unified_nas.report.architecture.geometry import (
    FONT_SIZE,
    LINE_HEIGHT,
    SMALL_FONT_SIZE,
    Box,
    Drawing,
    Edge,
    Label,
    Text,
    human,
    quadratic,
    text_width,
)
from unified_nas.report.architecture.graph import GraphEdge, GraphNode, Panel, box_size, label_box, layered, shifted
from unified_nas.space.ops import op_spec
from unified_nas.space.spaces import (
    CellSpace,
    DenseCellSpace,
    LayerConfig,
    MacroConfig,
    SearchSpace,
    cell_label,
    dense_cell_edges,
    dense_cell_label,
)

MARGIN = 16.0
TITLE_SIZE = 14.0
STACK_GAP = 26.0  # between the boxes of a layer stack
SKIP_REACH = 40.0  # how far a skip arc swings out beside the layers

#: The names of a DARTS cell's two inputs and its output, as in DARTS's plots.
CELL_INPUTS = ("c_{k-2}", "c_{k-1}")
CELL_OUTPUT = "c_{k}"


#: The longest title or subtitle drawn, in characters (longer ones end in "...").
MAX_TITLE = 120


def _clipped(text: str) -> str:
    return text if len(text) <= MAX_TITLE else text[: MAX_TITLE - 3] + "..."


def draw_architecture(
    space: SearchSpace,
    sample: Mapping[str, Any],
    input_shape: Sequence[int] | None,
    num_classes: int | None,
    title: str,
    subtitle: str = "",
) -> Drawing:
    """The picture of one canonical sample.

    Args:
        space: The recipe's search space.
        sample: A canonical sample of it.
        input_shape: One example's shape, channels last (None: unknown, no sizes are shown).
        num_classes: Classifier outputs (None: unknown).
        title: The picture's first line (what trial of what it is).
        subtitle: A smaller line under it ("" for none), e.g. the run id.

    Returns:
        The drawing.

    Raises:
        SampleError: The sample does not belong to the space.
    """
    arch = space.resolve(sample)  # validates the sample before anything reads its labels
    # Titles come from stored files (a recipe's name): a long one would make the picture as wide as it is.
    title, subtitle = _clipped(title), _clipped(subtitle)
    plan: Plan | None = None
    unsized = ""
    if input_shape is not None and num_classes is not None:
        try:
            plan = compile_plan(arch, input_shape, num_classes)
        except (ValueError, UnknownOp) as e:  # a failed trial's network may not fit its data: drawn all the same
            unsized = f"params and FLOPs unknown: {str(e)[:120]}"
    sizes = (
        f"whole network: params {human(plan.params)}, FLOPs {human(plan.flops)} per example"
        if plan is not None
        else unsized or "params and FLOPs unknown: the run recorded no input shape"
    )
    net = space.network
    if isinstance(net, DenseCellSpace):
        sections, footer = _dense(net, sample)
    elif isinstance(net, CellSpace):
        sections, footer = _cells(net, sample)
    else:
        assert isinstance(arch.network, MacroConfig)  # the space is macro, so its resolved network is
        sections, footer = [(None, _stack(arch.network, plan, input_shape, num_classes))], []
    return _compose(title, subtitle, space.kind, sections, [*footer, sizes], plan)


def _cell_graph(net: CellSpace, sample: Mapping[str, Any], kind: str) -> tuple[list[GraphNode], list[GraphEdge]]:
    """The nodes and edges of the ``normal`` or ``reduce`` cell of a sample.

    Node keys carry the cell's kind (``normal/c_{k-2}``, ``reduce/0``): both cells are in one drawing, and a
    key names one box there; the boxes show the names without it.
    """
    names = [*CELL_INPUTS, *(str(j) for j in range(net.nodes)), CELL_OUTPUT]
    kinds = ["input", "input", *(["node"] * net.nodes), "output"]
    nodes = [GraphNode(f"{kind}/{n}", k, (n,)) for n, k in zip(names, kinds)]
    edges = []
    for j in range(net.nodes):
        for k in range(net.inputs_per_node):
            inp = int(sample[cell_label(kind, "input", j, k)])
            op = str(sample[cell_label(kind, "op", j, k)])
            edges.append(GraphEdge(f"{kind}/{names[inp]}", f"{kind}/{j}", op, faint=op_spec(op).family == "zero"))
    edges += [GraphEdge(f"{kind}/{j}", f"{kind}/{CELL_OUTPUT}") for j in range(net.nodes)]
    return nodes, edges


def _cells(net: CellSpace, sample: Mapping[str, Any]) -> tuple[list[tuple[str | None, Panel]], list[str]]:
    normal = [i for i in range(net.cells) if i not in net.reductions]
    sections: list[tuple[str | None, Panel]] = [
        (
            f"normal cell (cells {_numbers(normal)})" if normal else "normal cell (not stacked)",
            layered(*_cell_graph(net, sample, "normal")),
        )
    ]
    if net.reductions:
        sections.append(
            (f"reduction cell (cells {_numbers(net.reductions)})", layered(*_cell_graph(net, sample, "reduce")))
        )
    channels = sample.get("channels", net.channels)
    footer = [
        f"{net.cells} cells, {channels} channels in the first, {net.skeleton} skeleton; c_{{k}} concatenates the nodes"
    ]
    if any(op_spec(str(v)).family == "zero" for k, v in sample.items() if "/op_" in k):
        footer.append("grey dashed edges: none (the edge carries nothing)")
    return sections, footer


def _dense(net: DenseCellSpace, sample: Mapping[str, Any]) -> tuple[list[tuple[str | None, Panel]], list[str]]:
    last = net.nodes - 1
    nodes = [
        GraphNode(str(i), "input" if i == 0 else "output" if i == last else "node", (str(i),)) for i in range(net.nodes)
    ]
    edges = []
    for i, j in dense_cell_edges(net.nodes):
        op = str(sample[dense_cell_label(i, j)])
        edges.append(GraphEdge(str(j), str(i), op, faint=op_spec(op).family == "zero"))
    channels = sample.get("channels", net.channels)
    footer = [
        f"node 0: the cell's input, node {last}: its output; {net.skeleton} skeleton, C={channels}, "
        f"N={net.cells_per_stage} cell(s) per stage"
    ]
    if any(e.faint for e in edges):
        footer.append("grey dashed edges: none (the edge carries nothing)")
    footer.append(nb201_string(net, sample))
    return [("dense cell", layered(nodes, edges))], footer


def nb201_string(net: DenseCellSpace, sample: Mapping[str, Any]) -> str:
    """A dense cell in NAS-Bench-201's notation, ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``."""
    return "+".join(
        "|" + "|".join(f"{sample[dense_cell_label(i, j)]}~{j}" for j in range(i)) + "|" for i in range(1, net.nodes)
    )


def _numbers(xs: Sequence[int]) -> str:
    return ", ".join(str(x) for x in xs)


def layer_lines(i: int, cfg: LayerConfig, block: Graph | None) -> tuple[str, ...]:
    """The text of a layer's box: op (kernel in its name), width, activation, BN, pooling, output, params.

    Args:
        i: The layer's index.
        cfg: The resolved layer.
        block: Its block in the plan (None: no plan; no shape or params shown).
    """
    lines = [f"layer {i}: {cfg.op.name}"]
    what = [f"width {cfg.width}"] if cfg.width is not None else []
    what += [cfg.activation] if cfg.activation else []
    what += ["batchnorm"] if cfg.batchnorm else []
    what += [f"{cfg.pool} pool 2x2"] if cfg.pool != "none" else []
    if what:
        lines.append(", ".join(what))
    if block is not None:
        lines.append(f"out {block.output_shape}, params {block.params():,}")
    return tuple(lines)


def _has_nodes(body: Graph, name: str) -> bool:
    block = body.node(name).op
    return isinstance(block, Graph) and bool(block.nodes)


def _stack(net: MacroConfig, plan: Plan | None, input_shape: Sequence[int] | None, num_classes: int | None) -> Panel:
    """A macro network as a column of boxes with skip arcs on the right."""
    body = plan.body if plan is not None else None
    shape = "x".join(map(str, input_shape)) if input_shape is not None else "?"
    first = ["input", shape]
    # The input is flattened where some layer is not spatial: worth a line only where it had more than one axis.
    if body is not None and _has_nodes(body, "entry") and len(body.inputs[0].dims) > 1:
        first.append(f"flatten -> {body.node('entry').shape}")
    items: list[tuple[str, str, tuple[str, ...]]] = [("input", "io", tuple(first))]
    for i, cfg in enumerate(net.layers):
        block = body.node(f"layer{i}").op if body is not None else None
        items.append((f"layer {i}", "layer", layer_lines(i, cfg, block if isinstance(block, Graph) else None)))
    head = ["classifier"]
    if plan is not None:
        readout = plan.body.node("readout").op
        pooled = (
            "global average pool, "
            if isinstance(readout, Graph) and any(n.name == "gap" for n in readout.nodes)
            else ""
        )
        head.append(f"{pooled}{plan.feature_shape} -> {num_classes} classes")
    elif num_classes is not None:
        head.append(f"{num_classes} classes")
    items.append(("classifier", "io", tuple(head)))
    width = max(box_size(lines)[0] for *_, lines in items)
    boxes: list[Box] = []
    y = 0.0
    for key, kind, lines in items:
        h = box_size(lines)[1]
        boxes.append(Box(key, kind, 0.0, y, width, h, lines))
        y += h + STACK_GAP
    edges = [Edge(a.key, b.key, ((a.cx, a.y + a.h), (b.cx, b.y))) for a, b in zip(boxes, boxes[1:])]
    for i, cfg in enumerate(net.layers):
        if not cfg.skip:
            continue
        before, layer = boxes[i], boxes[i + 1]  # boxes[0] is the input
        p0, p2 = (before.x + width, before.cy), (layer.x + width, layer.y + layer.h * 0.75)
        middle = (width + SKIP_REACH, (p0[1] + p2[1]) / 2)
        control = (2 * middle[0] - (p0[0] + p2[0]) / 2, 2 * middle[1] - (p0[1] + p2[1]) / 2)
        block = body.node(f"layer{i}").op if body is not None else None
        projected = isinstance(block, Graph) and any(n.name == "proj" for n in block.nodes)
        text = "skip + projection" if projected else "skip"  # a bias-free 1x1 conv (dense on vectors): channels change
        tag = label_box(text, middle)
        tag = Label(tag.text, middle[0] + tag.w / 2 + 4, middle[1], tag.w, tag.h)
        edges.append(Edge(before.key, layer.key, quadratic(p0, control, p2), tag))
    return shifted(Panel(tuple(boxes), tuple(edges), 0.0, 0.0), 0.0, 0.0)


def _compose(
    title: str,
    subtitle: str,
    kind: str,
    sections: Sequence[tuple[str | None, Panel]],
    footer: Sequence[str],
    plan: Plan | None,
) -> Drawing:
    """Stacks a title, each section (its heading, then its panel) and the footer lines into one drawing."""
    texts = [Text(title, MARGIN, MARGIN + TITLE_SIZE, TITLE_SIZE, bold=True, role="title")]
    widths = [text_width(title, TITLE_SIZE)]
    y = MARGIN + TITLE_SIZE * LINE_HEIGHT
    if subtitle:
        texts.append(Text(subtitle, MARGIN, y + SMALL_FONT_SIZE, SMALL_FONT_SIZE))
        widths.append(text_width(subtitle, SMALL_FONT_SIZE))
        y += SMALL_FONT_SIZE * LINE_HEIGHT
    y += 10
    boxes: list[Box] = []
    edges: list[Edge] = []
    for heading, panel in sections:
        if heading:
            texts.append(Text(heading, MARGIN, y + FONT_SIZE, FONT_SIZE, bold=True))
            widths.append(text_width(heading))
            y += FONT_SIZE * LINE_HEIGHT + 8
        placed = shifted(panel, MARGIN, y)
        boxes += placed.boxes
        edges += placed.edges
        widths.append(placed.width)
        y += placed.height + 18
    for line in footer:
        texts.append(Text(line, MARGIN, y + SMALL_FONT_SIZE, SMALL_FONT_SIZE))
        widths.append(text_width(line, SMALL_FONT_SIZE))
        y += SMALL_FONT_SIZE * LINE_HEIGHT
    return Drawing(
        width=round(max(widths) + 2 * MARGIN),
        height=round(y + MARGIN),
        title=title,
        kind=kind,
        boxes=tuple(boxes),
        edges=tuple(edges),
        texts=tuple(texts),
        params=None if plan is None else plan.params,
        flops=None if plan is None else plan.flops,
    )
