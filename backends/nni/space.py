"""The IR as a genuine NNI 3.0 ``ModelSpace``, built from a JSON-only spec.

NNI ships the class's import path and its init kwargs to trial processes and
rebuilds the model there, so the spec must be plain JSON and construction
deterministic (TOOLKITS.md). Labels are the IR's canonical labels:

* every searchable value is an ``nni.choice`` / ``nni.uniform`` /
  ``nni.loguniform`` with the canonical label;
* macro spaces: ``Repeat`` over parametrized blocks (label ``depth``); each
  block is a ``ParametrizedModule`` whose mutable init args (op, kernel, width,
  activation, batchnorm, pool, skip) NNI freezes, and which then builds the
  core ``MacroLayer``. Channel and spatial sizes flow between blocks as NNI
  symbolic expressions (``switch_case`` on the op and pool choices);
* cell spaces: NNI's own ``Cell`` (a ``LayerChoice`` per edge op, an
  ``InputChoice`` per edge input; labels ``normal/op_2_0``...), whose edges
  and preprocessing are the core ``cell_edge`` / ``CellPreprocess``; this is
  the form NNI's one-shot strategies turn into supernets.

Sample values NNI produces that are not canonical (an ``InputChoice`` gives
``[i]``) are mapped back by :func:`to_canonical`.
"""
from __future__ import annotations

from contextlib import ExitStack
from typing import Any, Mapping

import nni
import torch
from nni.mutable import label_scope
from nni.mutable.symbol import SymbolicExpression
from nni.nas.nn.pytorch import Cell, ModelSpace, ParametrizedModule, Repeat
from nni.nas.space import current_model
from torch import nn

from unified_nas.space import Categorical, FloatRange, IntRange, ParamDecl, SearchSpace, canonicalize
from unified_nas.space.ops import WIDTH_FAMILIES, op_spec
from unified_nas.space.parse import space_from_dict, space_to_dict
from unified_nas.space.spaces import LAYER_FIELDS, CellSpace, cell_stages, resolve_layer
from unified_nas.torch_model import CellPreprocess, ClassifierHead, MacroLayer, cell_edge, cell_stem

TRAINING_LABELS = ("lr", "optimizer", "batch_size", "weight_decay")  # evaluator arguments; dropout is in the model


def make_spec(space: SearchSpace, input_shape: tuple[int, ...], num_classes: int) -> dict[str, Any]:
    """The JSON-only init argument of :class:`UnasModelSpace`."""
    return {**space_to_dict(space), "input_shape": list(input_shape), "num_classes": num_classes}


def mutable(decl: ParamDecl) -> Any:
    """An NNI mutable with the declaration's canonical label and distribution."""
    d = decl.dist
    # NNI refuses '/' in a label; hierarchical labels are built with nested label scopes.
    *scopes, name = decl.label.split("/")
    with ExitStack() as stack:
        for scope in scopes:
            stack.enter_context(label_scope(scope))
        if isinstance(d, Categorical):
            return nni.choice(name, list(d.choices))
        if isinstance(d, IntRange):  # NNI has no integer range: the grid of values as a choice
            return nni.choice(name, d.values())
        if isinstance(d, FloatRange):
            return (nni.loguniform if d.log else nni.uniform)(name, d.low, d.high)
    raise TypeError(type(d).__name__)


def value_of(field: Any, label: str, mutables: Mapping[str, Any]) -> Any:
    """The mutable for ``label`` if the field is searched, else its fixed value."""
    return mutables.get(label, field)


def _switch(branch: Any, cases: dict[Any, Any]) -> Any:
    if not isinstance(branch, SymbolicExpression):
        return cases[branch]
    return SymbolicExpression.switch_case(branch, cases)


def _half_if_pooled(hw: Any, pooled: bool) -> Any:
    if not pooled:
        return hw
    if isinstance(hw, SymbolicExpression):
        return SymbolicExpression.condition(hw >= 2, hw // 2, hw)
    return hw // 2 if hw >= 2 else hw


class MacroBlock(ParametrizedModule):
    """One macro layer; NNI freezes the mutable args, then the core ``MacroLayer`` is built."""

    def __init__(self, op: str, kernel: Any, width: Any, activation: Any, batchnorm: Any, pool: str, skip: Any,
                 c_in: int, hw: int, dropout: float) -> None:
        super().__init__()
        self.layer = MacroLayer(resolve_layer(op, kernel, width, activation, batchnorm, pool, skip), c_in, hw, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x)


class Head(ParametrizedModule):
    """The classifier head, parametrized by the (mutable) input width and dropout."""

    def __init__(self, c_in: int, num_classes: int, spatial: bool, dropout: float) -> None:
        super().__init__()
        self.head = ClassifierHead(c_in, num_classes, spatial, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(x)


class UnasModelSpace(ModelSpace):
    """An NNI model space for one recipe's search space.

    Args:
        spec: Output of :func:`make_spec` (JSON only).
    """

    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__()
        # Inside NNI's model_context (a trial rebuilding its model), this is the sample.
        self.unas_sample = current_model()
        space = space_from_dict(spec)
        shape, k = tuple(spec["input_shape"]), spec["num_classes"]
        self._unas_mutables = {d.label: mutable(d) for d in space.decls() if d.label not in TRAINING_LABELS}
        dropout = value_of(space.training.dropout, "dropout", self._unas_mutables)
        if isinstance(space.network, CellSpace):
            self._build_cells(space.network, shape, k, dropout)
        else:
            self._build_macro(space, shape, k, dropout)

    def _build_macro(self, space: SearchSpace, shape: tuple[int, ...], k: int, dropout: Any) -> None:
        net, m = space.network, self._unas_mutables
        self.spatial = len(shape) == 3 and net.layers[0].op != "linear" and not (
            isinstance(net.layers[0].op, Categorical) and "linear" in net.layers[0].op.choices)
        c: Any = shape[-1] if self.spatial else int(torch.tensor(shape).prod())
        hw: Any = min(shape[:2]) if self.spatial else 0
        blocks, widths = [], []
        for i, ls in enumerate(net.layers):
            args = {f: value_of(getattr(ls, f), f"layer{i}/{f}", m) for f in LAYER_FIELDS}
            blocks.append(MacroBlock(**args, c_in=c, hw=hw, dropout=dropout))
            fams = ls.op.choices if isinstance(ls.op, Categorical) else (ls.op,)
            c = _switch(args["op"], {f: (args["width"] if f in WIDTH_FAMILIES else c) for f in fams})
            pools = ls.pool.choices if isinstance(ls.pool, Categorical) else (ls.pool,)
            hw = _switch(args["pool"], {p: _half_if_pooled(hw, p != "none") for p in pools})
            widths.append(c)
        depth = value_of(net.depth, "depth", m)
        self.layers = Repeat(blocks, depth=depth)
        depths = net.depth.values() if isinstance(depth, SymbolicExpression) else [depth]
        self.head = Head(_switch(depth, {d: widths[d - 1] for d in depths}), k, self.spatial, dropout)

    def _build_cells(self, net: CellSpace, shape: tuple[int, ...], k: int, dropout: Any) -> None:
        self.spatial = True
        self.stem = cell_stem(shape[-1], net.channels)
        stages = cell_stages(net.channels, net.cells, net.reductions, net.nodes)
        self.cells = nn.ModuleList(
            Cell({name: _edge_factory(name, st.c, st.reduction) for name in net.ops}, num_nodes=net.nodes,
                 num_ops_per_node=net.inputs_per_node, num_predecessors=2, merge_op="all",
                 preprocessor=CellPreprocess(st.c_pp, st.c_p, st.c, st.reduction_prev),
                 label="reduce" if st.reduction else "normal")
            for st in stages)
        self.head = Head(stages[-1].c_out, k, True, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if hasattr(self, "cells"):
            s0 = s1 = self.stem(x)
            for cell in self.cells:
                s0, s1 = s1, cell([s0, s1])
            return self.head(s1)
        if not self.spatial:
            x = x.flatten(1)
        return self.head(self.layers(x))


def _edge_factory(name: str, c: int, reduction: bool):
    spec = op_spec(name)

    def make(node_index: int, op_index: int, input_index: int | None = None) -> nn.Module:
        # Inputs 0 and 1 are the previous cells: stride 2 into a reduction cell.
        return cell_edge(spec, c, 2 if reduction and input_index is not None and input_index < 2 else 1)

    return make


def to_canonical(space: SearchSpace, nni_sample: Mapping[str, Any]) -> dict[str, Any]:
    """NNI sample -> canonical sample (``[i]`` -> ``i``, inactive labels dropped)."""
    flat = {k: (v[0] if isinstance(v, list) and len(v) == 1 else v) for k, v in nni_sample.items()}
    return canonicalize(space.decls(), flat)


__all__ = ["UnasModelSpace", "make_spec", "mutable", "to_canonical"]
