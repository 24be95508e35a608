"""Tables of your own: `unas tabulate` and `unas proxies` (real training on a tiny recipe)."""

from __future__ import annotations

import json
import math
import shutil
import sqlite3
from pathlib import Path

import pytest

from tests.conftest import ROOT, unas
from unified_nas.commands.tabulate import tabulate
from unified_nas.core.errors import RecipeError, UserError
from unified_nas.core.jsontext import strict_json
from unified_nas.recipe import load_recipe
from unified_nas.space.sampling import enumerate_samples
from unified_nas.tables.correlation import correlations_markdown, correlations_text, proxy_correlations
from unified_nas.tables.own import OwnTable
from unified_nas.tables.own_format import OwnTableError, sample_key

# 3 kernels x 2 widths = 6 architectures, one epoch each: the whole file trains in seconds.
TINY = """
name: tiny
data: {name: digits}
space:
  type: macro
  depth: 1
  layer:
    op: conv
    kernel: [3, 5, 7]
    width: [4, 8]
    activation: relu
training:
  epochs: EPOCHS
  batch_size: 64
  lr: 0.003
  optimizer: adam
seed: 0
budget: {trials: 2}
"""
SIZE = 6


def write_recipe(folder: Path, epochs: int = 1, name: str = "tiny.yaml") -> Path:
    path = folder / name
    path.write_text(TINY.replace("EPOCHS", str(epochs)))
    return path


def strict_loads(text: str):
    def refuse(token: str):
        raise ValueError(f"non-strict JSON token {token}")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture(scope="module")
def full_table(tmp_path_factory) -> Path:
    """A table of every architecture of the tiny space."""
    folder = tmp_path_factory.mktemp("own")
    path = folder / "tiny.sqlite"
    summary = tabulate(load_recipe(write_recipe(folder)), path, all=True, progress=False)
    assert (summary.trained, summary.skipped, summary.rows, summary.mode) == (SIZE, 0, SIZE, "all")
    return path


def test_all_tabulates_every_architecture_and_looks_them_up(full_table):
    recipe = load_recipe(write_recipe(full_table.parent, name="again.yaml"))
    decls = recipe.space.decls()
    with OwnTable.open(full_table) as table:
        assert len(table) == SIZE and table.counts() == {"complete": SIZE}
        assert (table.input_shape, table.num_classes, table.epochs) == ((8, 8, 1), 10, 1)
        assert table.meta.recipe_name == "tiny" and table.meta.mode == "all" and table.meta.space_size == SIZE
        assert "torch" in table.meta.packages and "snip" in table.meta.proxies
        for s in enumerate_samples(decls):
            row = table.lookup(s)
            assert row is not None and row.complete and row.sample == s and row.key == sample_key(s)
            assert 0 <= row.val_accuracy <= 1 and row.train_s > 0 and row.params > 0 and row.flops > 0
            assert set(row.proxies) == set(table.meta.proxies)
        # A toolkit's over-full sample (an unknown label) finds the same row.
        s = next(enumerate_samples(decls))
        assert table.lookup({**s, "not/a/label": 1}).key == sample_key(s)
        assert table.lookup({**s, "layer0/width": 99}) is None
        assert table.covers(decls)
        table.check_replay(decls)  # complete coverage: no error


def test_rows_are_strict_json(full_table):
    with OwnTable.open(full_table) as table:
        text = strict_json([r.to_dict() for r in table.rows()] + [table.meta.to_dict()])
    assert len(strict_loads(text)) == SIZE + 1
    assert (
        strict_json({"a": math.inf, "b": [math.nan, -math.inf], "c": 1.5}) == '{"a": null, "b": [null, null], "c": 1.5}'
    )


def test_resume_trains_nothing_twice(tmp_path):
    recipe = load_recipe(write_recipe(tmp_path))
    path = tmp_path / "t.sqlite"
    first = tabulate(recipe, path, sample=2, progress=False)
    assert (first.trained, first.skipped, first.rows, first.mode) == (2, 0, 2, "sample")
    with OwnTable.open(path) as table:
        before = {r.key: r.finished_at for r in table.rows()}
    again = tabulate(recipe, path, sample=2, progress=False)  # the same seeded sequence: nothing to do
    assert (again.trained, again.skipped, again.rows) == (0, 2, 2)
    more = tabulate(recipe, path, sample=4, progress=False)  # extends the same sequence
    assert (more.trained, more.skipped, more.rows) == (2, 2, 4)
    rest = tabulate(recipe, path, all=True, progress=False)
    assert (rest.trained, rest.skipped, rest.rows) == (2, 4, SIZE)
    with OwnTable.open(path) as table:
        after = {r.key: r.finished_at for r in table.rows()}
        assert len(after) == SIZE and table.meta.mode == "all"
    assert all(after[k] == t for k, t in before.items())  # the first two were not retrained


def test_partial_table_refused_for_replay_and_other_space(tmp_path, full_table):
    recipe = load_recipe(write_recipe(tmp_path))
    path = tmp_path / "part.sqlite"
    tabulate(recipe, path, sample=2, progress=False)
    with OwnTable.open(path) as table:
        assert not table.covers(recipe.space.decls())
        with pytest.raises(RecipeError, match=r"holds 2 of 6 architectures of this space; tabulate it with --all"):
            table.check_replay(recipe.space.decls())
    other = load_recipe(ROOT / "recipes" / "digits_cnn.yaml").space.decls()
    with OwnTable.open(full_table) as table, pytest.raises(RecipeError, match=r"^evaluation.table: .*another space"):
        table.check_replay(other)


def test_sample_beyond_the_space_is_refused_and_writes_nothing(tmp_path):
    recipe = load_recipe(write_recipe(tmp_path))
    with pytest.raises(UserError, match="only 6 distinct architectures; use --all"):
        tabulate(recipe, tmp_path / "t.sqlite", sample=7, progress=False)
    with pytest.raises(UserError, match="exactly one of --sample N and --all"):
        tabulate(recipe, tmp_path / "t.sqlite", sample=2, all=True, progress=False)
    assert not (tmp_path / "t.sqlite").exists()


def test_other_recipe_on_existing_table_is_refused_unchanged(tmp_path, full_table):
    path = tmp_path / "copy.sqlite"
    shutil.copy(full_table, path)
    before = path.read_bytes()
    other = load_recipe(write_recipe(tmp_path, epochs=2, name="two.yaml"))
    with pytest.raises(OwnTableError, match="table of another recipe or seed"):
        tabulate(other, path, all=True, progress=False)
    with pytest.raises(OwnTableError, match="table of another recipe or seed"):
        tabulate(load_recipe(write_recipe(tmp_path)), path, all=True, seed=1, progress=False)
    assert path.read_bytes() == before


def test_files_that_are_not_tables_are_refused(tmp_path):
    recipe = load_recipe(write_recipe(tmp_path))
    text = tmp_path / "notes.txt"
    text.write_text("not a database\n" * 100)
    other_db = tmp_path / "other.sqlite"
    with sqlite3.connect(other_db) as db:
        db.execute("CREATE TABLE study (x)")
    for path in (text, other_db):
        before = path.read_bytes()
        with pytest.raises(OwnTableError, match="is not a unified-nas table"):
            OwnTable.open(path)
        with pytest.raises(OwnTableError, match="is not a unified-nas table"):
            tabulate(recipe, path, sample=1, progress=False)
        assert path.read_bytes() == before
    with pytest.raises(OwnTableError, match="no table at"):
        OwnTable.open(tmp_path / "missing.sqlite")
    with pytest.raises(RecipeError, match=r"^evaluation.table: no table at"):
        OwnTable.open(tmp_path / "missing.sqlite", field="evaluation.table")
    assert not (tmp_path / "missing.sqlite").exists()


def test_read_only_open_does_not_alter_the_file(tmp_path, full_table):
    path = tmp_path / "ro.sqlite"
    shutil.copy(full_table, path)
    before = path.read_bytes()
    with OwnTable.open(path) as table:
        proxy_correlations(table)
        table.rows()
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ro.sqlite"]  # no journal left either


def test_correlations_cover_every_proxy_and_the_baselines(full_table):
    with OwnTable.open(full_table) as table:
        rows = proxy_correlations(table)
        names = [r["metric"] for r in rows]
        assert names == [*table.meta.proxies, "params", "flops"]
        for r in rows:
            assert r["n"] + r["undefined"] == SIZE
            for key in ("spearman", "kendall"):
                assert r[key] is None or -1 <= r[key] <= 1
        strict_loads(strict_json(rows))
        assert "| params | baseline | 6 |" in correlations_markdown(table, rows)
        assert "spearman" in correlations_text(table, rows)


def test_infinite_values_rank_as_extremes_and_nan_is_dropped(tmp_path, full_table):
    path = tmp_path / "inf.sqlite"
    shutil.copy(full_table, path)
    with sqlite3.connect(path) as db:
        keys = [k for (k,) in db.execute("SELECT key FROM archs ORDER BY val_accuracy")]
        # naswot: -inf for the worst architecture and rank order for the rest -> a perfect ranking.
        for rank, key in enumerate(keys):
            db.execute('UPDATE archs SET "proxy_naswot" = ? WHERE key = ?', (-math.inf if rank == 0 else rank, key))
        db.execute('UPDATE archs SET "proxy_jacov" = ? WHERE key = ?', (math.nan, keys[0]))  # stored as NULL
    with OwnTable.open(path) as table:
        assert table.lookup(json.loads(keys[0])).proxies["naswot"] == -math.inf
        rows = {r["metric"]: r for r in proxy_correlations(table)}
    assert rows["naswot"]["infinite"] == 1 and rows["naswot"]["n"] == SIZE
    # val_accuracy may tie at chance level on one epoch; ties keep rho just under 1.
    assert rows["naswot"]["spearman"] > 0.9
    assert rows["jacov"]["n"] == SIZE - 1 and rows["jacov"]["undefined"] == 1


def test_cli_tabulate_and_proxies(tmp_path, full_table):
    recipe = write_recipe(tmp_path)
    r = unas("tabulate", recipe, "--sample", "2", "--quiet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "unas-tables" / "tiny.sqlite").is_file()  # the default place
    assert "table unas-tables/tiny.sqlite: 2 architectures of a space of 6" in r.stdout
    r = unas("proxies", full_table, "--json", "--out", tmp_path / "report.md", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    data = strict_loads(r.stdout)
    assert [c["metric"] for c in data["correlations"]][-2:] == ["params", "flops"]
    assert (tmp_path / "report.md").read_text().startswith("# Proxies vs trained accuracy: tiny")
    r = unas("proxies", full_table, cwd=tmp_path)
    assert r.returncode == 0 and "naswot" in r.stdout and "flops" in r.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["tabulate", "RECIPE"], "one of the arguments --sample --all is required"),
        (["tabulate", "RECIPE", "--sample", "2", "--all"], "not allowed with argument"),
        (["tabulate", "RECIPE", "--sample", "0"], "0 is not >= 1"),
        (["tabulate", "RECIPE", "--sample", "9"], "this space has only 6 distinct architectures"),
        (["tabulate", str(ROOT / "recipes" / "digits_mlp.yaml"), "--all"], "--all: this space is infinite"),
        (["tabulate", "missing.yaml", "--all"], "cannot read recipe missing.yaml"),
        (["tabulate", "RECIPE", "--all", "--out", "notes.txt"], "notes.txt is not a unified-nas table"),
        (["proxies", "notes.txt"], "notes.txt is not a unified-nas table"),
        (["proxies", "missing.sqlite"], "no table at missing.sqlite"),
    ],
)
def test_cli_bad_input_exits_2_and_writes_nothing(tmp_path, args, message):
    recipe = write_recipe(tmp_path)
    (tmp_path / "notes.txt").write_text("hello\n")
    before = sorted(p.name for p in tmp_path.iterdir())
    r = unas(*[str(recipe) if a == "RECIPE" else a for a in args], cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert message in r.stderr and len(r.stderr.strip().splitlines()) <= 2  # argparse adds its usage line
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert (tmp_path / "notes.txt").read_text() == "hello\n"


def test_a_failed_architecture_is_stored_not_retrained_and_left_out_of_correlations(tmp_path, monkeypatch):
    import unified_nas.evaluation.train.evaluate as evaluate

    recipe = load_recipe(write_recipe(tmp_path))
    bad = next(enumerate_samples(recipe.space.decls()))
    real = evaluate.evaluate_sample

    def flaky(space, sample, *args, **kwargs):
        if sample == bad:
            raise ValueError("this network does not fit")
        return real(space, sample, *args, **kwargs)

    monkeypatch.setattr(evaluate, "evaluate_sample", flaky)
    path = tmp_path / "f.sqlite"
    summary = tabulate(recipe, path, all=True, progress=False)
    assert (summary.trained, summary.failed, summary.rows) == (SIZE, 1, SIZE)
    with OwnTable.open(path) as table:
        row = table.lookup(bad)
        assert row is not None and row.status == "failed" and "ValueError: this network does not fit" in row.error
        assert row.val_accuracy is None and row.params > 0  # the proxies ran before training failed
        assert all(r["n"] + r["undefined"] == SIZE - 1 for r in proxy_correlations(table))
    again = tabulate(recipe, path, all=True, progress=False)  # failures are deterministic: not retried
    assert (again.trained, again.skipped) == (0, SIZE)


def test_tabulate_trains_on_the_recipes_device_and_refuses_one_it_lacks(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    recipe = write_recipe(tmp_path)
    recipe.write_text(recipe.read_text() + "device: cuda\n")
    r = unas("tabulate", recipe, "--sample", "1", "--out", tmp_path / "t.sqlite", cwd=tmp_path)
    assert (
        r.returncode == 2 and r.stderr.strip().splitlines() == [r.stderr.strip()] and "--device cuda: " in r.stderr
    ), r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.yaml"]
