"""Where a shared Optuna study lives (``--storage``): opening it, and refusing a bad one before anything is written.

``--storage`` takes an RDB URL (PostgreSQL, MySQL, SQLite) or the path of an
Optuna journal file. Both come from the user and may point anywhere, so
:func:`check_storage_url` looks before Optuna touches anything: a journal
must be a regular file that starts like Optuna's journal, within a size cap;
a SQLite file must be empty or hold Optuna's tables only (never our results
store or any other database), and is read read-only; an in-memory database
cannot be shared and is refused. :func:`open_storage` then opens it with
Optuna's heartbeat and retry of dead workers' trials.

A journal is also read whole before it is used (:func:`journal_damage`): a
full disk part way through one of Optuna's appends leaves a partial record,
which Optuna's reader skips, then glues the next append onto it and fails
later with a ``JSONDecodeError`` that names no file. A damaged journal is
refused with one line naming it, and left as it is (it is the user's).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sqlite3
import stat
import urllib.parse
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna

from unified_nas.core.errors import UserError

# Seconds between heartbeats, and without one before a running trial counts as dead. Short enough
# that a dead worker's trial is retried within a minute, long enough not to fail a trial whose
# worker is merely busy (the heartbeat runs in its own thread).
HEARTBEAT_S = 5
GRACE_S = 20
POSTGRES_HINT = "pip install 'unified-nas[postgres]'"
# Largest journal file a process opens. Optuna replays the whole journal into memory on every open (5.0,
# JournalStorage), so its size bounds what a hostile --storage file can cost; 1 GiB is many times a
# real study's journal (a trial is a few kB of log lines: hundreds of thousands of trials).
JOURNAL_MAX_BYTES = 1 << 30
# Bytes read to recognise a journal: its first line, one Optuna operation (a study's creation: a few
# hundred bytes). Bounded so a file of one endless line (or a sparse file of zeros) costs no memory.
JOURNAL_PREFIX_BYTES = 64 * 1024
# Longest line read when a journal is checked whole: one operation is a few kB (a trial's result with its
# epoch history the largest), so a longer line is damage (a run of zeros a crash left), not a record.
JOURNAL_LINE_MAX_BYTES = 64 << 20
# How journal_damage says the last line is cut short (the one damage a live writer can also show for a moment).
PARTIAL_RECORD = "it ends in a partial record"


def open_storage(url: str) -> optuna.storages.BaseStorage:
    """The storage of ``--storage``: an RDB URL (with heartbeat and retries) or a journal file path.

    Args:
        url: ``postgresql+psycopg://...``, ``postgresql://...``, ``mysql+pymysql://...``,
            ``sqlite:///path`` or a file path (an Optuna journal).

    Returns:
        The storage.

    Raises:
        UserError: The database driver is missing, the database cannot be reached, or the
            journal file is damaged (Optuna reads it whole here).
    """
    if "://" not in url:
        from optuna.storages.journal import JournalFileBackend

        with journal_errors(url):
            return optuna.storages.JournalStorage(JournalFileBackend(url))
    if url.startswith("postgresql://"):  # SQLAlchemy's default driver is psycopg2; the extra installs psycopg 3
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    try:
        with warnings.catch_warnings():
            # Heartbeats and RetryHeartbeatStaleTrialCallback are marked experimental; the optuna pin keeps them.
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(
                url,
                heartbeat_interval=HEARTBEAT_S,
                grace_period=GRACE_S,
                heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=1),
                engine_kwargs={"pool_pre_ping": True},
            )
    except ImportError as e:  # SQLAlchemy's dialect import of a missing driver (psycopg, pymysql)
        raise UserError(f"--storage: a database driver is missing ({POSTGRES_HINT} for PostgreSQL): {e}") from None
    except Exception as e:  # SQLAlchemy's OperationalError and kin: the message's first line says why
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"--storage: cannot open {url}: {first[:300]}") from None


def _stat(path: str, what: str) -> os.stat_result | None:
    """The file's status (following links), None if it does not exist.

    Raises:
        UserError: It exists but cannot be examined (permissions, a loop of links).
    """
    try:
        return os.stat(path)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise UserError(f"--storage: cannot read the {what} {path}: {e.strerror or type(e).__name__}") from None


def _read_prefix(path: str, limit: int, what: str) -> bytes:
    """At most ``limit`` bytes from the start of a regular file.

    Opened without blocking and checked again after opening: a FIFO swapped in after
    :func:`_stat` would otherwise block the open (or the read) forever.

    Raises:
        UserError: It cannot be opened, or it is not a regular file once open.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as e:
        raise UserError(f"--storage: cannot read the {what} {path}: {e.strerror or type(e).__name__}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise UserError(f"--storage: {path} is not a regular file (the {what} must be one)")
        chunks: list[bytes] = []
        size = 0
        while size < limit:
            chunk = os.read(fd, limit - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks)
    except OSError as e:  # EIO, EISDIR on odd file systems
        raise UserError(f"--storage: cannot read the {what} {path}: {e.strerror or type(e).__name__}") from None
    finally:
        os.close(fd)


@functools.cache
def _journal_ops() -> frozenset[int]:
    """The operation codes of Optuna's journal (``JournalOperation``)."""
    from optuna.storages.journal._storage import JournalOperation

    return frozenset(o.value for o in JournalOperation)


def _is_journal_record(line: bytes) -> bool:
    """Whether one line is an operation Optuna's journal writes (``JournalStorage._write_log``)."""
    try:
        record = json.loads(line)
    except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested deeper than the parser goes
        return False
    if not isinstance(record, dict):
        return False
    op = record.get("op_code")
    return (
        isinstance(op, int)
        and not isinstance(op, bool)
        and op in _journal_ops()
        and isinstance(record.get("worker_id"), str)
    )


def journal_damage(path: str) -> str | None:
    """What keeps Optuna from reading a journal file, or appending to it, safely; None if nothing does.

    Every line must be one whole journal operation. Optuna's reader (5.0,
    ``JournalFileBackend.read_logs``) stops with a bare ``JSONDecodeError`` at a
    line that is not one when more lines follow, and skips a partial last line
    (it may be a record another process is appending); its next append is then
    glued onto that line and lost, and a later read fails.

    Args:
        path: The journal file.

    Returns:
        The damage, naming its line (a partial last line starts with :data:`PARTIAL_RECORD`), or None.

    Raises:
        OSError: The file cannot be read.
    """
    with open(path, "rb") as f:
        for number, line in enumerate(iter(lambda: f.readline(JOURNAL_LINE_MAX_BYTES), b""), start=1):
            if len(line) >= JOURNAL_LINE_MAX_BYTES and not line.endswith(b"\n"):
                return (
                    f"line {number} is over {JOURNAL_LINE_MAX_BYTES >> 20} MiB, far longer than any journal operation"
                )
            if not line.endswith(b"\n"):
                return f"{PARTIAL_RECORD} at line {number}"
            if not _is_journal_record(line):
                return f"line {number} is not an Optuna journal operation"
    return None


def damaged_journal(path: str, why: str) -> UserError:
    """The one-line error for a damaged ``--storage`` journal (the user's file: it is never moved or rewritten)."""
    return UserError(
        f"--storage: {path} is damaged ({why}); Optuna cannot go on with it, and it is left as it is: "
        "restore it from a copy, or start a new run with another journal file"
    )


def _settled_damage(path: str) -> str | None:
    """:func:`journal_damage`, a partial last line looked at again under the lock Optuna's writers hold.

    Optuna's processes append under the journal's lock (its ``JournalFileSymlinkLock``, the
    default of ``JournalFileBackend``): a partial last line seen without it may be a record
    that a live worker is writing at this moment. Only then is the lock taken (a symlink
    next to the file for a moment); a lock left by a killed writer is broken by Optuna's
    lock after its grace period (30 s).

    Raises:
        UserError: The file cannot be read, or the lock cannot be taken.
    """
    try:
        why = journal_damage(path)
    except OSError as e:
        raise UserError(f"--storage: cannot read the journal file {path}: {e.strerror or type(e).__name__}") from None
    if why is None or not why.startswith(PARTIAL_RECORD):
        return why
    from optuna.storages.journal import JournalFileSymlinkLock

    lock = JournalFileSymlinkLock(path)
    try:
        lock.acquire()
    except OSError as e:
        raise UserError(f"--storage: cannot lock the journal file {path}: {e.strerror or type(e).__name__}") from None
    try:
        return journal_damage(path)
    except OSError as e:
        raise UserError(f"--storage: cannot read the journal file {path}: {e.strerror or type(e).__name__}") from None
    finally:
        with contextlib.suppress(RuntimeError):  # another process broke it as stale meanwhile
            lock.release()


@contextlib.contextmanager
def journal_errors(url: str) -> Iterator[None]:
    """Names a ``--storage`` journal file that got damaged while the study ran, where Optuna fails on it.

    A worker whose disk fills up part way through an append leaves a partial
    record that the other processes' appends are glued to; Optuna then fails
    in whichever process reads it next, with an error that names no file
    (``JSONDecodeError``, ``UnicodeDecodeError``, or an ``AttributeError``
    from a lost record). An error inside this block, while the journal file is
    damaged, becomes the one-line :func:`damaged_journal` error.

    Args:
        url: The ``--storage`` value (an RDB URL passes everything through).

    Yields:
        Nothing.

    Raises:
        UserError: An exception was raised inside and the journal file is damaged.
    """
    try:
        yield
    except Exception:
        if "://" in url:
            raise
        try:
            why = journal_damage(url)
        except OSError:
            why = None
        if why is None:
            raise  # not the journal's doing
        raise damaged_journal(url, why) from None


def _check_journal(path: str, must_exist: bool) -> None:
    """Refuses a journal path that Optuna could not use, reading only a bounded prefix.

    A new journal (``unas run``) needs an existing folder; an existing one must be a regular
    file of at most :data:`JOURNAL_MAX_BYTES`, empty (Optuna creates empty journals) or
    starting with a line that is an Optuna journal operation, and then every line of it
    one whole operation (:func:`journal_damage`, read under Optuna's lock where the last
    line is partial: :func:`_settled_damage`).

    Args:
        path: The ``--storage`` value (a file path).
        must_exist: A worker or a resume joins a study: the file must exist.

    Raises:
        UserError: Any of the above does not hold.
    """
    st = _stat(path, "journal file")
    if st is None:
        if must_exist:
            raise UserError(f"--storage: no journal file {path}")
        if not Path(path).parent.is_dir():
            raise UserError(f"--storage: the folder of {path} does not exist")
        return
    if not stat.S_ISREG(st.st_mode):  # a folder, a device (/dev/null), a FIFO (a read would block)
        raise UserError(f"--storage: {path} is not a regular file (an Optuna journal file is one)")
    if st.st_size > JOURNAL_MAX_BYTES:
        raise UserError(
            f"--storage: the journal file {path} is {st.st_size} bytes, over the limit of "
            f"{JOURNAL_MAX_BYTES >> 30} GiB (Optuna reads a journal whole); use an RDB URL for a study that large"
        )
    head = _read_prefix(path, JOURNAL_PREFIX_BYTES, "journal file")
    if not head:
        return  # empty: a new journal, as Optuna creates it
    first, newline, _ = head.partition(b"\n")
    if not newline or not _is_journal_record(first):
        raise UserError(f"--storage: {path} is not an Optuna journal file (its first line is no journal operation)")
    why = _settled_damage(path)
    if why is not None:
        raise damaged_journal(path, why)


def _sqlite_file(url: str) -> Path | None:
    """The database file of a ``sqlite://`` URL (absolute), or None for another database.

    Raises:
        UserError: An in-memory database (each process would have its own), or an SQLite URI filename.
    """
    from sqlalchemy.engine import make_url

    if not url.lower().startswith("sqlite"):
        return None
    try:
        parsed = make_url(url)
    except Exception as e:  # sqlalchemy.exc.ArgumentError and kin: a malformed URL
        raise UserError(f"--storage: {url} is not a database URL ({str(e).strip()[:200]})") from None
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database or ""
    if database in ("", ":memory:") or parsed.query.get("mode") == "memory":
        raise UserError(
            "--storage: an in-memory SQLite database cannot be shared between processes; "
            "give a file (sqlite:///path/to/study.db)"
        )
    if database.startswith("file:") or str(parsed.query.get("uri", "")).lower() in ("true", "1"):
        # A URI filename may name memory, another VFS or options this check cannot follow.
        raise UserError(f"--storage: give a plain SQLite file path (sqlite:///path/to/study.db), not the URI {url}")
    return Path(os.path.abspath(database))  # SQLAlchemy opens a relative path from the working folder


def _optuna_tables() -> frozenset[str]:
    """The tables of an Optuna RDB of the installed version (its models, and Alembic's version table)."""
    from optuna.storages._rdb import models

    return frozenset(models.BaseModel.metadata.tables) | {"alembic_version"}


def _sqlite_tables(path: Path) -> set[str]:
    """The tables of an SQLite file, read without writing anything.

    Read-only; a WAL database without its ``-wal`` file (no connection open, fully
    checkpointed) is opened ``immutable``, since a read-only connection to it would
    create its ``-wal`` and ``-shm`` files.

    Raises:
        UserError: Not an SQLite database, or it cannot be read.
    """
    header = _read_prefix(str(path), 100, "database file")
    if not header.startswith(b"SQLite format 3\x00") or len(header) < 100:
        raise UserError(f"--storage: {path} is not an SQLite database")
    wal = header[18] == 2 or header[19] == 2  # the file format's write/read versions: 2 is WAL
    mode = "immutable=1" if wal and not Path(f"{path}-wal").exists() else "mode=ro"
    try:
        con = sqlite3.connect(f"file:{urllib.parse.quote(str(path))}?{mode}", uri=True)
        try:
            rows = con.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        finally:
            con.close()
    except sqlite3.Error as e:
        raise UserError(f"--storage: cannot read the database {path}: {e}") from None
    return {str(r[0]) for r in rows if not str(r[0]).startswith("sqlite_")}  # not SQLite's own tables


def _check_sqlite(url: str, path: Path, must_exist: bool) -> bool:
    """Refuses an SQLite file Optuna should not write to, without opening it through SQLAlchemy.

    Opening a file through Optuna's RDBStorage adds Optuna's schema to it at once: a new
    file, an empty one, a foreign database or our own results store would be written
    before any check could refuse it.

    Args:
        url: The ``--storage`` URL.
        path: Its database file (:func:`_sqlite_file`).
        must_exist: A worker or a resume joins a study: the file must hold one.

    Returns:
        True if the file is an Optuna database (safe to open to check it further); False if
        it is new or empty (``unas run`` creates the study there when it starts).

    Raises:
        UserError: A missing file when one must exist, a missing folder, not a regular
            file, not an SQLite database, or a database with tables that are not Optuna's.
    """
    st = _stat(str(path), "database file")
    if st is None:
        if must_exist:
            raise UserError(f"--storage: no database file {path}")
        if not path.parent.is_dir():
            raise UserError(f"--storage: cannot open {url}: the folder {path.parent} does not exist")
        return False
    if not stat.S_ISREG(st.st_mode):
        raise UserError(f"--storage: {path} is not a regular file (an SQLite database is one)")
    tables = _sqlite_tables(path) if st.st_size else set()
    if not tables:
        if must_exist:
            raise UserError(f"--storage: {path} is an empty database (no run was started in it)")
        return False
    optuna_tables = _optuna_tables()
    foreign = sorted(tables - optuna_tables)
    if foreign:
        listed = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
        raise UserError(
            f"--storage: {path} is not an Optuna database (it has the tables {listed}); "
            "give a new file or an Optuna database"
        )
    missing = sorted(optuna_tables - tables)
    if missing:
        raise UserError(
            f"--storage: {path} is not an Optuna database of this version (no table {', '.join(missing[:5])}); "
            "upgrade it with `optuna storage upgrade --storage URL`"
        )
    return True


def check_storage_url(url: Any, must_exist: bool = False) -> str:
    """Refuses a ``--storage`` value that cannot work, before anything is written.

    Writes nothing itself: a journal is read line by line (a partial last line again under
    Optuna's lock, a symlink next to it for a moment), an SQLite file
    read-only with :mod:`sqlite3`; only a database that already holds Optuna's schema
    (SQLite) or a server (PostgreSQL, MySQL) is opened through Optuna to check it.

    Args:
        url: The flag's value.
        must_exist: A worker or a resume joins a study: the journal or SQLite file must exist.

    Returns:
        The URL.

    Raises:
        UserError: Not a string; a password in the URL (it would be kept in the run report and the
            study: use ``PGPASSWORD`` or ``~/.pgpass``); a journal that is not a regular file,
            not an Optuna journal, damaged, over :data:`JOURNAL_MAX_BYTES` or in a missing folder; an
            in-memory SQLite database; an SQLite file that is not empty nor Optuna's; a database
            that cannot be opened or a missing driver.
    """
    if not isinstance(url, str) or not url.strip() or "\0" in url:
        raise UserError(f"--storage: {url!r} is not a database URL or journal file path")
    if "://" not in url:
        _check_journal(url, must_exist)
        return url
    creds = url.split("://", 1)[1].split("/", 1)[0]
    if ("@" in creds and ":" in creds.rsplit("@", 1)[0]) or "password=" in url.lower():
        raise UserError(
            "--storage: put the password in PGPASSWORD or ~/.pgpass (MySQL: ~/.my.cnf), not in the URL: "
            "the URL is kept in the run report"
        )
    path = _sqlite_file(url)
    if path is not None and not _check_sqlite(url, path, must_exist):
        return url  # a new or empty file: the run creates Optuna's schema when it starts, not this check
    open_storage(url)  # connects (a server: creates Optuna's tables in a new database): a bad URL fails here
    return url
