"""Strict JSON: what every file and store row unified-nas writes must parse with any JSON reader.

Python's ``json.dumps`` writes ``NaN`` and ``Infinity`` tokens by default,
which strict parsers (browsers' ``JSON.parse``, jq, PostgreSQL's json type)
reject. A metric can be undefined (a proxy's NaN): it is written as ``null``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any


def strict_json(value: Any, **kwargs: Any) -> str:
    """``json.dumps`` that never writes NaN or Infinity tokens: non-finite floats become null.

    Args:
        value: A JSON-ready value (dicts, lists, str, int, float, bool, None).
        **kwargs: Passed to ``json.dumps`` (``indent``, ``sort_keys`` ...).

    Returns:
        Strict JSON text.
    """
    return json.dumps(finite_values(value), allow_nan=False, **kwargs)


def finite_values(value: Any) -> Any:
    """``value`` with every non-finite float (at any depth) replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {k: finite_values(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_values(v) for v in value]
    return value
