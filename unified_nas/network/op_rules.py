"""Vocabulary op -> plan nodes: the one place an op of ``space.ops`` becomes computation.

One :class:`OpRule` per op family (``OP_RULES``). An op made of existing
node kinds (convolutions, pooling, ...) needs only its vocabulary entry and a
rule here: the torch and Keras builders, the FLOPs and the parameter count
follow from the nodes. Shape rules of the vocabulary (``C`` channels, ``S``
stride):

* ``conv_kxk``: k x k convolution, padding k//2, stride S (``conv_1x1``:
  padding 0; on a cell edge, dense or DARTS-style, ReLU-conv-BN as
  NAS-Bench-201's ``nor_conv_1x1``).
* ``sep_conv_kxk`` / ``dil_conv_kxk``: depthwise k x k (dilation 1 / 2,
  padding ``dilation * (k // 2)``, stride S), then pointwise 1x1.
* ``max_pool_3x3`` / ``avg_pool_3x3``: 3x3 window, padding 1, stride S (average excludes padding).
* ``identity``: unchanged; with S=2 ReLU, a 1x1 conv of stride 2 and batchnorm (a simplified factorized reduce).
* ``zero``: zeros of the output shape.
* ``linear``: fully connected (vectors only).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from unified_nas.network.graph import Graph, GraphBuilder
from unified_nas.network.nodes import Activation, BatchNorm, Conv2d, Dense, Pool, Shape, UnknownOp, Zero
from unified_nas.space.ops import OpSpec

# (graph, input value, op, output channels, stride, bias of the last conv) -> output value
AppendOp = Callable[[GraphBuilder, int, OpSpec, int, int, bool], int]


@dataclass(frozen=True)
class OpRule:
    """How one op family becomes nodes.

    Attributes:
        append: Appends the bare op (no normalisation or activation around it).
        convolution: The op is a learned convolution: on a cell edge it runs as
            ReLU-op-BN without bias (DARTS); other ops run bare.
    """

    append: AppendOp
    convolution: bool = False


def _kernel(spec: OpSpec) -> int:
    if spec.kernel is None:
        raise ValueError(f"{spec.name} has no kernel size")
    return spec.kernel


def _same_channels(g: GraphBuilder, x: int, spec: OpSpec, c_out: int) -> None:
    if g.shape(x).channels != c_out:
        raise ValueError(f"{spec.name} cannot change channels ({g.shape(x).channels} -> {c_out})")


def _conv(g: GraphBuilder, x: int, spec: OpSpec, c_out: int, stride: int, bias: bool) -> int:
    k = _kernel(spec)
    return g.add("conv", Conv2d(g.shape(x).channels, c_out, k, stride, k // 2, bias=bias), x)


def _separable(g: GraphBuilder, x: int, spec: OpSpec, c_out: int, stride: int, bias: bool) -> int:
    c, k, d = g.shape(x).channels, _kernel(spec), spec.dilation
    x = g.add("depthwise", Conv2d(c, c, k, stride, d * (k // 2), d, groups=c, bias=False), x)
    return g.add("pointwise", Conv2d(c, c_out, 1, bias=bias), x)


def _pool(mode: str) -> AppendOp:
    def append(g: GraphBuilder, x: int, spec: OpSpec, c_out: int, stride: int, bias: bool) -> int:
        _same_channels(g, x, spec, c_out)
        k = _kernel(spec)
        return g.add("pool", Pool(mode, k, stride, k // 2), x)

    return append


def _identity(g: GraphBuilder, x: int, spec: OpSpec, c_out: int, stride: int, bias: bool) -> int:
    if stride == 1:
        _same_channels(g, x, spec, c_out)
        return x
    x = g.add("relu", Activation("relu"), x)
    x = g.add("conv", Conv2d(g.shape(x).channels, c_out, 1, stride, bias=False), x)
    return g.add("bn", BatchNorm(c_out), x)


def _zero(g: GraphBuilder, x: int, spec: OpSpec, c_out: int, stride: int, bias: bool) -> int:
    _same_channels(g, x, spec, c_out)
    return g.add("zero", Zero(stride), x)


def _linear(g: GraphBuilder, x: int, spec: OpSpec, c_out: int, stride: int, bias: bool) -> int:
    if stride != 1:
        raise ValueError(f"linear has no stride (got {stride})")
    return g.add("linear", Dense(g.shape(x).channels, c_out, bias), x)


OP_RULES: dict[str, OpRule] = {
    "conv": OpRule(_conv, convolution=True),
    "sep_conv": OpRule(_separable, convolution=True),
    "dil_conv": OpRule(_separable, convolution=True),
    "max_pool": OpRule(_pool("max")),
    "avg_pool": OpRule(_pool("avg")),
    "identity": OpRule(_identity),
    "zero": OpRule(_zero),
    "linear": OpRule(_linear),
}


def op_rule(spec: OpSpec) -> OpRule:
    """The rule of a vocabulary op.

    Raises:
        UnknownOp: If its family has no rule.
    """
    try:
        return OP_RULES[spec.family]
    except KeyError:
        raise UnknownOp(
            f"op {spec.name!r} (family {spec.family!r}) has no plan rule; known families: {', '.join(OP_RULES)}"
        ) from None


def append_op(g: GraphBuilder, x: int, spec: OpSpec, c_out: int, stride: int = 1, bias: bool = True) -> int:
    """Appends the bare op to ``g`` on value ``x``; returns the output value.

    Raises:
        UnknownOp: For an op without a rule.
        ValueError: If the op cannot produce ``c_out`` channels or does not fit the input shape.
    """
    return op_rule(spec).append(g, x, spec, c_out, stride, bias)


def op_graph(spec: OpSpec, shape: Shape, c_out: int, stride: int = 1, bias: bool = True) -> Graph:
    """The bare op as a graph of its own (see :func:`append_op`)."""
    g = GraphBuilder(shape)
    return g.build(append_op(g, 0, spec, c_out, stride, bias))
