"""Tables of your own: train architectures of a recipe's space once, replay searches on them.

``unas tabulate RECIPE --sample N`` trains N distinct architectures drawn with a
seeded RNG (``--all``: every architecture of a finite space) under the recipe's
protocol and stores, per architecture, its trained metrics, its size and every
zero-cost proxy of :data:`unified_nas.evaluation.proxies.PROXIES`. ``unas proxies TABLE``
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

import json
import math
import re
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from unified_nas.core.errors import UserError
from unified_nas.core.text import file_label, shown
from unified_nas.recipe.text import MAX_DEPTH, MAX_RECIPE_BYTES, MAX_VALUES

if TYPE_CHECKING:
    from unified_nas.space.decl import ParamDecl

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
        flops: Multiply-accumulates of one forward pass, as ``unified_nas.network.flops`` counts them.
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

    The limits of :mod:`unified_nas.recipe.text`, so a table's JSON costs no more than its recipe
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
