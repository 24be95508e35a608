"""Canonical sample -> ``torch.nn.Module``.

One implementation per op of ``space.ops``; networks are built from an
:class:`~unified_nas.space.ArchConfig` only, so every backend that produces
the same canonical sample trains the same network.

Pinned definitions (the Keras materializer must use the same):
    * BatchNorm: eps 1e-3, momentum 0.1 (Keras momentum 0.9), affine.
    * Init: Glorot-uniform weights for conv and linear, zero biases.
    * Image input is NCHW here; data arrive channels-last and are transposed
      by :func:`to_tensor`.

Network rules:
    * Macro layer: op -> [BatchNorm] -> activation (ops with a width), plus the
      skip branch (identity, or a bias-free 1x1 conv / linear projection when
      the shape changes), then 2x2 pooling of stride 2 if asked and the
      feature map is at least 2x2, then dropout. Head: global average pooling
      (spatial) and a linear classifier.
    * Cell network: 3x3 conv stem + BN with ``channels``; DARTS-style cells
      (ReLU-conv1x1-BN input preprocessing; a stride-2 ReLU-conv1x1-BN after a
      reduction), node = sum of its edges, cell output = concat of nodes;
      global average pooling, dropout, linear classifier.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import nn

from unified_nas.space.ops import OpSpec
from unified_nas.space.spaces import ArchConfig, CellConfig, LayerConfig, MacroConfig, cell_stages

BN_EPS = 1e-3
BN_MOMENTUM = 0.1  # torch convention; Keras momentum=0.9. 0.01 (Keras default 0.99) leaves running stats unconverged after the ~100 steps of a small-data trial
ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU, "tanh": nn.Tanh}


def batchnorm(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, eps=BN_EPS, momentum=BN_MOMENTUM)


class Zero(nn.Module):
    """The ``zero`` op: zeros of the output shape, no parameters."""

    def __init__(self, stride: int) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :, :: self.stride, :: self.stride] * 0.0


def core_op(spec: OpSpec, c_in: int, c_out: int, stride: int = 1, bias: bool = True) -> nn.Module:
    """The bare op (no activation or normalisation around it).

    Args:
        spec: Vocabulary op.
        c_in: Input channels.
        c_out: Output channels (pools, identity and zero keep ``c_in`` at stride 1).
        stride: 1, or 2 on reduction edges.
        bias: Whether the last conv has a bias (False when a BatchNorm follows).

    Raises:
        ValueError: For ``linear`` (not a spatial op) or a channel change an op cannot make.
    """
    f, k = spec.family, spec.kernel
    if f == "conv":
        return nn.Conv2d(c_in, c_out, k, stride, k // 2, bias=bias)
    if f in ("sep_conv", "dil_conv"):
        d = spec.dilation
        return nn.Sequential(
            nn.Conv2d(c_in, c_in, k, stride, d * (k // 2), dilation=d, groups=c_in, bias=False),
            nn.Conv2d(c_in, c_out, 1, bias=bias),
        )
    if c_in != c_out and not (f == "identity" and stride == 2):
        raise ValueError(f"{spec.name} cannot change channels ({c_in} -> {c_out})")
    if f == "max_pool":
        return nn.MaxPool2d(3, stride, 1)
    if f == "avg_pool":
        return nn.AvgPool2d(3, stride, 1, count_include_pad=False)
    if f == "identity":
        if stride == 1:
            return nn.Identity()
        return nn.Sequential(nn.ReLU(), nn.Conv2d(c_in, c_out, 1, 2, bias=False), batchnorm(c_out))
    if f == "zero":
        return Zero(stride)
    raise ValueError(f"{spec.name} is not a spatial op")


class MacroLayer(nn.Module):
    """One resolved macro layer (see module docstring for the rule)."""

    def __init__(self, cfg: LayerConfig, c_in: int, hw: int, dropout: float) -> None:
        super().__init__()
        spatial = cfg.op.spatial
        self.c_out = cfg.width if cfg.width is not None else c_in
        if spatial:
            body: list[nn.Module] = [core_op(cfg.op, c_in, self.c_out, 1, bias=not cfg.batchnorm)]
            if cfg.batchnorm:
                body.append(batchnorm(self.c_out))
        else:
            body = [nn.Linear(c_in, self.c_out, bias=not cfg.batchnorm)]
            if cfg.batchnorm:
                body.append(nn.BatchNorm1d(self.c_out, eps=BN_EPS, momentum=BN_MOMENTUM))
        if cfg.activation:
            body.append(ACTIVATIONS[cfg.activation]())
        self.body = nn.Sequential(*body)
        self.proj: nn.Module | None = None
        if cfg.skip:
            if self.c_out == c_in:
                self.proj = nn.Identity()
            else:
                self.proj = nn.Conv2d(c_in, self.c_out, 1, bias=False) if spatial else nn.Linear(c_in, self.c_out, bias=False)
        pool = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d}.get(cfg.pool)
        self.pool = pool(2, 2) if pool is not None and hw >= 2 else None
        self.hw_out = hw // 2 if self.pool is not None else hw
        self.drop = nn.Dropout(dropout) if dropout > 0 else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        if self.proj is not None:
            y = y + self.proj(x)
        if self.pool is not None:
            y = self.pool(y)
        return self.drop(y) if self.drop is not None else y


class MacroNet(nn.Module):
    def __init__(self, net: MacroConfig, input_shape: Sequence[int], num_classes: int, dropout: float) -> None:
        super().__init__()
        self.spatial = all(l.op.spatial for l in net.layers) and len(input_shape) == 3
        if any(l.op.spatial for l in net.layers) and len(input_shape) != 3:
            raise ValueError("spatial ops need image data (N, H, W, C)")
        c = input_shape[-1] if self.spatial else int(np.prod(input_shape))
        hw = min(input_shape[:2]) if self.spatial else 0
        layers = []
        for cfg in net.layers:
            layer = MacroLayer(cfg, c, hw, dropout)
            c, hw = layer.c_out, layer.hw_out
            layers.append(layer)
        self.layers = nn.Sequential(*layers)
        self.head = ClassifierHead(c, num_classes, self.spatial)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.spatial:
            x = x.flatten(1)
        return self.head(self.layers(x))


def cell_stem(c_in: int, c: int) -> nn.Sequential:
    """3x3 conv + BN stem of cell networks."""
    return nn.Sequential(nn.Conv2d(c_in, c, 3, 1, 1, bias=False), batchnorm(c))


def relu_conv_bn(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.ReLU(), nn.Conv2d(c_in, c_out, 1, stride, bias=False), batchnorm(c_out))


def cell_edge(spec: OpSpec, c: int, stride: int) -> nn.Module:
    """One cell edge: convs as ReLU-op-BN (DARTS style), other ops bare."""
    if spec.family in ("conv", "sep_conv", "dil_conv"):
        return nn.Sequential(nn.ReLU(), core_op(spec, c, c, stride, bias=False), batchnorm(c))
    return core_op(spec, c, c, stride)


class CellPreprocess(nn.Module):
    """Maps the two previous cells' outputs to ``c`` channels at this cell's input size."""

    def __init__(self, c_pp: int, c_p: int, c: int, reduction_prev: bool) -> None:
        super().__init__()
        self.pre0 = relu_conv_bn(c_pp, c, 2 if reduction_prev else 1)
        self.pre1 = relu_conv_bn(c_p, c)

    def forward(self, inputs: list[torch.Tensor]) -> list[torch.Tensor]:
        return [self.pre0(inputs[0]), self.pre1(inputs[1])]


class ClassifierHead(nn.Module):
    """[global average pooling] -> [dropout] -> linear classifier."""

    def __init__(self, c: int, num_classes: int, spatial: bool, dropout: float = 0.0) -> None:
        super().__init__()
        self.spatial = spatial
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.fc = nn.Linear(c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.spatial:
            x = x.mean(dim=(2, 3))
        return self.fc(self.drop(x))


class Cell(nn.Module):
    def __init__(self, genotype, c_pp: int, c_p: int, c: int, reduction: bool, reduction_prev: bool) -> None:
        super().__init__()
        self.pre = CellPreprocess(c_pp, c_p, c, reduction_prev)
        self.inputs = [[inp for inp, _ in node] for node in genotype]
        self.edges = nn.ModuleList(
            nn.ModuleList(cell_edge(op, c, 2 if reduction and inp < 2 else 1) for inp, op in node)
            for node in genotype)

    def forward(self, s0: torch.Tensor, s1: torch.Tensor) -> torch.Tensor:
        states = self.pre([s0, s1])
        for inputs, edges in zip(self.inputs, self.edges):
            states.append(sum(edge(states[i]) for i, edge in zip(inputs, edges)))
        return torch.cat(states[2:], dim=1)


class CellNet(nn.Module):
    def __init__(self, net: CellConfig, input_shape: Sequence[int], num_classes: int, dropout: float) -> None:
        super().__init__()
        if len(input_shape) != 3:
            raise ValueError("cell spaces need image data (N, H, W, C)")
        self.stem = cell_stem(input_shape[-1], net.channels)
        stages = cell_stages(net.channels, net.cells, net.reductions, len(net.normal))
        self.cells = nn.ModuleList(Cell(net.reduce if st.reduction else net.normal, st.c_pp, st.c_p, st.c,
                                        st.reduction, st.reduction_prev) for st in stages)
        self.head = ClassifierHead(stages[-1].c_out, num_classes, True, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1)
        return self.head(s1)


def init_weights(model: nn.Module) -> None:
    """Glorot-uniform weights and zero biases for every conv and linear layer."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
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
    cls = CellNet if isinstance(arch.network, CellConfig) else MacroNet
    model = cls(arch.network, tuple(input_shape), num_classes, arch.training.dropout)
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

    The reference for ``unified_nas.flops.count_flops`` (same convention: 2 per
    multiply-add of convolutions and matrix multiplications). It traces a real
    forward pass (~0.1-0.2 s), so trials use the analytic count instead.
    """
    from torch.utils.flop_counter import FlopCounterMode

    was_training = model.training
    model.eval()
    x = to_tensor(np.zeros((1, *input_shape), dtype=np.float32))
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x)
    model.train(was_training)
    return int(counter.get_total_flops())
