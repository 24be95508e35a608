"""Data sets and the shared seeded split."""
from __future__ import annotations

import numpy as np
import pytest

from unified_nas.data import BUILTIN, DataSpec, load_dataset
from unified_nas.errors import RecipeError


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
