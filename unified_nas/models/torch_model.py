"""Network plan -> ``torch.nn.Module``: the PyTorch builder of :mod:`unified_nas.network`.

The network rules live in the plan (``network.compile``); this module only
maps each node kind to a module (``TORCH_BUILDERS``, one entry per kind) and
runs graphs. Networks are built from an :class:`~unified_nas.space.ArchConfig`
only, so every backend that produces the same canonical sample trains the
same network.

Pinned definitions (the Keras builder uses the same):
    * BatchNorm: eps 1e-3, momentum 0.1 (Keras momentum 0.9), affine.
    * Init: Glorot-uniform weights for conv and linear, zero biases.
    * Image input is NCHW here; data arrive channels-last and are transposed
      by :func:`to_tensor`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from unified_nas.network import compile_plan
from unified_nas.network.compile import macro_layer
from unified_nas.network.graph import Graph, Plan, lookup
from unified_nas.network.nodes import (
    BN_EPS,
    BN_MOMENTUM,
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
    NodeOp,
    Pool,
    Shape,
)
from unified_nas.network.nodes import Zero as ZeroNode
from unified_nas.network.op_rules import op_graph
from unified_nas.space.ops import OpSpec
from unified_nas.space.spaces import ArchConfig, LayerConfig

ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU, "tanh": nn.Tanh}
__all__ = [
    "BN_EPS",
    "BN_MOMENTUM",
    "GLOROT_LAYERS",
    "GraphModule",
    "MacroLayer",
    "Network",
    "build_model",
    "core_op",
    "count_params",
    "init_weights",
    "measure_flops",
    "node_module",
    "to_tensor",
]


class Zero(nn.Module):
    """The ``zero`` op: zeros of the output shape, no parameters."""

    def __init__(self, stride: int) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :, :: self.stride, :: self.stride] * 0.0


class Sum(nn.Module):
    """Elementwise sum in input order."""

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        y = xs[0]
        for x in xs[1:]:
            y = y + x
        return y


class Cat(nn.Module):
    """Concatenation along channels (NCHW)."""

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return torch.cat(xs, dim=1)


class CropModule(nn.Module):
    """Drops the first ``top`` rows and ``left`` columns of NCHW maps (``nodes.Crop``)."""

    def __init__(self, top: int, left: int) -> None:
        super().__init__()
        self.top, self.left = top, left

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :, self.top :, self.left :]


class First(nn.Module):
    """The first input; the others were computed for the network's sake (``nodes.Keep``)."""

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return xs[0]


class SpatialMean(nn.Module):
    """Global average pooling of NCHW maps."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3))


def _conv(op: Conv2d, ins: Sequence[Shape]) -> nn.Module:
    return nn.Conv2d(op.c_in, op.c_out, op.kernel, op.stride, op.padding, op.dilation, op.groups, op.bias)


def _batchnorm(op: BatchNorm, ins: Sequence[Shape]) -> nn.Module:
    cls = nn.BatchNorm2d if ins[0].is_map else nn.BatchNorm1d
    return cls(op.channels, eps=op.eps, momentum=op.momentum)


def _pool(op: Pool, ins: Sequence[Shape]) -> nn.Module:
    if op.mode == "max":
        return nn.MaxPool2d(op.kernel, op.stride, op.padding)
    return nn.AvgPool2d(
        op.kernel, op.stride, op.padding, count_include_pad=False
    )  # the plan's average excludes padding


# One entry per node kind: (node op, input shapes) -> module.
TORCH_BUILDERS: dict[type, Callable[[Any, Sequence[Shape]], nn.Module]] = {
    Conv2d: _conv,
    Dense: lambda op, ins: nn.Linear(op.c_in, op.c_out, op.bias),
    BatchNorm: _batchnorm,
    Activation: lambda op, ins: ACTIVATIONS[op.name](),
    Pool: _pool,
    ZeroNode: lambda op, ins: Zero(op.stride),
    Add: lambda op, ins: Sum(),
    Concat: lambda op, ins: Cat(),
    Crop: lambda op, ins: CropModule(op.top, op.left),
    Keep: lambda op, ins: First(),
    Flatten: lambda op, ins: nn.Flatten(1),
    GlobalAvgPool: lambda op, ins: SpatialMean(),
    Dropout: lambda op, ins: nn.Dropout(op.rate),
    Graph: lambda op, ins: GraphModule(op),
}


def node_module(op: NodeOp, ins: Sequence[Shape]) -> nn.Module:
    """The module of one plan node.

    Raises:
        UnknownOp: If the node kind has no torch builder.
    """
    return lookup(TORCH_BUILDERS, op, "the torch builder")(op, ins)


class GraphModule(nn.Module):
    """Runs a plan graph: one submodule per node (named like the node), every node executed in order.

    Args:
        graph: The plan graph; its inputs are the forward arguments.
    """

    def __init__(self, graph: Graph) -> None:
        super().__init__()
        self.plan_graph = graph
        self._output = graph.output
        self._wiring: list[tuple[str, tuple[int, ...]]] = []
        for node, ins in graph.wired():
            self.add_module(node.name, node_module(node.op, ins))
            self._wiring.append((node.name, node.inputs))

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        values = list(inputs)
        for name, reads in self._wiring:
            values.append(getattr(self, name)(*(values[i] for i in reads)))
        return values[self._output]


class MacroLayer(GraphModule):
    """One resolved macro layer on input ``shape`` (rule: ``network.compile.macro_layer``).

    NNI's parametrized blocks build layers through this class.
    """

    def __init__(self, cfg: LayerConfig, shape: Shape, dropout: float) -> None:
        super().__init__(macro_layer(cfg, shape, dropout))


class Network(nn.Module):
    """A whole plan: ``body`` (input -> features) then ``classifier`` (logits)."""

    def __init__(self, plan: Plan) -> None:
        super().__init__()
        self.body = GraphModule(plan.body)
        self.classifier = node_module(plan.classifier, [plan.feature_shape])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.body(x))


def core_op(
    spec: OpSpec, c_in: int, c_out: int, stride: int = 1, bias: bool = True, size: tuple[int, int] = (8, 8)
) -> nn.Module:
    """The bare op (no activation or normalisation around it).

    Args:
        spec: Vocabulary op.
        c_in: Input channels.
        c_out: Output channels (pools, identity and zero keep ``c_in`` at stride 1).
        stride: 1, or 2 on reduction edges.
        bias: Whether the last conv has a bias (False when a BatchNorm follows).
        size: Input height and width. The module is the same for every size
            (only the plan's shapes depend on it).

    Raises:
        ValueError: For ``linear`` (not a spatial op) or a channel change an op cannot make.
    """
    return GraphModule(op_graph(spec, Shape.map(*size, c_in), c_out, stride, bias))


#: The layers whose weights init_weights draws Glorot-uniform (their biases: zero); the supernet's weight
#: bank seeds its shared tensors by the same rule (``evaluation/supernet/keys.py``).
GLOROT_LAYERS: tuple[type[nn.Conv2d], type[nn.Linear]] = (nn.Conv2d, nn.Linear)


def init_weights(model: nn.Module) -> None:
    """Glorot-uniform weights and zero biases for every conv and linear layer (:data:`GLOROT_LAYERS`)."""
    for m in model.modules():
        if isinstance(m, GLOROT_LAYERS):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def build_model(arch: ArchConfig, input_shape: Sequence[int], num_classes: int) -> nn.Module:
    """Builds and initialises the network of a resolved sample.

    Args:
        arch: Output of ``SearchSpace.resolve``.
        input_shape: One example's shape, channels last (``(H, W, C)`` or ``(F,)``).
        num_classes: Classifier outputs.

    Returns:
        An initialised module (seed torch's global RNG before calling for
        reproducible weights).

    Raises:
        ValueError: If the architecture does not fit the data (e.g. convs on tabular data).
    """
    model = Network(compile_plan(arch, input_shape, num_classes))
    init_weights(model)
    return model


def to_tensor(x: np.ndarray) -> torch.Tensor:
    """Numpy features (channels last) -> torch tensor (NCHW for images)."""
    t = torch.from_numpy(np.ascontiguousarray(x))
    return t.permute(0, 3, 1, 2).contiguous() if t.ndim == 4 else t


def count_params(model: nn.Module) -> int:
    """Trainable parameters (BatchNorm running statistics excluded)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def measure_flops(model: nn.Module, input_shape: Sequence[int]) -> int:
    """FLOPs of one example's forward pass, measured by ``torch.utils.flop_counter``.

    The reference for ``Plan.flops`` / ``unified_nas.network.flops.count_flops`` (same
    convention: 2 per multiply-add of convolutions and matrix multiplications).
    It traces a real forward pass (~0.1-0.2 s), so trials use the analytic count instead.
    """
    from torch.utils.flop_counter import FlopCounterMode

    was_training = model.training
    model.eval()
    x = to_tensor(np.zeros((1, *input_shape), dtype=np.float32))
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x)
    model.train(was_training)
    return int(counter.get_total_flops())
