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
import random
import sqlite3
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from unified_nas.errors import RecipeError, UserError, format_failure
from unified_nas.jsontext import strict_json

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


def _schema(proxies: Sequence[str]) -> str:
    proxy_cols = "".join(f', "proxy_{p}" REAL' for p in proxies)
    metric_cols = ", ".join(f"{m} REAL" for m in _METRICS)
    return f"""
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE archs (
    key TEXT PRIMARY KEY, idx INTEGER NOT NULL, sample TEXT NOT NULL,
    status TEXT NOT NULL, error TEXT, {metric_cols}{proxy_cols}, finished_at REAL NOT NULL);
"""


def _connect_ro(path: Path) -> sqlite3.Connection:
    # mode=ro: SQLite itself refuses any write, and a missing file is an error, not a new database.
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=60)


def _read_meta(db: sqlite3.Connection, path: Path) -> TableMeta:
    """The meta record of an open file, refusing anything that is not our table of this version.

    Raises:
        OwnTableError: Not a SQLite database, not our table, or another format version.
    """
    try:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if not {"meta", "archs"} <= tables:
            raise OwnTableError(
                f"{path} is not a unified-nas table (it has tables {', '.join(sorted(tables)[:5]) or 'none'})"
            )
        raw = dict(db.execute("SELECT key, value FROM meta").fetchall())
    except sqlite3.DatabaseError as e:
        raise OwnTableError(f"{path} is not a unified-nas table ({e})") from None
    if raw.get("format") != FORMAT:
        raise OwnTableError(f"{path} is not a unified-nas table (no format {FORMAT!r})")
    if raw.get("format_version") != str(FORMAT_VERSION):
        raise OwnTableError(
            f"{path} is a table of format {raw.get('format_version')}; this unified-nas reads {FORMAT_VERSION}"
        )
    try:
        size = json.loads(raw["space_size"])
        return TableMeta(
            format_version=FORMAT_VERSION,
            fingerprint=raw["fingerprint"],
            recipe_name=raw["recipe_name"],
            recipe_text=raw["recipe_text"],
            recipe_hash=raw["recipe_hash"],
            decls=json.loads(raw["decls"]),
            space_size=math.inf if size is None else size,
            data=json.loads(raw["data"]),
            protocol=json.loads(raw["protocol"]),
            seed=int(raw["seed"]),
            proxies=tuple(json.loads(raw["proxies"])),
            mode=raw["mode"],
            requested=int(raw["requested"]),
            packages=json.loads(raw["packages"]),
            created_at=float(raw["created_at"]),
        )
    except (KeyError, ValueError, TypeError) as e:
        raise OwnTableError(f"{path} is a damaged unified-nas table (meta: {type(e).__name__} {e})") from None


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
        self._columns = [r[1] for r in db.execute("PRAGMA table_info(archs)")]

    @classmethod
    def open(cls, path: str | Path, field: str | None = None) -> OwnTable:
        """Opens a table read-only.

        Args:
            path: The table file.
            field: A recipe field (e.g. ``"evaluation.table"``) to blame: errors are then
                ``RecipeError(field, ...)`` instead of :class:`OwnTableError`.

        Returns:
            The table.

        Raises:
            OwnTableError: No file there, or it is not a unified-nas table of this format version.
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
            raise OwnTableError(f"no table at {p} (make one with `unas tabulate RECIPE`)")
        try:
            db = _connect_ro(p)
        except sqlite3.Error as e:
            raise OwnTableError(f"cannot open table {p}: {e}") from None
        try:
            meta = _read_meta(db, p)
        except BaseException:
            db.close()
            raise
        return cls(db, p, meta)

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
        r = dict(zip(self._columns, values, strict=True))
        return TableRow(
            key=r["key"],
            index=r["idx"],
            sample=json.loads(r["sample"]),
            status=r["status"],
            error=r["error"],
            **{m: r[m] for m in _METRICS},
            proxies={p: r.get(f"proxy_{p}") for p in self.meta.proxies},
            finished_at=r["finished_at"],
        )

    def rows(self, complete_only: bool = False) -> list[TableRow]:
        """Every stored architecture, in tabulation order.

        Args:
            complete_only: Leave out architectures whose training failed.
        """
        where = " WHERE status = 'complete'" if complete_only else ""
        return [self._row(v) for v in self._db.execute(f"SELECT * FROM archs{where} ORDER BY idx")]

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM archs").fetchone()[0])

    def counts(self) -> dict[str, int]:
        """Stored architectures per status, e.g. ``{"complete": 198, "failed": 2}``."""
        return dict(self._db.execute("SELECT status, COUNT(*) FROM archs GROUP BY status").fetchall())

    def lookup(self, sample: Mapping[str, Any]) -> TableRow | None:
        """The row of a sample, or None if it was not tabulated.

        Args:
            sample: A sample of the table's space; inactive and unknown labels are dropped first
                (toolkits such as NNI sample them all), so any sample of the same
                architecture finds the same row.

        Returns:
            The row (check ``row.complete``: a failed training is stored too), or None.
        """
        from unified_nas.space.decl import ParamDecl
        from unified_nas.space.sampling import canonicalize

        decls = [ParamDecl.from_dict(d) for d in self.meta.decls]
        key = sample_key(canonicalize(decls, sample))
        found = self._db.execute("SELECT * FROM archs WHERE key = ?", (key,)).fetchone()
        return None if found is None else self._row(found)

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

    Nothing is written to a refused file: it is read through a read-only connection first.

    Raises:
        OwnTableError: Not our table, another format, another fingerprint, or not writable.
    """
    if path.exists() and not path.is_file():
        raise OwnTableError(f"{path} is not a file")
    if path.is_file() and path.stat().st_size > 0:
        ro = _connect_ro(path)
        try:
            old = _read_meta(ro, path)
        finally:
            ro.close()
        if old.fingerprint != meta["fingerprint"]:
            raise OwnTableError(
                f"{path} is a table of another recipe or seed (fingerprint {old.fingerprint}, recipe "
                f"{old.recipe_name}); this recipe's is {meta['fingerprint']}: pass another --out"
            )
        try:
            db = sqlite3.connect(path, timeout=60)
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
        db = sqlite3.connect(path, timeout=60)
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
        UserError: A table recipe, bad ``sample``/``all``, a space that does not fit the data.
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
