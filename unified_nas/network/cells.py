"""Cell networks (DARTS-style cells, ``space: {type: cell}``).

``stem`` (3x3 conv + BN with ``channels``), DARTS-style cells, ``readout``
(global average pooling, dropout), classifier. A cell preprocesses its two
inputs with ReLU-conv1x1-BN (stride 2 after a reduction cell), each node sums
its edges (edges out of the two inputs of a reduction cell have stride 2;
convolutions run as ReLU-op-BN), the output concatenates the nodes. That is
the ``compact`` skeleton (the default). The ``darts`` skeleton is the DARTS
paper's evaluation network (``NetworkCIFAR`` in quark0/darts, without its
auxiliary head and drop-path): a stem of 3 x ``channels``, separable
convolutions as ReLU-depthwise-pointwise-BN twice (the first strided), and
``FactorizedReduce`` (ReLU, two bias-free strided 1x1 convs, the second on the
map without its first row and column, concatenated, BN) for a strided skip and
for input 0 after a reduction cell.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from unified_nas.network.blocks import readout, relu_conv_bn, stem
from unified_nas.network.graph import Graph, GraphBuilder
from unified_nas.network.nodes import (
    Activation,
    Add,
    BatchNorm,
    Concat,
    Conv2d,
    Crop,
    Keep,
    Shape,
    strided_size,
)
from unified_nas.network.op_rules import append_op, op_rule
from unified_nas.space.ops import OpSpec
from unified_nas.space.spaces import (
    CELL_SKELETONS,
    CellConfig,
    CellStage,
    cell_stages,
)


@dataclass(frozen=True)
class CellSite:
    """One stacked cell's place: channel bookkeeping and the shapes of its two inputs.

    Attributes:
        stage: Channels (see ``spaces.CellStage``).
        s0, s1: Outputs of the cell before the previous one and of the previous one (or the stem).
        skeleton: ``compact`` or ``darts`` (see the module docstring).
    """

    stage: CellStage
    s0: Shape
    s1: Shape
    skeleton: str = "compact"

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


def cell_sites(
    stem: Shape,
    cells: int,
    reductions: Sequence[int],
    nodes: int,
    channels: int | None = None,
    skeleton: str = "compact",
) -> list[CellSite]:
    """Where each cell sits, from the stem's output.

    Args:
        stem: The stem's output shape.
        cells: Stacked cells.
        reductions: Indices of the reduction cells.
        nodes: Intermediate nodes per cell.
        channels: Channels of the first cell's nodes (default: the stem's; see :func:`stem_channels`).
        skeleton: ``compact`` or ``darts``.
    """
    sites, s0, s1 = [], stem, stem
    for st in cell_stages(
        stem.channels if channels is None else channels, cells, tuple(reductions), nodes, stem.channels
    ):
        site = CellSite(st, s0, s1, skeleton)
        sites.append(site)
        s0, s1 = s1, site.output
    return sites


def stem_channels(channels: int, skeleton: str) -> int:
    """Channels of a cell network's stem: ``channels``, or 3 x ``channels`` in DARTS (its ``stem_multiplier``).

    Raises:
        ValueError: For an unknown skeleton.
    """
    if skeleton not in CELL_SKELETONS:
        raise ValueError(f"unknown cell skeleton {skeleton!r}; known: {', '.join(CELL_SKELETONS)}")
    return 3 * channels if skeleton == "darts" else channels


def preprocess(shape: Shape, c: int, stride: int = 1) -> Graph:
    """ReLU-conv1x1-BN mapping a cell input to ``c`` channels."""
    return relu_conv_bn(shape, c, 1, stride)


def factorized_reduce(shape: Shape, c_out: int) -> Graph:
    """DARTS's ``FactorizedReduce``: halves the map with two 1x1 convs on interleaved positions.

    ReLU, then bias-free 1x1 convs of stride 2 with ``c_out / 2`` channels each,
    on the map and on the map without its first row and column (``Crop``),
    concatenated, then BN.

    Raises:
        ValueError: If ``c_out`` is odd (DARTS asserts it even) or the map's
            height or width is odd (the two paths would differ in size; DARTS
            fails there too).
    """
    shape.require_map("FactorizedReduce")
    if c_out % 2 or any(n % 2 for n in shape.size):
        raise ValueError(
            f"DARTS's FactorizedReduce needs an even channel count and map size, got {c_out} channels out of {shape}"
        )
    g = GraphBuilder(shape)
    x = g.add("relu", Activation("relu"), 0)
    a = g.add("conv_1", Conv2d(shape.channels, c_out // 2, 1, 2, bias=False), x)
    shifted = g.add("crop", Crop(1, 1), x)
    b = g.add("conv_2", Conv2d(shape.channels, c_out // 2, 1, 2, bias=False), shifted)
    return g.build(g.add("bn", BatchNorm(c_out), g.add("concat", Concat(), a, b)))


def cell_preprocessors(site: CellSite) -> tuple[Graph, Graph]:
    """The preprocessing of a cell's two inputs (input 0 is halved after a reduction cell).

    Input 0 after a reduction cell: a ReLU-conv1x1-BN of stride 2 (``compact``)
    or a :func:`factorized_reduce` (``darts``).
    """
    c = site.stage.c
    if site.stage.reduction_prev and site.skeleton == "darts":
        pre0 = factorized_reduce(site.s0, c)
    else:
        pre0 = preprocess(site.s0, c, 2 if site.stage.reduction_prev else 1)
    return pre0, preprocess(site.s1, c)


def _relu_op_bn(g: GraphBuilder, x: int, spec: OpSpec, stride: int) -> int:
    # A convolution on a cell edge: ReLU, the bias-free op, BN (DARTS's ReLUConvBN / DilConv / half a SepConv).
    c = g.shape(x).channels
    x = g.add("relu", Activation("relu"), x)
    x = append_op(g, x, spec, c, stride, bias=False)
    return g.add("bn", BatchNorm(c), x)


def cell_edge(spec: OpSpec, shape: Shape, stride: int, skeleton: str = "compact") -> Graph:
    """One cell edge: convolutions as ReLU-op-BN without bias (DARTS), other ops bare.

    In the ``darts`` skeleton a separable convolution is DARTS's ``SepConv``
    (ReLU-op-BN twice, only the first strided) and a skip of stride 2 is a
    :func:`factorized_reduce`; dilated convolutions (``DilConv``) are the same
    in both skeletons.

    Raises:
        ValueError: If the op does not fit ``shape``; UnknownOp for an op without a rule.
    """
    darts = skeleton == "darts"
    if darts and spec.family == "identity" and stride != 1:
        return factorized_reduce(shape, shape.channels)
    g = GraphBuilder(shape)
    if op_rule(spec).convolution:
        x = _relu_op_bn(g, 0, spec, stride)
        if darts and spec.family == "sep_conv":
            x = _relu_op_bn(g, x, spec, 1)
        return g.build(x)
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
        outs = [
            g.add(f"op_{j + 2}_{k}", cell_edge(op, g.shape(states[inp]), site.stride(inp), site.skeleton), states[inp])
            for k, (inp, op) in enumerate(node)
        ]
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


def cell_body(net: CellConfig, shape: Shape, dropout: float) -> Graph:
    """A cell network up to the classifier: stem, cells, readout."""
    g = GraphBuilder(shape)
    s = g.add("stem", stem(shape, stem_channels(net.channels, net.skeleton)), 0)
    s0 = s1 = s
    for i, site in enumerate(
        cell_sites(g.shape(s), net.cells, net.reductions, len(net.normal), net.channels, net.skeleton)
    ):
        genotype = net.reduce if site.stage.reduction else net.normal
        s0, s1 = s1, g.add(f"cell{i}", cell(genotype, site), s0, s1)
    return g.build(g.add("readout", readout(g.shape(s1), dropout), s1))
