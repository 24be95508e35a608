"""FLOPs of a resolved architecture, counted analytically (no framework).

Convention (the same for every framework, and equal to what
``torch.utils.flop_counter.FlopCounterMode`` reports for our torch models, a
test checks it): 2 FLOPs per multiply-add of convolutions and linear layers,
for ONE example; biases, pooling, normalisation, activations and additions are
not counted. Counting from the architecture rather than from a framework graph
makes the PyTorch and Keras materializations agree by construction, and costs
microseconds instead of a traced forward pass.
"""
from __future__ import annotations

import math
from typing import Sequence

from unified_nas.space.ops import OpSpec
from unified_nas.space.spaces import ArchConfig, CellConfig, MacroConfig, cell_stages


def _half(n: int) -> int:
    # Output size of every stride-2 op in the vocabulary ('same'-style padding).
    return math.ceil(n / 2)


def spatial_op_flops(spec: OpSpec, c_in: int, c_out: int, h_out: int, w_out: int, stride: int = 1) -> int:
    """FLOPs of one vocabulary op producing an ``h_out x w_out x c_out`` map."""
    pos = h_out * w_out
    f, k = spec.family, spec.kernel
    if f == "conv":
        return 2 * pos * c_out * k * k * c_in
    if f in ("sep_conv", "dil_conv"):
        return 2 * pos * c_in * k * k + 2 * pos * c_out * c_in
    if f == "identity" and stride == 2:
        return 2 * pos * c_out * c_in
    return 0  # pools, identity, zero


def _macro(net: MacroConfig, input_shape: Sequence[int], num_classes: int) -> int:
    spatial = len(input_shape) == 3 and all(l.op.spatial for l in net.layers)
    total = 0
    if spatial:
        h, w, c = input_shape
    else:
        h = w = 1
        c = math.prod(input_shape)
    for layer in net.layers:
        c_out = layer.width if layer.width is not None else c
        if spatial:
            total += spatial_op_flops(layer.op, c, c_out, h, w)
            if layer.skip and c_out != c:
                total += 2 * h * w * c_out * c
            if layer.pool != "none" and min(h, w) >= 2:
                h, w = h // 2, w // 2
        else:
            total += 2 * c * c_out
            if layer.skip and c_out != c:
                total += 2 * c * c_out
        c = c_out
    return total + 2 * c * num_classes


def _cell(net: CellConfig, input_shape: Sequence[int], num_classes: int) -> int:
    h, w, c_in = input_shape
    total = 2 * h * w * net.channels * 9 * c_in  # 3x3 stem
    stages = cell_stages(net.channels, net.cells, net.reductions, len(net.normal))
    hw_pp, hw_p = (h, w), (h, w)
    for st in stages:
        c = st.c
        h0, w0 = (_half(hw_pp[0]), _half(hw_pp[1])) if st.reduction_prev else hw_pp
        total += 2 * h0 * w0 * c * st.c_pp + 2 * hw_p[0] * hw_p[1] * c * st.c_p  # 1x1 preprocessing
        ho, wo = (_half(hw_p[0]), _half(hw_p[1])) if st.reduction else hw_p
        for node in (net.reduce if st.reduction else net.normal):
            for inp, op in node:
                total += spatial_op_flops(op, c, c, ho, wo, 2 if st.reduction and inp < 2 else 1)
        hw_pp, hw_p = hw_p, (ho, wo)
    return total + 2 * stages[-1].c_out * num_classes


def count_flops(arch: ArchConfig, input_shape: Sequence[int], num_classes: int) -> int:
    """FLOPs of one example's forward pass under the convention above.

    Args:
        arch: A resolved sample.
        input_shape: One example's shape, channels last.
        num_classes: Classifier outputs.

    Returns:
        The FLOP count.
    """
    if isinstance(arch.network, CellConfig):
        return _cell(arch.network, input_shape, num_classes)
    return _macro(arch.network, input_shape, num_classes)
