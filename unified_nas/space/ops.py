"""The op vocabulary, defined once with its shape rules.

Every framework implements exactly these ops (``torch_model.py`` now, a Keras
materializer later) and nothing else, so one canonical sample means one network.

Shape rules (``C`` = channels, ``S`` = stride, 1 in normal cells, dense
cells and macro layers, 2 on the input edges of a reduction cell):

* ``conv_kxk``: k x k convolution, padding k//2, stride S. ``conv_1x1``
  (padding 0, NAS-Bench-201's ``nor_conv_1x1`` on a cell edge) is a cell op
  only: a macro layer's conv kernel stays one of ``KERNELS["conv"]``.
* ``sep_conv_kxk``: depthwise k x k (stride S) then pointwise 1x1.
* ``dil_conv_kxk``: depthwise k x k with dilation 2 (padding k-1, stride S) then pointwise 1x1.
* ``max_pool_3x3`` / ``avg_pool_3x3``: 3x3 window, padding 1, stride S
  (average excludes padding); channels unchanged.
* ``identity`` (alias ``skip_connect``): unchanged; with S=2 a 1x1 conv of
  stride 2 + batchnorm (a simplified factorized reduce; a cell space with
  ``skeleton: darts`` uses DARTS's own ``FactorizedReduce`` instead).
* ``zero`` (alias ``none``): zeros of the output shape (no parameters).
* ``linear``: fully connected layer (vector data).
* Modifiers: ``dropout``, ``batchnorm``; activations ``relu``, ``gelu``
  (exact, not tanh-approximated), ``silu``, ``tanh``.
"""

from __future__ import annotations

from dataclasses import dataclass

ACTIVATIONS = ("relu", "gelu", "silu", "tanh")
OPTIMIZERS = ("adam", "sgd", "adamw")
POOLS = ("none", "max", "avg")

# Kernel sizes the vocabulary defines per family (from the NAS literature); also the kernels a macro layer takes.
KERNELS = {"conv": (3, 5, 7), "sep_conv": (3, 5), "dil_conv": (3, 5)}
# Kernels of cell-only ops: NAS-Bench-201's 1x1 convolution. Kept out of KERNELS so that a macro
# layer's kernel choices (and their error messages) stay what they were.
CELL_ONLY_KERNELS = {"conv": (1,)}
KERNELLED = tuple(KERNELS)
ALIASES = {"skip_connect": "identity", "none": "zero"}
# Families usable as a macro layer; which of them take a width and an activation.
MACRO_FAMILIES = ("conv", "sep_conv", "dil_conv", "max_pool", "avg_pool", "identity", "linear")
WIDTH_FAMILIES = ("conv", "sep_conv", "dil_conv", "linear")
SPATIAL_FAMILIES = ("conv", "sep_conv", "dil_conv", "max_pool", "avg_pool", "identity")


@dataclass(frozen=True)
class OpSpec:
    """A parsed vocabulary op.

    Attributes:
        name: Canonical name, e.g. ``sep_conv_3x3``.
        family: ``conv``, ``sep_conv``, ``dil_conv``, ``max_pool``,
            ``avg_pool``, ``identity``, ``zero`` or ``linear``.
        kernel: Window size, None for identity/zero/linear.
        dilation: 2 for ``dil_conv``, else 1.
    """

    name: str
    family: str
    kernel: int | None = None
    dilation: int = 1

    @property
    def spatial(self) -> bool:
        return self.family != "linear"


def _build() -> dict[str, OpSpec]:
    ops = {}
    for fam, ks in KERNELS.items():
        for k in sorted(CELL_ONLY_KERNELS.get(fam, ()) + ks):
            ops[f"{fam}_{k}x{k}"] = OpSpec(f"{fam}_{k}x{k}", fam, k, 2 if fam == "dil_conv" else 1)
    ops["max_pool_3x3"] = OpSpec("max_pool_3x3", "max_pool", 3)
    ops["avg_pool_3x3"] = OpSpec("avg_pool_3x3", "avg_pool", 3)
    ops["identity"] = OpSpec("identity", "identity")
    ops["zero"] = OpSpec("zero", "zero")
    ops["linear"] = OpSpec("linear", "linear")
    return ops


OPS: dict[str, OpSpec] = _build()
CELL_OPS = tuple(n for n in OPS if n != "linear") + tuple(ALIASES)


def op_spec(name: str) -> OpSpec:
    """Looks an op up by canonical name or alias.

    Raises:
        KeyError: With the list of known names.
    """
    name = ALIASES.get(name, name)
    if name not in OPS:
        raise KeyError(f"unknown op {name!r}; known: {', '.join(list(OPS) + list(ALIASES))}")
    return OPS[name]


def macro_op(family: str, kernel: int | None) -> OpSpec:
    """The op of a macro layer from its family and (for convs) kernel.

    Raises:
        KeyError: If the family does not take that kernel.
    """
    if family in KERNELS:
        if kernel not in KERNELS[family]:
            raise KeyError(f"{family} has kernels {', '.join(map(str, KERNELS[family]))}, not {kernel}")
        return OPS[f"{family}_{kernel}x{kernel}"]
    if family in ("max_pool", "avg_pool"):
        return OPS[f"{family}_3x3"]
    return op_spec(family)
