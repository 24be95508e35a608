"""Checking one field of a recipe's mapping: numbers, choices, ranges and mappings, each refusal naming its path.

The value syntax of every searchable field (see :mod:`unified_nas.space.parse`)
is read here: a scalar is fixed, a list or ``{choices: [...]}`` is a
categorical choice, ``{low, high[, step][, log][, type]}`` is a range with
inclusive bounds, and ranges and choices may add ``default:``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from typing import Any

from unified_nas.core.errors import RecipeError
from unified_nas.core.text import shown
from unified_nas.space.params import Categorical, Distribution, FloatRange, IntRange
from unified_nas.space.spaces import (
    Value,
)

Check = Callable[[Any], "str | None"]


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
