"""A table answers a replay only if it holds every architecture of the space exactly once, as checked at open.

Damaged or partial tables (a forged space size, a junk or duplicate row, a sample that is not one
of the space's, a damaged SQLite index) are refused before a run is created, or, where the rows
themselves are sound, answered from exactly the rows that were checked, so no trial fails mid-run.
The stand-in data of a replay carries a digest of the rows the replay reads.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from tests.conformance.test_own_table_replay import SPACE, TRAINING
from tests.conftest import unas
from tests.unit.test_own_table_scale import synthetic_table
from tests.unit.test_own_tables import SIZE, write_recipe
from unified_nas.core.errors import RecipeError
from unified_nas.recipe import load_recipe
from unified_nas.space.sampling import enumerate_samples
from unified_nas.tables.own import OwnTable
from unified_nas.tables.own_format import OwnTableError, sample_key

REPLAY = "name: tiny\nevaluation: {table: t.sqlite}\n" + SPACE + TRAINING
LAST = "(SELECT MAX(rowid) FROM archs)"


@pytest.fixture(scope="module")
def table(tmp_path_factory) -> Path:
    """A complete table of the tiny 6-architecture space (written by the real writer; never altered)."""
    folder = tmp_path_factory.mktemp("coverage")
    return synthetic_table(folder / "tiny.sqlite", write_recipe(folder))


def edited(tmp_path: Path, table: Path, *statements: str | tuple[str, tuple[object, ...]]) -> Path:
    """A copy ``t.sqlite`` of ``table`` with SQL statements applied, and a replay recipe ``replay.yaml`` on it."""
    path = tmp_path / "t.sqlite"
    shutil.copy(table, path)
    with sqlite3.connect(path) as db:
        for s in statements:
            sql, args = (s, ()) if isinstance(s, str) else s
            db.execute(sql, args)
    db.close()
    (tmp_path / "replay.yaml").write_text(REPLAY)
    return path


def replay_data(tmp_path: Path):
    from unified_nas.tables.recipes import load_recipe_data

    return load_recipe_data(load_recipe(tmp_path / "replay.yaml"))


def assert_run_refused(tmp_path: Path, message: str) -> None:
    """`unas run` of the replay recipe exits 2 with one line holding ``message``, and writes nothing."""
    before = sorted(p.name for p in tmp_path.iterdir())
    r = unas("run", tmp_path / "replay.yaml", "--backend", "optuna", "--trials", "6", "--quiet", cwd=tmp_path)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert r.stderr.startswith("unas: error: evaluation.table: ") and message in r.stderr, r.stderr
    assert len(r.stderr.splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no store, no run directory


def test_a_forged_space_size_does_not_make_a_partial_table_complete(tmp_path, table):
    edited(
        tmp_path,
        table,
        f"DELETE FROM archs WHERE rowid = {LAST}",
        "UPDATE meta SET value = '5' WHERE key = 'space_size'",
    )
    with pytest.raises(
        RecipeError, match=r"^evaluation.table: .*meta space_size: 5 is not the size of its space \(6\)"
    ):
        replay_data(tmp_path)
    assert_run_refused(tmp_path, "meta space_size: 5 is not the size of its space (6)")


def test_a_junk_row_in_place_of_an_architecture_is_refused_at_open(tmp_path, table):
    path = edited(
        tmp_path, table, f"""UPDATE archs SET key = '{{"junk":1}}', sample = '{{"junk":1}}' WHERE rowid = {LAST}"""
    )
    with pytest.raises(OwnTableError) as e:
        OwnTable.open(path)
    assert str(e.value) == (
        f"{path} is a damaged unified-nas table (archs row {SIZE}, column sample: "
        "not an architecture of its space (unknown label(s): junk))"
    )
    assert_run_refused(tmp_path, "not an architecture of its space (unknown label(s): junk)")


def test_a_row_of_values_the_space_does_not_list_is_refused_at_open(tmp_path, table):
    # 7.0 == 7 in Python, so the values are in range, but the key is no architecture's key.
    junk = json.dumps({"layer0/kernel": 7.0, "layer0/width": 8}, separators=(",", ":"), sort_keys=True)
    path = edited(tmp_path, table, (f"UPDATE archs SET key = ?, sample = ? WHERE rowid = {LAST}", (junk, junk)))
    message = "not an architecture of its space (its values are of other types than the space's)"
    with pytest.raises(OwnTableError) as e:
        OwnTable.open(path)
    assert str(e.value) == f"{path} is a damaged unified-nas table (archs row {SIZE}, column sample: {message})"
    assert_run_refused(tmp_path, message)


def test_an_architecture_stored_twice_is_refused_at_open(tmp_path, table):
    # A file without tabulate's PRIMARY KEY (a copy made by hand): nothing but the check stops a duplicate.
    path = edited(
        tmp_path,
        table,
        "CREATE TABLE copy AS SELECT * FROM archs",
        "DROP TABLE archs",
        "ALTER TABLE copy RENAME TO archs",
        f"UPDATE archs SET key = (SELECT key FROM archs WHERE rowid = 1), sample = (SELECT sample FROM archs "
        f"WHERE rowid = 1) WHERE rowid = {LAST}",
    )
    with pytest.raises(OwnTableError) as e:
        OwnTable.open(path)
    assert str(e.value) == f"{path} is a damaged unified-nas table (archs row {SIZE}, column key: row 1 holds it too)"
    assert_run_refused(tmp_path, "column key: row 1 holds it too")


def swapped_index(table: Path, path: Path) -> Path:
    """A copy of ``table`` whose rows 1 and 2 swapped architectures in the table but not in its key index.

    The table pages of a copy where the two rows' key and sample were exchanged replace the original
    table pages; the index pages stay, so the index sends each of the two keys to the other's row.
    """
    shutil.copy(table, path)
    other = path.with_name("other.sqlite")
    shutil.copy(table, other)
    with sqlite3.connect(other) as db:
        (k1,), (k2,) = db.execute("SELECT key FROM archs WHERE rowid IN (1, 2) ORDER BY rowid").fetchall()
        assert len(k1) == len(k2)  # the same size: the page is rewritten in place
        for rowid, key in ((1, "-" * len(k1)), (2, k1), (1, k2)):
            db.execute("UPDATE archs SET key = ?, sample = ? WHERE rowid = ?", (key, key, rowid))
        root = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'archs'").fetchone()[0]
        size = db.execute("PRAGMA page_size").fetchone()[0]
    db.close()
    data = bytearray(path.read_bytes())
    data[(root - 1) * size : root * size] = other.read_bytes()[(root - 1) * size : root * size]
    path.write_bytes(bytes(data))
    other.unlink()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] != "ok"  # SQLite agrees: index and table differ
    db.close()
    return path


def test_a_table_whose_index_disagrees_with_its_rows_answers_every_architecture_from_its_own_row(tmp_path, table):
    path = swapped_index(table, tmp_path / "t.sqlite")
    decls = load_recipe(write_recipe(tmp_path)).space.decls()
    with OwnTable.open(path) as t:
        t.check_replay(decls)
        for s in enumerate_samples(decls):
            row = t.lookup(s)
            assert row is not None and row.key == sample_key(s) and row.sample == s


def test_a_damaged_index_page_is_refused_at_open_by_quick_check(tmp_path, table):
    path = tmp_path / "t.sqlite"
    shutil.copy(table, path)
    with sqlite3.connect(path) as db:
        page = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'sqlite_autoindex_archs_1'").fetchone()[0]
        size = db.execute("PRAGMA page_size").fetchone()[0]
    db.close()
    data = bytearray(path.read_bytes())
    data[(page - 1) * size] = 0x07  # the page's b-tree type byte: none of SQLite's four page types
    path.write_bytes(bytes(data))
    with pytest.raises(OwnTableError) as e:
        OwnTable.open(path)
    text = str(e.value)
    assert text.startswith(f"{path} is a damaged unified-nas table (SQLite quick_check: ") and "\n" not in text
    assert f"page {page}: " in text.lower()  # SQLite says "Page N:" or "Tree T page N:" by version and damage


def digest(tmp_path: Path) -> str:
    return replay_data(tmp_path).content_sha256


def test_the_replay_data_digest_is_of_the_rows_a_replay_reads(tmp_path, table):
    recipe = write_recipe(tmp_path)
    (tmp_path / "replay.yaml").write_text(REPLAY)
    path = tmp_path / "t.sqlite"
    shutil.copy(table, path)
    first = digest(tmp_path)
    assert first == digest(tmp_path)
    with OwnTable.open(path) as t:
        fingerprint = t.meta.fingerprint
    # Another table of the same recipe (other rows) replacing it: the same fingerprint, another digest.
    path.unlink()
    synthetic_table(path, recipe, seed=1)
    with OwnTable.open(path) as t:
        assert t.meta.fingerprint == fingerprint
    assert digest(tmp_path) != first
    # One number changed: another digest.
    shutil.copy(table, path)
    with sqlite3.connect(path) as db:
        db.execute("UPDATE archs SET train_s = train_s + 1 WHERE rowid = 3")
    db.close()
    assert digest(tmp_path) != first
    # The same rows stored in another order (and with other tabulation times): the same digest.
    shutil.copy(table, path)
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE copy AS SELECT * FROM archs ORDER BY rowid DESC")
        db.execute("DELETE FROM archs")
        db.execute("INSERT INTO archs SELECT * FROM copy")
        db.execute("UPDATE archs SET finished_at = finished_at + 60")
        db.execute("DROP TABLE copy")
    db.close()
    assert digest(tmp_path) == first
    assert len(first) == 64  # a sha256, as a data set's content digest is
