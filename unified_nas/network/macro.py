"""Macro networks: a sequence of layers (the network rules of ``space: {type: macro}``).

``entry`` (flatten unless every layer is spatial on image data), one block per
layer, ``readout`` (global average pooling of feature maps), classifier. A
macro layer is op -> [BatchNorm] -> activation (ops with a width), plus the
skip branch (the input, or a bias-free 1x1 conv / dense projection when the
channels change), then 2x2 pooling of stride 2 if asked and the map is at
least 2x2, then dropout.
"""

from __future__ import annotations

from collections.abc import Sequence

from unified_nas.network.blocks import readout
from unified_nas.network.graph import Graph, GraphBuilder
from unified_nas.network.nodes import (
    Activation,
    Add,
    BatchNorm,
    Conv2d,
    Dense,
    Dropout,
    Flatten,
    Pool,
    Shape,
)
from unified_nas.network.op_rules import append_op
from unified_nas.space.spaces import (
    LayerConfig,
    MacroConfig,
)


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


def macro_body(net: MacroConfig, shape: Shape, dropout: float) -> Graph:
    """A macro network up to the classifier: entry, one block per layer, readout."""
    g = GraphBuilder(shape)
    x = g.add("entry", macro_entry([layer.op.spatial for layer in net.layers], shape), 0)
    for i, cfg in enumerate(net.layers):
        x = g.add(f"layer{i}", macro_layer(cfg, g.shape(x), dropout), x)
    return g.build(g.add("readout", macro_readout(g.shape(x)), x))
