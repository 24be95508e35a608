"""``unas tabulate``: train architectures of a recipe's space once, into a table of your own.

``unas tabulate RECIPE --sample N`` trains N distinct architectures drawn with a
seeded RNG (``--all``: every architecture of a finite space) under the recipe's
protocol and stores, per architecture, its trained metrics, its size and every
zero-cost proxy (:data:`unified_nas.core.metrics.PROXY_METRICS`). The file
format is :mod:`unified_nas.tables.own_format`, the reader
:class:`unified_nas.tables.own.OwnTable`.

A recipe with ``evaluation: {supernet: {...}}`` adds one more column beside
the proxies, ``supernet``: one weight-sharing supernet is trained once per
table and seed, before the first architecture, and stored beside the table
(``<table>.supernet/``, reused when the tabulation resumes); each architecture
is scored with the weights it inherits from it, then trained on its own as
every row is. ``unas proxies`` ranks that column like a proxy.

Every architecture is committed the moment it finishes, so a killed tabulation
(even ``kill -9``) loses at most the architecture in flight, and running the
same command again resumes: the sample sequence is the same for the same seed,
and architectures already stored are skipped, not retrained. A kill in the
middle of a commit leaves SQLite's journal beside the file: ``tabulate`` rolls
it back before it resumes. A table remembers a fingerprint of everything that
decides its numbers (space, training, data, seed, proxies); adding to it with a
recipe of another fingerprint is refused before anything is written.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import sqlite3
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from unified_nas.core.environment import environment
from unified_nas.core.errors import UserError, format_failure
from unified_nas.core.jsontext import strict_json
from unified_nas.core.metrics import SUPERNET_SCORE
from unified_nas.core.text import file_label
from unified_nas.evaluation.devices import resolve_device, use_device
from unified_nas.recipe.text import MAX_RECIPE_BYTES, parse_recipe_yaml
from unified_nas.runs.runner import check_data_fits
from unified_nas.space.sampling import enumerate_samples, random_sample, space_size
from unified_nas.tables.own import OwnTable
from unified_nas.tables.own_format import (
    _NOT_FINGERPRINTED,
    _TOO_LARGE,
    FORMAT,
    FORMAT_VERSION,
    MAX_ARCHS,
    OwnTableError,
    _connect,
    _decl_dicts,
    _journal,
    _json_limits,
    _schema,
    sample_key,
)
from unified_nas.tables.recipes import load_recipe_data

if TYPE_CHECKING:
    from unified_nas.data import Dataset
    from unified_nas.evaluation.supernet.evaluator import SupernetScore
    from unified_nas.recipe import Recipe
    from unified_nas.space.decl import ParamDecl


def _fingerprint(recipe: Recipe, data: Dataset, seed: int, proxies: Sequence[str]) -> str:
    """Hash of everything that decides a tabulated architecture's numbers."""

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


def supernet_folder(table: Path) -> Path:
    """Where a table's supernet is stored, so that a resumed tabulation reuses it.

    Args:
        table: The table file.

    Returns:
        ``<table>.supernet/`` beside it.
    """
    return table.with_name(table.name + ".supernet")


def _stored_supernet(recipe: Recipe, data: Dataset, seed: int, table: Path) -> SupernetScore:
    """The table's supernet scorer, with the supernet an earlier tabulation stored loaded (nothing is written).

    Raises:
        UserError: The stored supernet is damaged, or of another recipe or seed.
    """
    from unified_nas.evaluation.supernet.evaluator import SupernetScore  # deferred: imports torch

    assert recipe.evaluation.supernet is not None
    folder = supernet_folder(table)
    scorer = SupernetScore(recipe.evaluation.supernet, recipe.space, data, seed)
    scorer.restore(folder, where=f"table {table}", remedy=f"delete {folder} to train it again")
    return scorer


def _train_supernet(scorer: SupernetScore, table: Path, say: Callable[[str], None] | None) -> None:
    """Trains the table's one supernet (once per table and seed) into its folder, unless it was reloaded.

    Raises:
        UserError: The folder cannot be made.
    """
    folder = supernet_folder(table)
    if scorer.supernet is None:
        try:
            folder.mkdir(exist_ok=True)
        except OSError as e:
            raise UserError(f"cannot create {folder}: {e.strerror or e}") from None
    scorer.prepare(folder, say)


def _train_one(
    recipe: Recipe, sample: dict[str, Any], data: Dataset, seed: int, supernet: SupernetScore | None = None
) -> dict[str, Any]:
    """Trains one architecture and computes its proxies (and its supernet score); a failure is recorded, not raised.

    KeyboardInterrupt and SystemExit propagate (the row is then not written, and a rerun trains it).
    """
    from unified_nas.evaluation.proxies import compute_proxies  # deferred: imports torch
    from unified_nas.evaluation.train.evaluate import evaluate_sample  # deferred: imports torch

    out: dict[str, Any] = {"status": "complete", "error": None}
    try:
        t0 = time.perf_counter()
        proxies = compute_proxies(recipe.space, sample, data, seed)
        out["proxy_s"] = time.perf_counter() - t0
        out["params"], out["flops"] = proxies.pop("params"), proxies.pop("flops")
        out.update({f"proxy_{k}": v for k, v in proxies.items()})
        if supernet is not None:  # scored with inherited weights, before and apart from its own training
            out[f"proxy_{SUPERNET_SCORE}"] = supernet(sample, 0).metrics["val_accuracy"]
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
    thread count (``unified_nas.runs.threads``) before calling: this function imports torch.

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
    from unified_nas.evaluation.proxies import PROXIES  # deferred: imports torch

    start = time.perf_counter()
    if recipe.data is None:
        raise UserError(f"recipe {recipe.name} is evaluated by a table already; tabulate a recipe that trains")
    seed = recipe.seed if seed is None else seed
    decls = recipe.space.decls()
    mode, samples = _plan(decls, sample, all, seed)
    data = load_recipe_data(recipe)
    check_data_fits(recipe, data)

    use_device(resolve_device(recipe.device))  # as a run does: CUDA where there is none is refused here
    proxies = list(PROXIES) + ([SUPERNET_SCORE] if recipe.evaluation.supernet is not None else [])

    size = space_size(decls)
    meta = _table_meta(recipe, data, seed, proxies, mode, len(samples))
    _check_meta_bounds(meta, recipe.name)
    p = Path(path)
    # A stored supernet is checked before the table is opened for writing: a refusal writes nothing.
    scorer = _stored_supernet(recipe, data, seed, p) if recipe.evaluation.supernet is not None else None
    db = _open_for_writing(p, meta, proxies)
    stream = out if out is not None else sys.stderr
    try:
        done = {r[0] for r in db.execute("SELECT key FROM archs")}
        todo = [(i, s) for i, s in enumerate(samples) if sample_key(s) not in done]
        say = (lambda line: print(line, file=stream, flush=True)) if progress else None
        if scorer is not None and todo:
            _train_supernet(scorer, p, say)
        skipped = len(samples) - len(todo)
        if progress and skipped:
            print(f"tabulate: {skipped} of {len(samples)} architectures already in {p}; resuming", file=stream)
        failed = 0
        for i, s in todo:
            t0 = time.perf_counter()
            values = _train_one(recipe, s, data, seed, scorer)
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
