"""An architecture in one line of text, for reports that are text (the run table, the benchmark's Markdown).

* ``cell``: DARTS's genotype read aloud, ``normal: 0 = sep_conv_3x3(c_{k-1}) + skip_connect(c_{k-2}); ...``
  then the reduction cell the same way;
* ``dense_cell``: NAS-Bench-201's own string, ``|conv_3x3~0|+|none~0|skip_connect~1|+|...|``;
* ``macro``: the layers in order, ``conv_3x3 w32 relu bn maxpool skip | linear w16 tanh``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from unified_nas.report.architecture.layout import CELL_INPUTS, nb201_string
from unified_nas.space.spaces import CellSpace, DenseCellSpace, MacroConfig, SearchSpace, cell_label


def _cell(net: CellSpace, sample: Mapping[str, Any], kind: str) -> str:
    nodes = []
    for j in range(net.nodes):
        edges = []
        for k in range(net.inputs_per_node):
            inp = int(sample[cell_label(kind, "input", j, k)])
            edges.append(f"{sample[cell_label(kind, 'op', j, k)]}({CELL_INPUTS[inp] if inp < 2 else inp - 2})")
        nodes.append(f"{j} = {' + '.join(edges)}")
    return f"{kind}: {'; '.join(nodes)}"


def genotype_text(space: SearchSpace, sample: Mapping[str, Any]) -> str:
    """One line naming every choice of a sample's network (formats in the module docstring).

    Args:
        space: The recipe's search space.
        sample: A canonical sample of it.

    Returns:
        The line (training hyperparameters are not part of it).

    Raises:
        SampleError: The sample does not belong to the space.
    """
    arch = space.resolve(sample)
    net = space.network
    if isinstance(net, DenseCellSpace):
        return nb201_string(net, sample)
    if isinstance(net, CellSpace):
        kinds = ("normal", "reduce") if net.reductions else ("normal",)
        return " | ".join(_cell(net, sample, kind) for kind in kinds)
    assert isinstance(arch.network, MacroConfig)  # a macro space resolves to a macro network
    layers = []
    for cfg in arch.network.layers:
        words = [cfg.op.name]
        words += [f"w{cfg.width}"] if cfg.width is not None else []
        words += [cfg.activation] if cfg.activation else []
        words += ["bn"] if cfg.batchnorm else []
        words += [f"{cfg.pool}pool"] if cfg.pool != "none" else []
        words += ["skip"] if cfg.skip else []
        layers.append(" ".join(words))
    return " | ".join(layers) or "(no layers)"
