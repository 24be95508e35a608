"""``--storage`` values that cannot work are refused before anything is written, and the check writes nothing.

A journal path must be a regular file that starts like an Optuna journal (read
by a bounded prefix, under a size cap); an SQLite file is examined read-only
and must be new, empty or Optuna's own; an in-memory SQLite database cannot be
shared. The CLI cases run ``unas run`` / ``unas worker`` and check the exit
status, the one-line message, and that no store, run directory or schema
appeared.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

optuna = pytest.importorskip("optuna")

from tests.conftest import ROOT, unas  # noqa: E402
from unified_nas.backends.optuna import storage  # noqa: E402
from unified_nas.backends.optuna.storage import JOURNAL_MAX_BYTES, check_storage_url  # noqa: E402
from unified_nas.core.errors import UserError  # noqa: E402
from unified_nas.report.store import ResultsStore  # noqa: E402

RECIPE = ROOT / "recipes" / "digits_mlp.yaml"


def tree(d: Path) -> dict[str, bytes]:
    """Every file below ``d`` with its bytes (other entries as empty ones)."""
    return {str(p.relative_to(d)): (p.read_bytes() if p.is_file() else b"") for p in sorted(d.rglob("*"))}


def refused(url: str, message: str, must_exist: bool = False) -> None:
    with pytest.raises(UserError) as e:
        check_storage_url(url, must_exist=must_exist)
    assert message in str(e.value) and "\n" not in str(e.value), str(e.value)


def journal(path: Path) -> Path:
    """A real Optuna journal with one study."""
    from optuna.storages.journal import JournalFileBackend

    optuna.create_study(study_name="s", storage=optuna.storages.JournalStorage(JournalFileBackend(str(path))))
    return path


def foreign_db(path: Path, wal: bool = False) -> Path:
    con = sqlite3.connect(path)
    if wal:
        con.execute("PRAGMA journal_mode=WAL")
    con.execute("CREATE TABLE foo (x)")
    con.commit()
    con.close()
    return path


# ---- journal files ----


@pytest.mark.parametrize("must_exist", [False, True])
def test_a_real_journal_and_an_empty_file_are_accepted(tmp_path, must_exist):
    path = journal(tmp_path / "j.log")
    assert check_storage_url(str(path), must_exist=must_exist) == str(path)
    (tmp_path / "empty.log").touch()
    assert check_storage_url(str(tmp_path / "empty.log"), must_exist=must_exist)


def test_a_new_journal_needs_its_folder_and_a_worker_an_existing_file(tmp_path):
    assert check_storage_url(str(tmp_path / "new.log")) == str(tmp_path / "new.log")
    refused(str(tmp_path / "new.log"), "no journal file", must_exist=True)
    refused(str(tmp_path / "no" / "new.log"), "the folder of")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "content",
    [
        b"root:x:0:0:root:/root:/bin/bash\n",  # a copy of /etc/passwd (JSONDecodeError in Optuna)
        b"SQLite format 3\x00" + b"\xff" * 200,  # a database, no newline (UnicodeDecodeError in Optuna)
        b'"a string"\n',  # JSON, not an object
        b'{"op_code": 99, "worker_id": "w"}\n',  # not one of Optuna's operations
        b'{"op_code": true, "worker_id": "w"}\n',
        b'{"op_code": 0}\n',
        b"[" * 100_000 + b"\n",  # deeper than the JSON parser recurses, longer than the prefix
        b'{"op_code": 0, "worker_id": "w"}',  # no line end: an Optuna line always has one
    ],
)
def test_a_file_that_is_not_an_optuna_journal_is_refused(tmp_path, content):
    (tmp_path / "bad").write_bytes(content)
    for must_exist in (False, True):
        refused(str(tmp_path / "bad"), "is not an Optuna journal file", must_exist)
    assert (tmp_path / "bad").read_bytes() == content


def test_a_folder_a_device_and_a_fifo_are_refused_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "fifo")  # opening it to read would wait for a writer forever
    for path in (tmp_path, Path("/dev/null"), tmp_path / "fifo"):
        refused(str(path), "is not a regular file")
        refused(str(path), "is not a regular file", must_exist=True)


def test_a_huge_journal_is_refused_by_its_size_and_zeros_by_the_prefix(tmp_path, monkeypatch):
    huge = tmp_path / "huge.journal"
    with open(huge, "wb") as f:
        f.truncate(JOURNAL_MAX_BYTES + 1)  # sparse: takes no disk
    refused(str(huge), "over the limit of 1 GiB", must_exist=True)
    zeros = tmp_path / "zeros.journal"
    with open(zeros, "wb") as f:
        f.truncate(50 * 2**20)
    reads: list[int] = []
    real_read = os.read
    monkeypatch.setattr(storage.os, "read", lambda fd, n: reads.append(n) or real_read(fd, n))
    refused(str(zeros), "is not an Optuna journal file", must_exist=True)
    assert sum(reads) <= storage.JOURNAL_PREFIX_BYTES  # a bounded prefix, not the file


# ---- SQLite files ----


def test_in_memory_sqlite_is_refused(tmp_path):
    for url in ("sqlite://", "sqlite:///:memory:", "sqlite:///file:x?mode=memory&uri=true"):
        with pytest.raises(UserError, match="in-memory SQLite database cannot be shared|plain SQLite file path"):
            check_storage_url(url)


def test_a_new_sqlite_file_is_not_created_by_the_check(tmp_path):
    url = f"sqlite:///{tmp_path / 'new.db'}"
    assert check_storage_url(url) == url
    assert list(tmp_path.iterdir()) == []
    refused(url, "no database file", must_exist=True)
    (tmp_path / "empty.db").touch()
    assert check_storage_url(f"sqlite:///{tmp_path / 'empty.db'}") and (tmp_path / "empty.db").read_bytes() == b""
    refused(f"sqlite:///{tmp_path / 'empty.db'}", "is an empty database", must_exist=True)
    refused(f"sqlite:///{tmp_path / 'no' / 'x.db'}", "cannot open")


def test_a_relative_sqlite_path_is_the_working_folders(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    foreign_db(tmp_path / "rel.db")
    refused("sqlite:///rel.db", f"{tmp_path / 'rel.db'} is not an Optuna database")


@pytest.mark.parametrize("wal", [False, True])
def test_a_foreign_sqlite_file_is_refused_and_left_untouched(tmp_path, wal):
    before = tree(foreign_db(tmp_path / "oth.sqlite", wal).parent)
    for must_exist in (False, True):
        refused(f"sqlite:///{tmp_path / 'oth.sqlite'}", "is not an Optuna database (it has the tables foo)", must_exist)
    assert tree(tmp_path) == before  # no Optuna schema, and no -wal / -shm file from the read


def test_our_results_store_and_a_non_database_are_refused(tmp_path):
    with ResultsStore(tmp_path / "store.sqlite"):
        pass
    before = tree(tmp_path)
    refused(f"sqlite:///{tmp_path / 'store.sqlite'}", "is not an Optuna database (it has the tables")
    (tmp_path / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    refused(f"sqlite:///{tmp_path / 'passwd'}", "is not an SQLite database", must_exist=True)
    refused(f"sqlite:///{tmp_path}", "is not a regular file")
    assert tree(tmp_path) == {**before, "passwd": b"root:x:0:0:root:/root:/bin/bash\n"}


def test_an_optuna_database_is_accepted(tmp_path):
    url = f"sqlite:///{tmp_path / 'o.db'}"
    optuna.create_study(study_name="s", storage=url)
    assert check_storage_url(url, must_exist=True) == url


# ---- the CLI: exit 2, one line, nothing written ----


@pytest.mark.parametrize(
    ("storage", "message"),
    [
        ("passwd", "is not an Optuna journal file"),
        ("folder", "is not a regular file"),
        ("sqlite:///oth.sqlite", "is not an Optuna database"),
        ("sqlite:///store.sqlite", "is not an Optuna database"),  # the results store itself (--store)
        ("sqlite:///:memory:", "in-memory SQLite database"),
    ],
)
def test_the_cli_refuses_a_bad_storage_before_anything_is_written(tmp_path, storage, message):
    (tmp_path / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (tmp_path / "folder").mkdir()
    foreign_db(tmp_path / "oth.sqlite")
    with ResultsStore(tmp_path / "store.sqlite"):
        pass
    before = tree(tmp_path)
    for args in (
        ("run", RECIPE, "--backend", "optuna", "--storage", storage, "--store", "store.sqlite"),
        ("worker", "x", "--storage", storage),
    ):
        r = unas(*args, cwd=tmp_path)
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 2 and len(lines) == 1, r.stderr
        assert lines[0].startswith("unas: error: --storage: ") and message in lines[0], lines[0]
        assert tree(tmp_path) == before  # no run row, no unas-runs/, no schema in any file


def test_a_worker_creates_no_database(tmp_path):
    r = unas("worker", "nope", "--storage", "sqlite:///new.db", cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.startswith("unas: error: --storage: no database file"), r.stderr
    assert list(tmp_path.iterdir()) == []
