"""Reading a table of your own (:class:`OwnTable`): checked whole when opened, then looked up.

A table is a file anyone can edit, so opening one checks all of it before
anything is answered (the file format and its checks are
:mod:`unified_nas.tables.own_format`; ``unas tabulate`` writes tables:
:mod:`unified_nas.commands.tabulate`). A table with ``--all`` coverage can
answer a search instead of training (``evaluation: {table: PATH}``), as
NAS-Bench-201 does; ``unas proxies TABLE`` ranks the proxies it stores
(:mod:`unified_nas.tables.correlation`).

This module imports only ``sqlite3`` and ``json`` at load time, so reading a
table (replay, correlations) stays light.
"""

from __future__ import annotations

import hashlib
import math
import os
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from unified_nas.core.errors import RecipeError, SampleError
from unified_nas.core.text import file_label, shown
from unified_nas.recipe.text import MAX_RECIPE_BYTES
from unified_nas.space.decl import ParamDecl
from unified_nas.space.sampling import canonicalize, enumerate_samples, space_size, validate_sample
from unified_nas.tables.own_format import (
    _METRICS,
    _REPLAYED,
    _REQUIRED_COMPLETE,
    _ROW_JSON,
    _STATUSES,
    MAX_ARCHS,
    OwnTableError,
    TableMeta,
    TableRow,
    _connect,
    _damaged,
    _decl_dicts,
    _is_int,
    _number_problem,
    _one_line,
    _read_error,
    _strict_loads,
    sample_key,
)
from unified_nas.tables.own_meta import _read_meta

if TYPE_CHECKING:
    from unified_nas.space.decl import ParamDecl


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


def iter_rows(path: str | Path, complete_only: bool = False) -> Iterator[TableRow]:
    """The rows of a table file, opened read-only (a convenience for scripts).

    Raises:
        OwnTableError: As :meth:`OwnTable.open`.
    """
    with OwnTable.open(path) as table:
        yield from table.rows(complete_only)
