"""Resolved architecture -> :class:`~unified_nas.network.graph.Plan`: the network rules, written once.

Three network families, one module each: :mod:`~unified_nas.network.macro`
(a sequence of layers), :mod:`~unified_nas.network.cells` (DARTS-style cells)
and :mod:`~unified_nas.network.dense` (NAS-Bench-201's dense cell), with the
blocks they share in :mod:`~unified_nas.network.blocks`. This module picks the
family and adds the classifier.

The per-block functions are public (and importable from here) so that backends
building their own containers (NNI's ``Repeat``, ``Cell`` and ``LayerChoice``)
build the same blocks.
"""

from __future__ import annotations

__all__ = [
    "CellSite",
    "cell",
    "cell_edge",
    "cell_preprocessors",
    "cell_sites",
    "classifier",
    "compile_body",
    "compile_plan",
    "dense_cell",
    "dense_layout",
    "factorized_reduce",
    "last_activation",
    "macro_entry",
    "macro_layer",
    "macro_readout",
    "preprocess",
    "projection",
    "readout",
    "relu_conv_bn",
    "residual_reduction",
    "stem",
    "stem_channels",
]

from collections.abc import Sequence

from unified_nas.network.blocks import classifier, readout, relu_conv_bn, stem
from unified_nas.network.cells import (
    CellSite,
    cell,
    cell_body,
    cell_edge,
    cell_preprocessors,
    cell_sites,
    factorized_reduce,
    preprocess,
    stem_channels,
)
from unified_nas.network.dense import dense_body, dense_cell, dense_layout, last_activation, residual_reduction
from unified_nas.network.graph import Graph, Plan
from unified_nas.network.macro import macro_body, macro_entry, macro_layer, macro_readout, projection
from unified_nas.network.nodes import (
    Shape,
)
from unified_nas.space.spaces import (
    ArchConfig,
    CellConfig,
    DenseCellConfig,
)


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
        return dense_body(arch.network, shape, arch.training.dropout)
    if isinstance(arch.network, CellConfig):
        return cell_body(arch.network, shape, arch.training.dropout)
    return macro_body(arch.network, shape, arch.training.dropout)


def compile_plan(arch: ArchConfig, input_shape: Sequence[int], num_classes: int) -> Plan:
    """The whole network of ``arch`` (see :func:`compile_body`), classifier included."""
    body = compile_body(arch, input_shape)
    return Plan(body, classifier(body.output_shape, num_classes))
