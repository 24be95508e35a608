"""Dense-cell networks (NAS-Bench-201, ``space: {type: dense_cell}``).

Skeleton ``nasbench201``: NAS-Bench-201's ``TinyNetwork`` in xautodl, block
for block: ``stem`` (3x3 conv + BN with ``C`` channels), ``N`` dense cells at
``C``, a residual reduction block ``C -> 2C`` (ReLU-conv3x3/2-BN,
ReLU-conv3x3-BN, plus the shortcut 2x2 average pooling of stride 2 then a
bias-free 1x1 conv), ``N`` cells at ``2C``, a reduction block ``2C -> 4C``,
``N`` cells at ``4C``, ``lastact`` (BN + ReLU), ``readout`` (global average
pooling, dropout if any), classifier. In a dense cell node ``i`` sums the
edges from every earlier node (``op_{i}_{j}``; convolutions as ReLU-conv-BN
without bias, average pooling excluding the padding, ``none`` edges left out,
a node without any edge is zeros) and the cell outputs its last node. Like
NAS-Bench-201, which builds and counts every edge, edges whose node nothing
reads stay in the network (``nodes.Keep``). The blocks are named like
``TinyNetwork.cells`` (``cell{i}`` counts the reduction blocks too).
BatchNorm keeps the pinned definition of ``nodes`` (eps 1e-3 instead of
torch's default 1e-5 in NAS-Bench-201): no parameter or FLOP changes.
"""

from __future__ import annotations

from collections.abc import Sequence

from unified_nas.network.blocks import readout, relu_conv_bn, stem
from unified_nas.network.cells import cell_edge
from unified_nas.network.graph import Graph, GraphBuilder
from unified_nas.network.nodes import (
    Activation,
    Add,
    BatchNorm,
    Conv2d,
    Keep,
    Pool,
    Shape,
    Zero,
)
from unified_nas.space.ops import OpSpec
from unified_nas.space.spaces import (
    DENSE_SKELETONS,
    DenseCellConfig,
)


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


def dense_body(net: DenseCellConfig, shape: Shape, dropout: float) -> Graph:
    """A dense-cell network up to the classifier: stem, cells and reduction blocks, lastact, readout."""
    g = GraphBuilder(shape)
    x = g.add("stem", stem(shape, net.channels), 0)
    for i, (c, reduction) in enumerate(dense_layout(net.skeleton, net.channels, net.cells_per_stage)):
        block = residual_reduction(g.shape(x), c) if reduction else dense_cell(net.genotype, g.shape(x))
        x = g.add(f"cell{i}", block, x)
    x = g.add("lastact", last_activation(g.shape(x)), x)
    return g.build(g.add("readout", readout(g.shape(x), dropout), x))
