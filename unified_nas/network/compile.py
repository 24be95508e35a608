"""Resolved architecture -> :class:`~unified_nas.network.graph.Plan`: the network rules, written once.

Macro network: ``entry`` (flatten unless every layer is spatial on image
data), one block per layer, ``readout`` (global average pooling of feature
maps), classifier. A macro layer is op -> [BatchNorm] -> activation (ops with
a width), plus the skip branch (the input, or a bias-free 1x1 conv / dense
projection when the channels change), then 2x2 pooling of stride 2 if asked
and the map is at least 2x2, then dropout.

Cell network: ``stem`` (3x3 conv + BN with ``channels``), DARTS-style cells,
``readout`` (global average pooling, dropout), classifier. A cell
preprocesses its two inputs with ReLU-conv1x1-BN (stride 2 after a reduction
cell), each node sums its edges (edges out of the two inputs of a reduction
cell have stride 2; convolutions run as ReLU-op-BN), the output concatenates
the nodes.

The per-block functions are public so that backends building their own
containers (NNI's ``Repeat`` and ``Cell``) build the same blocks.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from unified_nas.network.graph import Graph, GraphBuilder, Plan
from unified_nas.network.nodes import (Activation, Add, BatchNorm, Concat, Conv2d, Dense, Dropout, Flatten,
                                       GlobalAvgPool, Keep, Pool, Shape, strided_size)
from unified_nas.network.op_rules import append_op, op_rule
from unified_nas.space.ops import OpSpec
from unified_nas.space.spaces import ArchConfig, CellConfig, CellStage, LayerConfig, MacroConfig, cell_stages

# --- macro networks ---------------------------------------------------------------------------

def macro_entry(spatial_ops: Sequence[bool], shape: Shape) -> Graph:
    """Start of a macro network: maps stay maps if every layer is spatial, else the input is flattened.

    Args:
        spatial_ops: For each layer (or each candidate op of the first layer), whether it is spatial.
        shape: One example's input shape.

    Raises:
        ValueError: If a spatial op meets data that is not an image.
    """
    if any(spatial_ops) and not shape.is_map:
        raise ValueError("spatial ops need image data (N, H, W, C)")
    g = GraphBuilder(shape)
    return g.build(0 if all(spatial_ops) and shape.is_map else g.add("flatten", Flatten(), 0))


def projection(shape: Shape, c_out: int) -> Conv2d | Dense:
    """Bias-free linear map of a skip branch whose channels change."""
    return Conv2d(shape.channels, c_out, 1, bias=False) if shape.is_map else Dense(shape.channels, c_out, False)


def macro_layer(cfg: LayerConfig, shape: Shape, dropout: float) -> Graph:
    """One macro layer on input ``shape`` (rule in the module docstring).

    Raises:
        ValueError: If the layer does not fit the shape; UnknownOp for an op or pooling without a rule.
    """
    g = GraphBuilder(shape)
    c_out = cfg.width if cfg.width is not None else shape.channels
    y = append_op(g, 0, cfg.op, c_out, 1, bias=not cfg.batchnorm)
    if cfg.batchnorm:
        y = g.add("bn", BatchNorm(c_out), y)
    if cfg.activation:
        y = g.add("act", Activation(cfg.activation), y)
    if cfg.skip:
        proj = 0 if c_out == shape.channels else g.add("proj", projection(shape, c_out), 0)
        y = g.add("skip", Add(), y, proj)
    if cfg.pool != "none":
        pool = Pool(cfg.pool, 2, 2)  # validates the mode even where the map is too small to pool
        if g.shape(y).is_map and min(g.shape(y).size) >= 2:
            y = g.add("pool", pool, y)
    if dropout > 0:
        y = g.add("dropout", Dropout(dropout), y)
    return g.build(y)


def macro_readout(shape: Shape) -> Graph:
    """Features of a macro network: global average pooling of a map (no dropout: every layer has its own)."""
    return readout(shape, 0.0)


def _macro_body(net: MacroConfig, shape: Shape, dropout: float) -> Graph:
    g = GraphBuilder(shape)
    x = g.add("entry", macro_entry([l.op.spatial for l in net.layers], shape), 0)
    for i, cfg in enumerate(net.layers):
        x = g.add(f"layer{i}", macro_layer(cfg, g.shape(x), dropout), x)
    return g.build(g.add("readout", macro_readout(g.shape(x)), x))


# --- cell networks ----------------------------------------------------------------------------

@dataclass(frozen=True)
class CellSite:
    """One stacked cell's place: channel bookkeeping and the shapes of its two inputs.

    Attributes:
        stage: Channels (see ``spaces.CellStage``).
        s0, s1: Outputs of the cell before the previous one and of the previous one (or the stem).
    """

    stage: CellStage
    s0: Shape
    s1: Shape

    @property
    def state(self) -> Shape:
        """Both preprocessed inputs: ``c`` channels at the previous cell's size."""
        return Shape.map(*self.s1.size, self.stage.c)

    @property
    def node_shape(self) -> Shape:
        """Each intermediate node (halved by a reduction cell)."""
        if not self.stage.reduction:
            return self.state
        h, w = self.s1.size
        return Shape.map(strided_size(h, 2), strided_size(w, 2), self.stage.c)

    @property
    def output(self) -> Shape:
        return Shape.map(*self.node_shape.size, self.stage.c_out)

    def stride(self, inp: int | None) -> int:
        """Stride of an edge reading state ``inp`` (None: not chosen yet, as in a supernet)."""
        return 2 if self.stage.reduction and inp is not None and inp < 2 else 1

    def edge_input(self, inp: int | None) -> Shape:
        return self.state if inp is None or inp < 2 else self.node_shape


def cell_sites(stem: Shape, cells: int, reductions: Sequence[int], nodes: int) -> list[CellSite]:
    """Where each cell sits, from the stem's output (its channels are the network's ``channels``)."""
    sites, s0, s1 = [], stem, stem
    for st in cell_stages(stem.channels, cells, tuple(reductions), nodes):
        site = CellSite(st, s0, s1)
        sites.append(site)
        s0, s1 = s1, site.output
    return sites


def stem(shape: Shape, channels: int) -> Graph:
    """3x3 conv + BN stem of cell networks.

    Raises:
        ValueError: If the data are not images.
    """
    if not shape.is_map:
        raise ValueError("cell spaces need image data (N, H, W, C)")
    g = GraphBuilder(shape)
    x = g.add("conv", Conv2d(shape.channels, channels, 3, 1, 1, bias=False), 0)
    return g.build(g.add("bn", BatchNorm(channels), x))


def preprocess(shape: Shape, c: int, stride: int = 1) -> Graph:
    """ReLU-conv1x1-BN mapping a cell input to ``c`` channels."""
    g = GraphBuilder(shape)
    x = g.add("relu", Activation("relu"), 0)
    x = g.add("conv", Conv2d(shape.channels, c, 1, stride, bias=False), x)
    return g.build(g.add("bn", BatchNorm(c), x))


def cell_preprocessors(site: CellSite) -> tuple[Graph, Graph]:
    """The preprocessing of a cell's two inputs (input 0 is halved after a reduction cell)."""
    return (preprocess(site.s0, site.stage.c, 2 if site.stage.reduction_prev else 1),
            preprocess(site.s1, site.stage.c))


def cell_edge(spec: OpSpec, shape: Shape, stride: int) -> Graph:
    """One cell edge: convolutions as ReLU-op-BN without bias (DARTS), other ops bare."""
    g = GraphBuilder(shape)
    if op_rule(spec).convolution:
        x = g.add("relu", Activation("relu"), 0)
        x = append_op(g, x, spec, shape.channels, stride, bias=False)
        return g.build(g.add("bn", BatchNorm(shape.channels), x))
    return g.build(append_op(g, 0, spec, shape.channels, stride))


def cell(genotype: Sequence[Sequence[tuple[int, OpSpec]]], site: CellSite) -> Graph:
    """One cell: preprocessing, nodes summing their edges (named like NNI's labels, ``op_2_0``), concat.

    Raises:
        ValueError: If the cell's output is not the shape its site expects.
    """
    g = GraphBuilder(site.s0, site.s1)
    pre = cell_preprocessors(site)
    states = [g.add("pre0", pre[0], 0), g.add("pre1", pre[1], 1)]
    for j, node in enumerate(genotype):
        outs = [g.add(f"op_{j + 2}_{k}", cell_edge(op, g.shape(states[inp]), site.stride(inp)), states[inp])
                for k, (inp, op) in enumerate(node)]
        states.append(outs[0] if len(outs) == 1 else g.add(f"node_{j + 2}", Add(), *outs))
    nodes = states[2:]
    out = nodes[0] if len(nodes) == 1 else g.add("concat", Concat(), *nodes)
    read = {inp for node in genotype for inp, _ in node}
    unread = [states[i] for i in (0, 1) if i not in read]
    if unread:
        out = g.add("keep", Keep(), out, *unread)
    if g.shape(out) != site.output:
        raise ValueError(f"cell output {g.shape(out)} differs from its site's {site.output}")
    return g.build(out)


def _cell_body(net: CellConfig, shape: Shape, dropout: float) -> Graph:
    g = GraphBuilder(shape)
    s = g.add("stem", stem(shape, net.channels), 0)
    s0 = s1 = s
    for i, site in enumerate(cell_sites(g.shape(s), net.cells, net.reductions, len(net.normal))):
        genotype = net.reduce if site.stage.reduction else net.normal
        s0, s1 = s1, g.add(f"cell{i}", cell(genotype, site), s0, s1)
    return g.build(g.add("readout", readout(g.shape(s1), dropout), s1))


# --- shared ends and whole networks -------------------------------------------------------------

def readout(shape: Shape, dropout: float) -> Graph:
    """Features before the classifier: global average pooling of a map, then dropout if any."""
    g = GraphBuilder(shape)
    x = g.add("gap", GlobalAvgPool(), 0) if shape.is_map else 0
    return g.build(g.add("dropout", Dropout(dropout), x) if dropout > 0 else x)


def classifier(features: Shape, num_classes: int) -> Dense:
    """The linear classifier (logits out).

    Raises:
        ValueError: If ``features`` is not a vector.
    """
    features.require_vector("the classifier")
    return Dense(features.channels, num_classes)


def compile_body(arch: ArchConfig, input_shape: Sequence[int]) -> Graph:
    """The network of ``arch`` up to (not including) the classifier.

    Args:
        arch: Output of ``SearchSpace.resolve``.
        input_shape: One example's shape, channels last (``(H, W, C)`` or ``(F,)``).

    Raises:
        ValueError: If the architecture does not fit the data (e.g. convs on tabular data).
        UnknownOp: If an op has no rule.
    """
    shape = Shape.of(input_shape)
    if isinstance(arch.network, CellConfig):
        return _cell_body(arch.network, shape, arch.training.dropout)
    return _macro_body(arch.network, shape, arch.training.dropout)


def compile_plan(arch: ArchConfig, input_shape: Sequence[int], num_classes: int) -> Plan:
    """The whole network of ``arch`` (see :func:`compile_body`), classifier included."""
    body = compile_body(arch, input_shape)
    return Plan(body, classifier(body.output_shape, num_classes))
