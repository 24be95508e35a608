"""FLOPs and parameters of a resolved architecture, counted analytically from its network plan.

Convention (the same for every framework, and equal to what
``torch.utils.flop_counter.FlopCounterMode`` reports for our torch models, a
test checks it): 2 FLOPs per multiply-add of convolutions and linear layers,
for ONE example; biases, pooling, normalisation, activations and additions are
not counted. Each node kind defines its own count (``network.nodes``); a kind
without one raises instead of counting 0. Counting the plan rather than a
framework graph makes the PyTorch and Keras materializations agree by
construction, and costs microseconds instead of a traced forward pass.
"""

from __future__ import annotations

from collections.abc import Sequence

from unified_nas.network import compile_plan
from unified_nas.space.spaces import ArchConfig


def count_flops(arch: ArchConfig, input_shape: Sequence[int], num_classes: int) -> int:
    """FLOPs of one example's forward pass under the convention above.

    Args:
        arch: A resolved sample.
        input_shape: One example's shape, channels last.
        num_classes: Classifier outputs.

    Returns:
        The FLOP count.

    Raises:
        ValueError: If the architecture does not fit the data.
        UnknownOp: If a node kind has no FLOPs rule.
    """
    return compile_plan(arch, input_shape, num_classes).flops


def count_plan_params(arch: ArchConfig, input_shape: Sequence[int], num_classes: int) -> int:
    """Trainable parameters of the network of ``arch`` (equal to ``torch_model.count_params`` of its build).

    Args:
        arch: A resolved sample.
        input_shape: One example's shape, channels last.
        num_classes: Classifier outputs.

    Returns:
        The parameter count (BatchNorm running statistics excluded).

    Raises:
        ValueError: If the architecture does not fit the data.
        UnknownOp: If a node kind has no parameter rule.
    """
    return compile_plan(arch, input_shape, num_classes).params
