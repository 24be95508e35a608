"""A `unas tabulate` killed while it commits a row leaves SQLite's hot journal beside the table.

The committed rows are intact, but only a connection that may write can roll the journal back:
``unas tabulate`` (the documented way to resume) does, and every reader, which opens the table
read-only, says what happened and how to finish it instead of calling the file "not a table".
"""

from __future__ import annotations

import json
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conformance.test_own_table_replay import SPACE, TRAINING
from tests.conftest import unas
from tests.unit.test_own_table_scale import synthetic_table
from tests.unit.test_own_tables import SIZE, write_recipe
from unified_nas.commands.tabulate import tabulate
from unified_nas.core.errors import RecipeError
from unified_nas.recipe import load_recipe
from unified_nas.tables.own import OwnTable
from unified_nas.tables.own_format import OwnTableError

UNFINISHED = "has an unfinished write of a killed `unas tabulate`"

# The child holds a write transaction open after inserting the missing row, as `tabulate` does inside
# its per-row commit. A cache of one page makes SQLite spill the inserted row's pages into the table
# file before the commit (it syncs the journal first, so the journal is "hot"), which is what a commit
# killed half-way leaves on disk; with the default cache, a table this small would never spill.
CHILD = """
import json, sqlite3, sys, time
row = json.loads(sys.argv[2])
db = sqlite3.connect(sys.argv[1])
db.execute("PRAGMA cache_size = 1")
db.execute("BEGIN IMMEDIATE")
db.execute("INSERT INTO archs VALUES (" + ", ".join("?" * len(row)) + ")", row)
db.execute("SELECT COUNT(*) FROM meta").fetchone()
print("inserted", flush=True)
time.sleep(600)
"""


@pytest.fixture(scope="module")
def table(tmp_path_factory) -> Path:
    """A complete table of the tiny 6-architecture space (written by the real writer; never altered)."""
    folder = tmp_path_factory.mktemp("journal")
    return synthetic_table(folder / "tiny.sqlite", write_recipe(folder))


def killed_mid_commit(table: Path, path: Path) -> Path:
    """A copy of ``table`` at ``path`` whose last row was being committed by a process killed with SIGKILL.

    Returns:
        ``path``, with its hot journal beside it.
    """
    shutil.copy(table, path)
    with sqlite3.connect(path) as db:  # the table as it was before the killed row's commit
        last = db.execute("SELECT * FROM archs WHERE rowid = (SELECT MAX(rowid) FROM archs)").fetchone()
        db.execute("DELETE FROM archs WHERE rowid = (SELECT MAX(rowid) FROM archs)")
    db.close()
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path), json.dumps(last)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "inserted"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        if child.stdout is not None:
            child.stdout.close()
    journal = Path(f"{path}-journal")
    assert journal.stat().st_size > 0
    # SQLite itself finds the journal hot: a read-only connection cannot roll it back.
    probe = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    with pytest.raises(sqlite3.OperationalError) as e:
        probe.execute("SELECT COUNT(*) FROM archs").fetchone()
    probe.close()
    assert e.value.sqlite_errorname == "SQLITE_READONLY_ROLLBACK"
    return path


def contents(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def test_readers_say_a_tabulate_was_killed_and_how_to_finish_it(tmp_path, table):
    path = killed_mid_commit(table, tmp_path / "t.sqlite")
    before = contents(tmp_path)
    with pytest.raises(OwnTableError) as e:
        OwnTable.open(path)
    text = str(e.value)
    assert text.startswith(f"{path} {UNFINISHED}") and f"--out {path}` again to finish it" in text
    assert "\n" not in text and "not a unified-nas table" not in text
    with pytest.raises(RecipeError, match=rf"^evaluation.table: .*{UNFINISHED}"):
        OwnTable.open(path, field="evaluation.table")
    r = unas("proxies", path, "--out", tmp_path / "report.md", cwd=tmp_path)
    assert r.returncode == 2 and len(r.stderr.splitlines()) == 1 and UNFINISHED in r.stderr, r.stderr
    assert contents(tmp_path) == before  # readers roll nothing back: the journal and the rows are as left


def test_a_replay_on_a_table_with_a_hot_journal_is_refused_before_the_run_is_created(tmp_path, table):
    killed_mid_commit(table, tmp_path / "t.sqlite")
    recipe = tmp_path / "replay.yaml"
    recipe.write_text("name: tiny\nevaluation: {table: t.sqlite}\n" + SPACE + TRAINING)
    before = contents(tmp_path)
    r = unas("run", recipe, "--backend", "optuna", "--trials", "2", "--quiet", cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith("unas: error: evaluation.table: ") and UNFINISHED in r.stderr
    assert len(r.stderr.splitlines()) == 1
    assert contents(tmp_path) == before  # no store, no run directory, the journal left for tabulate


def test_tabulate_rolls_the_journal_back_and_finishes_the_table(tmp_path, table):
    path = killed_mid_commit(table, tmp_path / "t.sqlite")
    summary = tabulate(load_recipe(write_recipe(tmp_path)), path, all=True, progress=False)
    assert (summary.trained, summary.skipped, summary.rows) == (1, SIZE - 1, SIZE)  # only the killed row
    assert not Path(f"{path}-journal").exists()
    with OwnTable.open(path) as t:
        assert len(t.rows()) == SIZE and t.counts() == {"complete": SIZE}


def test_tabulate_through_a_symlink_rolls_back_the_journal_beside_the_real_file(tmp_path, table):
    path = killed_mid_commit(table, tmp_path / "t.sqlite")
    (tmp_path / "link.sqlite").symlink_to(path)
    with pytest.raises(OwnTableError, match=UNFINISHED):
        OwnTable.open(tmp_path / "link.sqlite")
    summary = tabulate(load_recipe(write_recipe(tmp_path)), tmp_path / "link.sqlite", all=True, progress=False)
    assert (summary.trained, summary.rows) == (1, SIZE) and not Path(f"{path}-journal").exists()
