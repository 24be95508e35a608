"""Hostile and damaged own tables: refused with exit 2 and one line, before anything is written or run."""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from tests.conformance.test_own_table_replay import SPACE, TRAINING
from tests.conftest import unas
from tests.unit.test_own_tables import SIZE, write_recipe
from unified_nas.commands.tabulate import tabulate
from unified_nas.core.errors import RecipeError
from unified_nas.recipe import load_recipe
from unified_nas.tables.own import OwnTable
from unified_nas.tables.own_format import OwnTableError


@pytest.fixture(scope="module")
def table(tmp_path_factory) -> Path:
    """A complete table of the tiny 6-architecture space (never altered: tests copy it)."""
    folder = tmp_path_factory.mktemp("hostile")
    path = folder / "tiny.sqlite"
    tabulate(load_recipe(write_recipe(folder)), path, all=True, progress=False)
    return path


def damaged(tmp_path: Path, table: Path, sql: str, args: tuple[object, ...] = ()) -> Path:
    """A copy of ``table`` in ``tmp_path`` with ``sql`` applied (through a writable connection)."""
    path = tmp_path / "t.sqlite"
    shutil.copy(table, path)
    with sqlite3.connect(path) as db:
        db.execute(sql, args)
    db.close()
    return path


def first_row_sql(column: str) -> str:
    return f'UPDATE archs SET "{column}" = ? WHERE rowid = (SELECT MIN(rowid) FROM archs)'


# (column, value, what the message says): values `tabulate` cannot have written.
BAD_VALUES = [
    ("val_accuracy", float("inf"), "val_accuracy: inf is not finite"),
    ("val_accuracy", 1.5, "val_accuracy: 1.5 is not in [0.0, 1.0]"),
    ("val_accuracy", None, "val_accuracy: missing in a complete row"),  # NaN is stored as NULL
    ("train_s", b"\x00blob", "train_s: bytes b'\\x00blob' is not a number"),
    ("train_s", -1e308, "train_s: -1e+308 is not in [0.0, inf]"),
    ("val_loss", "abc", "val_loss: str 'abc' is not a number"),
    ("test_accuracy", float("-inf"), "test_accuracy: -inf is not finite"),
    ("params", -1.0, "params: -1.0 is not in"),
    ("proxy_snip", "fast", "proxy_snip: str 'fast' is not a number"),
    ("proxy_naswot", b"\x01", "proxy_naswot: bytes"),
    ("sample", "{bad json", "sample: not JSON"),
    ("sample", "[1, 2]", "sample: [1, 2] is not a JSON object"),
    ("sample", '{"a": NaN}', "sample: not JSON (non-strict JSON token NaN)"),
    ("key", "other", "key: not the canonical text of the sample"),
    ("status", "done", "status: 'done' is not complete or failed"),
    ("idx", "x", "idx: 'x' is not an integer"),
    ("error", "\x1b[2Jboom", "error: '\\x1b[2Jboom' is not printable text"),
    ("finished_at", "yesterday", "finished_at: str 'yesterday' is not a number"),
]


@pytest.mark.parametrize("column, value, message", BAD_VALUES)
def test_a_damaged_row_is_refused_at_open_naming_file_row_and_column(tmp_path, table, column, value, message):
    path = damaged(tmp_path, table, first_row_sql(column), (value,))
    before = path.read_bytes()
    with pytest.raises(OwnTableError) as e:
        OwnTable.open(path)
    text = str(e.value)
    assert text.startswith(f"{path} is a damaged unified-nas table (archs row ") and message in text
    assert "\n" not in text and "\x1b" not in text
    with pytest.raises(RecipeError, match=r"^evaluation.table: .* is a damaged unified-nas table"):
        OwnTable.open(path, field="evaluation.table")
    assert path.read_bytes() == before


@pytest.mark.parametrize("column, value, message", [BAD_VALUES[0], BAD_VALUES[3], BAD_VALUES[10], BAD_VALUES[8]])
def test_cli_proxies_on_a_damaged_table_exits_2_with_one_line(tmp_path, table, column, value, message):
    path = damaged(tmp_path, table, first_row_sql(column), (value,))
    r = unas("proxies", path, "--out", tmp_path / "report.md", cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith("unas: error: ") and message in r.stderr and len(r.stderr.splitlines()) == 1
    assert r.stdout == "" and not (tmp_path / "report.md").exists()


def test_a_replay_on_a_damaged_table_is_refused_before_the_run_is_created(tmp_path, table):
    damaged(tmp_path, table, first_row_sql("val_accuracy"), (float("inf"),))
    recipe = tmp_path / "replay.yaml"
    recipe.write_text("name: tiny\nevaluation: {table: t.sqlite}\n" + SPACE + TRAINING)
    before = sorted(p.name for p in tmp_path.iterdir())
    r = unas("run", recipe, "--backend", "optuna", "--trials", "2", "--quiet", cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert "evaluation.table: " in r.stderr and "val_accuracy: inf is not finite" in r.stderr
    assert len(r.stderr.splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no store, no run directory


# (meta key, value, what the message says): names that would reach the terminal or markdown raw.
BAD_META = [
    ("recipe_name", "tiny\x1b[31m", "meta recipe_name: 'tiny\\x1b[31m' is not a recipe name"),
    ("recipe_name", "a\nb", "meta recipe_name: 'a\\nb' is not a recipe name"),
    ("proxies", '"snip"', "meta proxies: 'snip' is not a list of distinct proxy names"),
    ("proxies", '["snip\\u001b[2J"]', "meta proxies: "),
    ("proxies", '["snip", "snip"]', "meta proxies: "),
    ("proxies", '["nosuchproxy"]', "archs: no column 'proxy_nosuchproxy'"),
    ("data", '{"name": "digits\\n# injected", "input_shape": [8, 8, 1], "num_classes": 10}', "meta data.name: "),
    ("protocol", '{"epochs": 1e999}', "meta protocol.epochs: inf is not an integer"),
    ("seed", "1e999", "meta seed: '1e999' is not an integer in 0..4294967295"),
    ("space_size", "1e999", "meta space_size: inf is not a finite number >= 0 or null"),
    ("space_size", "NaN", "meta space_size: not JSON (non-strict JSON token NaN)"),
    ("decls", '[{"label": "x"}]', "meta decls: KeyError"),
    ("mode", "every", "meta mode: 'every' is not sample or all"),
    ("fingerprint", "\x1b]0;title\x07", "meta fingerprint: "),
]


@pytest.mark.parametrize("key, value, message", BAD_META)
def test_hostile_meta_is_refused_at_open(tmp_path, table, key, value, message):
    path = damaged(tmp_path, table, "UPDATE meta SET value = ? WHERE key = ?", (value, key))
    with pytest.raises(OwnTableError) as e:
        OwnTable.open(path)
    text = str(e.value)
    assert text.startswith(f"{path} is a damaged unified-nas table (") and message in text
    assert "\n" not in text and "\x1b" not in text and "\x07" not in text


def test_cli_proxies_never_prints_hostile_meta(tmp_path, table):
    path = damaged(tmp_path, table, "UPDATE meta SET value = ? WHERE key = 'recipe_name'", ("x\x1b[2J\nfake line",))
    r = unas("proxies", path, "--out", tmp_path / "report.md", cwd=tmp_path)
    assert r.returncode == 2 and len(r.stderr.splitlines()) == 1 and "\x1b" not in r.stderr + r.stdout
    assert not (tmp_path / "report.md").exists()


def test_a_blob_meta_value_is_refused(tmp_path, table):
    path = damaged(tmp_path, table, "UPDATE meta SET value = ? WHERE key = 'proxies'", (b'["snip"]',))
    with pytest.raises(OwnTableError, match=r"meta proxies: bytes, not text"):
        OwnTable.open(path)


def test_proxies_out_may_not_be_the_table_itself(tmp_path, table):
    path = tmp_path / "t.sqlite"
    shutil.copy(table, path)
    (tmp_path / "link.sqlite").symlink_to(path)
    os.link(path, tmp_path / "hard.sqlite")
    before = path.read_bytes()
    for out in ("t.sqlite", "./t.sqlite", str(path), "link.sqlite", "hard.sqlite"):
        r = unas("proxies", "t.sqlite", "--out", out, cwd=tmp_path)
        assert r.returncode == 2, (out, r.stderr)
        assert f"--out: {out} is the table t.sqlite itself" in r.stderr and len(r.stderr.splitlines()) == 1
        assert r.stdout == ""
    r = unas("proxies", "link.sqlite", "--out", "t.sqlite", cwd=tmp_path)  # the table named through its link
    assert r.returncode == 2 and "is the table link.sqlite itself" in r.stderr
    assert path.read_bytes() == before
    r = unas("proxies", "t.sqlite", "--out", "", cwd=tmp_path)
    assert r.returncode == 2 and "--out: empty file name" in r.stderr
    with OwnTable.open(path) as t:
        assert t.same_file(tmp_path / "link.sqlite") and t.same_file(tmp_path / "sub" / ".." / "t.sqlite")
        assert not t.same_file(tmp_path / "report.md")


def test_a_file_uri_out_is_a_literal_file_name(tmp_path, table, monkeypatch):
    monkeypatch.chdir(tmp_path)
    recipe = load_recipe(write_recipe(tmp_path))
    with sqlite3.connect(tmp_path / "oth.sqlite") as db:  # someone else's database
        db.execute("CREATE TABLE study (x)")
    db.close()
    before = (tmp_path / "oth.sqlite").read_bytes()
    summary = tabulate(recipe, "file:oth.sqlite", sample=1, progress=False)
    assert (tmp_path / "oth.sqlite").read_bytes() == before  # untouched: the literal name was written
    assert summary.path == Path("file:oth.sqlite") and (tmp_path / "file:oth.sqlite").is_file()
    tabulate(recipe, "file:t.sqlite?mode=rwc", sample=1, progress=False)
    assert (tmp_path / "file:t.sqlite?mode=rwc").is_file() and not (tmp_path / "t.sqlite").exists()
    with OwnTable.open("file:t.sqlite?mode=rwc") as t:
        assert len(t) == 1
    # An existing literal `file:` table is what the safety check reads, and what is resumed.
    again = tabulate(recipe, "file:oth.sqlite", sample=1, progress=False)
    assert (again.trained, again.skipped) == (0, 1)
    assert (tmp_path / "oth.sqlite").read_bytes() == before


def test_tabulate_out_empty_is_refused(tmp_path):
    recipe = write_recipe(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    r = unas("tabulate", recipe, "--sample", "1", "--out", "", cwd=tmp_path)
    assert r.returncode == 2 and r.stderr == "unas: error: --out: empty file name\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_tabulate_refuses_to_add_to_a_damaged_table(tmp_path, table):
    path = damaged(tmp_path, table, first_row_sql("train_s"), (-1.0,))
    before = path.read_bytes()
    with pytest.raises(OwnTableError, match=r"column train_s: -1.0 is not in"):
        tabulate(load_recipe(write_recipe(tmp_path)), path, all=True, progress=False)
    assert path.read_bytes() == before


def test_an_undamaged_table_still_opens_with_every_row(table):
    with OwnTable.open(table) as t:
        assert len(t.rows()) == SIZE
