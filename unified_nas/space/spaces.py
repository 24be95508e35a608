"""Structured search spaces: macro layer sequences, cell DAGs, training hyperparameters.

Each field is either a fixed JSON scalar or a distribution. ``decls()`` flattens
a space into canonical labels (see ``decl.py``); ``resolve(sample)`` turns a
canonical sample back into a concrete :class:`ArchConfig`, the only input the
framework materializers read.

Canonical labels:
    macro   ``depth``, ``layer{i}/{op,kernel,width,activation,batchnorm,pool,skip}``
    cell    ``channels``, ``{normal,reduce}/input_{i}_{k}`` and ``{normal,reduce}/op_{i}_{k}``
            for node ``i`` (2, 3, ...: 0 and 1 are the two previous cells) and
            edge ``k``; NNI's ``Cell`` uses exactly these labels
    training ``lr``, ``optimizer``, ``batch_size``, ``weight_decay``, ``dropout``
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Union

from unified_nas.space.decl import Condition, ParamDecl
from unified_nas.space.ops import KERNELLED, WIDTH_FAMILIES, OpSpec, macro_op, op_spec
from unified_nas.space.params import Categorical, Distribution, FloatRange, IntRange, Scalar
from unified_nas.space.sampling import validate_sample

Value = Union[Scalar, Distribution]
_DISTS = (Categorical, IntRange, FloatRange)


def _values(v: Value) -> list[Any]:
    return v.values() if isinstance(v, _DISTS) else [v]


def _decl(out: list[ParamDecl], label: str, v: Value | None, conds: tuple[Condition, ...]) -> None:
    if isinstance(v, _DISTS):
        out.append(ParamDecl(label, v, conds))


def _get(v: Value | None, label: str, sample: Mapping[str, Any]) -> Any:
    # Samples are validated before resolving, so an absent label is an inactive one.
    return sample.get(label) if isinstance(v, _DISTS) else v


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
            fams = _values(layer.op)

            def when(allowed: tuple[str, ...]) -> tuple[Condition, ...]:
                sub = tuple(f for f in fams if f in allowed)
                if isinstance(layer.op, _DISTS) and len(sub) < len(fams):
                    return on + (Condition(f"{p}/op", sub),)
                return on

            _decl(out, f"{p}/kernel", layer.kernel, when(KERNELLED))
            _decl(out, f"{p}/width", layer.width, when(WIDTH_FAMILIES))
            _decl(out, f"{p}/activation", layer.activation, when(WIDTH_FAMILIES))
            _decl(out, f"{p}/batchnorm", layer.batchnorm, when(WIDTH_FAMILIES))
            _decl(out, f"{p}/pool", layer.pool, on)
            _decl(out, f"{p}/skip", layer.skip, on)
        return out

    def resolve(self, s: Mapping[str, Any]) -> "MacroConfig":
        depth = _get(self.depth, "depth", s)
        return MacroConfig(tuple(
            resolve_layer(*(_get(getattr(ls, f), f"layer{i}/{f}", s) for f in LAYER_FIELDS))
            for i, ls in enumerate(self.layers[:depth])))


LAYER_FIELDS = ("op", "kernel", "width", "activation", "batchnorm", "pool", "skip")


def resolve_layer(op: str, kernel: Any, width: Any, activation: Any, batchnorm: Any, pool: str,
                  skip: Any) -> "LayerConfig":
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


@dataclass(frozen=True)
class CellSpace:
    """A DARTS-style cell DAG stacked into a network.

    Each of ``nodes`` intermediate nodes sums ``inputs_per_node`` edges; an
    edge picks an input (0 and 1 are the two previous cells' outputs, 2+j is
    intermediate node j) and an op (labels: :func:`cell_label`). Normal and reduction cells have their own
    choices; reduction cells sit at ``reductions`` (indices into ``cells``)
    and halve the spatial size while doubling channels. The cell output
    concatenates all intermediate nodes.
    """

    ops: tuple[str, ...]
    nodes: int = 2
    inputs_per_node: int = 2
    cells: int = 3
    reductions: tuple[int, ...] = (1, 2)
    channels: Value = 8

    def decls(self) -> list[ParamDecl]:
        out: list[ParamDecl] = []
        _decl(out, "channels", self.channels, ())
        for kind in ("normal", "reduce"):
            if kind == "reduce" and not self.reductions:
                continue
            for j in range(self.nodes):
                for k in range(self.inputs_per_node):
                    out.append(ParamDecl(cell_label(kind, "input", j, k), Categorical(tuple(range(j + 2)))))
                    out.append(ParamDecl(cell_label(kind, "op", j, k), Categorical(tuple(self.ops))))
        return out

    def resolve(self, s: Mapping[str, Any]) -> "CellConfig":
        def genotype(kind: str) -> tuple[tuple[tuple[int, OpSpec], ...], ...]:
            if kind == "reduce" and not self.reductions:
                return ()
            return tuple(
                tuple((s[cell_label(kind, "input", j, k)], op_spec(s[cell_label(kind, "op", j, k)]))
                      for k in range(self.inputs_per_node))
                for j in range(self.nodes))

        return CellConfig(_get(self.channels, "channels", s), self.cells, tuple(self.reductions),
                          genotype("normal"), genotype("reduce"))


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


def cell_stages(channels: int, cells: int, reductions: tuple[int, ...], nodes: int) -> list[CellStage]:
    """The stem has ``channels``; each reduction cell doubles them; a cell outputs ``nodes * c``."""
    stages, c, c_pp, c_p, red_prev = [], channels, channels, channels, False
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

    def resolve(self, s: Mapping[str, Any]) -> "TrainingConfig":
        return TrainingConfig(**{n: _get(getattr(self, n), n, s)
                                 for n in ("lr", "optimizer", "batch_size", "weight_decay", "dropout")})


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

    network: Union[MacroConfig, CellConfig]
    training: TrainingConfig


@dataclass(frozen=True)
class SearchSpace:
    """The whole IR of one recipe: a network space plus training hyperparameters."""

    network: Union[MacroSpace, CellSpace]
    training: TrainingSpace = field(default_factory=TrainingSpace)

    @property
    def kind(self) -> str:
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
