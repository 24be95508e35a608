"""Canonical sample -> ``keras.Model``: the Keras twin of ``torch_model.py``.

Same ops, same network rules, same pinned definitions (see the docstring of
:mod:`unified_nas.torch_model`): BatchNorm eps 1e-3 and Keras momentum 0.9
(torch 0.1), Glorot-uniform kernels, zero biases. A test builds both for many
samples of every recipe and compares trainable parameter counts.

Where Keras and PyTorch differ, the torch definition wins:
    * Stride-2 convs pad ``k // 2`` on every side (``ZeroPadding2D`` + ``valid``);
      Keras ``same`` pads the extra row at the bottom only.
    * A stride-2 3x3 pool must see the window centred like torch's: it runs at
      stride 1 with ``same`` padding and keeps every second row and column
      (:class:`Subsample`), exactly the torch result.
    * Keras's TF backend refuses dilation with stride > 1: a stride-2 dilated
      conv is computed exactly as an undilated conv on the subsampled input.
    * Average pooling excludes the padding (TF's ``same`` does, like
      ``count_include_pad=False``).

Works on any Keras 3 backend (TensorFlow by default, or ``KERAS_BACKEND=torch``).
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import keras
from keras import layers

from unified_nas.space.ops import OpSpec
from unified_nas.space.spaces import ArchConfig, CellConfig, LayerConfig, MacroConfig, cell_stages

BN_EPS = 1e-3
BN_MOMENTUM = 0.9  # Keras convention of torch_model.BN_MOMENTUM = 0.1
KERNEL_INIT = "glorot_uniform"


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


def batchnorm() -> layers.BatchNormalization:
    return layers.BatchNormalization(epsilon=BN_EPS, momentum=BN_MOMENTUM)


def conv(c_out: int, k: int, stride: int = 1, bias: bool = True, dilation: int = 1, groups_depthwise: bool = False):
    """A k x k conv (or depthwise conv) with torch's symmetric padding ``dilation * (k // 2)``."""
    if groups_depthwise:
        return layers.DepthwiseConv2D(k, stride, "same" if stride == 1 else "valid", dilation_rate=dilation,
                                      use_bias=bias, depthwise_initializer=KERNEL_INIT)
    return layers.Conv2D(c_out, k, stride, "same" if stride == 1 else "valid", dilation_rate=dilation,
                         use_bias=bias, kernel_initializer=KERNEL_INIT)


def padded(x, k: int, stride: int, make):
    """Applies ``make()`` at ``stride``; stride 2 pads ``k // 2`` on every side first (torch's padding)."""
    if stride == 2 and k > 1:
        x = layers.ZeroPadding2D(k // 2)(x)
    return make()(x)


def core_op(spec: OpSpec, x, c_in: int, c_out: int, stride: int = 1, bias: bool = True):
    """The bare op on tensor ``x`` (no activation or normalisation around it).

    Args:
        spec: Vocabulary op.
        x: Input tensor (N, H, W, C).
        c_in: Input channels.
        c_out: Output channels (pools, identity and zero keep ``c_in`` at stride 1).
        stride: 1, or 2 on reduction edges.
        bias: Whether the last conv has a bias (False when a BatchNorm follows).

    Returns:
        The output tensor.

    Raises:
        ValueError: For ``linear`` (not a spatial op) or a channel change an op cannot make.
    """
    f, k = spec.family, spec.kernel
    if f == "conv":
        return padded(x, k, stride, lambda: conv(c_out, k, stride, bias))
    if f == "sep_conv":
        x = padded(x, k, stride, lambda: conv(c_in, k, stride, False, groups_depthwise=True))
        return conv(c_out, 1, bias=bias)(x)
    if f == "dil_conv":
        if stride == 2:
            # Stride 2 with dilation 2 and even padding d*(k//2) reads only the even rows and
            # columns: it equals an undilated 'same' conv on the subsampled input (exact, and
            # Keras's TF backend refuses dilation with stride > 1).
            x = conv(c_in, k, 1, False, 1, groups_depthwise=True)(Subsample(2)(x))
        else:
            x = conv(c_in, k, 1, False, spec.dilation, groups_depthwise=True)(x)
        return conv(c_out, 1, bias=bias)(x)
    if c_in != c_out and not (f == "identity" and stride == 2):
        raise ValueError(f"{spec.name} cannot change channels ({c_in} -> {c_out})")
    if f in ("max_pool", "avg_pool"):
        pool = layers.MaxPooling2D if f == "max_pool" else layers.AveragePooling2D
        x = pool(3, 1, "same")(x)
        return Subsample(2)(x) if stride == 2 else x
    if f == "identity":
        if stride == 1:
            return x
        x = layers.ReLU()(x)
        return batchnorm()(conv(c_out, 1, 2, bias=False)(x))
    if f == "zero":
        return Zero(stride)(x)
    raise ValueError(f"{spec.name} is not a spatial op")


def macro_layer(cfg: LayerConfig, x, c_in: int, hw: int, dropout: float) -> tuple[Any, int, int]:
    """One resolved macro layer. Returns (output, channels, spatial size)."""
    c_out = cfg.width if cfg.width is not None else c_in
    if cfg.op.spatial:
        y = core_op(cfg.op, x, c_in, c_out, 1, bias=not cfg.batchnorm)
    else:
        y = layers.Dense(c_out, use_bias=not cfg.batchnorm, kernel_initializer=KERNEL_INIT)(x)
    if cfg.batchnorm:
        y = batchnorm()(y)
    if cfg.activation:
        y = layers.Activation(cfg.activation)(y)  # Keras 'gelu' is the exact one, like torch's default
    if cfg.skip:
        if c_out == c_in:
            proj = x
        elif cfg.op.spatial:
            proj = layers.Conv2D(c_out, 1, use_bias=False, kernel_initializer=KERNEL_INIT)(x)
        else:
            proj = layers.Dense(c_out, use_bias=False, kernel_initializer=KERNEL_INIT)(x)
        y = layers.Add()([y, proj])
    if cfg.pool in ("max", "avg") and hw >= 2:
        y = (layers.MaxPooling2D if cfg.pool == "max" else layers.AveragePooling2D)(2, 2)(y)
        hw //= 2
    if dropout > 0:
        y = layers.Dropout(dropout)(y)
    return y, c_out, hw


def macro_features(net: MacroConfig, x, input_shape: Sequence[int], dropout: float):
    """Macro network body up to the classifier: layers, then global average pooling if spatial."""
    spatial = all(l.op.spatial for l in net.layers) and len(input_shape) == 3
    if any(l.op.spatial for l in net.layers) and len(input_shape) != 3:
        raise ValueError("spatial ops need image data (N, H, W, C)")
    if not spatial:
        x = layers.Flatten()(x)
        c, hw = 1, 0
        for n in input_shape:
            c *= int(n)
    else:
        c, hw = int(input_shape[-1]), min(int(n) for n in input_shape[:2])
    for cfg in net.layers:
        x, c, hw = macro_layer(cfg, x, c, hw, dropout)
    return layers.GlobalAveragePooling2D()(x) if spatial else x


def relu_conv_bn(x, c_out: int, stride: int = 1):
    return batchnorm()(conv(c_out, 1, stride, bias=False)(layers.ReLU()(x)))


def cell_edge(spec: OpSpec, x, c: int, stride: int):
    """One cell edge: convs as ReLU-op-BN (DARTS style), other ops bare."""
    if spec.family in ("conv", "sep_conv", "dil_conv"):
        return batchnorm()(core_op(spec, layers.ReLU()(x), c, c, stride, bias=False))
    return core_op(spec, x, c, c, stride)


@keras.saving.register_keras_serializable(package="unified_nas")
class KeepAlive(layers.Layer):
    """Returns its first input; keeps the others (and their weights) in the model.

    A cell input no edge reads is still preprocessed in the torch cell (as in
    DARTS, whose genotype networks always build both preprocessors), so its
    parameters are counted there. A Keras functional model would drop the
    dead branch; this layer keeps it, with a zero (not a missing) gradient.
    """

    def call(self, inputs):
        y = inputs[0]
        for dead in inputs[1:]:
            y = y + 0.0 * keras.ops.mean(dead)
        return y

    def compute_output_shape(self, shapes):
        return shapes[0]


def cell(genotype, s0, s1, c: int, reduction: bool, reduction_prev: bool):
    states = [relu_conv_bn(s0, c, 2 if reduction_prev else 1), relu_conv_bn(s1, c)]
    for node in genotype:
        outs = [cell_edge(op, states[i], c, 2 if reduction and i < 2 else 1) for i, op in node]
        states.append(outs[0] if len(outs) == 1 else layers.Add()(outs))
    nodes = states[2:]
    out = nodes[0] if len(nodes) == 1 else layers.Concatenate()(nodes)
    read = {i for node in genotype for i, _ in node}
    dead = [states[i] for i in (0, 1) if i not in read]
    return KeepAlive()([out, *dead]) if dead else out


def cell_features(net: CellConfig, x, input_shape: Sequence[int], dropout: float):
    """Cell network body up to the classifier: stem, cells, global pooling, dropout."""
    if len(input_shape) != 3:
        raise ValueError("cell spaces need image data (N, H, W, C)")
    s0 = s1 = batchnorm()(conv(net.channels, 3, bias=False)(x))
    for st in cell_stages(net.channels, net.cells, net.reductions, len(net.normal)):
        s0, s1 = s1, cell(net.reduce if st.reduction else net.normal, s0, s1, st.c, st.reduction, st.reduction_prev)
    y = layers.GlobalAveragePooling2D()(s1)
    return layers.Dropout(dropout)(y) if dropout > 0 else y


def features(arch: ArchConfig, x, input_shape: Sequence[int]):
    """The network of ``arch`` on tensor ``x`` up to (not including) the linear classifier.

    AutoKeras's classification head adds that classifier; :func:`build_keras_model` adds it here.
    """
    if isinstance(arch.network, CellConfig):
        return cell_features(arch.network, x, input_shape, arch.training.dropout)
    return macro_features(arch.network, x, input_shape, arch.training.dropout)


def classifier(num_classes: int, name: str | None = None) -> layers.Dense:
    return layers.Dense(num_classes, kernel_initializer=KERNEL_INIT, name=name)


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
    inputs = keras.Input(tuple(int(n) for n in input_shape))
    return keras.Model(inputs, classifier(num_classes)(features(arch, inputs, input_shape)))


def count_trainable(model: keras.Model) -> int:
    """Trainable parameters (BatchNorm moving statistics excluded, as in PyTorch's count)."""
    return sum(math.prod(int(d) for d in w.shape) for w in model.trainable_weights)
