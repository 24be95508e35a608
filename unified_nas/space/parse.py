"""Dict (YAML) <-> search-space IR, with errors that name the offending path.

Value syntax, for every searchable field:

* a scalar: fixed, not searched (``width: 64``);
* a list: a categorical choice (``width: [32, 64, 128]``);
* a mapping ``{low, high[, step][, log][, type: int|float]}``: a range with
  inclusive bounds; integer bounds give an integer range unless ``type: float``;
* a mapping ``{choices: [...]}``: a categorical choice.

Ranges and ``{choices: [...]}`` may add ``default:``, the value strategies
that start from one point start from (see ``params``: without it, a neutral
value). A cell's ``ops`` may likewise be ``{choices: [...], default: OP}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from unified_nas.core.errors import RecipeError
from unified_nas.core.limits import MAX_BATCH_SIZE, MAX_CELLS, MAX_DEPTH, MAX_NODES, MAX_WIDTH
from unified_nas.core.text import shown
from unified_nas.space.fields import (
    _values,
    as_mapping,
    is_bool,
    is_int,
    is_number,
    one_of,
    parse_value,
    reject_unknown,
    shown_value,
)
from unified_nas.space.ops import (
    ACTIVATIONS,
    CELL_OPS,
    KERNELS,
    MACRO_FAMILIES,
    OPTIMIZERS,
    POOLS,
    SPATIAL_FAMILIES,
    op_spec,
)
from unified_nas.space.params import Categorical, FloatRange, IntRange
from unified_nas.space.spaces import (
    CELL_SKELETONS,
    DENSE_SKELETONS,
    NB201_OPS,
    CellSpace,
    DenseCellSpace,
    LayerSpace,
    MacroSpace,
    SearchSpace,
    TrainingSpace,
    Value,
)

TRAINING_HPARAMS = ("lr", "optimizer", "batch_size", "weight_decay", "dropout")


LAYER_FIELDS = ("op", "width", "kernel", "activation", "batchnorm", "pool", "skip")


def _parse_layer(path: str, raw: Any) -> LayerSpace:
    raw = as_mapping(path, raw)
    reject_unknown(path, raw, LAYER_FIELDS)
    if "op" not in raw:
        raise RecipeError(f"{path}.op", "missing (one of " + ", ".join(MACRO_FAMILIES) + ")")
    op = parse_value(f"{path}.op", raw["op"], one_of(MACRO_FAMILIES))
    fams = _values(op)
    kernels = sorted({k for f in fams if f in KERNELS for k in KERNELS[f]})
    common = tuple(k for k in kernels if all(k in KERNELS[f] for f in fams if f in KERNELS))
    kernel = None
    if any(f in KERNELS for f in fams):
        kernel = parse_value(f"{path}.kernel", raw.get("kernel", 3), one_of(common), "int")
    elif "kernel" in raw:
        raise RecipeError(f"{path}.kernel", "no op of this layer takes a kernel")
    width = None
    if any(f in ("conv", "sep_conv", "dil_conv", "linear") for f in fams):
        if "width" not in raw:
            raise RecipeError(f"{path}.width", "missing (units or channels of the layer)")
        width = parse_value(f"{path}.width", raw["width"], is_int(1, MAX_WIDTH), "int")
    elif "width" in raw:
        raise RecipeError(f"{path}.width", "no op of this layer takes a width")
    spatial = [f in SPATIAL_FAMILIES for f in fams]
    if any(spatial) and not all(spatial):
        raise RecipeError(f"{path}.op", "cannot mix linear with spatial ops in one layer")
    pool = parse_value(f"{path}.pool", raw.get("pool", "none"), one_of(POOLS))
    if not any(spatial) and _values(pool) != ["none"]:
        raise RecipeError(f"{path}.pool", "pooling needs a spatial op (linear layers have no pool)")
    return LayerSpace(
        op=op,
        width=width,
        kernel=kernel,
        activation=parse_value(f"{path}.activation", raw.get("activation", "relu"), one_of(ACTIVATIONS)),
        batchnorm=parse_value(f"{path}.batchnorm", raw.get("batchnorm", False), is_bool),
        pool=pool,
        skip=parse_value(f"{path}.skip", raw.get("skip", False), is_bool),
    )


def _parse_macro(path: str, raw: Mapping[str, Any]) -> MacroSpace:
    reject_unknown(path, raw, ("type", "depth", "layer", "layers"))
    depth = parse_value(f"{path}.depth", raw.get("depth", 1), is_int(1, MAX_DEPTH), "int")
    max_depth = max(_values(depth))
    if ("layer" in raw) == ("layers" in raw):
        raise RecipeError(path, "give either 'layer' (one template for every layer) or 'layers' (a list)")
    if "layer" in raw:
        layers = tuple([_parse_layer(f"{path}.layer", raw["layer"])] * max_depth)
    else:
        if not isinstance(raw["layers"], list):
            raise RecipeError(f"{path}.layers", "expected a list of layers")
        layers = tuple(_parse_layer(f"{path}.layers[{i}]", item) for i, item in enumerate(raw["layers"]))
        if len(layers) != max_depth:
            raise RecipeError(f"{path}.layers", f"has {len(layers)} layers but depth can reach {max_depth}")
    kinds = {layer.op if not isinstance(layer.op, Categorical) else layer.op.choices[0] for layer in layers}
    if len({k == "linear" for k in kinds}) > 1:
        raise RecipeError(f"{path}.layers", "cannot mix linear layers with spatial layers")
    return MacroSpace(depth, layers)


def _parse_ops(path: str, ops: Any) -> tuple[tuple[str, ...], str | None]:
    """A cell's candidate ops (a non-empty list of distinct vocabulary cell ops) and their start op.

    ``ops`` is the list, or ``{choices: [...], default: OP}`` to name the op
    every edge starts from.

    Returns:
        The ops and the declared default (None: the neutral start, the first op).

    Raises:
        RecipeError: Naming ``path`` (or the offending ``path[i]``, ``path.default``).
    """
    default = None
    if isinstance(ops, Mapping):
        reject_unknown(path, ops, ("choices", "default"))
        default = ops.get("default")
        ops = ops.get("choices")
    if not isinstance(ops, list) or not ops:
        raise RecipeError(path, "missing: a list of cell ops, e.g. " + ", ".join(CELL_OPS[:4]))
    for i, o in enumerate(ops):
        why = one_of(CELL_OPS)(o)
        if why:
            raise RecipeError(f"{path}[{i}]", why)
    if len(set(ops)) != len(ops):
        raise RecipeError(path, "ops must be distinct")
    if default is not None and default not in ops:
        raise RecipeError(f"{path}.default", f"{shown_value(default)} is not one of {', '.join(ops)}")
    return tuple(ops), default


def _count(path: str, raw: Mapping[str, Any], key: str, default: int, low: int, high: int) -> int:
    """A fixed integer field ``key`` of ``raw`` in ``low..high`` (``default`` when absent).

    Raises:
        RecipeError: Naming ``path.key``.
    """
    v = raw.get(key, default)
    why = is_int(low, high)(v)
    if why:
        raise RecipeError(f"{path}.{key}", why)
    return v


def _parse_cell(path: str, raw: Mapping[str, Any]) -> CellSpace:
    reject_unknown(
        path, raw, ("type", "ops", "nodes", "inputs_per_node", "cells", "reductions", "channels", "skeleton")
    )
    ops, op_default = _parse_ops(f"{path}.ops", raw.get("ops"))
    nodes, cells = _count(path, raw, "nodes", 2, 1, MAX_NODES), _count(path, raw, "cells", 3, 1, MAX_CELLS)
    red_raw = raw.get("reductions", [c for c in sorted({cells // 3, 2 * cells // 3}) if 0 < c < cells])
    if not isinstance(red_raw, list):
        raise RecipeError(f"{path}.reductions", "expected a list of cell indices")
    for i, r in enumerate(red_raw):
        if isinstance(r, bool) or not isinstance(r, int) or not 0 <= r < cells:
            raise RecipeError(f"{path}.reductions[{i}]", f"{shown_value(r)} is not a cell index in 0..{cells - 1}")
    return CellSpace(
        ops=ops,
        op_default=op_default,
        nodes=nodes,
        inputs_per_node=_count(path, raw, "inputs_per_node", 2, 1, MAX_NODES),
        cells=cells,
        reductions=tuple(sorted(set(red_raw))),
        channels=parse_value(f"{path}.channels", raw.get("channels", 8), is_int(1, MAX_WIDTH), "int"),
        skeleton=_skeleton(path, raw, CELL_SKELETONS),
    )


def _skeleton(path: str, raw: Mapping[str, Any], allowed: tuple[str, ...]) -> str:
    """The fixed ``skeleton`` field: one of ``allowed``, the first when absent.

    Raises:
        RecipeError: Naming ``path.skeleton``.
    """
    skeleton = raw.get("skeleton", allowed[0])
    why = one_of(allowed)(skeleton)
    if why:
        raise RecipeError(f"{path}.skeleton", why)
    return skeleton


DENSE_CELL_FIELDS = ("type", "ops", "nodes", "cells_per_stage", "channels", "skeleton")
# The skeleton stacks 3 stages of cells plus 2 reduction blocks (the cap of stacked cells holds),
# and its last stage has 4x the channels (the cap of widths holds).
MAX_CELLS_PER_STAGE = (MAX_CELLS - 2) // 3
MAX_DENSE_CHANNELS = MAX_WIDTH // 4


def _parse_dense_cell(path: str, raw: Mapping[str, Any]) -> DenseCellSpace:
    """A NAS-Bench-201-style dense cell space (every field has NAS-Bench-201's value as default).

    Raises:
        RecipeError: Naming the offending field path.
    """
    reject_unknown(path, raw, DENSE_CELL_FIELDS)
    ops, op_default = _parse_ops(f"{path}.ops", raw.get("ops", list(NB201_OPS)))
    # Aliases name the same op (none = zero, skip_connect = identity): two names would be one candidate twice.
    by_op: dict[str, str] = {}
    for i, o in enumerate(ops):
        same = by_op.setdefault(op_spec(o).name, o)
        if same != o:
            raise RecipeError(f"{path}.ops[{i}]", f"{o} is the same op as {same}")
    skeleton = _skeleton(path, raw, DENSE_SKELETONS)
    return DenseCellSpace(
        ops=ops,
        op_default=op_default,
        nodes=_count(path, raw, "nodes", 4, 2, MAX_NODES),  # node 0 is the input: at least one node to compute
        cells_per_stage=_count(path, raw, "cells_per_stage", 5, 1, MAX_CELLS_PER_STAGE),
        channels=parse_value(f"{path}.channels", raw.get("channels", 16), is_int(1, MAX_DENSE_CHANNELS), "int"),
        skeleton=skeleton,
    )


def parse_training_space(path: str, raw: Mapping[str, Any]) -> TrainingSpace:
    """Parses the searchable hyperparameters among a recipe's ``training`` fields."""
    checks = {
        "lr": (is_number(0, None, low_open=True), "float"),
        "optimizer": (one_of(OPTIMIZERS), None),
        "batch_size": (is_int(1, MAX_BATCH_SIZE), "int"),
        "weight_decay": (is_number(0), "float"),
        "dropout": (is_number(0, 1, high_open=True), "float"),
    }
    kw = {k: parse_value(f"{path}.{k}", raw[k], *checks[k]) for k in TRAINING_HPARAMS if k in raw}
    return TrainingSpace(**kw)


def parse_space(raw: Any, training: Mapping[str, Any] | None = None, path: str = "space") -> SearchSpace:
    """Builds a :class:`SearchSpace` from a recipe's ``space`` (and ``training``) mapping.

    Raises:
        RecipeError: Naming the offending path.
    """
    raw = as_mapping(path, raw)
    kind = raw.get("type", "macro")
    net: MacroSpace | CellSpace | DenseCellSpace
    if kind == "macro":
        net = _parse_macro(path, raw)
    elif kind == "cell":
        net = _parse_cell(path, raw)
    elif kind == "dense_cell":
        net = _parse_dense_cell(path, raw)
    else:
        raise RecipeError(f"{path}.type", f"{shown(kind)} is not one of macro, cell, dense_cell")
    return SearchSpace(net, parse_training_space("training", training or {}))


def _value_to_raw(v: Value | None) -> Any:
    if isinstance(v, Categorical):
        return list(v.choices) if v.default is None else {"choices": list(v.choices), "default": v.default}
    raw: dict[str, Any]
    if isinstance(v, IntRange):
        raw = {"low": v.low, "high": v.high, "step": v.step, "log": v.log, "type": "int"}
    elif isinstance(v, FloatRange):
        raw = {"low": v.low, "high": v.high, "log": v.log, "type": "float"}
    else:
        return v
    return raw if v.default is None else {**raw, "default": v.default}


def _ops_to_raw(ops: tuple[str, ...], default: str | None) -> Any:
    return list(ops) if default is None else {"choices": list(ops), "default": default}


def space_to_dict(space: SearchSpace) -> dict[str, Any]:
    """Inverse of :func:`parse_space`: ``{"space": ..., "training": ...}``, YAML-ready."""
    net = space.network
    if isinstance(net, DenseCellSpace):
        s: dict[str, Any] = {
            "type": "dense_cell",
            "ops": _ops_to_raw(net.ops, net.op_default),
            "nodes": net.nodes,
            "cells_per_stage": net.cells_per_stage,
            "channels": _value_to_raw(net.channels),
            "skeleton": net.skeleton,
        }
    elif isinstance(net, CellSpace):
        s = {
            "type": "cell",
            "ops": _ops_to_raw(net.ops, net.op_default),
            "nodes": net.nodes,
            "inputs_per_node": net.inputs_per_node,
            "cells": net.cells,
            "reductions": list(net.reductions),
            "channels": _value_to_raw(net.channels),
        }
        if net.skeleton != CELL_SKELETONS[0]:  # only when set: dicts of existing cell spaces stay as they were
            s["skeleton"] = net.skeleton
    else:
        s = {
            "type": "macro",
            "depth": _value_to_raw(net.depth),
            "layers": [
                {f: _value_to_raw(getattr(layer, f)) for f in LAYER_FIELDS if getattr(layer, f) is not None}
                for layer in net.layers
            ],
        }
    t = {k: _value_to_raw(getattr(space.training, k)) for k in TRAINING_HPARAMS}
    return {"space": s, "training": t}


def space_from_dict(d: Mapping[str, Any]) -> SearchSpace:
    """Inverse of :func:`space_to_dict`."""
    return parse_space(d["space"], d.get("training"))
