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
the nodes. That is the ``compact`` skeleton (the default). The ``darts``
skeleton is the DARTS paper's evaluation network (``NetworkCIFAR`` in
quark0/darts, without its auxiliary head and drop-path): a stem of 3 x
``channels``, separable convolutions as ReLU-depthwise-pointwise-BN twice
(the first strided), and ``FactorizedReduce`` (ReLU, two bias-free strided
1x1 convs, the second on the map without its first row and column,
concatenated, BN) for a strided skip and for input 0 after a reduction cell.

Dense-cell network (skeleton ``nasbench201``: NAS-Bench-201's ``TinyNetwork``
in xautodl, block for block): ``stem`` (3x3 conv + BN with ``C`` channels),
``N`` dense cells at ``C``, a residual reduction block ``C -> 2C``
(ReLU-conv3x3/2-BN, ReLU-conv3x3-BN, plus the shortcut 2x2 average pooling of
stride 2 then a bias-free 1x1 conv), ``N`` cells at ``2C``, a reduction block
``2C -> 4C``, ``N`` cells at ``4C``, ``lastact`` (BN + ReLU), ``readout``
(global average pooling, dropout if any), classifier. In a dense cell node
``i`` sums the edges from every earlier node (``op_{i}_{j}``; convolutions as
ReLU-conv-BN without bias, average pooling excluding the padding, ``none``
edges left out, a node without any edge is zeros) and the cell outputs its
last node. Like NAS-Bench-201, which builds and counts every edge, edges whose
node nothing reads stay in the network (``nodes.Keep``). The blocks are named
like ``TinyNetwork.cells`` (``cell{i}`` counts the reduction blocks too).
BatchNorm keeps the pinned definition of ``nodes`` (eps 1e-3 instead of
torch's default 1e-5 in NAS-Bench-201): no parameter or FLOP changes.

The per-block functions are public so that backends building their own
containers (NNI's ``Repeat``, ``Cell`` and ``LayerChoice``) build the same blocks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from unified_nas.network.graph import Graph, GraphBuilder, Plan
from unified_nas.network.nodes import (
    Activation,
    Add,
    BatchNorm,
    Concat,
    Conv2d,
    Crop,
    Dense,
    Dropout,
    Flatten,
    GlobalAvgPool,
    Keep,
    Pool,
    Shape,
    Zero,
    strided_size,
)
from unified_nas.network.op_rules import append_op, op_rule
from unified_nas.space.ops import OpSpec
from unified_nas.space.spaces import (
    CELL_SKELETONS,
    DENSE_SKELETONS,
    ArchConfig,
    CellConfig,
    CellStage,
    DenseCellConfig,
    LayerConfig,
    MacroConfig,
    cell_stages,
)

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
    x = g.add("entry", macro_entry([layer.op.spatial for layer in net.layers], shape), 0)
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


def relu_conv_bn(shape: Shape, c_out: int, kernel: int, stride: int = 1) -> Graph:
    """ReLU, bias-free k x k conv (padding k//2), BN: DARTS's and NAS-Bench-201's ``ReLUConvBN``.

    Raises:
        ValueError: If the input is not a feature map or the window does not fit it.
    """
    g = GraphBuilder(shape)
    x = g.add("relu", Activation("relu"), 0)
    x = g.add("conv", Conv2d(shape.channels, c_out, kernel, stride, kernel // 2, bias=False), x)
    return g.build(g.add("bn", BatchNorm(c_out), x))


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


def _cell_body(net: CellConfig, shape: Shape, dropout: float) -> Graph:
    g = GraphBuilder(shape)
    s = g.add("stem", stem(shape, stem_channels(net.channels, net.skeleton)), 0)
    s0 = s1 = s
    for i, site in enumerate(
        cell_sites(g.shape(s), net.cells, net.reductions, len(net.normal), net.channels, net.skeleton)
    ):
        genotype = net.reduce if site.stage.reduction else net.normal
        s0, s1 = s1, g.add(f"cell{i}", cell(genotype, site), s0, s1)
    return g.build(g.add("readout", readout(g.shape(s1), dropout), s1))


# --- dense-cell networks (NAS-Bench-201) -------------------------------------------------------


def dense_layout(skeleton: str, channels: int, cells_per_stage: int) -> tuple[tuple[int, bool], ...]:
    """The blocks after the stem as ``(channels, reduction)`` (NAS-Bench-201's ``layer_channels``/``layer_reductions``).

    Args:
        skeleton: One of ``spaces.DENSE_SKELETONS``.
        channels: Channels of the first stage (C).
        cells_per_stage: Cells per stage (N).

    Returns:
        ``N`` cells at C, a reduction to 2C, ``N`` cells at 2C, a reduction to 4C, ``N`` cells at 4C.

    Raises:
        ValueError: For an unknown skeleton.
    """
    if skeleton != "nasbench201":
        raise ValueError(f"unknown dense-cell skeleton {skeleton!r}; known: {', '.join(DENSE_SKELETONS)}")
    n = cells_per_stage
    return (
        ((channels, False),) * n
        + ((2 * channels, True),)
        + ((2 * channels, False),) * n
        + ((4 * channels, True),)
        + ((4 * channels, False),) * n
    )


def residual_reduction(shape: Shape, c_out: int) -> Graph:
    """NAS-Bench-201's ``ResNetBasicblock`` of stride 2: halves the map, changes the channels to ``c_out``.

    ``conv_a`` (ReLU-conv3x3/2-BN) then ``conv_b`` (ReLU-conv3x3-BN), plus the
    shortcut ``downsample`` (2x2 average pooling of stride 2, then a bias-free
    1x1 conv, no BN), summed shortcut first as in the reference.

    Raises:
        ValueError: If the map's height or width is odd: the strided conv would
            keep ``ceil(n/2)`` rows and the pooling ``floor(n/2)`` (NAS-Bench-201
            fails there too), or a map smaller than 2x2.
    """
    shape.require_map("NAS-Bench-201's reduction block")
    if any(n % 2 for n in shape.size):
        raise ValueError(
            f"NAS-Bench-201's reduction block needs an even map size, got {shape.size[0]}x{shape.size[1]} "
            "(its two branches would halve it differently)"
        )
    g = GraphBuilder(shape)
    a = g.add("conv_a", relu_conv_bn(shape, c_out, 3, 2), 0)
    b = g.add("conv_b", relu_conv_bn(g.shape(a), c_out, 3), a)
    down = GraphBuilder(shape)
    d = down.add("pool", Pool("avg", 2, 2), 0)
    d = down.add("conv", Conv2d(shape.channels, c_out, 1, bias=False), d)
    r = g.add("downsample", down.build(d), 0)
    return g.build(g.add("add", Add(), r, b))


def dense_cell(genotype: Sequence[Sequence[OpSpec]], shape: Shape) -> Graph:
    """One dense cell on input ``shape`` (channels and size unchanged).

    Args:
        genotype: ``genotype[i - 1][j]``: the op of the edge from node ``j`` to node ``i`` (node 0 is the input).
        shape: The cell's input (and output) shape.

    Returns:
        Edges named ``op_{i}_{j}`` (each :func:`cell_edge` at stride 1; ``none``
        edges are left out), nodes ``node_{i}`` (sums of two or more edges, or
        zeros when no edge is left), the last node as output, and a ``keep``
        node holding every computed node the output does not depend on:
        NAS-Bench-201 builds (and counts the parameters of) every edge.

    Raises:
        ValueError: If an op does not fit the shape; UnknownOp for an op without a rule.
    """
    g = GraphBuilder(shape)
    values = [0]  # the value of each node; node 0 is the input
    sources: list[list[int]] = [[]]  # the nodes each node reads through an edge that is not none
    placeholders = set()  # values that are zeros standing for a node without edges
    for i, ops in enumerate(genotype, start=1):
        if len(ops) != i:
            raise ValueError(f"node {i} of a dense cell has {len(ops)} edges, not one per earlier node ({i})")
        edges = [(j, op) for j, op in enumerate(ops) if op.family != "zero"]
        outs = [g.add(f"op_{i}_{j}", cell_edge(op, g.shape(values[j]), 1), values[j]) for j, op in edges]
        if not outs:
            # NAS-Bench-201 sums x * 0 here: zeros of the cell's shape (a Zero of stride 1 keeps the shape).
            outs = [g.add(f"node_{i}", Zero(), 0)]
            placeholders.add(outs[0])
        values.append(outs[0] if len(outs) == 1 else g.add(f"node_{i}", Add(), *outs))
        sources.append([j for j, _ in edges])
    live, todo = set(), [len(values) - 1]
    while todo:  # the nodes the output depends on
        i = todo.pop()
        if i not in live:
            live.add(i)
            todo += sources[i]
    live_values = {values[i] for i in live}
    # Computed nodes the output does not depend on; one that another such node reads keeps it alive already.
    read = {j for i in range(len(values)) for j in sources[i]}
    dead = [
        v
        for i, v in enumerate(values)
        if i not in live and i not in read and v != 0 and v not in placeholders and v not in live_values
    ]
    out = values[-1]
    if dead:
        out = g.add("keep", Keep(), out, *dict.fromkeys(dead))
    return g.build(out)


def last_activation(shape: Shape) -> Graph:
    """BN + ReLU after the last cell (NAS-Bench-201's ``lastact``)."""
    g = GraphBuilder(shape)
    x = g.add("bn", BatchNorm(shape.channels), 0)
    return g.build(g.add("relu", Activation("relu"), x))


def _dense_body(net: DenseCellConfig, shape: Shape, dropout: float) -> Graph:
    g = GraphBuilder(shape)
    x = g.add("stem", stem(shape, net.channels), 0)
    for i, (c, reduction) in enumerate(dense_layout(net.skeleton, net.channels, net.cells_per_stage)):
        block = residual_reduction(g.shape(x), c) if reduction else dense_cell(net.genotype, g.shape(x))
        x = g.add(f"cell{i}", block, x)
    x = g.add("lastact", last_activation(g.shape(x)), x)
    return g.build(g.add("readout", readout(g.shape(x), dropout), x))


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
    if isinstance(arch.network, DenseCellConfig):
        return _dense_body(arch.network, shape, arch.training.dropout)
    if isinstance(arch.network, CellConfig):
        return _cell_body(arch.network, shape, arch.training.dropout)
    return _macro_body(arch.network, shape, arch.training.dropout)


def compile_plan(arch: ArchConfig, input_shape: Sequence[int], num_classes: int) -> Plan:
    """The whole network of ``arch`` (see :func:`compile_body`), classifier included."""
    body = compile_body(arch, input_shape)
    return Plan(body, classifier(body.output_shape, num_classes))
