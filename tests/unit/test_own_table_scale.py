"""Own tables of NAS-Bench-201's size (15,625 architectures): opened, checked and replayed cheaply.

Training 15,625 networks is out of reach of a test, so :func:`synthetic_table` writes the table with
the real writer (``tabulate``'s meta record and row insert) and made-up trained numbers. Run this file
as a script to print how long opening such a table takes (a figure to report, not asserted):

    .venv/bin/python -m tests.unit.test_own_table_scale
"""

from __future__ import annotations

import random
import shutil
import sqlite3
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT
from unified_nas.commands import tabulate as own
from unified_nas.recipe import load_recipe
from unified_nas.space.sampling import enumerate_samples
from unified_nas.tables.own import OwnTable
from unified_nas.tables.own_format import sample_key

NB201 = ROOT / "recipes" / "digits_nb201.yaml"
NB201_SIZE = 15_625


def synthetic_table(path: Path, recipe_path: Path = NB201, keep: int | None = None, seed: int = 0) -> Path:
    """A complete (or, with ``keep``, partial) table of a recipe's space, rows made up, written by ``tabulate``'s writer.

    Args:
        path: The table file to create.
        recipe_path: The recipe (its space decides the rows; its data is loaded for the meta record).
        keep: Write only the first ``keep`` architectures.
        seed: Seed of the made-up numbers (another seed: another table of the same recipe).

    Returns:
        ``path``.
    """
    from unified_nas.evaluation.proxies import PROXIES
    from unified_nas.tables.recipes import load_recipe_data

    recipe = load_recipe(recipe_path)
    data = load_recipe_data(recipe)
    proxies = list(PROXIES)
    samples = list(enumerate_samples(recipe.space.decls()))[:keep]
    meta = own._table_meta(recipe, data, recipe.seed, proxies, "all", len(samples))
    db = own._open_for_writing(path, meta, proxies)
    db.execute("PRAGMA synchronous = OFF")  # one fsync per row would take minutes; nothing here must survive a crash
    rng = random.Random(seed)
    try:
        for i, s in enumerate(samples):
            acc = rng.random()
            values = {
                "status": "complete",
                "error": None,
                "val_accuracy": acc,
                "val_loss": 2.3 * (1 - acc),
                "train_loss": 2.3 * (1 - acc),
                "test_accuracy": acc,
                "params": float(rng.randint(1_000, 100_000)),
                "flops": float(rng.randint(10_000, 10_000_000)),
                "train_s": 1 + rng.random(),
                "proxy_s": rng.random(),
                **{f"proxy_{p}": rng.gauss(0, 1) for p in proxies},
            }
            own._insert(db, sample_key(s), i, s, values)
    finally:
        db.close()
    return path


@pytest.fixture(scope="module")
def big_table(tmp_path_factory) -> Path:
    """A complete synthetic table of the 15,625-architecture NAS-Bench-201 cell space on digits."""
    return synthetic_table(tmp_path_factory.mktemp("scale") / "nb201.sqlite")


def replay_recipe(table: Path) -> Path:
    """A replay recipe beside ``table``: the NAS-Bench-201 recipe, evaluated by the table instead of trained."""
    replay = table.parent / "replay.yaml"
    replay.write_text(NB201.read_text().replace("data:\n  name: digits\n", f"evaluation: {{table: {table.name}}}\n"))
    return replay


def test_a_table_of_nasbench201_size_answers_every_architecture(big_table):
    from unified_nas.tables.recipes import own_table_dataset

    recipe = load_recipe(replay_recipe(big_table))
    data = own_table_dataset(recipe)
    with OwnTable.open(big_table) as t:
        assert len(t) == NB201_SIZE and data.content_sha256 == t.content_sha256
        for i, s in enumerate(enumerate_samples(recipe.space.decls())):
            if i % 997 == 0:  # a spread of architectures, each answered by its own row
                row = t.lookup(s)
                assert row is not None and row.key == sample_key(s)


def test_a_table_of_nasbench201_size_missing_one_architecture_is_refused(tmp_path, big_table):
    from unified_nas.core.errors import RecipeError
    from unified_nas.tables.recipes import own_table_dataset

    path = tmp_path / big_table.name
    shutil.copy(big_table, path)
    with sqlite3.connect(path) as db:
        db.execute("DELETE FROM archs WHERE rowid = 7777")
    db.close()
    with pytest.raises(RecipeError, match=f"holds {NB201_SIZE - 1} of {NB201_SIZE} architectures of this space"):
        own_table_dataset(load_recipe(replay_recipe(path)))


def _open_seconds(path: Path, repeat: int = 5) -> float:
    """Best of ``repeat`` opens (every check ``OwnTable.open`` makes)."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        OwnTable.open(path).close()
        best = min(best, time.perf_counter() - t0)
    return best


def _replay_check_seconds(path: Path, repeat: int = 5) -> float:
    """Best of ``repeat`` replay checks (``own_table_dataset``: open, coverage, training, digest)."""
    from unified_nas.tables.recipes import own_table_dataset

    recipe = load_recipe(replay_recipe(path))
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        own_table_dataset(recipe)
        best = min(best, time.perf_counter() - t0)
    return best


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        t0 = time.perf_counter()
        path = synthetic_table(Path(folder) / "nb201.sqlite")
        made = time.perf_counter() - t0
        with sqlite3.connect(path) as db:
            rows = db.execute("SELECT COUNT(*) FROM archs").fetchone()[0]
        db.close()
        print(f"table of {rows} rows, {path.stat().st_size / 2**20:.1f} MiB (written in {made:.1f}s)")
        print(f"OwnTable.open: {_open_seconds(path) * 1000:.0f} ms (best of 5)")
        print(f"own_table_dataset (replay check): {_replay_check_seconds(path) * 1000:.0f} ms (best of 5)")
