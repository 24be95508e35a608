"""A table file is untrusted input: its meta values are bounded like a recipe, its rows and values are capped.

Each bound is checked in SQL (a value's length, the row count) before the value or the rows are
pulled into memory, and each refusal is one line naming the file, the key or row, and the bound.
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
from tests.unit.test_own_tables import write_recipe
from unified_nas.commands.tabulate import tabulate
from unified_nas.core.errors import RecipeError, UserError
from unified_nas.recipe import load_recipe, load_recipe_text
from unified_nas.recipe.text import MAX_DEPTH, MAX_RECIPE_BYTES, MAX_VALUES
from unified_nas.tables.own import OwnTable
from unified_nas.tables.own_format import MAX_ARCHS, OwnTableError

META_KEYS = [
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
]


@pytest.fixture(scope="module")
def table(tmp_path_factory) -> Path:
    """A complete table of the tiny 6-architecture space (written by the real writer; never altered)."""
    folder = tmp_path_factory.mktemp("limits")
    return synthetic_table(folder / "tiny.sqlite", write_recipe(folder))


def edited(tmp_path: Path, table: Path, *statements: tuple[str, tuple[object, ...]]) -> Path:
    """A copy of ``table`` with SQL statements applied through a writable connection."""
    path = tmp_path / "t.sqlite"
    shutil.copy(table, path)
    with sqlite3.connect(path) as db:
        for sql, args in statements:
            db.execute(sql, args)
    db.close()
    return path


def meta_value(table: Path, key: str) -> str:
    with sqlite3.connect(table) as db:
        value = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()[0]
    db.close()
    return value


def test_every_meta_key_written_is_known(table):
    with sqlite3.connect(table) as db:
        assert sorted(k for (k,) in db.execute("SELECT key FROM meta")) == sorted(META_KEYS)
    db.close()


def oversized(table: Path, key: str) -> str:
    """The key's value grown just past the recipe size limit, otherwise what tabulate wrote."""
    value = meta_value(table, key)
    pad = MAX_RECIPE_BYTES + 1 - len(value.encode())
    if key == "recipe_text":
        return value + "\n#" + "x" * pad
    if key in ("data", "packages"):
        as_dict = json.loads(value)
        return json.dumps({**as_dict, "padding": "x" * pad})
    if key in ("decls", "proxies"):
        return value[:-1] + "]" + " " * pad  # trailing JSON whitespace
    return value + " " * pad


@pytest.mark.parametrize("key", META_KEYS)
def test_a_meta_value_larger_than_a_recipe_is_refused_by_its_length(tmp_path, table, key):
    path = edited(tmp_path, table, ("UPDATE meta SET value = ? WHERE key = ?", (oversized(table, key), key)))
    with pytest.raises(OwnTableError) as e:
        OwnTable.open(path)
    text = str(e.value)
    assert text.startswith(f"{path} is a damaged unified-nas table (meta {key}: ") and "\n" not in text
    assert f"larger than {MAX_RECIPE_BYTES >> 20} MiB" in text


def test_a_huge_recipe_text_is_refused_for_replay_before_it_is_parsed(tmp_path, table):
    # 64 MiB of YAML comments: parsing 50 MB took 19 s. Refused by its length, one line, nothing written.
    huge = meta_value(table, "recipe_text") + ("\n# " + "x" * 1021) * 65_536
    edited(tmp_path, table, ("UPDATE meta SET value = ? WHERE key = 'recipe_text'", (huge,)))
    recipe = tmp_path / "replay.yaml"
    recipe.write_text("name: tiny\nevaluation: {table: t.sqlite}\n" + SPACE + TRAINING)
    before = sorted(p.name for p in tmp_path.iterdir())
    r = unas("run", recipe, "--backend", "optuna", "--trials", "1", "--quiet", cwd=tmp_path)
    assert r.returncode == 2 and len(r.stderr.splitlines()) == 1, r.stderr
    assert "evaluation.table: " in r.stderr and "meta recipe_text: " in r.stderr and "larger than 1 MiB" in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def nested(depth: int) -> object:
    value: object = 0
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    "key, extra, message",
    [
        ("data", nested(MAX_DEPTH + 5), f"nests deeper than {MAX_DEPTH} levels"),
        ("packages", nested(MAX_DEPTH + 5), f"nests deeper than {MAX_DEPTH} levels"),
        ("data", [0] * (MAX_VALUES + 1), f"has more than {MAX_VALUES} values"),
    ],
)
def test_meta_json_is_bounded_like_a_recipe(tmp_path, table, key, extra, message):
    value = json.dumps({**json.loads(meta_value(table, key)), "extra": extra})
    path = edited(tmp_path, table, ("UPDATE meta SET value = ? WHERE key = ?", (value, key)))
    with pytest.raises(OwnTableError) as e:
        OwnTable.open(path)
    assert f"(meta {key}: " in str(e.value) and message in str(e.value) and "\n" not in str(e.value)


def test_an_alias_bomb_recipe_text_is_refused_for_replay(tmp_path, table):
    bomb = 'a: &a ["x","x","x","x","x","x","x","x","x","x"]\n' + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)}]\n"
        for i in range(9)
    )
    edited(tmp_path, table, ("UPDATE meta SET value = ? WHERE key = 'recipe_text'", (bomb,)))
    recipe = tmp_path / "replay.yaml"
    recipe.write_text("name: tiny\nevaluation: {table: t.sqlite}\n" + SPACE + TRAINING)
    with pytest.raises(RecipeError, match=f"expands to more than {MAX_VALUES} values through aliases"):
        from unified_nas.tables.recipes import load_recipe_data

        load_recipe_data(load_recipe(recipe))


def test_tabulate_refuses_a_recipe_whose_table_could_not_be_read_back(tmp_path):
    text = write_recipe(tmp_path).read_text() + "# " + "x" * MAX_RECIPE_BYTES + "\n"
    recipe = load_recipe_text(text, str(tmp_path), "tiny", "tiny.yaml")  # through the API: no file limit
    with pytest.raises(UserError, match=r"meta recipe_text would be larger than 1 MiB"):
        tabulate(recipe, tmp_path / "t.sqlite", sample=1, progress=False)
    assert not (tmp_path / "t.sqlite").exists()


def test_more_rows_than_the_space_has_are_refused_before_they_are_read(tmp_path, table):
    path = tmp_path / "t.sqlite"
    shutil.copy(table, path)
    with sqlite3.connect(path) as db:
        columns = [r[1] for r in db.execute("PRAGMA table_info(archs)")]
        rest = ", ".join(f'"{c}"' for c in columns if c not in ("key", "sample"))
        db.execute(
            f"INSERT INTO archs (key, sample, {rest}) "
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300000) "
            f"SELECT json_object('junk', i), json_object('junk', i), {rest} FROM n "
            "JOIN (SELECT * FROM archs LIMIT 1)"
        )
    db.close()
    with pytest.raises(OwnTableError) as e:
        OwnTable.open(path)
    assert str(e.value) == (
        f"{path} is a damaged unified-nas table (archs: 300006 rows, more than the 6 architectures of its space)"
    )
    r = unas("proxies", path, cwd=tmp_path)
    assert r.returncode == 2 and "300006 rows, more than the 6 architectures" in r.stderr
    assert len(r.stderr.splitlines()) == 1


def test_no_table_holds_more_than_max_archs_rows(tmp_path, table):
    path = tmp_path / "t.sqlite"
    shutil.copy(table, path)
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value = 'null' WHERE key = 'space_size'")  # claims a continuous space
        columns = [r[1] for r in db.execute("PRAGMA table_info(archs)")]
        rest = ", ".join(f'"{c}"' for c in columns if c not in ("key", "sample"))
        db.execute(
            f"INSERT INTO archs (key, sample, {rest}) "
            f"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {MAX_ARCHS}) "
            f"SELECT json_object('junk', i), json_object('junk', i), {rest} FROM n "
            "JOIN (SELECT * FROM archs LIMIT 1)"
        )
    db.close()
    with pytest.raises(OwnTableError, match=rf"archs: {MAX_ARCHS + 6} rows, more than {MAX_ARCHS}, the most"):
        OwnTable.open(path)


def test_a_row_value_larger_than_a_recipe_is_refused(tmp_path, table):
    path = edited(
        tmp_path,
        table,
        (
            "UPDATE archs SET status = 'failed', error = ? WHERE rowid = (SELECT MIN(rowid) FROM archs)",
            ("Traceback: " + "x" * MAX_RECIPE_BYTES,),
        ),
    )
    with pytest.raises(OwnTableError) as e:
        OwnTable.open(path)
    assert str(e.value).startswith(f"{path} is a damaged unified-nas table (archs: ")
    assert "a value larger than 1 MiB" in str(e.value)
