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
retrained. A table remembers a fingerprint of everything that decides its
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
from unified_nas.recipe_text import file_label, shown

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
_STATUSES = ("complete", "failed")
_MODES = ("sample", "all")
# Proxy names become column names (``proxy_<name>``) and cells of the printed and markdown
# tables: identifiers only, so a table's meta cannot inject terminal escapes or markdown.
_PROXY_NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,63}")
_FINGERPRINT_RE = re.compile(r"[0-9a-f]{16}")
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


def sample_key(sample: Mapping[str, Any]) -> str:
    """The row key of a canonical sample: its sorted, compact JSON.

    Args:
        sample: A canonical sample (canonicalize a toolkit's sample first).

    Returns:
        The key; equal samples give equal keys.
    """
    return json.dumps(dict(sample), sort_keys=True, separators=(",", ":"), default=_plain, allow_nan=False)


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
    (a control character, a string where a list belongs, an infinite seed) is refused here.

    Raises:
        OwnTableError: Not a SQLite database, not our table, another format version, or a meta
            value that ``tabulate`` cannot have written (naming the key).
    """
    try:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if not {"meta", "archs"} <= tables:
            names = ", ".join(shown(t) for t in sorted(tables, key=str)[:5]) or "none"
            raise OwnTableError(f"{file_label(path)} is not a unified-nas table (it has tables {names})")
        raw = dict(db.execute("SELECT key, value FROM meta").fetchall())
    except sqlite3.DatabaseError as e:
        raise OwnTableError(f"{file_label(path)} is not a unified-nas table ({e})") from None
    if raw.get("format") != FORMAT:
        raise OwnTableError(f"{file_label(path)} is not a unified-nas table (no format {FORMAT!r})")
    if raw.get("format_version") != str(FORMAT_VERSION):
        raise OwnTableError(
            f"{file_label(path)} is a table of format {shown(raw.get('format_version'))}; "
            f"this unified-nas reads {FORMAT_VERSION}"
        )
    return _parse_meta(raw, path)


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
            return _strict_loads(text(key))
        except ValueError as e:
            raise _damaged(path, f"meta {key}", f"not JSON ({e})") from None

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
    """

    def __init__(self, db: sqlite3.Connection, path: Path, meta: TableMeta) -> None:
        self._db = db
        self.path = path
        self.meta = meta
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
            raise _damaged(self.path, "archs", str(e)) from None

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
        range, samples JSON objects), so a damaged or hostile file is refused before anything uses it.

        Raises:
            OwnTableError: No file there, not a unified-nas table of this format version, or a
                damaged one (naming the meta key, or the row and column).
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
        try:
            table = cls(db, p, _read_meta(db, p))
            # Every row now, not at its first lookup: a damaged table is refused before a replay
            # creates its run (tables hold at most a few thousand rows; 200 take a few ms).
            table.rows()
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
        return [self._row(v) for v in self._query(f"SELECT rowid, * FROM archs{where} ORDER BY idx")]

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
        found = self._query("SELECT rowid, * FROM archs WHERE key = ?", (key,))
        return self._row(found[0]) if found else None

    def same_space(self, decls: Sequence[ParamDecl]) -> bool:
        """True if ``decls`` are exactly the declarations the table was tabulated for."""
        return _decl_dicts(decls) == self.meta.decls

    def covers(self, decls: Sequence[ParamDecl]) -> bool:
        """True if the table holds every architecture of ``decls``'s space (the same space as its own)."""
        return self.same_space(decls) and math.isfinite(self.meta.space_size) and len(self) >= self.meta.space_size

    def check_replay(self, decls: Sequence[ParamDecl], field: str = "evaluation.table") -> None:
        """Refuses a table that cannot answer every sample a search of ``decls`` may propose.

        Args:
            decls: The recipe's space declarations.
            field: The recipe field named in the error.

        Raises:
            RecipeError: ``field``: the spaces differ, or the table holds only part of the space.
        """
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
        if not self.covers(decls):
            size = "infinitely many" if not math.isfinite(self.meta.space_size) else f"{int(self.meta.space_size)}"
            raise RecipeError(
                field,
                f"table {self.path} holds {len(self)} of {size} architectures of this space; "
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
    connection first. The file is opened by its absolute path (:func:`_connect`), so ``path`` is
    always the literal file name that was checked, never a SQLite URI.

    Raises:
        OwnTableError: Not our table, a damaged one, another format, another fingerprint, or not writable.
    """
    if path.exists() and not path.is_file():
        raise OwnTableError(f"{file_label(path)} is not a file")
    if path.is_file() and path.stat().st_size > 0:
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
        out.update(status="failed", error=format_failure(e))
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
    from unified_nas.environment import environment
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
    meta = {
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
        "proxies": json.dumps(proxies),
        "mode": mode,
        "requested": str(len(samples)),
        "packages": json.dumps(environment(("torch", "scipy"))["packages"]),
        "created_at": repr(time.time()),
    }
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
