"""Node kinds of a network plan: shape rule, FLOPs and parameters, defined once each.

A plan node is one primitive computation with explicit parameters (a 2-D
convolution with its kernel, stride, padding, dilation, groups and bias; a
batch normalisation with its epsilon and momentum; ...). Every framework
builds exactly these kinds and nothing else (``torch_model.TORCH_BUILDERS``,
``keras_model.KERAS_BUILDERS``: one entry per kind), so one plan means one
network everywhere.

Conventions (the same for every framework):
    * Shapes are one example's, channels last: ``(H, W, C)`` feature maps or ``(F,)`` vectors.
    * FLOPs: 2 per multiply-add of convolutions and dense layers; biases,
      pooling, normalisation, activations, additions and concatenations cost
      nothing. This is what ``torch.utils.flop_counter.FlopCounterMode``
      reports for the torch build (tests check it).
    * Parameters are the trainable ones (BatchNorm running statistics excluded).

A kind that does not define a rule raises :class:`UnknownOp` instead of counting 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from unified_nas.space.ops import ACTIVATIONS

# Pinned batch normalisation (torch momentum convention: the weight of the new batch
# statistic; Keras's momentum is 1 - this). 0.01 (Keras default 0.99) leaves running
# statistics unconverged after the ~100 steps of a small-data trial.
BN_EPS = 1e-3
BN_MOMENTUM = 0.1
POOL_MODES = ("max", "avg")


class UnknownOp(LookupError):
    """A node kind or vocabulary op without a rule (shape, cost or framework builder)."""


@dataclass(frozen=True)
class Shape:
    """One example's shape, channels last: ``(H, W, C)`` for feature maps, ``(F,)`` for vectors.

    Other ranks are allowed as network inputs (they can only be flattened).
    """

    dims: tuple[int, ...]

    @classmethod
    def of(cls, dims: Sequence[int]) -> Shape:
        """A shape from any integer sequence (numpy ints included).

        Raises:
            ValueError: On an empty shape or a dimension below 1.
        """
        t = tuple(int(d) for d in dims)
        if not t or min(t) < 1:
            raise ValueError(f"invalid shape {t}")
        return cls(t)

    @classmethod
    def map(cls, height: int, width: int, channels: int) -> Shape:
        return cls.of((height, width, channels))

    @property
    def is_map(self) -> bool:
        return len(self.dims) == 3

    @property
    def channels(self) -> int:
        return self.dims[-1]

    @property
    def size(self) -> tuple[int, int]:
        """``(H, W)`` of a feature map."""
        self.require_map("size")
        return self.dims[0], self.dims[1]

    def require_map(self, who: str) -> None:
        if not self.is_map:
            raise ValueError(f"{who} needs a feature map (H, W, C), got {self.dims}")

    def require_vector(self, who: str) -> None:
        if len(self.dims) != 1:
            raise ValueError(f"{who} needs a vector (F,), got {self.dims}")

    def __str__(self) -> str:
        return "x".join(map(str, self.dims))


def window_size(n: int, kernel: int, stride: int, padding: int, dilation: int = 1) -> int:
    """Output length of a sliding window (convolution or pooling, floor mode).

    Raises:
        ValueError: If the window does not fit once.
    """
    out = (n + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1
    if out < 1:
        raise ValueError(f"a {kernel}x{kernel} window (stride {stride}, padding {padding}) does not fit size {n}")
    return out


def strided_size(n: int, stride: int) -> int:
    """Length after keeping every ``stride``-th position: the size of every 'same'-padded op of that stride."""
    return -(-n // stride)


class NodeOp:
    """Base of every node kind (subclasses are frozen dataclasses).

    ``out_shape`` also validates the inputs (channel counts, ranks) and raises
    ``ValueError`` when they do not fit.
    """

    def out_shape(self, inputs: Sequence[Shape]) -> Shape:
        raise UnknownOp(f"node kind {type(self).__name__} has no shape rule")

    def flops(self, inputs: Sequence[Shape], output: Shape) -> int:
        raise UnknownOp(f"node kind {type(self).__name__} has no FLOPs rule")

    def params(self) -> int:
        raise UnknownOp(f"node kind {type(self).__name__} has no parameter rule")


class _Free:
    """Mixin of kinds that cost no FLOPs under the convention and have no parameters (an explicit opt-in)."""

    def flops(self, inputs: Sequence[Shape], output: Shape) -> int:
        return 0

    def params(self) -> int:
        return 0


def _one(inputs: Sequence[Shape], who: str) -> Shape:
    if len(inputs) != 1:
        raise ValueError(f"{who} takes one input, got {len(inputs)}")
    return inputs[0]


@dataclass(frozen=True)
class Conv2d(NodeOp):
    """2-D convolution; ``groups == c_in == c_out`` is a depthwise convolution."""

    c_in: int
    c_out: int
    kernel: int
    stride: int = 1
    padding: int = 0
    dilation: int = 1
    groups: int = 1
    bias: bool = True

    def out_shape(self, inputs: Sequence[Shape]) -> Shape:
        s = _one(inputs, "conv")
        s.require_map("conv")
        if s.channels != self.c_in or self.c_in % self.groups or self.c_out % self.groups:
            raise ValueError(f"conv {self.c_in}->{self.c_out} (groups {self.groups}) on {s}")
        h, w = (window_size(n, self.kernel, self.stride, self.padding, self.dilation) for n in s.size)
        return Shape.map(h, w, self.c_out)

    def flops(self, inputs: Sequence[Shape], output: Shape) -> int:
        h, w = output.size
        return 2 * h * w * self.c_out * (self.c_in // self.groups) * self.kernel**2

    def params(self) -> int:
        return self.c_out * (self.c_in // self.groups) * self.kernel**2 + (self.c_out if self.bias else 0)


@dataclass(frozen=True)
class Dense(NodeOp):
    """Fully connected layer on a vector."""

    c_in: int
    c_out: int
    bias: bool = True

    def out_shape(self, inputs: Sequence[Shape]) -> Shape:
        s = _one(inputs, "dense")
        s.require_vector("dense")
        if s.channels != self.c_in:
            raise ValueError(f"dense {self.c_in}->{self.c_out} on {s}")
        return Shape.of((self.c_out,))

    def flops(self, inputs: Sequence[Shape], output: Shape) -> int:
        return 2 * self.c_in * self.c_out

    def params(self) -> int:
        return self.c_in * self.c_out + (self.c_out if self.bias else 0)


@dataclass(frozen=True)
class BatchNorm(NodeOp):
    """Affine batch normalisation over channels (maps or vectors); ``momentum`` in torch's convention."""

    channels: int
    eps: float = BN_EPS
    momentum: float = BN_MOMENTUM

    def out_shape(self, inputs: Sequence[Shape]) -> Shape:
        s = _one(inputs, "batchnorm")
        if s.channels != self.channels or len(s.dims) not in (1, 3):
            raise ValueError(f"batchnorm of {self.channels} channels on {s}")
        return s

    def flops(self, inputs: Sequence[Shape], output: Shape) -> int:
        return 0  # normalisation is not counted

    def params(self) -> int:
        return 2 * self.channels  # gamma and beta


@dataclass(frozen=True)
class Activation(_Free, NodeOp):
    """Elementwise activation of the vocabulary (``gelu`` is the exact one, not tanh-approximated)."""

    name: str

    def __post_init__(self) -> None:
        if self.name not in ACTIVATIONS:
            raise UnknownOp(f"unknown activation {self.name!r}; known: {', '.join(ACTIVATIONS)}")

    def out_shape(self, inputs: Sequence[Shape]) -> Shape:
        return _one(inputs, "activation")


@dataclass(frozen=True)
class Pool(_Free, NodeOp):
    """Max or average pooling; the average excludes the padding."""

    mode: str
    kernel: int
    stride: int
    padding: int = 0

    def __post_init__(self) -> None:
        if self.mode not in POOL_MODES:
            raise UnknownOp(f"unknown pooling {self.mode!r}; known: {', '.join(POOL_MODES)}")

    def out_shape(self, inputs: Sequence[Shape]) -> Shape:
        s = _one(inputs, "pool")
        s.require_map("pool")
        h, w = (window_size(n, self.kernel, self.stride, self.padding) for n in s.size)
        return Shape.map(h, w, s.channels)


@dataclass(frozen=True)
class Zero(_Free, NodeOp):
    """Zeros of the input subsampled by ``stride`` (the ``zero`` op; a multiplication by 0 is not counted)."""

    stride: int = 1

    def out_shape(self, inputs: Sequence[Shape]) -> Shape:
        s = _one(inputs, "zero")
        s.require_map("zero")
        h, w = (strided_size(n, self.stride) for n in s.size)
        return Shape.map(h, w, s.channels)


@dataclass(frozen=True)
class Add(_Free, NodeOp):
    """Elementwise sum of inputs of one shape, in input order."""

    def out_shape(self, inputs: Sequence[Shape]) -> Shape:
        if len(inputs) < 2 or len(set(inputs)) != 1:
            raise ValueError(f"add needs two or more inputs of one shape, got {', '.join(map(str, inputs))}")
        return inputs[0]


@dataclass(frozen=True)
class Concat(_Free, NodeOp):
    """Concatenation of feature maps of one size along channels, in input order."""

    def out_shape(self, inputs: Sequence[Shape]) -> Shape:
        for s in inputs:
            s.require_map("concat")
        if len(inputs) < 2 or len({s.size for s in inputs}) != 1:
            raise ValueError(f"concat needs two or more maps of one size, got {', '.join(map(str, inputs))}")
        return Shape.map(*inputs[0].size, sum(s.channels for s in inputs))


@dataclass(frozen=True)
class Crop(_Free, NodeOp):
    """A feature map without its first ``top`` rows and ``left`` columns (a slice, nothing computed).

    DARTS's ``FactorizedReduce`` reads ``x[:, :, 1:, 1:]`` on its second path,
    so the two strided 1x1 convolutions see interleaved positions.
    """

    top: int = 1
    left: int = 1

    def out_shape(self, inputs: Sequence[Shape]) -> Shape:
        s = _one(inputs, "crop")
        s.require_map("crop")
        h, w = s.size
        if min(self.top, self.left) < 0 or h <= self.top or w <= self.left:
            raise ValueError(f"cannot crop {self.top} rows and {self.left} columns off {s}")
        return Shape.map(h - self.top, w - self.left, s.channels)


@dataclass(frozen=True)
class Keep(_Free, NodeOp):
    """The value of the first input; the others are computed but unused.

    A cell input no edge reads is still preprocessed (as in DARTS, whose
    genotype networks always build both preprocessors): it is part of the
    network, its parameters count, and a framework must not prune it.
    """

    def out_shape(self, inputs: Sequence[Shape]) -> Shape:
        if len(inputs) < 2:
            raise ValueError("keep needs its value and at least one kept input")
        return inputs[0]


@dataclass(frozen=True)
class Flatten(_Free, NodeOp):
    """Any shape -> a vector (the element order is the framework's own layout)."""

    def out_shape(self, inputs: Sequence[Shape]) -> Shape:
        return Shape.of((math.prod(_one(inputs, "flatten").dims),))


@dataclass(frozen=True)
class GlobalAvgPool(_Free, NodeOp):
    """Mean over the spatial positions of a feature map (not counted, like every mean)."""

    def out_shape(self, inputs: Sequence[Shape]) -> Shape:
        s = _one(inputs, "global average pooling")
        s.require_map("global average pooling")
        return Shape.of((s.channels,))


@dataclass(frozen=True)
class Dropout(_Free, NodeOp):
    """Dropout with rate ``rate`` in (0, 1) while training; identity at inference."""

    rate: float

    def __post_init__(self) -> None:
        if not 0 < self.rate < 1:
            raise ValueError(f"dropout rate {self.rate} is not in (0, 1)")

    def out_shape(self, inputs: Sequence[Shape]) -> Shape:
        return _one(inputs, "dropout")
