"""Tables of your own: train architectures of a recipe's space once, replay searches on them.

``unas tabulate RECIPE --sample N`` trains N distinct architectures drawn with a
seeded RNG (``--all``: every architecture of a finite space) under the recipe's
protocol and stores, per architecture, its trained metrics, its size and every
zero-cost proxy of :data:`unified_nas.proxies.PROXIES`. ``unas proxies TABLE``
then ranks the proxies against trained validation accuracy
(:mod:`unified_nas.tables.correlation`), and a table with ``--all`` coverage can
answer a search instead of training (``evaluation: {table: PATH}``), as
NAS-Bench-201 does.

The file is SQLite. Every architecture is committed the moment it finishes, so
a killed tabulation (even ``kill -9``) loses at most the architecture in
flight, and running the same command again resumes: the sample sequence is the
same for the same seed, and architectures already stored are skipped, not
retrained. A kill in the middle of a commit leaves SQLite's journal beside the
file: readers, which open tables read-only, cannot roll it back and say so;
``tabulate`` rolls it back before it resumes. A table remembers a fingerprint of everything that decides its
numbers (space, training, data, seed, proxies); adding to it with a recipe of
another fingerprint is refused before anything is written.

This module imports only ``sqlite3`` and ``json`` at load time; torch and the
trainer are imported by :func:`tabulate` alone, so reading a table (replay,
correlations) stays light.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import re
import sqlite3
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from unified_nas.errors import RecipeError, UserError, format_failure
from unified_nas.jsontext import strict_json
from unified_nas.limits import MAX_EPOCHS, MAX_SEED
from unified_nas.recipe_text import MAX_DEPTH, MAX_RECIPE_BYTES, MAX_VALUES, file_label, shown

if TYPE_CHECKING:
    from unified_nas.data import Dataset
    from unified_nas.recipe import Recipe
    from unified_nas.space.decl import ParamDecl

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "MAX_ARCHS",
    "OwnTable",
    "OwnTableError",
    "TableMeta",
    "TableRow",
    "TabulateSummary",
    "default_table_path",
    "iter_rows",
    "sample_key",
    "strict_json",
    "tabulate",
]

#: The value of the ``format`` meta key: how we recognise our own table files.
FORMAT = "unified-nas-own-table"
#: Bumped whenever the schema changes; a table of another version is refused.
FORMAT_VERSION = 1
#: At most this many architectures per table (``--all`` or ``--sample``): at a few seconds
#: of training each, more would take days, and ``--all`` holds the whole list in memory.
#: Readers refuse a file with more rows before reading any: a row costs a few kB of memory
#: once read (300,006 rows took about 9x the file's size), so the cap bounds what a file costs.
MAX_ARCHS = 100_000
#: Default folder of ``unas tabulate``'s tables (relative to the working directory).
DEFAULT_DIR = "unas-tables"

_METRICS = ("val_accuracy", "val_loss", "train_loss", "test_accuracy", "params", "flops", "train_s", "proxy_s")
# What training and measuring can produce (every stored number must also be finite): a table is
# a file anyone can edit, and an out-of-range value would flow into run reports as a trial's result.
_METRIC_BOUNDS: dict[str, tuple[float, float]] = {
    "val_accuracy": (0.0, 1.0),
    "test_accuracy": (0.0, 1.0),
    "val_loss": (0.0, math.inf),  # cross-entropy, the only loss a recipe may use
    "train_loss": (0.0, math.inf),
    "params": (0.0, math.inf),
    "flops": (0.0, math.inf),
    "train_s": (0.0, math.inf),
    "proxy_s": (0.0, math.inf),
}
# The metrics a replayed trial reports: a complete row without one cannot answer a search.
_REQUIRED_COMPLETE = ("val_accuracy", "val_loss", "train_loss", "train_s")
# What a replayed trial reads of a row (``evaluation.OwnTableLookup``): the replay data's digest covers these.
_REPLAYED = ("status", "error", "val_accuracy", "val_loss", "train_loss", "test_accuracy", "params", "flops", "train_s")
_STATUSES = ("complete", "failed")
_MODES = ("sample", "all")
# Proxy names become column names (``proxy_<name>``) and cells of the printed and markdown
# tables: identifiers only, so a table's meta cannot inject terminal escapes or markdown.
_PROXY_NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,63}")
_FINGERPRINT_RE = re.compile(r"[0-9a-f]{16}")
# Every meta key ``tabulate`` writes; readers read these and nothing else of the meta table.
_META_KEYS = (
    "format",
    "format_version",
    "fingerprint",
    "recipe_name",
    "recipe_text",
    "recipe_hash",
    "decls",
    "space_size",
    "data",
    "protocol",
    "seed",
    "proxies",
    "mode",
    "requested",
    "packages",
    "created_at",
)
# SQLite's storage classes (``typeof``) by the name of the Python type they are read as, for messages.
_SQL_TYPES = {"blob": "bytes", "integer": "int", "real": "float"}
# A table's meta values are bounded by the limits of the recipe they come from (recipe_text's size,
# nesting and number of values); every other value read from a table file, by the same size.
_TOO_LARGE = f"larger than {MAX_RECIPE_BYTES >> 20} MiB, the most a recipe (and any value of a table) may hold"
# SQLite's extended result code for "a hot journal needs rolling back, but this connection may not
# write" (SQLITE_READONLY_ROLLBACK); Python's sqlite3 names it from 3.11.
_READONLY_ROLLBACK = getattr(sqlite3, "SQLITE_READONLY_ROLLBACK", 776)
# Longest data-set name shown (a user's data file is named by its stem).
_MAX_SHOWN_NAME = 255
# Recipe fields that do not change an architecture's trained numbers: two recipes that differ only
# here share a table. Everything else (space, training, data, seed) is fingerprinted.
_NOT_FINGERPRINTED = ("name", "description", "objectives", "budget", "backends", "constraints", "device")


class OwnTableError(UserError):
    """A table file cannot be used: missing, not ours, another version, or of another recipe (exit 2)."""


def _plain(o: Any) -> Any:
    """json.dumps ``default``: numpy scalars (a toolkit's samples hold them) as Python values."""
    if hasattr(o, "item"):
        return o.item()
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")


# One encoder for every key (what json.dumps would build per call): opening a table computes a key
# per row and per architecture of its space, 31,250 for NAS-Bench-201's size.
_KEY_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=_plain, allow_nan=False)
# A row as the content digest reads it (see OwnTable._scan).
_ROW_JSON = json.JSONEncoder(separators=(",", ":"), allow_nan=False)


def sample_key(sample: Mapping[str, Any]) -> str:
    """The row key of a canonical sample: its sorted, compact JSON.

    Args:
        sample: A canonical sample (canonicalize a toolkit's sample first).

    Returns:
        The key; equal samples give equal keys.
    """
    return _KEY_JSON.encode(dict(sample))


def _decl_dicts(decls: Sequence[ParamDecl]) -> list[dict[str, Any]]:
    # A JSON round trip, so tuples compare equal to the lists read back from a table.
    return list(json.loads(json.dumps([d.to_dict() for d in decls], default=_plain)))


def default_table_path(recipe_name: str) -> Path:
    """Where ``unas tabulate`` writes a recipe's table without ``--out``: ``unas-tables/<name>.sqlite``."""
    return Path(DEFAULT_DIR) / f"{recipe_name}.sqlite"


@dataclass(frozen=True)
class TableMeta:
    """What a table records about how it was made.

    Attributes:
        format_version: :data:`FORMAT_VERSION` of the writer.
        fingerprint: sha256 (16 hex digits) of the space, training, data, seed and proxy names.
        recipe_name: The recipe's name.
        recipe_text: The recipe's YAML text, verbatim (of the first tabulation).
        recipe_hash: ``Recipe.content_hash`` of that text.
        decls: The space's declarations, ``ParamDecl.to_dict()`` each.
        space_size: Distinct architectures of the space (``math.inf`` if continuous).
        data: ``Dataset.describe()``: name, kind, input_shape, num_classes, split, content hash.
        protocol: The training protocol (epochs, schedule, patience, loss).
        seed: Training, proxy and sampling seed.
        proxies: Names of the stored proxies (the registry's at creation).
        mode: The last tabulation's mode, ``"sample"`` or ``"all"``.
        requested: The architectures the last tabulation asked for (N, or the space size).
        packages: Package versions of the first tabulation.
        created_at: Unix time of creation.
    """

    format_version: int
    fingerprint: str
    recipe_name: str
    recipe_text: str
    recipe_hash: str
    decls: list[dict[str, Any]]
    space_size: float
    data: dict[str, Any]
    protocol: dict[str, Any]
    seed: int
    proxies: tuple[str, ...]
    mode: str
    requested: int
    packages: dict[str, str] = field(default_factory=dict)
    created_at: float = 0.0

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Input shape of the tabulated data (without the batch dimension)."""
        return tuple(self.data["input_shape"])

    @property
    def num_classes(self) -> int:
        """Classes of the tabulated data."""
        return int(self.data["num_classes"])

    @property
    def epochs(self) -> int:
        """Epochs each architecture was trained for."""
        return int(self.protocol["epochs"])

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (strict: an infinite space size becomes null)."""
        return {
            "format_version": self.format_version,
            "fingerprint": self.fingerprint,
            "recipe_name": self.recipe_name,
            "recipe_hash": self.recipe_hash,
            "space_size": self.space_size if math.isfinite(self.space_size) else None,
            "data": self.data,
            "protocol": self.protocol,
            "seed": self.seed,
            "proxies": list(self.proxies),
            "mode": self.mode,
            "requested": self.requested,
            "packages": self.packages,
            "created_at": self.created_at,
        }


@dataclass(frozen=True)
class TableRow:
    """One tabulated architecture.

    Attributes:
        key: :func:`sample_key` of the sample.
        index: Position in the tabulation order (0-based).
        sample: The canonical sample.
        status: ``"complete"`` or ``"failed"``.
        error: The failure's text (None if complete).
        val_accuracy, val_loss, train_loss, test_accuracy: Trained metrics of the last epoch
            (None if failed).
        params: Trainable parameters (None if the network could not be built).
        flops: Multiply-accumulates of one forward pass, as ``unified_nas.flops`` counts them.
        train_s: Seconds of training: a replayed trial's simulated cost.
        proxy_s: Seconds spent computing the proxies.
        proxies: Proxy name -> value; ``±inf`` kept, None where undefined (NaN) or not computed.
        finished_at: Unix time the row was committed.
    """

    key: str
    index: int
    sample: dict[str, Any]
    status: str
    error: str | None
    val_accuracy: float | None
    val_loss: float | None
    train_loss: float | None
    test_accuracy: float | None
    params: float | None
    flops: float | None
    train_s: float | None
    proxy_s: float | None
    proxies: dict[str, float | None]
    finished_at: float

    @property
    def complete(self) -> bool:
        """True if the architecture trained."""
        return self.status == "complete"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; pass it through :func:`strict_json` (proxies may be infinite)."""
        return {
            "key": self.key,
            "index": self.index,
            "sample": self.sample,
            "status": self.status,
            "error": self.error,
            **{m: getattr(self, m) for m in _METRICS},
            "proxies": dict(self.proxies),
            "finished_at": self.finished_at,
        }


def _damaged(path: Path, where: str, why: str) -> OwnTableError:
    """The one-line error of a table whose content is not what ``tabulate`` writes."""
    return OwnTableError(f"{file_label(path)} is a damaged unified-nas table ({where}: {why})")


def _journal(path: Path) -> Path:
    """SQLite's rollback journal of a table file: its name plus ``-journal``, beside the file a link points to."""
    real = path.resolve()  # the file _connect opens
    return real.with_name(real.name + "-journal")


def _hot_journal(path: Path, e: sqlite3.Error) -> bool:
    """True if SQLite refused to read ``path`` because a hot journal needs rolling back.

    A process killed while it committed (``tabulate``, one transaction per row) leaves its journal:
    the committed rows are intact, but only a connection that may write can roll the journal back,
    and readers open tables read-only.
    """
    code = getattr(e, "sqlite_errorcode", None)
    if code is not None:
        return bool(code == _READONLY_ROLLBACK)
    # Python < 3.11 gives no result code: SQLite's readonly error, with a journal beside the file.
    return "readonly" in str(e) and _journal(path).is_file()


def _unfinished(path: Path) -> OwnTableError:
    """The one-line error of a table a killed ``tabulate`` left with a hot journal (see :func:`_hot_journal`)."""
    label = file_label(path)
    return OwnTableError(
        f"{label} has an unfinished write of a killed `unas tabulate` (SQLite's journal is left beside it); "
        f"run `unas tabulate RECIPE --all|--sample N --out {label}` again to finish it"
    )


def _read_error(path: Path, where: str, e: sqlite3.Error) -> OwnTableError:
    """The one-line error of a read that SQLite refused: a hot journal, a value over the limit, or damage."""
    if _hot_journal(path, e):
        return _unfinished(path)
    if isinstance(e, sqlite3.DataError):  # SQLITE_TOOBIG: past the length limit OwnTable.open sets
        return _damaged(path, where, f"a value {_TOO_LARGE}")
    return _damaged(path, where, str(e))


def _one_line(text: str) -> str:
    """Text from a file or from SQLite, folded to one printable line for a message."""
    text = " ".join(text.split())
    return text if text.isprintable() and len(text) <= 200 else shown(text, 200)


def _json_limits(value: Any) -> str | None:
    """Why parsed JSON goes past a recipe's limits (nesting, number of values), or None.

    The limits of :mod:`unified_nas.recipe_text`, so a table's JSON costs no more than its recipe
    could; walked without recursion, as any depth may come in.
    """
    count = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        count += 1
        if count > MAX_VALUES:
            return f"has more than {MAX_VALUES} values"
        if depth > MAX_DEPTH:
            return f"nests deeper than {MAX_DEPTH} levels"
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return None


def _number_problem(value: Any, low: float = -math.inf, high: float = math.inf) -> str | None:
    """Why ``value`` is not a finite number in ``[low, high]``, or None if it is.

    Args:
        value: A value read from SQLite (int, float, str, bytes or None; None is not checked here).
        low: Smallest allowed value.
        high: Largest allowed value.

    Returns:
        A short reason, or None.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"{type(value).__name__} {shown(value)} is not a number"
    if not math.isfinite(value):
        return f"{value} is not finite"
    if not low <= value <= high:
        return f"{value} is not in [{low}, {high}]"
    return None


def _strict_loads(text: Any) -> Any:
    """JSON text as Python, refusing NaN and Infinity tokens.

    Raises:
        ValueError: Not a string, not JSON, nested too deep, or a NaN/Infinity token.
    """
    if not isinstance(text, str):
        raise ValueError(f"{type(text).__name__} is not JSON text")

    def refuse(token: str) -> Any:
        raise ValueError(f"non-strict JSON token {token}")

    try:
        return json.loads(text, parse_constant=refuse)
    except RecursionError:  # hostile nesting: refused like any other bad JSON
        raise ValueError("JSON nested too deep") from None


def _is_int(value: Any, low: int, high: int) -> bool:
    """True if ``value`` is an int (not a bool) in ``[low, high]``."""
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _schema(proxies: Sequence[str]) -> str:
    proxy_cols = "".join(f', "proxy_{p}" REAL' for p in proxies)
    metric_cols = ", ".join(f"{m} REAL" for m in _METRICS)
    return f"""
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE archs (
    key TEXT PRIMARY KEY, idx INTEGER NOT NULL, sample TEXT NOT NULL,
    status TEXT NOT NULL, error TEXT, {metric_cols}{proxy_cols}, finished_at REAL NOT NULL);
"""


def _connect(path: Path, mode: str) -> sqlite3.Connection:
    """Opens a table file by its absolute ``file:`` URI, so its name is never read as a URI itself.

    A relative name such as ``file:t.sqlite?mode=rwc`` would otherwise be taken by SQLite as a URI
    (another file, other options) while every check looked at the literal name. ``as_uri``
    percent-encodes ``:``, ``?`` and ``#``, so the file opened is always the literal path.

    Args:
        path: The table file, as the user named it.
        mode: SQLite's ``mode``: ``ro`` (SQLite refuses any write, a missing file is an error),
            ``rw`` (an existing file) or ``rwc`` (created if missing).

    Returns:
        The connection.

    Raises:
        sqlite3.Error: SQLite cannot open it.
    """
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode={mode}", uri=True, timeout=60)


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
    from unified_nas.recipe import NAME_RE, NAME_RULE

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


class OwnTable:
    """A tabulated recipe, read-only: the read side of replay and of ``unas proxies``.

    Open it with :meth:`open`; it never creates or alters a file. A context manager.

    Attributes:
        path: The table file.
        meta: How it was made (:class:`TableMeta`).
        content_sha256: sha256 (hex) of the meta fingerprint and of every row as a replay reads it
            (:data:`_REPLAYED`), in key order: another table of the same recipe, or a changed
            number, gives another digest; the same rows stored in another order give the same.
    """

    def __init__(self, db: sqlite3.Connection, path: Path, meta: TableMeta) -> None:
        self._db = db
        self.path = path
        self.meta = meta
        # Filled by _scan: each architecture's rowid (lookups read that row of the table itself, so
        # they answer from exactly the rows the scan checked, never through an index it did not read).
        self._rowids: dict[str, int] = {}
        self.content_sha256 = ""
        self._columns = [r[1] for r in self._query("PRAGMA table_info(archs)")]
        needed = ["key", "idx", "sample", "status", "error", *_METRICS, *(f"proxy_{p}" for p in meta.proxies)]
        missing = [c for c in [*needed, "finished_at"] if c not in self._columns]
        if missing:
            raise _damaged(path, "archs", f"no column {shown(missing[0])}")
        self._decls = self._parse_decls()

    def _parse_decls(self) -> list[ParamDecl]:
        """The meta's declarations as objects, parsed once (every lookup canonicalizes with them).

        Raises:
            OwnTableError: A declaration ``ParamDecl.from_dict`` cannot read.
        """
        from unified_nas.space.decl import ParamDecl

        try:
            return [ParamDecl.from_dict(d) for d in self.meta.decls]
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as e:
            raise _damaged(self.path, "meta decls", f"{type(e).__name__} {shown(str(e))}") from None

    def _query(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        """Rows of a query; a file SQLite finds corrupt is a damaged table (exit 2), not a crash."""
        try:
            return self._db.execute(sql, args).fetchall()
        except sqlite3.DatabaseError as e:
            raise _read_error(self.path, "archs", e) from None

    def _scan(self) -> None:
        """Checks every row once, in one pass, keeping only each key's rowid and the content digest.

        The row count is read first and capped (by the space size the meta claims and by
        :data:`MAX_ARCHS`) before any row is read, and the read itself stops past the cap, so a file
        of junk rows costs no memory. Each row is checked as :meth:`_row` does, must be an
        architecture of the table's space (:meth:`_space_keys`), and may be stored once.

        Raises:
            OwnTableError: Too many rows, a meta space size that is not the space's, a damaged row, a
                row of no architecture of the space, or an architecture stored twice.
        """
        from unified_nas.errors import SampleError
        from unified_nas.space.sampling import validate_sample

        size = self.meta.space_size
        cap = min(int(size), MAX_ARCHS) if math.isfinite(size) else MAX_ARCHS
        count = int(self._query("SELECT COUNT(*) FROM archs")[0][0])
        if count > cap:
            raise _damaged(self.path, "archs", self._too_many(count, cap))
        space = self._space_keys()
        digests: list[str] = []
        try:
            # One row at a time, in rowid order; LIMIT: COUNT(*) may be answered from an index.
            for values in self._db.execute("SELECT rowid, * FROM archs LIMIT ?", (cap + 1,)):
                rowid = values[0]
                if len(self._rowids) == cap:
                    raise _damaged(self.path, "archs", self._too_many(cap + 1, cap))
                row = self._row(values)
                if space is None or row.key not in space:
                    try:  # labels, their activity, values in range; or why the key is not listed
                        validate_sample(self._decls, row.sample)
                        if space is not None:  # valid values, but not as the space lists them (7.0 for 7)
                            raise SampleError("its values are of other types than the space's")
                    except SampleError as e:
                        why = f"not an architecture of its space ({_one_line(str(e))})"
                        raise _damaged(self.path, f"archs row {rowid}, column sample", why) from None
                if (other := self._rowids.setdefault(row.key, rowid)) != rowid:
                    raise _damaged(self.path, f"archs row {rowid}, column key", f"row {other} holds it too")
                replayed = [getattr(row, c) for c in _REPLAYED]
                digests.append(_ROW_JSON.encode([row.key, *replayed]))
        except sqlite3.DatabaseError as e:
            raise _read_error(self.path, "archs", e) from None
        digests.sort()  # key order: the digest does not depend on where SQLite stored the rows
        content = hashlib.sha256(self.meta.fingerprint.encode())
        for d in digests:
            content.update(b"\n" + d.encode())
        self.content_sha256 = content.hexdigest()

    def _space_keys(self) -> set[str] | None:
        """The keys of every architecture of the table's space, if the meta says it has at most :data:`MAX_ARCHS`.

        Listing the space checks the meta's space size too (so a forged one cannot pass a partial
        table as complete), and costs less than checking each row's values one by one would (15,625
        architectures: 0.045 s listed, against 0.14 s for ``validate_sample`` on every row). At most
        ``MAX_ARCHS + 1`` are listed, whatever the declarations: each costs one pass over them.

        Returns:
            The keys, or None for a larger or continuous space (its rows are checked value by value).

        Raises:
            OwnTableError: The space has another size than the meta's ``space_size``.
        """
        from itertools import islice

        from unified_nas.space.sampling import enumerate_samples

        size = self.meta.space_size
        if not (math.isfinite(size) and size <= MAX_ARCHS):
            return None
        try:
            keys = {sample_key(s) for s in islice(enumerate_samples(self._decls), MAX_ARCHS + 1)}
        except ValueError:  # a continuous range
            raise _damaged(
                self.path, "meta space_size", f"{shown(size)} is not the size of its space (infinite)"
            ) from None
        if len(keys) != size:
            real = f"{len(keys)}" if len(keys) <= MAX_ARCHS else f"more than {MAX_ARCHS}"
            raise _damaged(self.path, "meta space_size", f"{shown(size)} is not the size of its space ({real})")
        return keys

    def _too_many(self, count: int, cap: int) -> str:
        """Why ``count`` rows are more than this table may hold (``cap``: see :meth:`_scan`)."""
        if cap < MAX_ARCHS:
            return f"{count} rows, more than the {cap} architectures of its space"
        return f"{count} rows, more than {MAX_ARCHS}, the most a table holds"

    @classmethod
    def open(cls, path: str | Path, field: str | None = None) -> OwnTable:
        """Opens a table read-only.

        Args:
            path: The table file.
            field: A recipe field (e.g. ``"evaluation.table"``) to blame: errors are then
                ``RecipeError(field, ...)`` instead of :class:`OwnTableError`.

        Returns:
            The table.

        Every meta value and every row is checked here (names safe to print, numbers finite and in
        range, samples of the table's space, each architecture once), with SQLite's own
        ``quick_check`` of the file, so a damaged or hostile file is refused before anything uses it.
        No value larger than a recipe may be is read, nor more rows than the space has.

        Raises:
            OwnTableError: No file there, not a unified-nas table of this format version, a table
                left with a hot journal by a killed ``tabulate``, or a damaged one (naming the meta
                key, or the row and column).
            RecipeError: The same, if ``field`` is given.
        """
        if field is None:
            return cls._open(Path(path))
        try:
            return cls._open(Path(path))
        except OwnTableError as e:
            raise RecipeError(field, str(e)) from None

    @classmethod
    def _open(cls, p: Path) -> OwnTable:
        if not p.is_file():
            raise OwnTableError(f"no table at {file_label(p)} (make one with `unas tabulate RECIPE`)")
        try:
            db = _connect(p, "ro")
        except sqlite3.Error as e:
            raise OwnTableError(f"cannot open table {file_label(p)}: {e}") from None
        # No string or blob longer than a recipe may be is read from the file: past the limit SQLite
        # refuses it (SQLITE_TOOBIG) without loading it. Python < 3.11 cannot set it: _meta_value
        # still measures each meta value in SQL before fetching it.
        if hasattr(db, "setlimit"):
            db.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_RECIPE_BYTES)
        try:
            table = cls(db, p, _read_meta(db, p))
            # SQLite's check of the file's pages (b-trees, free list, NOT NULL), not of index content;
            # lookups read rows by rowid, so an index that disagrees with its rows is never used.
            problem = _one_line(str(table._query("PRAGMA quick_check(1)")[0][0]))
            if problem != "ok":
                raise _damaged(p, "SQLite quick_check", problem)
            # Every row now, not at its first lookup: a damaged table is refused before a replay
            # creates its run. 15,625 rows (NAS-Bench-201's size) open in about 0.4 s, 0.1 s more than
            # when rows were only checked one by one: listing the space 0.045 s, the content digest
            # about 0.03 s, quick_check 0.007 s (python -m tests.unit.test_own_table_scale).
            table._scan()
        except BaseException:
            db.close()
            raise
        return table

    def __enter__(self) -> OwnTable:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Closes the file (the table is unusable after)."""
        self._db.close()

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Input shape of the tabulated data (what a replayed network would have seen)."""
        return self.meta.input_shape

    @property
    def num_classes(self) -> int:
        """Classes of the tabulated data."""
        return self.meta.num_classes

    @property
    def epochs(self) -> int:
        """Epochs each architecture was trained for."""
        return self.meta.epochs

    def _row(self, values: Sequence[Any]) -> TableRow:
        """A stored row (``rowid`` first, then every column) as a :class:`TableRow`, checked.

        Raises:
            OwnTableError: A value ``tabulate`` cannot have written, naming the row and column.
        """
        rowid, r = values[0], dict(zip(self._columns, values[1:], strict=True))

        def bad(column: str, why: str) -> OwnTableError:
            return _damaged(self.path, f"archs row {rowid}, column {column}", why)

        status = r["status"]
        if status not in _STATUSES:
            raise bad("status", f"{shown(status)} is not {' or '.join(_STATUSES)}")
        try:
            sample = _strict_loads(r["sample"])
        except ValueError as e:
            raise bad("sample", f"not JSON ({e})") from None
        if not isinstance(sample, dict):
            raise bad("sample", f"{shown(sample)} is not a JSON object")
        try:
            canonical = sample_key(sample)
        except (TypeError, ValueError) as e:
            raise bad("sample", str(e)) from None
        # The key is the sample's canonical text (what lookups compute): anything else is an edit.
        if r["sample"] != canonical or r["key"] != canonical:
            raise bad("key" if r["sample"] == canonical else "sample", "not the canonical text of the sample")
        if not _is_int(r["idx"], 0, MAX_ARCHS):
            raise bad("idx", f"{shown(r['idx'])} is not an integer in 0..{MAX_ARCHS}")
        error = r["error"]
        # Shown in reports and terminals: line breaks of a traceback, no other control characters.
        if error is not None and not (
            isinstance(error, str) and error.replace("\n", "").replace("\t", "").isprintable()
        ):
            raise bad("error", f"{shown(error)} is not printable text")
        metrics: dict[str, float | None] = {}
        for m in _METRICS:
            v = r[m]
            if v is None:
                if status == "complete" and m in _REQUIRED_COMPLETE:
                    raise bad(m, "missing in a complete row")
            elif (why := _number_problem(v, *_METRIC_BOUNDS[m])) is not None:
                raise bad(m, why)
            metrics[m] = v
        proxies: dict[str, float | None] = {}
        for p in self.meta.proxies:
            v = r[f"proxy_{p}"]
            # ±inf is a real proxy score (naswot of a singular kernel); NaN is stored as NULL.
            if (
                v is not None
                and (why := _number_problem(v)) is not None
                and not (isinstance(v, float) and math.isinf(v))
            ):
                raise bad(f"proxy_{p}", why)
            proxies[p] = v
        if (why := _number_problem(r["finished_at"])) is not None:
            raise bad("finished_at", why)
        return TableRow(
            key=canonical,
            index=r["idx"],
            sample=sample,
            status=status,
            error=error,
            **metrics,
            proxies=proxies,
            finished_at=r["finished_at"],
        )

    def rows(self, complete_only: bool = False) -> list[TableRow]:
        """Every stored architecture, in tabulation order.

        Args:
            complete_only: Leave out architectures whose training failed.

        Returns:
            The rows, each checked.

        Raises:
            OwnTableError: A row holds a value ``tabulate`` cannot have written.
        """
        where = " WHERE status = 'complete'" if complete_only else ""
        rows = [self._row(v) for v in self._query(f"SELECT rowid, * FROM archs{where}")]
        # Sorted here, not by SQLite: its sorter would copy every row into one record, which the
        # length limit of the connection (see _open) would refuse for a row with a long error text.
        rows.sort(key=lambda r: r.index)
        return rows

    def __len__(self) -> int:
        return int(self._query("SELECT COUNT(*) FROM archs")[0][0])

    def counts(self) -> dict[str, int]:
        """Stored architectures per status, e.g. ``{"complete": 198, "failed": 2}``."""
        return dict(self._query("SELECT status, COUNT(*) FROM archs GROUP BY status"))

    def same_file(self, other: str | Path) -> bool:
        """True if ``other`` names this table's file (through a symlink, a hard link or another spelling).

        Args:
            other: A path, e.g. an output file about to be written.

        Returns:
            Whether writing ``other`` would overwrite the table.
        """
        try:
            return os.path.samefile(self.path, other)
        except (OSError, ValueError):  # ``other`` does not exist (yet): compare where it would be
            return Path(other).resolve() == self.path.resolve()

    def lookup(self, sample: Mapping[str, Any]) -> TableRow | None:
        """The row of a sample, or None if it was not tabulated.

        Args:
            sample: A sample of the table's space; inactive and unknown labels are dropped first
                (toolkits such as NNI sample them all), so any sample of the same
                architecture finds the same row.

        Returns:
            The row (check ``row.complete``: a failed training is stored too), or None.
        """
        from unified_nas.space.sampling import canonicalize

        key = sample_key(canonicalize(self._decls, sample))
        rowid = self._rowids.get(key)
        if rowid is None:
            return None
        found = self._query("SELECT rowid, * FROM archs WHERE rowid = ?", (rowid,))
        row = self._row(found[0]) if found else None
        if row is None or row.key != key:  # the file was changed since it was opened and checked
            raise _damaged(self.path, f"archs row {rowid}", "changed since the table was opened")
        return row

    def same_space(self, decls: Sequence[ParamDecl]) -> bool:
        """True if ``decls`` are exactly the declarations the table was tabulated for."""
        return _decl_dicts(decls) == self.meta.decls

    def covers(self, decls: Sequence[ParamDecl]) -> bool:
        """True if the table holds every architecture of ``decls``'s space (its own) exactly once, and nothing else."""
        try:
            self.check_replay(decls)
        except RecipeError:
            return False
        return True

    def check_replay(self, decls: Sequence[ParamDecl], field: str = "evaluation.table") -> None:
        """Refuses a table that cannot answer every sample a search of ``decls`` may propose.

        Coverage is exact: at open every row was found to be an architecture of the table's space
        (listed from its declarations, which must be ``decls``), each stored once, and the space
        size checked against that list; so the table covers the space when it holds as many rows.
        No row is read again here.

        Args:
            decls: The recipe's space declarations.
            field: The recipe field named in the error.

        Raises:
            RecipeError: ``field``: the spaces differ, the meta's space size is not the space's, or
                the table holds only part of the space.
        """
        from unified_nas.space.sampling import space_size

        if not self.same_space(decls):
            mine = {d["label"] for d in self.meta.decls}
            theirs = {d.label for d in decls}
            diff = sorted(mine ^ theirs)
            detail = f"labels differ: {', '.join(diff[:5])}" if diff else "same labels, other values or conditions"
            raise RecipeError(
                field,
                f"table {self.path} was tabulated for another space than this recipe's ({detail}); "
                f"its recipe is {self.meta.recipe_name}",
            )
        size = space_size(decls)
        if self.meta.space_size != size:  # the space is the recipe's: the meta's size was edited
            why = f"{shown(self.meta.space_size)} is not the size of its space ({shown(size)})"
            raise RecipeError(field, str(_damaged(self.path, "meta space_size", why)))
        if not math.isfinite(size) or size > MAX_ARCHS:
            shown_size = "infinitely many" if not math.isfinite(size) else f"{int(size)}"
            raise RecipeError(
                field,
                f"table {self.path} holds {len(self._rowids)} of {shown_size} architectures of this space; "
                f"only a space of at most {MAX_ARCHS} architectures can be tabulated whole (--all) and searched on",
            )
        # _scan found each row to be an architecture of this very space (listed from the same
        # declarations), each stored once: as many rows as architectures is every one of them.
        if len(self._rowids) != size:
            raise RecipeError(
                field,
                f"table {self.path} holds {len(self._rowids)} of {int(size)} architectures of this space; "
                "tabulate it with --all to search on it",
            )


def _fingerprint(recipe: Recipe, data: Dataset, seed: int, proxies: Sequence[str]) -> str:
    """Hash of everything that decides a tabulated architecture's numbers."""
    from unified_nas.recipe_text import parse_recipe_yaml

    raw = parse_recipe_yaml(recipe.source, recipe.name) or {}
    kept = {k: v for k, v in raw.items() if k not in _NOT_FINGERPRINTED and k not in ("data", "seed")}
    text = json.dumps(
        {
            "format_version": FORMAT_VERSION,
            "recipe": kept,
            "decls": _decl_dicts(recipe.space.decls()),
            "data": data.describe(),
            "seed": seed,
            "proxies": list(proxies),
        },
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class TabulateSummary:
    """What one ``tabulate`` call did.

    Attributes:
        path: The table file.
        mode: ``"sample"`` or ``"all"``.
        requested: Architectures asked for (N, or the space size).
        space_size: Distinct architectures of the space (``math.inf`` if continuous).
        trained: Architectures trained by this call (complete or failed).
        failed: Of those, how many failed.
        skipped: Architectures already in the table (not retrained).
        rows: Architectures in the table now.
        wall_s: Seconds this call took.
    """

    path: Path
    mode: str
    requested: int
    space_size: float
    trained: int
    failed: int
    skipped: int
    rows: int
    wall_s: float


def _plan(decls: Sequence[ParamDecl], sample: int | None, all_: bool, seed: int) -> tuple[str, list[dict[str, Any]]]:
    """The architectures to tabulate, in order: the same list every time for the same arguments.

    Raises:
        UserError: Neither or both of ``sample``/``all_``, an infinite or too large space for ``--all``,
            or more samples than the space has architectures.
    """
    from unified_nas.space.sampling import enumerate_samples, random_sample, space_size

    if (sample is None) == (not all_):
        raise UserError("tabulate needs exactly one of --sample N and --all")
    size = space_size(decls)
    if all_:
        if not math.isfinite(size):
            raise UserError("--all: this space is infinite (it has a continuous range); use --sample N")
        if size > MAX_ARCHS:
            raise UserError(f"--all: this space has {int(size)} architectures, more than {MAX_ARCHS}; use --sample N")
        return "all", list(enumerate_samples(decls))
    assert sample is not None
    if sample > MAX_ARCHS:
        raise UserError(f"--sample: {sample} is more than {MAX_ARCHS} architectures")
    if sample > size:
        raise UserError(
            f"--sample {sample}: this space has only {int(size)} distinct architectures; use --all to tabulate them all"
        )
    # A string seed: Python hashes it with sha512, so the sequence is the same on every platform,
    # and it is not the sequence a backend's random search would draw from the plain seed.
    rng = random.Random(f"unas-tabulate:{seed}")
    chosen: dict[str, dict[str, Any]] = {}
    attempts = 0
    while len(chosen) < sample:
        attempts += 1
        if attempts > 1000 * sample + 10_000:  # only when N is close to the space size: say so, not hang
            raise UserError(
                f"--sample {sample}: drew only {len(chosen)} distinct architectures of {int(size)} "
                "after many tries; use --all"
            )
        s = random_sample(decls, rng)
        chosen.setdefault(sample_key(s), s)
    return "sample", list(chosen.values())


def _open_for_writing(path: Path, meta: dict[str, str], proxies: Sequence[str]) -> sqlite3.Connection:
    """Opens (or creates) a table for ``tabulate``, refusing a file that is not ours or of another recipe.

    Nothing is written to a refused file: it is read (and every row checked) through a read-only
    connection first. The one exception is a hot journal beside the file, which SQLite rolls
    back first (:func:`_roll_back_unfinished_write`): that restores the file's last commit. The file
    is opened by its absolute path (:func:`_connect`), so ``path`` is always the literal file name
    that was checked, never a SQLite URI.

    Raises:
        OwnTableError: Not our table, a damaged one, another format, another fingerprint, or not writable.
    """
    if path.exists() and not path.is_file():
        raise OwnTableError(f"{file_label(path)} is not a file")
    if path.is_file() and path.stat().st_size > 0:
        _roll_back_unfinished_write(path)
        with OwnTable.open(path) as table:
            old = table.meta
        if old.fingerprint != meta["fingerprint"]:
            raise OwnTableError(
                f"{path} is a table of another recipe or seed (fingerprint {old.fingerprint}, recipe "
                f"{old.recipe_name}); this recipe's is {meta['fingerprint']}: pass another --out"
            )
        try:
            db = _connect(path, "rw")
            with db:  # the last tabulation's mode; everything else stays as first recorded
                db.executemany(
                    "UPDATE meta SET value = ? WHERE key = ?",
                    [(meta["mode"], "mode"), (meta["requested"], "requested")],
                )
        except sqlite3.Error as e:
            raise OwnTableError(f"cannot write table {path}: {e}") from None
        return db
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = _connect(path, "rwc")
        db.executescript("BEGIN IMMEDIATE;" + _schema(proxies))
        db.executemany("INSERT INTO meta VALUES (?, ?)", list(meta.items()))
        db.commit()
    except (sqlite3.Error, OSError) as e:
        raise OwnTableError(f"cannot create table {path}: {getattr(e, 'strerror', None) or e}") from None
    return db


def _roll_back_unfinished_write(path: Path) -> None:
    """Lets SQLite roll back the hot journal a killed ``tabulate`` left beside ``path``, if there is one.

    A commit killed half-way leaves the file with part of a row's pages and the journal that undoes
    them; SQLite rolls it back on the first read of a connection that may write (readers, read-only,
    cannot: see :func:`_hot_journal`). Afterwards the file holds exactly its committed rows, and the
    read-only check of :func:`_open_for_writing` and the resumed tabulation see them.

    Args:
        path: An existing file about to be checked and resumed.
    """
    if not _journal(path).is_file():  # nothing to roll back: nothing is opened for writing
        return
    try:
        db = _connect(path, "rw")
        try:
            db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        finally:
            db.close()
    except sqlite3.Error:
        pass  # not a database, or not writable here: the read-only check that follows says which


def _check_meta_bounds(meta: Mapping[str, str], recipe_name: str) -> None:
    """Refuses to create a table whose meta its readers would refuse (see :func:`_meta_value`).

    Raises:
        UserError: A value larger than a recipe may be, or JSON nested deeper or holding more
            values than a recipe may.
    """
    for key, value in meta.items():
        if len(value.encode()) > MAX_RECIPE_BYTES:
            raise UserError(f"tabulate {recipe_name}: the table's meta {key} would be {_TOO_LARGE}")
        if key in ("decls", "data", "protocol", "proxies", "packages") and (why := _json_limits(json.loads(value))):
            raise UserError(f"tabulate {recipe_name}: the table's meta {key} {why}, more than a recipe may")


def _table_meta(
    recipe: Recipe, data: Dataset, seed: int, proxies: Sequence[str], mode: str, requested: int
) -> dict[str, str]:
    """The meta record ``tabulate`` writes for a recipe: key -> text, as stored.

    Args:
        recipe: The tabulated recipe.
        data: Its loaded data.
        seed: Training, proxy and sampling seed.
        proxies: Names of the proxies stored per row.
        mode: ``"sample"`` or ``"all"``.
        requested: Architectures this tabulation asks for.

    Returns:
        The meta record.
    """
    from unified_nas.environment import environment
    from unified_nas.space.sampling import space_size

    decls = recipe.space.decls()
    size = space_size(decls)
    return {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "fingerprint": _fingerprint(recipe, data, seed, proxies),
        "recipe_name": recipe.name,
        "recipe_text": recipe.source,
        "recipe_hash": recipe.content_hash,
        "decls": json.dumps(_decl_dicts(decls)),
        "space_size": json.dumps(size if math.isfinite(size) else None),
        "data": strict_json(data.describe()),
        "protocol": json.dumps(
            {
                "epochs": recipe.protocol.epochs,
                "schedule": recipe.protocol.schedule,
                "patience": recipe.protocol.patience,
                "loss": recipe.protocol.loss,
            }
        ),
        "seed": str(seed),
        "proxies": json.dumps(list(proxies)),
        "mode": mode,
        "requested": str(requested),
        "packages": json.dumps(environment(("torch", "scipy"))["packages"]),
        "created_at": repr(time.time()),
    }


def _train_one(recipe: Recipe, sample: dict[str, Any], data: Dataset, seed: int) -> dict[str, Any]:
    """Trains one architecture and computes its proxies; a failure is recorded, not raised.

    KeyboardInterrupt and SystemExit propagate (the row is then not written, and a rerun trains it).
    """
    from unified_nas.proxies import compute_proxies
    from unified_nas.train.evaluate import evaluate_sample

    out: dict[str, Any] = {"status": "complete", "error": None}
    try:
        t0 = time.perf_counter()
        proxies = compute_proxies(recipe.space, sample, data, seed)
        out["proxy_s"] = time.perf_counter() - t0
        out["params"], out["flops"] = proxies.pop("params"), proxies.pop("flops")
        out.update({f"proxy_{k}": v for k, v in proxies.items()})
        result = evaluate_sample(recipe.space, sample, data, recipe.protocol, seed)
        out.update(result.metrics)
        out.update(test_accuracy=result.test_accuracy, train_s=result.train_s)
        out.update(params=float(result.params), flops=float(result.flops))
    except Exception as e:  # a diverged or unbuildable network is a result too: keep it
        text = format_failure(e)
        # Readers refuse a value longer than MAX_RECIPE_BYTES: kept to half of it (a character takes
        # at most 4 bytes), the head naming where it was raised, the tail the exception's last words.
        keep = MAX_RECIPE_BYTES // 16
        out.update(status="failed", error=text if len(text) <= 2 * keep else f"{text[:keep]}\n...\n{text[-keep:]}")
    return out


def _insert(db: sqlite3.Connection, key: str, index: int, sample: dict[str, Any], values: dict[str, Any]) -> None:
    cols = ["key", "idx", "sample", "finished_at", *values]
    row = [key, index, sample_key(sample), time.time(), *values.values()]
    # One transaction per row: a kill loses only the architecture in flight. OR IGNORE: another
    # process tabulating the same file may have stored this architecture meanwhile.
    with db:
        db.execute(
            f"INSERT OR IGNORE INTO archs ({', '.join(map(_quote, cols))}) VALUES ({', '.join('?' * len(cols))})",
            row,
        )


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def tabulate(
    recipe: Recipe,
    path: str | Path,
    *,
    sample: int | None = None,
    all: bool = False,  # noqa: A002 (the CLI flag's name)
    seed: int | None = None,
    progress: bool = True,
    out: TextIO | None = None,
) -> TabulateSummary:
    """Trains ``sample`` distinct architectures (or ``all``) of a recipe and stores them in a table.

    Resumable: the architectures come in the same order for the same seed, and those already in
    the table are skipped. Everything is checked before the file is created or changed. Set the
    thread count (``unified_nas.threads``) before calling: this function imports torch.

    Args:
        recipe: A recipe that trains (not a table recipe).
        path: The table file; created with its folder if missing.
        sample: Tabulate this many distinct architectures drawn at random.
        all: Tabulate every architecture of a finite space.
        seed: Training, proxy and sampling seed (default: the recipe's), the same for every
            architecture so that differences come from the architecture.
        progress: One line per architecture on ``out``.
        out: Where progress goes (default stderr).

    Returns:
        What was done.

    Raises:
        UserError: A table recipe, bad ``sample``/``all``, a space that does not fit the data, a
            ``device:`` this machine does not have.
        RecipeError: The recipe's data cannot be loaded.
        OwnTableError: ``path`` is not our table, or a table of another recipe or seed.
    """
    from unified_nas.data import load_recipe_data
    from unified_nas.proxies import PROXIES
    from unified_nas.runner import check_data_fits

    start = time.perf_counter()
    if recipe.data is None:
        raise UserError(f"recipe {recipe.name} is evaluated by a table already; tabulate a recipe that trains")
    seed = recipe.seed if seed is None else seed
    decls = recipe.space.decls()
    mode, samples = _plan(decls, sample, all, seed)
    data = load_recipe_data(recipe)
    check_data_fits(recipe, data)
    from unified_nas.devices import resolve_device, use_device

    use_device(resolve_device(recipe.device))  # as a run does: CUDA where there is none is refused here
    proxies = list(PROXIES)
    from unified_nas.space.sampling import space_size

    size = space_size(decls)
    meta = _table_meta(recipe, data, seed, proxies, mode, len(samples))
    _check_meta_bounds(meta, recipe.name)
    p = Path(path)
    db = _open_for_writing(p, meta, proxies)
    stream = out if out is not None else sys.stderr
    try:
        done = {r[0] for r in db.execute("SELECT key FROM archs")}
        todo = [(i, s) for i, s in enumerate(samples) if sample_key(s) not in done]
        skipped = len(samples) - len(todo)
        if progress and skipped:
            print(f"tabulate: {skipped} of {len(samples)} architectures already in {p}; resuming", file=stream)
        failed = 0
        for i, s in todo:
            t0 = time.perf_counter()
            values = _train_one(recipe, s, data, seed)
            _insert(db, sample_key(s), i, s, values)
            failed += values["status"] != "complete"
            if progress:
                shown = (
                    f"val_accuracy {values['val_accuracy']:.4f}"
                    if values["status"] == "complete"
                    else "FAILED " + (values["error"] or "").strip().splitlines()[-1][:200]
                )
                print(f"[{i + 1}/{len(samples)}] {shown}  {time.perf_counter() - t0:.1f}s", file=stream, flush=True)
        rows = int(db.execute("SELECT COUNT(*) FROM archs").fetchone()[0])
    finally:
        db.close()
    return TabulateSummary(p, mode, len(samples), size, len(todo), failed, skipped, rows, time.perf_counter() - start)


def iter_rows(path: str | Path, complete_only: bool = False) -> Iterator[TableRow]:
    """The rows of a table file, opened read-only (a convenience for scripts).

    Raises:
        OwnTableError: As :meth:`OwnTable.open`.
    """
    with OwnTable.open(path) as table:
        yield from table.rows(complete_only)
