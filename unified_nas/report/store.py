"""The embedded SQLite results store: every run and every trial, as they happen.

A trial is committed the moment it ends, so an interrupted or crashed run keeps
everything it computed. Default file: ``unas.sqlite`` in the working directory.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from unified_nas.core.errors import StoreError
from unified_nas.core.jsontext import strict_json
from unified_nas.report.records import SCHEMA_VERSION, RunReport, TrialRecord

DEFAULT_STORE = "unas.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, started_at REAL NOT NULL, recipe TEXT NOT NULL,
    backend TEXT NOT NULL, status TEXT NOT NULL, report TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS trials (
    run_id TEXT NOT NULL REFERENCES runs(run_id), idx INTEGER NOT NULL,
    record TEXT NOT NULL, test_accuracy REAL,
    PRIMARY KEY (run_id, idx));
CREATE TABLE IF NOT EXISTS benches (
    bench_id TEXT PRIMARY KEY, created_at REAL NOT NULL, recipe TEXT NOT NULL, config TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS bench_runs (
    bench_id TEXT NOT NULL REFERENCES benches(bench_id), backend TEXT NOT NULL, seed INTEGER NOT NULL,
    run_id TEXT NOT NULL, status TEXT NOT NULL, error TEXT, extra TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (bench_id, run_id));
"""
_OUR_TABLES = {"meta", "runs", "trials", "benches", "bench_runs"}
# Suites came later: a store without this table is still ours (it holds no suites). The table is
# made on the first suite written, so read-only commands never alter an older store.
_SUITES_SCHEMA = """
CREATE TABLE IF NOT EXISTS suites (
    suite_id TEXT PRIMARY KEY, created_at REAL NOT NULL, name TEXT NOT NULL,
    bench_ids TEXT NOT NULL, config TEXT NOT NULL);
"""


class ResultsStore:
    """Runs and trials in one SQLite file.

    Args:
        path: The database file. Created (with its folder) on first write
            unless ``readonly``.
        readonly: Open for reading only: the file must exist, nothing is
            created or altered (``unas report``, ``runs`` and ``export`` must
            not write our schema into whatever file they were pointed at).
        create: Create the store if it does not exist (never when ``readonly``);
            False for commands that continue stored work (``run --resume``).

    Raises:
        StoreError: If the file is missing (``readonly``, or not ``create``), cannot be written,
            is a SQLite database that is not a unified-nas store (an Optuna
            study, say), or has a schema this version does not read.

    A context manager: ``with ResultsStore(path) as store:`` closes it on leaving the block.
    """

    def __init__(self, path: str | Path = DEFAULT_STORE, readonly: bool = False, create: bool = True) -> None:
        self.path = Path(path)
        self.readonly = readonly
        if (readonly or not create) and not self.path.is_file():
            raise StoreError(f"no results store at {self.path} (run `unas run` first, or pass --store)")
        if self.path.exists() and not self.path.is_file():
            raise StoreError(f"{self.path} is not a file")
        try:
            if readonly:
                # mode=ro: SQLite itself refuses any write, so a reading command cannot alter the file.
                self._db = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, timeout=60)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                # Benchmarks write from several processes at once: wait for the lock instead of failing.
                self._db = sqlite3.connect(self.path, timeout=60)
            self._check_or_create()
        except sqlite3.DatabaseError as e:
            if not self.path.exists():  # SQLite could not create the file: a read-only folder or file system
                raise StoreError(f"cannot create results store {self.path}: {e}") from None
            if readonly and any(Path(f"{self.path}{x}").exists() for x in ("-journal", "-wal")):
                raise StoreError(
                    f"{self.path} has an unfinished write of a killed process; any writing "
                    "command (e.g. unas run --resume) completes or undoes it"
                ) from None
            raise StoreError(f"{self.path} is not a unified-nas results store ({e})") from None
        except OSError as e:
            raise StoreError(f"cannot open results store {self.path}: {e.strerror or e}") from None

    def _check_or_create(self) -> None:
        """Accepts our own store, creates the schema in an empty file, refuses anything else."""
        tables = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if not tables and not self.readonly:
            try:
                self._db.executescript("BEGIN IMMEDIATE;" + _SCHEMA)
                self._db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
                self._db.commit()
            except sqlite3.OperationalError as e:  # read-only file or folder, disk full, ...
                raise StoreError(f"cannot write results store {self.path}: {e}") from None
            return
        if not _OUR_TABLES <= tables:
            raise StoreError(
                f"{self.path} is not a unified-nas results store (it has tables "
                f"{', '.join(sorted(tables)[:5]) or 'none'})"
            )
        row = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if row is None:
            raise StoreError(f"{self.path} is not a unified-nas results store (no schema_version)")
        if int(row[0]) != SCHEMA_VERSION:
            raise StoreError(f"{self.path} has store schema {row[0]}; this unified-nas reads {SCHEMA_VERSION}")
        if not self.readonly:
            try:  # fail now, before a run directory exists, rather than at the first trial
                # A write rolled back: on a read-only file system BEGIN IMMEDIATE alone succeeds.
                self._db.execute("BEGIN IMMEDIATE")
                self._db.execute("UPDATE meta SET value = value WHERE key = 'schema_version'")
                self._db.rollback()
            except sqlite3.OperationalError as e:
                raise StoreError(f"cannot write results store {self.path}: {e}") from None

    def __enter__(self) -> ResultsStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Closes the database connection (the store is unusable after)."""
        self._db.close()

    def save_run(self, report: RunReport) -> None:
        """Inserts or updates a run's header (trials are saved one by one).

        Args:
            report: The run (its trials are not saved here: :meth:`add_trial`).
        """
        self._db.execute(
            "INSERT INTO runs VALUES (?,?,?,?,?,?) ON CONFLICT(run_id) DO UPDATE SET status=excluded.status, report=excluded.report",
            (
                report.run_id,
                report.started_at,
                report.recipe["name"],
                report.backend["name"],
                report.status,
                strict_json(report.to_dict(with_trials=False)),
            ),
        )
        self._db.commit()

    def claim_run(self, report: RunReport, expected_status: str, expected_owner: dict[str, Any] | None) -> bool:
        """Saves ``report`` only if the stored run is still as the caller read it: one transaction.

        Two ``unas run --resume`` of one run started at once: exactly one claims it. The status
        alone cannot tell them apart: a died run is stored as ``running`` and a claim leaves it
        ``running``, so the owner process the caller saw must still be the stored one.

        Args:
            report: The run's new header (this process as its owner).
            expected_status: The status the stored run must still have.
            expected_owner: The owner process record the caller read (``RunReport.process``).

        Returns:
            True if this call claimed the run.
        """
        with self._db:  # commits, or rolls back on error
            # IMMEDIATE: the write lock before the read, so no other claim slips in between.
            self._db.execute("BEGIN IMMEDIATE")
            row = self._db.execute(
                "SELECT status, json_extract(report, '$.process') FROM runs WHERE run_id=?", (report.run_id,)
            ).fetchone()
            if row is None or row[0] != expected_status or (json.loads(row[1]) if row[1] else None) != expected_owner:
                return False
            self._db.execute(
                "UPDATE runs SET status=?, report=? WHERE run_id=?",
                (report.status, strict_json(report.to_dict(with_trials=False)), report.run_id),
            )
        return True

    def add_trial(self, run_id: str, record: TrialRecord) -> None:
        """Commits one finished trial right away.

        Args:
            run_id: The run's id.
            record: The trial (replaces a stored trial of the same index).
        """
        self._db.execute(
            "INSERT OR REPLACE INTO trials VALUES (?,?,?,?)",
            (run_id, record.index, strict_json(record.to_dict()), record.test_accuracy),
        )
        self._db.commit()

    def trials(self, run_id: str) -> list[TrialRecord]:
        """A run's stored trials, in trial order (empty for an unknown run).

        Args:
            run_id: The full run id.

        Returns:
            The trial records.
        """
        rows = self._db.execute("SELECT record, test_accuracy FROM trials WHERE run_id=? ORDER BY idx", (run_id,))
        return [TrialRecord.from_dict(json.loads(r), t) for r, t in rows]

    def trial_count(self, run_id: str) -> int:
        """Trials stored so far for a run (cheap: no record is parsed).

        Args:
            run_id: The full run id.

        Returns:
            The count (0 for an unknown run).
        """
        return self._db.execute("SELECT COUNT(*) FROM trials WHERE run_id=?", (run_id,)).fetchone()[0]

    def resolve_id(self, run_id: str) -> str:
        """Accepts a full run id, ``latest``, or a unique prefix.

        Args:
            run_id: What the user gave.

        Returns:
            The full run id.

        Raises:
            StoreError: If nothing or more than one run matches.
        """
        return self._resolve(run_id, "runs", "run_id", "started_at", "run")

    def _resolve(self, ident: str, table: str, key: str, time_col: str, what: str) -> str:
        """A full id, ``latest`` (newest by ``time_col``) or a unique prefix -> the id in ``table``."""
        if ident == "latest":
            row = self._db.execute(f"SELECT {key} FROM {table} ORDER BY {time_col} DESC LIMIT 1").fetchone()
            if row is None:
                raise StoreError(f"{self.path} holds no {what}s yet")
            return row[0]
        # A literal prefix: LIKE would read '%' and '_' in a user's id as wildcards.
        rows = [
            r[0]
            for r in self._db.execute(f"SELECT {key} FROM {table} WHERE substr({key}, 1, length(?1)) = ?1", (ident,))
        ]
        if len(rows) != 1:
            raise StoreError(
                f"no {what} {ident!r} in {self.path}"
                if not rows
                else f"{ident!r} matches {len(rows)} {what}s: {', '.join(rows[:5])}"
            )
        return rows[0]

    def load_run(self, run_id: str) -> RunReport:
        """The full report of a run, with its trials and summary.

        Args:
            run_id: A full run id, ``latest`` or a unique prefix.

        Returns:
            The run's report.

        Raises:
            StoreError: If nothing or more than one run matches.
        """
        rid = self.resolve_id(run_id)
        (text,) = self._db.execute("SELECT report FROM runs WHERE run_id=?", (rid,)).fetchone()
        report = RunReport.from_dict(json.loads(text), self.trials(rid))
        report.summarize()
        return report

    # -- benchmarks ---------------------------------------------------------------------------------
    def save_bench(self, bench_id: str, recipe: str, config: dict[str, Any], created_at: float) -> None:
        """Stores a benchmark's header, unless one of that id is stored already.

        Args:
            bench_id: The benchmark's id.
            recipe: The recipe's name.
            config: The settings it runs with (backends, seeds, budget, ...).
            created_at: When it was created (seconds since the epoch).
        """
        self._db.execute(
            "INSERT OR IGNORE INTO benches VALUES (?,?,?,?)", (bench_id, created_at, recipe, json.dumps(config))
        )
        self._db.commit()

    def set_bench_run(
        self,
        bench_id: str,
        backend: str,
        seed: int,
        run_id: str,
        status: str,
        error: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        """Inserts or updates one (backend, seed) run of a benchmark.

        Args:
            bench_id: The benchmark's id.
            backend: The run's backend.
            seed: The run's seed.
            run_id: The run's id (one attempt of this backend and seed).
            status: The attempt's status.
            error: Why it failed, if it did.
            extra: Anything else the report shows about the attempt.
        """
        self._db.execute(
            "INSERT INTO bench_runs VALUES (?,?,?,?,?,?,?) ON CONFLICT(bench_id, run_id) DO UPDATE SET "
            "status=excluded.status, error=excluded.error, extra=excluded.extra",
            (bench_id, backend, seed, run_id, status, error, strict_json(extra or {})),
        )
        self._db.commit()

    def bench(self, bench_id: str) -> tuple[str, dict[str, Any], float]:
        """A stored benchmark's header.

        Args:
            bench_id: A full benchmark id, ``latest`` or a unique prefix.

        Returns:
            ``(bench_id, config, created_at)``.

        Raises:
            StoreError: If nothing or more than one benchmark matches.
        """
        bid = self._resolve(bench_id, "benches", "bench_id", "created_at", "benchmark")
        config, created = self._db.execute("SELECT config, created_at FROM benches WHERE bench_id=?", (bid,)).fetchone()
        return bid, json.loads(config), created

    def is_bench(self, bench_id: str) -> bool:
        """Whether ``bench_id`` (full, ``latest`` or a unique prefix) names exactly one stored benchmark."""
        try:
            self.bench(bench_id)
            return True
        except StoreError:
            return False

    def bench_runs(self, bench_id: str) -> list[dict[str, Any]]:
        """Every run attempt of a benchmark, oldest first.

        Args:
            bench_id: The full benchmark id.

        Returns:
            Per attempt: ``backend``, ``seed``, ``run_id``, ``status``, ``error``, ``extra``.
        """
        rows = self._db.execute(
            "SELECT backend, seed, run_id, status, error, extra FROM bench_runs WHERE bench_id=? ORDER BY rowid",
            (bench_id,),
        )
        return [
            {"backend": b, "seed": s, "run_id": r, "status": st, "error": e, "extra": json.loads(x)}
            for b, s, r, st, e, x in rows
        ]

    def latest_bench_runs(self, bench_id: str) -> dict[tuple[str, int], dict[str, Any]]:
        """The last attempt of each (backend, seed) of a benchmark: the one that counts.

        Args:
            bench_id: The full benchmark id.

        Returns:
            ``{(backend, seed): attempt}``, the attempts as :meth:`bench_runs` gives them.
        """
        return {(r["backend"], r["seed"]): r for r in self.bench_runs(bench_id)}

    def list_benches(self) -> list[tuple[str, str, float]]:
        """Every stored benchmark as ``(bench_id, recipe, created_at)``, newest first."""
        return list(self._db.execute("SELECT bench_id, recipe, created_at FROM benches ORDER BY created_at DESC"))

    # -- suites (one benchmark per recipe, compared in one report) -------------------------------------
    def _has_suites(self) -> bool:
        return (
            self._db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='suites'").fetchone() is not None
        )

    def save_suite(
        self, suite_id: str, name: str, bench_ids: list[str], config: dict[str, Any], created_at: float
    ) -> None:
        """Stores a suite: its benchmarks (in recipe order) and the settings they ran with.

        Creates the suites table on the first suite (see ``_SUITES_SCHEMA``).

        Args:
            suite_id: The suite's id.
            name: The suite's name.
            bench_ids: Its benchmarks, one per recipe, in recipe order.
            config: The recipes, each benchmark's settings and where the report was written.
            created_at: When it was created (seconds since the epoch); its report shows this time.

        Raises:
            StoreError: The store is read-only or cannot be written.
        """
        try:
            self._db.executescript(_SUITES_SCHEMA)
            self._db.execute(
                "INSERT INTO suites VALUES (?,?,?,?,?)",
                (suite_id, created_at, name, json.dumps(bench_ids), json.dumps(config)),
            )
            self._db.commit()
        except sqlite3.OperationalError as e:
            raise StoreError(f"cannot write results store {self.path}: {e}") from None

    def suite(self, suite_id: str) -> dict[str, Any]:
        """A stored suite.

        Args:
            suite_id: A full suite id, ``latest`` or a unique prefix.

        Returns:
            ``{"suite_id", "name", "bench_ids", "config", "created_at"}``.

        Raises:
            StoreError: If nothing or more than one suite matches (a store from before suites holds none).
        """
        if not self._has_suites():
            raise StoreError(f"no suite {suite_id!r} in {self.path} (it holds no suites)")
        sid = self._resolve(suite_id, "suites", "suite_id", "created_at", "suite")
        name, bench_ids, config, created = self._db.execute(
            "SELECT name, bench_ids, config, created_at FROM suites WHERE suite_id=?", (sid,)
        ).fetchone()
        return {
            "suite_id": sid,
            "name": name,
            "bench_ids": json.loads(bench_ids),
            "config": json.loads(config),
            "created_at": created,
        }

    def is_suite(self, suite_id: str) -> bool:
        """Whether ``suite_id`` (full, ``latest`` or a unique prefix) names exactly one stored suite."""
        try:
            self.suite(suite_id)
            return True
        except StoreError:
            return False

    def list_suites(self) -> list[tuple[str, str, float]]:
        """(suite_id, name, created_at), newest first; empty for a store from before suites."""
        if not self._has_suites():
            return []
        return list(self._db.execute("SELECT suite_id, name, created_at FROM suites ORDER BY created_at DESC"))

    def list_runs(self) -> list[tuple[str, str, str, str, float, dict[str, Any] | None]]:
        """Every stored run, newest first.

        Returns:
            ``(run_id, recipe, backend, status, started_at, owning process)`` per run; the process
            (as :mod:`unified_nas.runs.lifecycle` records it) is None if none was recorded.
        """
        rows = self._db.execute(
            "SELECT run_id, recipe, backend, status, started_at, "
            "json_extract(report, '$.process') FROM runs ORDER BY started_at DESC"
        )
        return [(*row[:5], json.loads(row[5]) if row[5] else None) for row in rows]
