"""Structured search spaces: macro layer sequences, cell DAGs, dense cells, training hyperparameters.

Each field is either a fixed JSON scalar or a distribution. ``decls()`` flattens
a space into canonical labels (see ``decl.py``); ``resolve(sample)`` turns a
canonical sample back into a concrete :class:`ArchConfig`, the only input the
framework materializers read.

Canonical labels:
    macro   ``depth``, ``layer{i}/{op,kernel,width,activation,batchnorm,pool,skip}``
    cell    ``channels``, ``{normal,reduce}/input_{i}_{k}`` and ``{normal,reduce}/op_{i}_{k}``
            for node ``i`` (2, 3, ...: 0 and 1 are the two previous cells) and
            edge ``k``; NNI's ``Cell`` uses exactly these labels
    dense_cell ``channels``, ``cell/op_{i}_{j}``: the op of the edge from node ``j`` to node ``i``
            (``0 <= j < i < nodes``, node 0 is the cell input), ordered by ``i`` then ``j``;
            for 4 nodes exactly NAS-Bench-201's edges (``tables.nasbench201.CANONICAL_CELL``)
    training ``lr``, ``optimizer``, ``batch_size``, ``weight_decay``, ``dropout``
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from unified_nas.space.decl import Condition, ParamDecl
from unified_nas.space.ops import KERNELLED, WIDTH_FAMILIES, OpSpec, macro_op, op_spec
from unified_nas.space.params import Categorical, Distribution, FloatRange, IntRange, Scalar
from unified_nas.space.sampling import validate_sample

Value = Scalar | Distribution
_DISTS = (Categorical, IntRange, FloatRange)


def _values(v: Value) -> list[Any]:
    return v.values() if isinstance(v, _DISTS) else [v]


def _decl(out: list[ParamDecl], label: str, v: Value | None, conds: tuple[Condition, ...]) -> None:
    if isinstance(v, _DISTS):
        out.append(ParamDecl(label, v, conds))


def _get(v: Value | None, label: str, sample: Mapping[str, Any]) -> Any:
    # Samples are validated before resolving, so an absent label is an inactive one.
    return sample.get(label) if isinstance(v, _DISTS) else v


def _op_condition(op: Value, prefix: str, on: tuple[Condition, ...], allowed: tuple[str, ...]) -> tuple[Condition, ...]:
    """The conditions of a layer field that only some op families have: ``on``, plus the op being one of them.

    Args:
        op: The layer's op field (fixed or a choice).
        prefix: The layer's label prefix (``layer{i}``).
        on: The layer's own conditions (its depth).
        allowed: The op families that have the field.

    Returns:
        The field's conditions.
    """
    fams = _values(op)
    sub = tuple(f for f in fams if f in allowed)
    if isinstance(op, _DISTS) and len(sub) < len(fams):
        return on + (Condition(f"{prefix}/op", sub),)
    return on


@dataclass(frozen=True)
class LayerSpace:
    """One layer of a macro space. ``op`` is an op family (see ``ops.MACRO_FAMILIES``)."""

    op: Value
    width: Value | None = None
    kernel: Value | None = None
    activation: Value = "relu"
    batchnorm: Value = False
    pool: Value = "none"
    skip: Value = False


@dataclass(frozen=True)
class MacroSpace:
    """A layer sequence of variable depth; layers beyond ``depth`` are inactive."""

    depth: Value
    layers: tuple[LayerSpace, ...]

    def decls(self) -> list[ParamDecl]:
        out: list[ParamDecl] = []
        _decl(out, "depth", self.depth, ())
        depths = _values(self.depth)
        for i, layer in enumerate(self.layers):
            p = f"layer{i}"
            on: tuple[Condition, ...] = ()
            if isinstance(self.depth, _DISTS) and min(depths) <= i:
                on = (Condition("depth", tuple(d for d in depths if d > i)),)
            _decl(out, f"{p}/op", layer.op, on)
            kernel_on = _op_condition(layer.op, p, on, KERNELLED)
            width_on = _op_condition(layer.op, p, on, WIDTH_FAMILIES)
            _decl(out, f"{p}/kernel", layer.kernel, kernel_on)
            _decl(out, f"{p}/width", layer.width, width_on)
            _decl(out, f"{p}/activation", layer.activation, width_on)
            _decl(out, f"{p}/batchnorm", layer.batchnorm, width_on)
            _decl(out, f"{p}/pool", layer.pool, on)
            _decl(out, f"{p}/skip", layer.skip, on)
        return out

    def resolve(self, s: Mapping[str, Any]) -> MacroConfig:
        depth = _get(self.depth, "depth", s)
        return MacroConfig(
            tuple(
                resolve_layer(*(_get(getattr(ls, f), f"layer{i}/{f}", s) for f in LAYER_FIELDS))
                for i, ls in enumerate(self.layers[:depth])
            )
        )


LAYER_FIELDS = ("op", "kernel", "width", "activation", "batchnorm", "pool", "skip")


def resolve_layer(
    op: str, kernel: Any, width: Any, activation: Any, batchnorm: Any, pool: str, skip: Any
) -> LayerConfig:
    """One macro layer from its field values; fields the op does not use are ignored.

    Shared by ``MacroSpace.resolve`` and backends that build layers from
    per-layer values (NNI's parametrized blocks), so both agree by construction.
    """
    has_w = op in WIDTH_FAMILIES
    return LayerConfig(
        op=macro_op(op, kernel if op in KERNELLED else None),
        width=width if has_w else None,
        activation=activation if has_w else None,
        batchnorm=bool(batchnorm) if has_w else False,
        pool=pool,
        skip=bool(skip),
    )


def cell_label(kind: str, what: str, node: int, edge: int) -> str:
    """Canonical label of an edge's ``input`` or ``op`` in a ``normal``/``reduce`` cell.

    ``node`` counts intermediate nodes from 0; the label numbers nodes after
    the two cell inputs (node 0 -> 2), as NNI's ``Cell`` does.
    """
    return f"{kind}/{what}_{node + 2}_{edge}"


def neutral_op(ops: tuple[str, ...]) -> str:
    """A cell edge's start op when the recipe names none: the first listed op with weights.

    The general rule for unordered choices (the first listed, see ``params``)
    fails here: cell op lists often begin with ``none`` (NAS-Bench-201's does),
    and a cell of zero or parameter-free ops learns nothing beyond its stem,
    so every start-point strategy would begin at the worst network of the
    space. The first op with weights keeps the author's order otherwise.

    Args:
        ops: The cell's candidate ops, in the recipe's order.

    Returns:
        The first op of a weighted family (conv, sep_conv, dil_conv), else the first op.
    """
    return next((o for o in ops if op_spec(o).family in WIDTH_FAMILIES), ops[0])


@dataclass(frozen=True)
class CellSpace:
    """A DARTS-style cell DAG stacked into a network.

    Each of ``nodes`` intermediate nodes sums ``inputs_per_node`` edges; an
    edge picks an input (0 and 1 are the two previous cells' outputs, 2+j is
    intermediate node j) and an op (labels: :func:`cell_label`). Normal and reduction cells have their own
    choices; reduction cells sit at ``reductions`` (indices into ``cells``)
    and halve the spatial size while doubling channels. The cell output
    concatenates all intermediate nodes.

    ``skeleton`` is the network around the cells (``network.compile``):
    ``compact`` (the default: a stem of ``channels``, one separable block per
    separable op, a strided 1x1 conv where a reduction needs a skip) or
    ``darts`` (the DARTS paper's evaluation network: a stem of 3 x
    ``channels``, separable ops stacked twice, ``FactorizedReduce``).
    """

    ops: tuple[str, ...]
    nodes: int = 2
    inputs_per_node: int = 2
    cells: int = 3
    reductions: tuple[int, ...] = (1, 2)
    channels: Value = 8
    skeleton: str = "compact"
    op_default: str | None = None  # the recipe's start op of every edge (None: the neutral start)

    @property
    def start_op(self) -> str:
        """Every edge's start op: the recipe's ``ops.default``, else :func:`neutral_op`."""
        return self.op_default or neutral_op(self.ops)

    def decls(self) -> list[ParamDecl]:
        out: list[ParamDecl] = []
        _decl(out, "channels", self.channels, ())
        for kind in ("normal", "reduce"):
            if kind == "reduce" and not self.reductions:
                continue
            for j in range(self.nodes):
                for k in range(self.inputs_per_node):
                    # Input indices are labels, not quantities: the start reads the previous cell's output (1).
                    out.append(ParamDecl(cell_label(kind, "input", j, k), Categorical(tuple(range(j + 2)), 1)))
                    out.append(ParamDecl(cell_label(kind, "op", j, k), Categorical(tuple(self.ops), self.start_op)))
        return out

    def resolve(self, s: Mapping[str, Any]) -> CellConfig:
        def genotype(kind: str) -> tuple[tuple[tuple[int, OpSpec], ...], ...]:
            if kind == "reduce" and not self.reductions:
                return ()
            return tuple(
                tuple(
                    (s[cell_label(kind, "input", j, k)], op_spec(s[cell_label(kind, "op", j, k)]))
                    for k in range(self.inputs_per_node)
                )
                for j in range(self.nodes)
            )

        return CellConfig(
            _get(self.channels, "channels", s),
            self.cells,
            tuple(self.reductions),
            genotype("normal"),
            genotype("reduce"),
            self.skeleton,
        )


#: Networks DARTS-style cells can be stacked into (``network.compile``); the first is the default.
CELL_SKELETONS = ("compact", "darts")
#: NAS-Bench-201's five ops (its ``nor_conv_kxk`` are our ``conv_kxk``: ReLU-conv-BN on a cell edge).
NB201_OPS = ("none", "skip_connect", "conv_1x1", "conv_3x3", "avg_pool_3x3")
#: Networks a dense cell can be stacked into (``network.compile.dense_layout``).
DENSE_SKELETONS = ("nasbench201",)


def dense_cell_label(node: int, source: int) -> str:
    """Canonical label of the op on the dense-cell edge from node ``source`` to node ``node``.

    Nodes are numbered as in NAS-Bench-201: 0 is the cell input, so
    ``0 <= source < node``. One definition, so that tables and backends
    (NNI's ``LayerChoice`` labels) cannot drift apart.

    Args:
        node: The node the edge feeds (1, 2, ...).
        source: The node it reads.

    Returns:
        ``cell/op_{node}_{source}``.

    Raises:
        ValueError: If ``source`` is not an earlier node.
    """
    if not 0 <= source < node:
        raise ValueError(f"a dense-cell edge goes from an earlier node to a later one, not {source} -> {node}")
    return f"cell/op_{node}_{source}"


def dense_cell_edges(nodes: int) -> tuple[tuple[int, int], ...]:
    """Every edge ``(node, source)`` of a dense cell of ``nodes`` nodes (input included), by node then source."""
    return tuple((i, j) for i in range(1, nodes) for j in range(i))


@dataclass(frozen=True)
class DenseCellSpace:
    """A NAS-Bench-201-style cell: every node reads every earlier node, one op per edge.

    Node 0 is the cell input; each later node ``i`` sums one op per edge from
    EVERY earlier node ``j`` (no input choice; the op ``none`` removes the
    edge); the cell outputs its last node. One genotype (labels:
    :func:`dense_cell_label`) is shared by every cell of the network, which
    ``skeleton`` lays out (NAS-Bench-201's: three stages of
    ``cells_per_stage`` cells, with residual reduction blocks between them
    that double the channels).

    Attributes:
        ops: Candidate op of every edge (vocabulary names, see ``ops.CELL_OPS``).
        nodes: Nodes of a cell counting its input (NAS-Bench-201: 4, so 6 edges).
        cells_per_stage: Cells per stage (NAS-Bench-201's N).
        channels: Channels of the first stage (NAS-Bench-201's C); searchable.
        skeleton: The network around the cells (one of :data:`DENSE_SKELETONS`).
    """

    ops: tuple[str, ...] = NB201_OPS
    nodes: int = 4
    cells_per_stage: int = 5
    channels: Value = 16
    skeleton: str = "nasbench201"
    op_default: str | None = None  # the recipe's start op of every edge (None: the neutral start)

    @property
    def start_op(self) -> str:
        """Every edge's start op: the recipe's ``ops.default``, else :func:`neutral_op`."""
        return self.op_default or neutral_op(self.ops)

    def decls(self) -> list[ParamDecl]:
        """``channels`` if searched, then one op choice per edge (no conditions: every edge always exists).

        Returns:
            The declarations in canonical order (see :func:`dense_cell_edges`).
        """
        out: list[ParamDecl] = []
        _decl(out, "channels", self.channels, ())
        for i, j in dense_cell_edges(self.nodes):
            out.append(ParamDecl(dense_cell_label(i, j), Categorical(tuple(self.ops), self.start_op)))
        return out

    def resolve(self, s: Mapping[str, Any]) -> DenseCellConfig:
        """The network of a validated canonical sample ``s``.

        Raises:
            KeyError: If ``s`` lacks an edge's label or names an unknown op (validate first).
        """
        genotype = tuple(tuple(op_spec(s[dense_cell_label(i, j)]) for j in range(i)) for i in range(1, self.nodes))
        return DenseCellConfig(_get(self.channels, "channels", s), self.cells_per_stage, self.skeleton, genotype)


@dataclass(frozen=True)
class CellStage:
    """Channel bookkeeping of one stacked cell (the same for every framework).

    Attributes:
        reduction: This cell halves the spatial size and doubles ``c``.
        reduction_prev: The previous cell did (input 0 is then twice as large).
        c_pp, c_p: Channels of the two inputs (the cells before the previous one and the previous one).
        c: Channels of each node and edge. c_out: Channels of the output (all nodes concatenated).
    """

    reduction: bool
    reduction_prev: bool
    c_pp: int
    c_p: int
    c: int
    c_out: int


def cell_stages(
    channels: int, cells: int, reductions: tuple[int, ...], nodes: int, stem_channels: int | None = None
) -> list[CellStage]:
    """The first cell has ``channels`` per node; each reduction cell doubles them; a cell outputs ``nodes * c``.

    Args:
        channels: Channels of the first cell's nodes.
        cells: Stacked cells.
        reductions: Indices of the reduction cells.
        nodes: Intermediate nodes per cell.
        stem_channels: The stem's output, both inputs of the first cell (default ``channels``;
            DARTS's stem has 3 x ``channels``).
    """
    stem = channels if stem_channels is None else stem_channels
    stages, c, c_pp, c_p, red_prev = [], channels, stem, stem, False
    for i in range(cells):
        red = i in reductions
        if red:
            c *= 2
        stages.append(CellStage(red, red_prev, c_pp, c_p, c, nodes * c))
        c_pp, c_p, red_prev = c_p, nodes * c, red
    return stages


@dataclass(frozen=True)
class TrainingSpace:
    """Training hyperparameters, searchable like any architecture choice."""

    lr: Value = 1e-3
    optimizer: Value = "adam"
    batch_size: Value = 64
    weight_decay: Value = 0.0
    dropout: Value = 0.0

    def decls(self) -> list[ParamDecl]:
        out: list[ParamDecl] = []
        for name in ("lr", "optimizer", "batch_size", "weight_decay", "dropout"):
            _decl(out, name, getattr(self, name), ())
        return out

    def resolve(self, s: Mapping[str, Any]) -> TrainingConfig:
        return TrainingConfig(
            **{n: _get(getattr(self, n), n, s) for n in ("lr", "optimizer", "batch_size", "weight_decay", "dropout")}
        )


@dataclass(frozen=True)
class LayerConfig:
    op: OpSpec
    width: int | None
    activation: str | None
    batchnorm: bool
    pool: str
    skip: bool


@dataclass(frozen=True)
class MacroConfig:
    layers: tuple[LayerConfig, ...]


@dataclass(frozen=True)
class CellConfig:
    channels: int
    cells: int
    reductions: tuple[int, ...]
    normal: tuple[tuple[tuple[int, OpSpec], ...], ...]
    reduce: tuple[tuple[tuple[int, OpSpec], ...], ...]
    skeleton: str = "compact"


@dataclass(frozen=True)
class DenseCellConfig:
    """A resolved dense-cell network.

    Attributes:
        channels: Channels of the first stage.
        cells_per_stage: Cells per stage.
        skeleton: The network around the cells.
        genotype: ``genotype[i - 1][j]`` is the op of the edge from node ``j`` to node ``i``.
    """

    channels: int
    cells_per_stage: int
    skeleton: str
    genotype: tuple[tuple[OpSpec, ...], ...]


@dataclass(frozen=True)
class TrainingConfig:
    lr: float
    optimizer: str
    batch_size: int
    weight_decay: float
    dropout: float


@dataclass(frozen=True)
class ArchConfig:
    """A fully resolved sample: what a materializer builds and a trainer trains."""

    network: MacroConfig | CellConfig | DenseCellConfig
    training: TrainingConfig


@dataclass(frozen=True)
class SearchSpace:
    """The whole IR of one recipe: a network space plus training hyperparameters."""

    network: MacroSpace | CellSpace | DenseCellSpace
    training: TrainingSpace = field(default_factory=TrainingSpace)

    @property
    def kind(self) -> str:
        """``macro``, ``cell`` or ``dense_cell`` (what backends declare in ``Capabilities.space_kinds``)."""
        if isinstance(self.network, DenseCellSpace):
            return "dense_cell"
        return "cell" if isinstance(self.network, CellSpace) else "macro"

    def decls(self) -> tuple[ParamDecl, ...]:
        """All parameters in declaration order (parents before children)."""
        return tuple(self.network.decls() + self.training.decls())

    def resolve(self, sample: Mapping[str, Any]) -> ArchConfig:
        """Validates ``sample`` and returns the concrete architecture.

        Raises:
            SampleError: If the sample does not belong to this space.
        """
        validate_sample(self.decls(), sample)
        return ArchConfig(self.network.resolve(sample), self.training.resolve(sample))
