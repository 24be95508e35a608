"""Network plan -> ``keras.Model``: the Keras builder of :mod:`unified_nas.network`.

Same plan, same pinned definitions as :mod:`unified_nas.models.torch_model`:
BatchNorm eps 1e-3 and Keras momentum 0.9 (torch 0.1), Glorot-uniform
kernels, zero biases. This module only maps each node kind to layers
(``KERAS_BUILDERS``, one entry per kind). Tests compare parameters, FLOPs and
outputs with the torch build.

Where Keras and PyTorch differ, the plan's (torch's) definition wins:
    * A strided conv pads symmetrically (``ZeroPadding2D`` + ``valid``);
      Keras ``same`` pads the extra row at the bottom only.
    * A strided pool with padding runs at stride 1 with ``same`` padding and
      keeps every ``stride``-th row and column (:class:`Subsample`): the
      window is then centred like torch's.
    * Keras's TF backend refuses dilation with stride > 1: a conv with
      stride = dilation and 'same'-style padding reads only every
      ``stride``-th row and column, so it is computed exactly as an undilated
      conv on the subsampled input.
    * Average pooling excludes the padding (TF's ``same`` does, like ``count_include_pad=False``).
    * A functional model drops what its output does not depend on: ``Keep``
      nodes become :class:`KeepAlive`.

Works on any Keras 3 backend (TensorFlow by default, or ``KERAS_BACKEND=torch``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import keras
import numpy as np
from keras import layers

from unified_nas.network import compile_body, compile_plan
from unified_nas.network.graph import Graph, lookup
from unified_nas.network.nodes import (
    BN_EPS,
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
    Pool,
    Shape,
    UnknownOp,
)
from unified_nas.network.nodes import BN_MOMENTUM as TORCH_BN_MOMENTUM

if TYPE_CHECKING:
    from unified_nas.data import InputTransform
from unified_nas.network.nodes import Zero as ZeroNode
from unified_nas.network.op_rules import op_graph
from unified_nas.space.ops import OpSpec
from unified_nas.space.spaces import ArchConfig

BN_MOMENTUM = 1.0 - TORCH_BN_MOMENTUM  # 0.9: Keras convention of torch_model.BN_MOMENTUM = 0.1
KERNEL_INIT = "glorot_uniform"
ACTIVATIONS = {"relu": "relu", "gelu": "gelu", "silu": "silu", "tanh": "tanh"}  # Keras 'gelu' is the exact one
POOLS = {"max": layers.MaxPooling2D, "avg": layers.AveragePooling2D}
__all__ = [
    "BN_EPS",
    "BN_MOMENTUM",
    "KERNEL_INIT",
    "KeepAlive",
    "Subsample",
    "Zero",
    "apply_graph",
    "build_keras_model",
    "core_op",
    "count_trainable",
    "features",
]


@keras.saving.register_keras_serializable(package="unified_nas")
class Subsample(layers.Layer):
    """Keeps every ``stride``-th row and column (the stride of a stride-1 op run densely)."""

    def __init__(self, stride: int = 2, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.stride = stride

    def call(self, x):
        return x[:, :: self.stride, :: self.stride, :]

    def compute_output_shape(self, shape):
        def sub(n):
            return None if n is None else (n + self.stride - 1) // self.stride

        return (shape[0], sub(shape[1]), sub(shape[2]), shape[3])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "stride": self.stride}


@keras.saving.register_keras_serializable(package="unified_nas")
class Zero(Subsample):
    """The ``zero`` op: zeros of the output shape, no parameters."""

    def call(self, x):
        return super().call(x) * 0.0


@keras.saving.register_keras_serializable(package="unified_nas")
class KeepAlive(layers.Layer):
    """Returns its first input; keeps the others (and their weights) in the model.

    A cell input no edge reads is still preprocessed in the plan (as in
    DARTS, whose genotype networks always build both preprocessors), so its
    parameters are counted. A Keras functional model would drop the dead
    branch; this layer keeps it, with a zero (not a missing) gradient.
    """

    def call(self, inputs):
        y = inputs[0]
        for dead in inputs[1:]:
            y = y + 0.0 * keras.ops.mean(dead)
        return y

    def compute_output_shape(self, shapes):
        return shapes[0]


def _only(xs: Sequence[Any]) -> Any:
    (x,) = xs
    return x


def _conv(op: Conv2d, xs: Sequence[Any], ins: Sequence[Shape]) -> Any:
    k, s, p, d = op.kernel, op.stride, op.padding, op.dilation
    if op.groups == 1:

        def make(stride: int, padding: str, dilation: int) -> layers.Layer:
            return layers.Conv2D(
                op.c_out, k, stride, padding, dilation_rate=dilation, use_bias=op.bias, kernel_initializer=KERNEL_INIT
            )
    elif op.groups == op.c_in == op.c_out:

        def make(stride: int, padding: str, dilation: int) -> layers.Layer:
            return layers.DepthwiseConv2D(
                k, stride, padding, dilation_rate=dilation, use_bias=op.bias, depthwise_initializer=KERNEL_INIT
            )
    else:
        raise UnknownOp(f"the Keras builder has no grouped conv (groups {op.groups}, {op.c_in}->{op.c_out})")
    x = _only(xs)
    centred = k % 2 == 1 and p == d * (k // 2)  # torch's padding equals Keras 'same' at stride 1
    if p == 0:
        return make(s, "valid", d)(x)
    if s == 1 and centred:
        return make(1, "same", d)(x)
    if d == 1:
        return make(s, "valid", 1)(layers.ZeroPadding2D(p)(x))
    if s == d and centred:
        # Rows read: s*i + d*(t - k//2) = s*(i + t - k//2): exactly an undilated 'same' conv on the subsampled input.
        return make(1, "same", 1)(Subsample(s)(x))
    raise UnknownOp(f"the Keras builder has no conv with stride {s}, dilation {d}, padding {p}")


def _pool(op: Pool, xs: Sequence[Any], ins: Sequence[Shape]) -> Any:
    cls, x = POOLS[op.mode], _only(xs)
    if op.padding == 0:
        return cls(op.kernel, op.stride)(x)
    if op.kernel % 2 == 1 and op.padding == op.kernel // 2:
        y = cls(op.kernel, 1, "same")(x)
        return Subsample(op.stride)(y) if op.stride > 1 else y
    raise UnknownOp(f"the Keras builder has no {op.kernel}x{op.kernel} pool with padding {op.padding}")


def _dense(op: Dense) -> layers.Dense:
    return layers.Dense(op.c_out, use_bias=op.bias, kernel_initializer=KERNEL_INIT)


# One entry per node kind: (node op, input tensors, input shapes) -> output tensor.
KERAS_BUILDERS: dict[type, Callable[[Any, Sequence[Any], Sequence[Shape]], Any]] = {
    Conv2d: _conv,
    Dense: lambda op, xs, ins: _dense(op)(_only(xs)),
    BatchNorm: lambda op, xs, ins: layers.BatchNormalization(epsilon=op.eps, momentum=1.0 - op.momentum)(_only(xs)),
    Activation: lambda op, xs, ins: layers.Activation(ACTIVATIONS[op.name])(_only(xs)),
    Pool: _pool,
    ZeroNode: lambda op, xs, ins: Zero(op.stride)(_only(xs)),
    Add: lambda op, xs, ins: layers.Add()(list(xs)),
    Concat: lambda op, xs, ins: layers.Concatenate()(list(xs)),
    Crop: lambda op, xs, ins: layers.Cropping2D(((op.top, 0), (op.left, 0)))(_only(xs)),
    Keep: lambda op, xs, ins: KeepAlive()(list(xs)),
    Flatten: lambda op, xs, ins: layers.Flatten()(_only(xs)),
    GlobalAvgPool: lambda op, xs, ins: layers.GlobalAveragePooling2D()(_only(xs)),
    Dropout: lambda op, xs, ins: layers.Dropout(op.rate)(_only(xs)),
    Graph: lambda op, xs, ins: apply_graph(op, xs),
}


def apply_graph(graph: Graph, inputs: Sequence[Any]) -> Any:
    """Applies a plan graph to Keras tensors (layers are created in node order).

    Raises:
        UnknownOp: If a node kind has no Keras builder.
    """
    values = list(inputs)
    for node, ins in graph.wired():
        values.append(
            lookup(KERAS_BUILDERS, node.op, "the Keras builder")(node.op, [values[i] for i in node.inputs], ins)
        )
    return values[graph.output]


def _static_shape(x: Any, channels: int | None = None) -> Shape:
    dims = tuple(x.shape[1:])
    if any(d is None for d in dims):
        raise ValueError(f"the Keras builder needs a static input shape, got {dims}")
    return Shape.of(dims if channels is None else (*dims[:-1], channels))


def core_op(spec: OpSpec, x: Any, c_in: int, c_out: int, stride: int = 1, bias: bool = True) -> Any:
    """The bare op on tensor ``x`` (no activation or normalisation around it).

    Args:
        spec: Vocabulary op.
        x: Input tensor (N, H, W, C) with a static shape.
        c_in: Input channels.
        c_out: Output channels (pools, identity and zero keep ``c_in`` at stride 1).
        stride: 1, or 2 on reduction edges.
        bias: Whether the last conv has a bias (False when a BatchNorm follows).

    Returns:
        The output tensor (``x`` itself for ``identity`` at stride 1).

    Raises:
        ValueError: For ``linear`` (not a spatial op) or a channel change an op cannot make.
    """
    return apply_graph(op_graph(spec, _static_shape(x, c_in), c_out, stride, bias), [x])


def features(arch: ArchConfig, x: Any, input_shape: Sequence[int]) -> Any:
    """The network of ``arch`` on tensor ``x`` up to (not including) the linear classifier.

    AutoKeras's classification head adds that classifier; :func:`build_keras_model` adds it here.
    """
    return apply_graph(compile_body(arch, input_shape), [x])


def build_keras_model(arch: ArchConfig, input_shape: Sequence[int], num_classes: int) -> keras.Model:
    """Builds the network of a resolved sample (logits out, like the torch model).

    Args:
        arch: Output of ``SearchSpace.resolve``.
        input_shape: One example's shape, channels last (``(H, W, C)`` or ``(F,)``).
        num_classes: Classifier outputs.

    Returns:
        A Keras functional model (call ``keras.utils.set_random_seed`` first for
        reproducible weights).

    Raises:
        ValueError: If the architecture does not fit the data.
    """
    plan = compile_plan(arch, input_shape, num_classes)
    inputs = keras.Input(plan.input_shape.dims)
    # Created before the body, as the classifier always was: a seed gives the same weights as before.
    head = _dense(plan.classifier)
    return keras.Model(inputs, head(apply_graph(plan.body, [inputs])))


def count_trainable(model: keras.Model) -> int:
    """Trainable parameters (BatchNorm moving statistics excluded, as in PyTorch's count)."""
    return sum(math.prod(int(d) for d in w.shape) for w in model.trainable_weights)


def with_keras_transform(model: Any, input_shape: tuple[int, ...], transform: InputTransform) -> Any:
    """The Keras model behind its input transform: a ``Normalization`` layer (built in, loads without our code).

    Args:
        model: The trained Keras model (takes the training features).
        input_shape: One example's shape, channels last.
        transform: Raw values -> features.

    Returns:
        A model that takes raw input.
    """
    import keras

    inputs = keras.Input(shape=input_shape, name="x")
    # Normalization computes (x - mean) / sqrt(variance), over the last axis like the transform.
    scale = np.asarray(transform.scale, dtype=np.float64)
    raw = keras.layers.Normalization(
        axis=-1, mean=list(transform.shift), variance=(scale * scale).tolist(), name="raw_input"
    )
    return keras.Model(inputs, model(raw(inputs)), name="unas_export")
