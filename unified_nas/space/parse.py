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

import dataclasses
import math
from collections.abc import Callable, Mapping
from typing import Any

from unified_nas.core.errors import RecipeError
from unified_nas.core.limits import MAX_BATCH_SIZE, MAX_CELLS, MAX_DEPTH, MAX_NODES, MAX_WIDTH
from unified_nas.core.text import shown
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
from unified_nas.space.params import Categorical, Distribution, FloatRange, IntRange
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

Check = Callable[[Any], "str | None"]
TRAINING_HPARAMS = ("lr", "optimizer", "batch_size", "weight_decay", "dropout")


def shown_value(v: Any) -> str:
    """A value as one-line messages show it: YAML's booleans, escaped and cut if unprintable or long."""
    if isinstance(v, bool):
        return str(v).lower()
    text = str(v)
    # Messages are one line: a value with a newline or a huge value is shown escaped and cut.
    return text if text.isprintable() and len(text) <= 60 else shown(v)


def _keys(keys: Any) -> str:
    return ", ".join(sorted(map(shown_value, keys)))


def one_of(allowed: tuple[Any, ...]) -> Check:
    """A check that accepts exactly the listed values."""
    return lambda v: (
        None
        if v in allowed and type(v) in {type(a) for a in allowed}
        else f"{shown_value(v)} is not one of {', '.join(map(shown_value, allowed))}"
    )


def is_int(low: int = 1, high: int | None = None) -> Check:
    """A check for an integer >= ``low`` (and <= ``high``, a limit of unified-nas, see ``limits.py``)."""

    def check(v: Any) -> str | None:
        if not isinstance(v, int) or isinstance(v, bool) or v < low:
            return f"{shown_value(v)} is not an integer >= {low}"
        if high is not None and v > high:
            return f"{shown_value(v)} is above {high}, the most unified-nas allows here"
        return None

    return check


def is_number(low: float, high: float | None = None, low_open: bool = False, high_open: bool = False) -> Check:
    def check(v: Any) -> str | None:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return f"{shown_value(v)} is not a number"
        if (v <= low if low_open else v < low) or (high is not None and (v >= high if high_open else v > high)):
            return f"{v} is outside {'(' if low_open else '['}{low}, {high if high is not None else 'inf'}{')' if high_open else ']'}"
        return None

    return check


def is_bool(v: Any) -> str | None:
    return None if isinstance(v, bool) else f"{shown_value(v)} is not true or false"


def as_number(path: str, x: Any) -> float | int:
    """A finite number, also from a YAML string such as ``1e-4`` (which PyYAML does not read as a float).

    Raises:
        RecipeError: Naming ``path``: not a number, or not finite.
    """
    # PyYAML reads 1e-4 (no dot) as a string; accept it rather than confuse users.
    if isinstance(x, str):
        try:
            v = float(x)
        except ValueError:
            pass
        else:
            # float() also reads "nan", "inf" and "1e999": the YAML-level finite check never sees those.
            if not math.isfinite(v):
                raise RecipeError(path, f"{shown(x)} is not a finite number")
            return v
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise RecipeError(path, f"{shown(x)} is not a number")
    if isinstance(x, int) and abs(x) > 2**1023:  # YAML integers are unbounded; a float cannot hold this one
        raise RecipeError(path, f"{shown_value(x)} is not a finite number")
    return x


def parse_value(path: str, raw: Any, check: Check, numeric: str | None = None) -> Value:
    """Parses one searchable field.

    Args:
        path: Dotted path for error messages.
        raw: The YAML value.
        check: Validates each possible value (returns an error text or None).
        numeric: ``"int"`` or ``"float"`` if the field is numeric (ranges allowed).

    Returns:
        A fixed scalar or a distribution.

    Raises:
        RecipeError: Naming ``path`` and what is wrong.
    """
    if isinstance(raw, Mapping):
        if "choices" in raw:
            extra = set(raw) - {"choices", "default"}
            if extra:
                raise RecipeError(path, f"unexpected key(s) {_keys(extra)} beside choices")
            value = parse_value(
                path, list(raw["choices"]) if isinstance(raw["choices"], list) else raw["choices"], check, numeric
            )
            return _with_default(path, value, raw, numeric)
        return _with_default(path, _parse_range(path, raw, check, numeric), raw, numeric)
    if isinstance(raw, list):
        if not raw:
            raise RecipeError(path, "an empty list has nothing to choose from")
        vals = [
            (as_number(f"{path}[{i}]", v) if numeric == "float" and isinstance(v, str) else v)
            for i, v in enumerate(raw)
        ]
        for v in vals:
            why = check(v)
            if why:
                raise RecipeError(path, why)
        try:
            return Categorical(tuple(vals)) if len(vals) > 1 else vals[0]
        except ValueError as e:
            raise RecipeError(path, str(e)) from None
    if isinstance(raw, str) and numeric == "float":
        raw = as_number(path, raw)
    why = check(raw)
    if why:
        raise RecipeError(path, why)
    return raw


def _with_default(path: str, value: Value, raw: Mapping[str, Any], numeric: str | None) -> Value:
    """``value`` with the mapping's ``default:`` attached (checked against it), if it has one.

    Raises:
        RecipeError: Naming ``path.default``: a default of a fixed value, or one outside the distribution.
    """
    if "default" not in raw:
        return value
    if not isinstance(value, (Categorical, IntRange, FloatRange)):
        raise RecipeError(f"{path}.default", "a fixed value has no default (give two or more choices)")
    default = raw["default"]
    if (numeric == "float" and isinstance(default, str)) or isinstance(value, FloatRange):
        default = as_number(f"{path}.default", default)
    if isinstance(value, FloatRange) and not isinstance(default, bool):
        default = float(default)
    why = value.check(default)
    if why:
        raise RecipeError(f"{path}.default", why)
    return dataclasses.replace(value, default=default)


def _parse_range(path: str, raw: Mapping[str, Any], check: Check, numeric: str | None) -> Distribution:
    if numeric is None:
        raise RecipeError(path, "this field takes a value or a list of choices, not a range")
    unknown = set(raw) - {"low", "high", "step", "log", "type", "default"}
    if unknown:
        raise RecipeError(path, f"unknown key(s) {_keys(unknown)} (a range takes low, high, step, log, type, default)")
    for k in ("low", "high"):
        if k not in raw:
            raise RecipeError(f"{path}.{k}", "missing")
    low, high = as_number(f"{path}.low", raw["low"]), as_number(f"{path}.high", raw["high"])
    kind = raw.get("type") or (
        "int" if numeric == "int" or (isinstance(low, int) and isinstance(high, int) and "step" in raw) else numeric
    )
    if kind not in ("int", "float"):
        raise RecipeError(f"{path}.type", f"{shown(kind)} is not one of int, float")
    if numeric == "int" and kind == "float":
        raise RecipeError(f"{path}.type", "this field takes integers")
    log = raw.get("log", False)
    if not isinstance(log, bool):
        raise RecipeError(f"{path}.log", f"{shown(log)} is not true or false")
    for k, v in (("low", low), ("high", high)):
        why = check(int(v) if kind == "int" and float(v).is_integer() else v)
        if why:
            raise RecipeError(f"{path}.{k}", why)
    try:
        if kind == "int":
            if not (float(low).is_integer() and float(high).is_integer()):
                raise RecipeError(path, "an integer range needs integer low and high")
            step = raw.get("step", 1)
            if isinstance(step, bool) or not isinstance(step, int):
                raise RecipeError(f"{path}.step", f"{shown(step)} is not an integer")
            return IntRange(int(low), int(high), step, log)
        if "step" in raw:
            raise RecipeError(f"{path}.step", "a float range has no step (use a list of values)")
        return FloatRange(float(low), float(high), log)
    except ValueError as e:
        raise RecipeError(path, str(e)) from None


def as_mapping(path: str, raw: Any) -> Mapping[str, Any]:
    """``raw`` if it is a mapping.

    Raises:
        RecipeError: Naming ``path`` otherwise.
    """
    if not isinstance(raw, Mapping):
        raise RecipeError(path, f"expected a mapping, got {type(raw).__name__}")
    return raw


def reject_unknown(path: str, raw: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
    """Refuses keys of ``raw`` outside ``allowed``.

    Raises:
        RecipeError: Naming the first unknown key's path and the allowed keys.
    """
    unknown = [k for k in raw if k not in allowed]
    if unknown:
        raise RecipeError(
            f"{path}.{shown_value(unknown[0])}" if path else shown_value(unknown[0]),
            f"unknown field (expected one of {', '.join(allowed)})",
        )


def _values(v: Value) -> list[Any]:
    return v.values() if isinstance(v, (Categorical, IntRange)) else [v]


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
