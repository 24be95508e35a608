"""Data sets and the shared seeded split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from unified_nas.core.errors import RecipeError
from unified_nas.data import load_dataset
from unified_nas.recipe import load_recipe
from unified_nas.recipe.sections import BUILTIN, DataSpec


@pytest.mark.parametrize("name", BUILTIN)
def test_builtin_split_is_disjoint_complete_and_seeded(name):
    a = load_dataset(DataSpec(name=name))
    b = load_dataset(DataSpec(name=name))
    sizes = a.split.sizes
    assert sizes["train"] + sizes["val"] + sizes["test"] == len(a.x_train) + len(a.x_val) + len(a.x_test)
    assert a.split.sha256 == b.split.sha256 and np.array_equal(a.x_val, b.x_val)
    assert load_dataset(DataSpec(name=name, split_seed=1)).split.sha256 != a.split.sha256
    assert set(np.unique(a.y_val)) == set(range(a.num_classes))  # stratified


def test_digits_are_images_in_unit_range():
    d = load_dataset(DataSpec(name="digits"))
    assert d.kind == "image" and d.input_shape == (8, 8, 1) and d.num_classes == 10
    assert 0.0 <= d.x_train.min() and d.x_train.max() <= 1.0


def test_tabular_is_standardised_on_train_only():
    d = load_dataset(DataSpec(name="wine"))
    assert np.allclose(d.x_train.mean(0), 0, atol=1e-5)
    assert not np.allclose(d.x_test.mean(0), 0, atol=1e-3)


def test_user_npz_and_csv(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, (60, 6, 6), dtype=np.uint8)
    y = np.repeat(["a", "b", "c"], 20)
    np.savez(tmp_path / "imgs.npz", x=x, y=y)
    d = load_dataset(DataSpec(path="imgs.npz"), tmp_path)
    assert d.kind == "image" and d.input_shape == (6, 6, 1) and d.num_classes == 3 and d.x_train.max() <= 1
    rows = ["f1,f2,label"] + [f"{i},{i % 7},{i % 2}" for i in range(40)]
    (tmp_path / "t.csv").write_text("\n".join(rows))
    d = load_dataset(DataSpec(path="t.csv", target="label"), tmp_path)
    assert d.kind == "tabular" and d.input_shape == (2,) and d.num_classes == 2


def test_user_data_errors_name_the_field(tmp_path):
    with pytest.raises(RecipeError, match="data.path: .* does not exist"):
        load_dataset(DataSpec(path="nope.npz"), tmp_path)
    (tmp_path / "t.csv").write_text("a,b\n1,2\n")
    with pytest.raises(RecipeError, match="data.target: column 'target' not in t.csv"):
        load_dataset(DataSpec(path="t.csv"), tmp_path)


BROKEN_DATA = sorted((Path(__file__).parent.parent / "data" / "broken_data").glob("*.yaml"))


@pytest.mark.parametrize("recipe", BROKEN_DATA, ids=lambda p: p.stem)
def test_broken_data_message(recipe):
    # Each recipe's first line is the exact one-line error for its data file.
    first = recipe.read_text().splitlines()[0]
    assert first.startswith("# expect: "), f"{recipe.name} lacks its '# expect:' line"
    r = load_recipe(recipe)
    with pytest.raises(RecipeError) as info:
        load_dataset(r.data, r.base_dir)
    assert str(info.value) == first[len("# expect: ") :]
    assert "\n" not in str(info.value)


def test_broken_data_corpus_covers_every_file():
    data_files = {p.name for p in BROKEN_DATA[0].parent.iterdir() if p.suffix in (".csv", ".npz")}
    used = {load_recipe(r).data.path for r in BROKEN_DATA}
    assert data_files == used and len(used) >= 25


def test_data_errors_never_quote_the_file(tmp_path):
    # A data path that is really some other text file: no line of it may reach the message.
    secret = "root:x:0:0:root:/root:/bin/bash"
    (tmp_path / "a.csv").write_text(f"{secret}\n{secret}\n")
    (tmp_path / "b.csv").write_text(f"f,target\n1,0\n{secret},1\n")
    (tmp_path / "c.csv").write_text(f"f,target\n1,0\n2,{secret[:4]}\n")
    for name in ("a.csv", "b.csv", "c.csv"):
        with pytest.raises(RecipeError) as info:
            load_dataset(DataSpec(path=name), tmp_path)
        assert "root" not in str(info.value), str(info.value)


def test_labels_numbers_and_names(tmp_path):
    # "1" and "1.0" are one class; names are classes; a column of both keeps one spelling per number.
    (tmp_path / "n.csv").write_text("f,target\n" + "\n".join(f"{i},{['1', '1.0', '2'][i % 3]}" for i in range(30)))
    assert load_dataset(DataSpec(path="n.csv"), tmp_path).num_classes == 2
    (tmp_path / "s.csv").write_text(
        "f,target\n" + "\n".join(f"{i},{['cat', ' dog', '3', '3.0'][i % 4]}" for i in range(40))
    )
    assert load_dataset(DataSpec(path="s.csv"), tmp_path).num_classes == 3
    x = np.arange(40.0).reshape(20, 2)
    np.savez(tmp_path / "f.npz", x=x, y=np.arange(20.0)[:, None] % 2)  # (N, 1) whole-number floats
    assert load_dataset(DataSpec(path="f.npz"), tmp_path).num_classes == 2


def test_csv_with_bom_and_blank_lines(tmp_path):
    (tmp_path / "t.csv").write_bytes(
        b"\xef\xbb\xbff1,target\n\n" + "\n".join(f"{i},{i % 2}" for i in range(20)).encode() + b"\n\n"
    )
    d = load_dataset(DataSpec(path="t.csv"), tmp_path)
    assert d.input_shape == (1,) and sum(d.split.sizes.values()) == 20


def test_unsplittable_data_is_one_line(tmp_path):
    # Ten classes of two samples: a 20% test split has too few rows for every class.
    (tmp_path / "t.csv").write_text("f,target\n" + "\n".join(f"{i},{i % 10}" for i in range(20)))
    with pytest.raises(RecipeError, match=r"^data: cannot split t: ") as info:
        load_dataset(DataSpec(path="t.csv"), tmp_path)
    assert "\n" not in str(info.value)


def test_size_limits(tmp_path, monkeypatch):
    import unified_nas.data.files as data

    rows = "f,target\n" + "\n".join(f"{i},{i % 2}" for i in range(20))
    (tmp_path / "t.csv").write_text(rows)
    monkeypatch.setattr(data, "MAX_CSV_BYTES", len(rows))
    load_dataset(DataSpec(path="t.csv"), tmp_path)  # at the limit: fine
    monkeypatch.setattr(data, "MAX_CSV_BYTES", len(rows) - 1)
    with pytest.raises(RecipeError, match=rf"^data.path: t.csv is larger than {len(rows) - 1} bytes$"):
        load_dataset(DataSpec(path="t.csv"), tmp_path)
    # A small compressed file whose arrays are large once inflated (a zip bomb, in miniature).
    np.savez_compressed(tmp_path / "z.npz", x=np.zeros((2000, 50)), y=np.arange(2000) % 2)
    assert (tmp_path / "z.npz").stat().st_size < 100_000 < 2000 * 50 * 8
    monkeypatch.setattr(data, "MAX_NPZ_BYTES", 100_000)
    with pytest.raises(
        RecipeError, match=r"^data.path: z.npz: arrays x and y are larger than 100000 bytes uncompressed$"
    ):
        load_dataset(DataSpec(path="z.npz"), tmp_path)


def test_features_too_large_to_standardise(tmp_path):
    (tmp_path / "t.csv").write_text("f,target\n" + "\n".join(f"{3e37 * (i % 3)},{i % 2}" for i in range(20)))
    with pytest.raises(RecipeError, match=r"^data.path: t: feature values are too large to standardise"):
        load_dataset(DataSpec(path="t.csv"), tmp_path)
