"""Reading a table's meta (what it was tabulated from), every value bounded and checked before it is trusted.

A value's type and length are read in SQL before the value itself, so a
forged megabyte-sized meta value is refused without being loaded; JSON values
are nested and sized no more than a recipe may be; the embedded recipe text is
parsed by the recipe reader with its limits (:mod:`unified_nas.recipe.text`).
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from unified_nas.core.limits import MAX_EPOCHS, MAX_SEED
from unified_nas.core.text import file_label, shown
from unified_nas.recipe import NAME_RE, NAME_RULE
from unified_nas.recipe.text import MAX_RECIPE_BYTES
from unified_nas.tables.own_format import (
    _FINGERPRINT_RE,
    _MAX_SHOWN_NAME,
    _META_KEYS,
    _MODES,
    _PROXY_NAME_RE,
    _SQL_TYPES,
    _TOO_LARGE,
    FORMAT,
    FORMAT_VERSION,
    MAX_ARCHS,
    OwnTableError,
    TableMeta,
    _damaged,
    _hot_journal,
    _is_int,
    _json_limits,
    _number_problem,
    _one_line,
    _strict_loads,
    _unfinished,
)

if TYPE_CHECKING:
    pass


def _read_meta(db: sqlite3.Connection, path: Path) -> TableMeta:
    """The meta record of an open file, refusing anything that is not our table of this version.

    Every value is checked, not only parsed: names from the meta are printed to the terminal and
    into markdown reports, and numbers size replays, so a value ``tabulate`` cannot have written
    (a control character, a string where a list belongs, an infinite seed) is refused here. Only
    the keys ``tabulate`` writes are read, each only after SQL said it is text of a recipe's size.

    Raises:
        OwnTableError: Not a SQLite database, not our table, another format version, a hot journal
            (:func:`_unfinished`), or a meta value that ``tabulate`` cannot have written (naming the key).
    """
    label = file_label(path)
    try:
        tables = db.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('meta', 'archs')")
        if {r[0] for r in tables} != {"meta", "archs"}:
            some = db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name LIMIT 5")
            names = ", ".join(shown(r[0]) for r in some) or "none"
            raise OwnTableError(f"{label} is not a unified-nas table (it has tables {names})")
        raw: dict[str, str | None] = {}
        for key in _META_KEYS:
            raw[key] = _meta_value(db, path, key)
            if key == "format" and raw[key] != FORMAT:
                raise OwnTableError(f"{label} is not a unified-nas table (no format {FORMAT!r})")
            if key == "format_version" and raw[key] != str(FORMAT_VERSION):
                raise OwnTableError(
                    f"{label} is a table of format {shown(raw[key])}; this unified-nas reads {FORMAT_VERSION}"
                )
    except sqlite3.DatabaseError as e:
        if _hot_journal(path, e):
            raise _unfinished(path) from None
        raise OwnTableError(f"{label} is not a unified-nas table ({_one_line(str(e))})") from None
    return _parse_meta(raw, path)


def _meta_value(db: sqlite3.Connection, path: Path, key: str) -> str | None:
    """One meta value, read only once SQL said it is text no larger than a recipe.

    ``length(value)`` is read first: under the length limit :meth:`OwnTable.open` sets, SQLite refuses
    a longer value without loading it (a 150-million-character value: refused at once, where loading
    it to measure took 0.6 s and 315 MB), and the value itself is fetched only when it fits.

    Args:
        db: The open table.
        path: Its file (for messages).
        key: A meta key.

    Returns:
        The value, or None if the key is missing.

    Raises:
        OwnTableError: The key stored twice, a value that is not text or larger than a recipe may be.
        sqlite3.DatabaseError: SQLite cannot read the file.
    """
    try:
        found = db.execute("SELECT typeof(value), length(value) FROM meta WHERE key = ? LIMIT 2", (key,)).fetchall()
    except sqlite3.DataError:  # SQLITE_TOOBIG: longer than the connection's length limit
        raise _damaged(path, f"meta {key}", _TOO_LARGE) from None
    if not found:
        return None
    if len(found) > 1:  # no PRIMARY KEY in this file: tabulate's has one
        raise _damaged(path, f"meta {key}", "stored twice")
    kind, length = found[0]
    if kind != "text":
        raise _damaged(path, f"meta {key}", "missing" if kind == "null" else f"{_SQL_TYPES.get(kind, kind)}, not text")
    if length > MAX_RECIPE_BYTES:  # characters; without a length limit (Python < 3.11), a first cut
        raise _damaged(path, f"meta {key}", _TOO_LARGE)
    value: str = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()[0]
    if len(value.encode()) > MAX_RECIPE_BYTES:
        raise _damaged(path, f"meta {key}", _TOO_LARGE)
    return value


def _parse_meta(raw: Mapping[Any, Any], path: Path) -> TableMeta:
    """Checks and parses a table's meta key/value pairs (as ``tabulate`` writes them).

    Args:
        raw: The ``meta`` table's rows as a dict.
        path: The table file (for messages).

    Returns:
        The meta record.

    Raises:
        OwnTableError: A key missing, or its value not one ``tabulate`` writes.
    """

    def text(key: str) -> str:
        value = raw.get(key)
        if not isinstance(value, str):
            raise _damaged(path, f"meta {key}", "missing" if value is None else f"{type(value).__name__}, not text")
        return value

    def parsed(key: str) -> Any:
        try:
            value = _strict_loads(text(key))
        except ValueError as e:
            raise _damaged(path, f"meta {key}", f"not JSON ({e})") from None
        if (why := _json_limits(value)) is not None:
            raise _damaged(path, f"meta {key}", why)
        return value

    def integer(key: str, low: int, high: int) -> int:
        value = text(key)
        if not (value.isascii() and value.isdigit() and low <= int(value) <= high):
            raise _damaged(path, f"meta {key}", f"{shown(value)} is not an integer in {low}..{high}")
        return int(value)

    def bad(key: str, value: Any, rule: str) -> OwnTableError:
        return _damaged(path, f"meta {key}", f"{shown(value)} is not {rule}")

    fingerprint = text("fingerprint")
    if not _FINGERPRINT_RE.fullmatch(fingerprint):
        raise bad("fingerprint", fingerprint, "16 hex digits")
    recipe_name = text("recipe_name")
    if not NAME_RE.fullmatch(recipe_name):
        raise bad("recipe_name", recipe_name, f"a recipe name ({NAME_RULE})")
    recipe_hash = text("recipe_hash")
    if not _FINGERPRINT_RE.fullmatch(recipe_hash):
        raise bad("recipe_hash", recipe_hash, "16 hex digits")
    decls = parsed("decls")
    if not isinstance(decls, list) or not all(isinstance(d, dict) for d in decls):
        raise bad("decls", decls, "a list of declarations")
    size = parsed("space_size")
    if size is not None and _number_problem(size, 0, math.inf) is not None:
        raise bad("space_size", size, "a finite number >= 0 or null")
    data = parsed("data")
    if not isinstance(data, dict):
        raise bad("data", data, "an object")
    name = data.get("name")
    if not (isinstance(name, str) and name.isprintable() and 0 < len(name) <= _MAX_SHOWN_NAME):
        raise bad("data.name", name, f"a printable name of at most {_MAX_SHOWN_NAME} characters")
    shape = data.get("input_shape")
    if not (isinstance(shape, list) and shape and all(_is_int(d, 1, 2**31) for d in shape)):
        raise bad("data.input_shape", shape, "a list of positive integers")
    if not _is_int(data.get("num_classes"), 2, 2**31):
        raise bad("data.num_classes", data.get("num_classes"), "an integer >= 2")
    protocol = parsed("protocol")
    if not isinstance(protocol, dict):
        raise bad("protocol", protocol, "an object")
    if not _is_int(protocol.get("epochs"), 1, MAX_EPOCHS):
        raise bad("protocol.epochs", protocol.get("epochs"), f"an integer in 1..{MAX_EPOCHS}")
    proxies = parsed("proxies")
    if not (
        isinstance(proxies, list)
        and all(isinstance(p, str) and _PROXY_NAME_RE.fullmatch(p) for p in proxies)
        and len(set(proxies)) == len(proxies)
    ):
        raise bad("proxies", proxies, "a list of distinct proxy names (lowercase identifiers)")
    mode = text("mode")
    if mode not in _MODES:
        raise bad("mode", mode, " or ".join(_MODES))
    packages = parsed("packages")
    if not (isinstance(packages, dict) and all(isinstance(v, str) for v in packages.values())):
        raise bad("packages", packages, "an object of version strings")
    try:
        created_at = float(text("created_at"))
    except ValueError:
        raise bad("created_at", raw.get("created_at"), "a number") from None
    if not math.isfinite(created_at):
        raise bad("created_at", created_at, "finite")
    return TableMeta(
        format_version=FORMAT_VERSION,
        fingerprint=fingerprint,
        recipe_name=recipe_name,
        recipe_text=text("recipe_text"),
        recipe_hash=recipe_hash,
        decls=decls,
        space_size=math.inf if size is None else size,
        data=data,
        protocol=protocol,
        seed=integer("seed", 0, MAX_SEED),
        proxies=tuple(proxies),
        mode=mode,
        requested=integer("requested", 0, MAX_ARCHS),
        packages=packages,
        created_at=created_at,
    )
