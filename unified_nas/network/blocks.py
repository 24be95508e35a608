"""Blocks every network family shares: the stem, ReLU-conv-BN, the readout before the classifier, the classifier."""

from __future__ import annotations

from unified_nas.network.graph import Graph, GraphBuilder
from unified_nas.network.nodes import (
    Activation,
    BatchNorm,
    Conv2d,
    Dense,
    Dropout,
    GlobalAvgPool,
    Shape,
)


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
