"""The IR as a genuine NNI 3.0 ``ModelSpace``, built from a JSON-only spec.

NNI ships the class's import path and its init kwargs to trial processes and
rebuilds the model there, so the spec must be plain JSON and construction
deterministic (TOOLKITS.md). Labels are the IR's canonical labels:

* every searchable value is an ``nni.choice`` / ``nni.uniform`` /
  ``nni.loguniform`` with the canonical label;
* macro spaces: ``Repeat`` over parametrized blocks (label ``depth``); each
  block is a ``ParametrizedModule`` whose mutable init args (op, kernel, width,
  activation, batchnorm, pool, skip) NNI freezes, and which then builds the
  core ``MacroLayer``. Input shapes flow between blocks as NNI symbolic
  expressions that evaluate the plan's own shape rule
  (``network.compile.macro_layer``) once the choices are frozen;
* cell spaces: NNI's own ``Cell`` (a ``LayerChoice`` per edge op, an
  ``InputChoice`` per edge input; labels ``normal/op_2_0``...), whose
  candidate ops and preprocessing are the plan's ``cell_edge`` /
  ``cell_preprocessors`` built by the torch builder; this is the form NNI's
  one-shot strategies turn into supernets;
* dense-cell spaces (NAS-Bench-201): the plan's stem, residual reduction
  blocks and ``lastact`` as fixed modules, and per cell one ``LayerChoice`` per
  edge (label ``cell/op_{i}_{j}``), whose candidates are the plan's
  ``cell_edge`` blocks. Every cell of the network uses the same labels, so
  one choice per edge holds for the whole network, as in NAS-Bench-201.

No layer rule is written here: every module comes from a plan block
(``unified_nas.network``) built by ``torch_model``.

Sample values NNI produces that are not canonical (an ``InputChoice`` gives
``[i]``) are mapped back by :func:`to_canonical`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from typing import Any, cast

import nni
import torch
from nni.mutable import CategoricalMultiple, label_scope
from nni.mutable.symbol import SymbolicExpression, first_symbolic_object
from nni.nas.nn.pytorch import Cell, LayerChoice, ModelSpace, ParametrizedModule, Repeat
from nni.nas.space import current_model, model_context
from torch import nn

from unified_nas.models.torch_model import GraphModule, MacroLayer, node_module
from unified_nas.network import Shape
from unified_nas.network.compile import (
    CellSite,
    cell_edge,
    cell_preprocessors,
    cell_sites,
    classifier,
    dense_layout,
    last_activation,
    macro_entry,
    macro_layer,
    macro_readout,
    readout,
    residual_reduction,
    stem,
    stem_channels,
)
from unified_nas.space import Categorical, FloatRange, IntRange, ParamDecl, SearchSpace, canonicalize
from unified_nas.space.ops import SPATIAL_FAMILIES, OpSpec, op_spec
from unified_nas.space.parse import space_from_dict, space_to_dict
from unified_nas.space.spaces import (
    LAYER_FIELDS,
    CellSpace,
    DenseCellSpace,
    MacroSpace,
    dense_cell_edges,
    dense_cell_label,
    resolve_layer,
)

TRAINING_LABELS = ("lr", "optimizer", "batch_size", "weight_decay")  # evaluator arguments; dropout is in the model


def make_spec(space: SearchSpace, input_shape: tuple[int, ...], num_classes: int) -> dict[str, Any]:
    """The JSON-only init argument of :class:`UnasModelSpace`."""
    return {**space_to_dict(space), "input_shape": list(input_shape), "num_classes": num_classes}


def scoped(label: str, make: Callable[[str], Any]) -> Any:
    """``make(name)`` inside nested label scopes, so that NNI's full label is the canonical ``label``.

    NNI refuses '/' in a label; hierarchical labels are built with nested
    label scopes (``cell/op_1_0`` is ``op_1_0`` in scope ``cell``).
    """
    *scopes, name = label.split("/")
    with ExitStack() as stack:
        for scope in scopes:
            stack.enter_context(label_scope(scope))
        return make(name)


def mutable(decl: ParamDecl) -> Any:
    """An NNI mutable with the declaration's canonical label and distribution."""
    return scoped(decl.label, lambda name: _mutable(name, decl))


def _mutable(name: str, decl: ParamDecl) -> Any:
    d = decl.dist
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


def _lazy(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)``, or an NNI expression computing it once the symbolic args are frozen."""
    first = first_symbolic_object(*args)
    if first is None:
        return fn(*args)
    return first.expr_cls(fn, f"{fn.__name__}(" + ", ".join(["{}"] * len(args)) + ")", list(args))


def _layer_output(
    op: str, kernel: Any, width: Any, activation: Any, batchnorm: Any, pool: str, skip: Any, in_dims: tuple[int, ...]
) -> tuple[int, ...]:
    # The plan's own shape rule (dropout does not change shapes). One tuple-valued expression
    # per layer keeps evaluation linear in depth (per-dimension expressions would fan out).
    cfg = resolve_layer(op, kernel, width, activation, batchnorm, pool, skip)
    return macro_layer(cfg, Shape.of(in_dims), 0.0).output_shape.dims


class MacroBlock(ParametrizedModule):
    """One macro layer; NNI freezes the mutable args, then the core ``MacroLayer`` is built.

    ``in_dims`` is the input shape (channels last; NNI freezes it too, as it
    depends on earlier layers' choices).
    """

    def __init__(
        self,
        op: str,
        kernel: Any,
        width: Any,
        activation: Any,
        batchnorm: Any,
        pool: str,
        skip: Any,
        in_dims: tuple[int, ...],
        dropout: float,
    ) -> None:
        super().__init__()
        self.layer = MacroLayer(
            resolve_layer(op, kernel, width, activation, batchnorm, pool, skip), Shape.of(in_dims), dropout
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x)


class Head(ParametrizedModule):
    """The plan's readout and classifier, parametrized by the (mutable) feature shape and dropout.

    Args:
        in_dims: Shape of the last block's output, channels last.
        num_classes: Classifier outputs.
        dropout: Readout dropout of cell networks.
        kind: ``macro`` (no readout dropout: every layer has its own) or ``cell``.
    """

    def __init__(self, in_dims: tuple[int, ...], num_classes: int, dropout: float, kind: str) -> None:
        super().__init__()
        shape = Shape.of(in_dims)
        graph = readout(shape, dropout) if kind == "cell" else macro_readout(shape)
        self.readout = GraphModule(graph)
        self.classifier = node_module(classifier(graph.output_shape, num_classes), [graph.output_shape])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.readout(x))


class CellPreprocess(nn.Module):
    """The plan's preprocessing of a cell's two inputs, as NNI's ``Cell`` calls it (a list in, a list out)."""

    def __init__(self, site: CellSite) -> None:
        super().__init__()
        pre0, pre1 = cell_preprocessors(site)
        self.pre0, self.pre1 = GraphModule(pre0), GraphModule(pre1)

    def forward(self, inputs: list[torch.Tensor]) -> list[torch.Tensor]:
        return [self.pre0(inputs[0]), self.pre1(inputs[1])]


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
        shape, k = Shape.of(spec["input_shape"]), spec["num_classes"]
        self._unas_mutables = {d.label: mutable(d) for d in space.decls() if d.label not in TRAINING_LABELS}
        dropout = value_of(space.training.dropout, "dropout", self._unas_mutables)
        if isinstance(space.network, DenseCellSpace):
            self._build_dense(space.network, shape, k, dropout)
        elif isinstance(space.network, CellSpace):
            self._build_cells(space.network, shape, k, dropout)
        else:
            self._build_macro(space.network, shape, k, dropout)

    def _build_macro(self, net: MacroSpace, shape: Shape, k: int, dropout: Any) -> None:
        m = self._unas_mutables
        first = net.layers[0].op
        families = first.choices if isinstance(first, Categorical) else (first,)
        entry = macro_entry([f in SPATIAL_FAMILIES for f in families], shape)  # the parser forbids mixing
        self.entry = GraphModule(entry)
        dims: Any = entry.output_shape.dims
        blocks, outputs = [], []
        for i, ls in enumerate(net.layers):
            args = {f: value_of(getattr(ls, f), f"layer{i}/{f}", m) for f in LAYER_FIELDS}
            blocks.append(MacroBlock(**args, in_dims=dims, dropout=dropout))
            dims = _lazy(_layer_output, *args.values(), dims)
            outputs.append(dims)
        depth = value_of(net.depth, "depth", m)
        self.layers = Repeat(blocks, depth=depth)
        # The parser keeps depth an int or a choice/range of ints.
        depths = cast(
            "list[int]", net.depth.values() if isinstance(net.depth, (Categorical, IntRange)) else [net.depth]
        )
        self.head = Head(_switch(depth, {d: outputs[d - 1] for d in depths}), k, dropout, "macro")

    def _build_cells(self, net: CellSpace, shape: Shape, k: int, dropout: Any) -> None:
        # Channels are fixed here: searched cell channels are a gap of this backend (Backend.gaps).
        stem_graph = stem(shape, stem_channels(cast(int, net.channels), net.skeleton))
        self.stem = GraphModule(stem_graph)
        sites = cell_sites(
            stem_graph.output_shape, net.cells, net.reductions, net.nodes, cast(int, net.channels), net.skeleton
        )
        self.cells = nn.ModuleList(
            Cell(
                {name: _edge_factory(op_spec(name), site) for name in net.ops},
                num_nodes=net.nodes,
                num_ops_per_node=net.inputs_per_node,
                num_predecessors=2,
                merge_op="all",
                preprocessor=CellPreprocess(site),
                label="reduce" if site.stage.reduction else "normal",
            )
            for site in sites
        )
        self.head = Head(sites[-1].output.dims, k, dropout, "cell")

    def _build_dense(self, net: DenseCellSpace, shape: Shape, k: int, dropout: Any) -> None:
        # The plan's blocks in the plan's order (network.compile.dense_body); only the cells' edges are choices.
        stem_graph = stem(shape, cast(int, net.channels))  # fixed: searched channels are a gap (Backend.gaps)
        self.stem = GraphModule(stem_graph)
        s = stem_graph.output_shape
        blocks: list[nn.Module] = []
        for c, reduction in dense_layout(net.skeleton, cast(int, net.channels), net.cells_per_stage):
            if reduction:
                graph = residual_reduction(s, c)
                blocks.append(GraphModule(graph))
                s = graph.output_shape
            else:
                blocks.append(DenseCell(net.ops, net.nodes, s))
        self.blocks = nn.ModuleList(blocks)
        last = last_activation(s)
        self.lastact = GraphModule(last)
        self.head = Head(last.output_shape.dims, k, dropout, "cell")

    def freeze(self, sample: dict[str, Any]) -> nn.Module:
        """NNI's freeze, with modules of its own for every frozen model.

        NNI's ``Cell.freeze`` hands the re-created cell this space's own
        preprocessor instance, so every model frozen from one space would share
        (and keep training) one set of preprocessing weights and BatchNorm
        statistics, which ``init_weights`` does not fully reset: trials run in
        one process would leak into each other. A deep copy of the untouched
        original restores independent, identically built trials.
        """
        if hasattr(self, "blocks"):
            # Dense cells: NNI's LayerChoice.freeze hands over this space's own candidate (shared by
            # every model frozen from it), after deep-copying every candidate of every cell. Re-creating
            # the space in the sample's context, as NNI's SimplifiedModelSpace does for trials, builds
            # fresh modules of the chosen ops only.
            with model_context(sample):
                return self.trace_copy().get(traceable=False)
        frozen = super().freeze(sample)
        shared = {id(cell.preprocessor) for cell in getattr(self, "cells", ())}
        for cell in getattr(frozen, "cells", ()):
            if id(cell.preprocessor) in shared:
                cell.preprocessor = copy.deepcopy(cell.preprocessor)
        return frozen

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if hasattr(self, "blocks"):  # dense cells
            x = self.stem(x)
            for block in self.blocks:
                x = block(x)
            return self.head(self.lastact(x))
        if hasattr(self, "cells"):
            s0 = s1 = self.stem(x)
            for cell in self.cells:
                s0, s1 = s1, cell([s0, s1])
            return self.head(s1)
        return self.head(self.layers(self.entry(x)))


class DenseCell(nn.Module):
    """One dense cell with a ``LayerChoice`` per edge, labelled ``cell/op_{i}_{j}`` in every cell of the network.

    Candidates are the plan's edge blocks (``network.compile.cell_edge`` at
    stride 1), ``none`` included (zeros): node ``i`` sums all its edges in
    the order of ``j``, so adding a zero where the plan leaves the edge out
    gives the same numbers, parameters and FLOPs. Once frozen, each choice is
    its chosen candidate.

    Args:
        ops: Candidate op names (the sample's values).
        nodes: Nodes of the cell, its input included.
        shape: The cell's input (and output) shape.
    """

    def __init__(self, ops: tuple[str, ...], nodes: int, shape: Shape) -> None:
        super().__init__()
        self.nodes = nodes
        self.edges = nn.ModuleDict(
            {
                f"op_{i}_{j}": scoped(
                    dense_cell_label(i, j),
                    lambda name: LayerChoice(
                        {op: GraphModule(cell_edge(op_spec(op), shape, 1)) for op in ops}, label=name
                    ),
                )
                for i, j in dense_cell_edges(nodes)
            }
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        values = [x]
        for i in range(1, self.nodes):
            y = self.edges[f"op_{i}_0"](values[0])
            for j in range(1, i):
                y = y + self.edges[f"op_{i}_{j}"](values[j])
            values.append(y)
        return values[-1]


def _edge_factory(spec: OpSpec, site: CellSite) -> Callable[..., nn.Module]:
    def make(node_index: int, op_index: int, input_index: int | None = None) -> nn.Module:
        # Inputs 0 and 1 are the previous cells: stride 2 into a reduction cell. Without an
        # input yet (a supernet), stride 1: the module does not depend on the input's size.
        return GraphModule(cell_edge(spec, site.edge_input(input_index), site.stride(input_index), site.skeleton))

    return make


def to_canonical(space: SearchSpace, nni_sample: Mapping[str, Any]) -> dict[str, Any]:
    """NNI sample -> canonical sample (``[i]`` -> ``i``, inactive labels dropped)."""
    flat = {k: (v[0] if isinstance(v, list) and len(v) == 1 else v) for k, v in nni_sample.items()}
    return canonicalize(space.decls(), flat)


def from_canonical(mutables: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """Canonical values -> an NNI sample of ``mutables`` (a model space's ``simplify()``): the inverse of :func:`to_canonical`.

    NNI freezes a model only from a value for every mutable, inactive ones
    included, so ``values`` must give every label; an ``InputChoice``
    (``CategoricalMultiple``) takes its index as a one-element list.

    Args:
        mutables: The model space's mutables by label (``simplify()``).
        values: A canonical value for every label of ``mutables`` (extra labels are ignored).

    Returns:
        The NNI sample, by label.

    Raises:
        KeyError: ``values`` has no value for a label of ``mutables``.
    """
    return {k: [values[k]] if isinstance(m, CategoricalMultiple) else values[k] for k, m in mutables.items()}


__all__ = ["DenseCell", "UnasModelSpace", "from_canonical", "make_spec", "mutable", "scoped", "to_canonical"]
