"""Bank keys: which shared tensor each parameter of a subnet reads.

A key is a parameter's module path (``body.layer0.conv.weight``), with the op
chosen at its choice site written after the site
(``body.layer0[conv_3x3].conv.weight``). Module paths name positions, not ops
(a macro layer's conv is ``conv`` whatever its kernel; ``sep_conv_3x3`` and
``dil_conv_3x3`` both have a ``depthwise`` and a ``pointwise``), so without the
tag two candidate ops at one position would share a tensor. The sites, per
network family (``network/macro.py``, ``cells.py``, ``dense.py`` name them):

* macro: ``body.layer{i}``, tagged with the layer's op (family and kernel);
* cell: the edge ``body.cell{c}.op_{n}_{k}``, tagged with its input and op
  (the input fixes the edge's stride in a reduction cell);
* dense cell: the edge ``body.cell{c}.op_{i}_{j}``, tagged with its op.
"""

from __future__ import annotations

from collections.abc import Mapping

from torch import nn

from unified_nas.models.torch_model import GLOROT_LAYERS
from unified_nas.network.dense import dense_layout
from unified_nas.space.spaces import ArchConfig, CellConfig, DenseCellConfig, MacroConfig

#: Labels whose value sets a channel count (the leading slices of a bank tensor).
WIDTH_SUFFIX, CHANNELS = "/width", "channels"


def is_width_label(label: str) -> bool:
    """Whether ``label`` chooses a channel count (a macro layer's width, a cell network's channels)."""
    return label.endswith(WIDTH_SUFFIX) or label == CHANNELS


def op_sites(arch: ArchConfig) -> dict[str, str]:
    """The choice sites of ``arch``: module path -> the tag of the op chosen there (see the module docstring).

    Args:
        arch: A resolved sample.

    Returns:
        One entry per site; paths are those of the torch builder's modules.
    """
    net = arch.network
    if isinstance(net, MacroConfig):
        return {f"body.layer{i}": layer.op.name for i, layer in enumerate(net.layers)}
    if isinstance(net, CellConfig):
        sites = {}
        for c in range(net.cells):
            genotype = net.reduce if c in net.reductions else net.normal
            for j, node in enumerate(genotype):
                for k, (inp, op) in enumerate(node):
                    sites[f"body.cell{c}.op_{j + 2}_{k}"] = f"in{inp}:{op.name}"
        return sites
    assert isinstance(net, DenseCellConfig)
    blocks = len(dense_layout(net.skeleton, net.channels, net.cells_per_stage))
    # Reduction blocks have no op_ nodes: their tags match nothing.
    return {
        f"body.cell{c}.op_{i}_{j}": op.name
        for c in range(blocks)
        for i, ops in enumerate(net.genotype, start=1)
        for j, op in enumerate(ops)
    }


def bank_key(name: str, sites: Mapping[str, str]) -> str:
    """The bank key of parameter ``name``: the name with the op tag after its innermost site, if it has one."""
    parts = name.split(".")
    for n in range(len(parts) - 1, 0, -1):
        prefix = ".".join(parts[:n])
        if prefix in sites:
            return f"{prefix}[{sites[prefix]}]." + ".".join(parts[n:])
    return name


def init_kind(model: nn.Module, name: str) -> str:
    """How the builder initialises parameter ``name`` of ``model``: ``glorot``, ``ones`` or ``zeros``.

    Glorot-uniform for the weights of :data:`~unified_nas.models.torch_model.GLOROT_LAYERS` and zero
    biases, as :func:`~unified_nas.models.torch_model.init_weights` does; BatchNorm's own
    default (weight one, bias zero) otherwise.
    """
    owner, _, pname = name.rpartition(".")
    module = model.get_submodule(owner)
    if pname == "weight" and isinstance(module, GLOROT_LAYERS):
        return "glorot"
    if pname == "weight" and isinstance(module, nn.modules.batchnorm._BatchNorm):
        return "ones"
    return "zeros"
