"""The PyTorch materializer: every op, every recipe, params and FLOPs conventions."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.conftest import RECIPES
from unified_nas.data import load_dataset
from unified_nas.models.torch_model import build_model, count_params, measure_flops, to_tensor
from unified_nas.network.flops import count_flops
from unified_nas.recipe import load_recipe
from unified_nas.space import random_sample
from unified_nas.space.ops import CELL_OPS
from unified_nas.space.parse import parse_space


@pytest.mark.parametrize("op", CELL_OPS)
def test_every_cell_op_builds_in_normal_and_reduction_cells(op):
    space = parse_space({"type": "cell", "nodes": 2, "cells": 3, "reductions": [1], "channels": 4, "ops": [op]})
    sample = random_sample(space.decls(), 0)
    model = build_model(space.resolve(sample), (8, 8, 1), 10)
    out = model(torch.zeros(3, 1, 8, 8))
    assert out.shape == (3, 10)


@pytest.mark.parametrize("family", ["conv", "sep_conv", "dil_conv", "max_pool", "avg_pool", "identity"])
@pytest.mark.parametrize("skip", [False, True])
@pytest.mark.parametrize("pool", ["none", "max", "avg"])
def test_every_macro_op_builds(family, skip, pool):
    layer = {"op": family, "skip": skip, "pool": pool, "batchnorm": True, "activation": "gelu"}
    if family in ("conv", "sep_conv", "dil_conv"):
        layer.update(width=6, kernel=3)
    space = parse_space({"depth": 4, "layer": layer})
    model = build_model(space.resolve(random_sample(space.decls(), 0)), (8, 8, 1), 10)
    assert model(torch.zeros(2, 1, 8, 8)).shape == (2, 10)


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.stem)
def test_every_recipe_materializes_for_many_samples(path):
    recipe = load_recipe(path)
    data = load_dataset(recipe.data)
    x = to_tensor(data.x_val[:4])
    for seed in range(15):
        model = build_model(
            recipe.space.resolve(random_sample(recipe.space.decls(), seed)), data.input_shape, data.num_classes
        )
        assert model(x).shape == (4, data.num_classes)
        assert count_params(model) > 0


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.stem)
def test_analytic_flops_equal_torch_flop_counter(path):
    recipe = load_recipe(path)
    data = load_dataset(recipe.data)
    for seed in range(25):
        arch = recipe.space.resolve(random_sample(recipe.space.decls(), seed))
        model = build_model(arch, data.input_shape, data.num_classes)
        assert count_flops(arch, data.input_shape, data.num_classes) == measure_flops(model, data.input_shape), seed


@pytest.mark.parametrize("shape", [(8, 8, 1), (7, 9, 3), (5, 5, 2)])
@pytest.mark.parametrize("op", CELL_OPS)
def test_analytic_flops_of_every_op_and_odd_sizes(op, shape):
    ops = [op] if op == "sep_conv_3x3" else [op, "sep_conv_3x3"]
    space = parse_space({"type": "cell", "nodes": 2, "cells": 4, "reductions": [1, 3], "channels": 4, "ops": ops})
    for seed in range(3):
        arch = space.resolve(random_sample(space.decls(), seed))
        assert count_flops(arch, shape, 3) == measure_flops(build_model(arch, shape, 3), shape)


@pytest.mark.parametrize("family", ["conv", "sep_conv", "dil_conv", "max_pool", "identity"])
def test_analytic_flops_of_macro_layers_with_skips_and_pools(family):
    layer = {"op": family, "skip": [False, True], "pool": ["none", "max"]}
    if family in ("conv", "sep_conv", "dil_conv"):
        layer.update(width=[3, 6], kernel=[3, 5])
    space = parse_space({"depth": {"low": 1, "high": 4}, "layer": layer})
    for seed in range(10):
        arch = space.resolve(random_sample(space.decls(), seed))
        assert count_flops(arch, (7, 9, 3), 4) == measure_flops(build_model(arch, (7, 9, 3), 4), (7, 9, 3))


def test_param_count_of_a_known_mlp():
    space = parse_space({"depth": 2, "layer": {"op": "linear", "width": 10}})
    model = build_model(space.resolve({}), (4,), 3)
    assert count_params(model) == (4 * 10 + 10) + (10 * 10 + 10) + (10 * 3 + 3)


def test_flops_convention_is_two_per_multiply_add():
    space = parse_space({"depth": 1, "layer": {"op": "conv", "kernel": 3, "width": 4}})
    model = build_model(space.resolve({}), (8, 8, 2), 5)
    conv_macs = 8 * 8 * 4 * (3 * 3 * 2)  # output positions x out channels x kernel volume
    head_macs = 4 * 5
    assert measure_flops(model, (8, 8, 2)) == 2 * (conv_macs + head_macs)
    assert count_flops(space.resolve({}), (8, 8, 2), 5) == 2 * (conv_macs + head_macs)


def test_batchnorm_statistics_are_not_counted_as_params():
    space = parse_space({"depth": 1, "layer": {"op": "linear", "width": 10, "batchnorm": True}})
    model = build_model(space.resolve({}), (4,), 3)
    assert count_params(model) == 4 * 10 + 2 * 10 + 10 * 3 + 3  # no bias before BN; gamma/beta counted


def test_init_is_seeded():
    space = parse_space({"depth": 1, "layer": {"op": "linear", "width": 10}})
    torch.manual_seed(0)
    a = build_model(space.resolve({}), (4,), 3)
    torch.manual_seed(0)
    b = build_model(space.resolve({}), (4,), 3)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_convs_on_tabular_data_are_refused():
    space = parse_space({"depth": 1, "layer": {"op": "conv", "kernel": 3, "width": 4}})
    with pytest.raises(ValueError, match="image data"):
        build_model(space.resolve({}), (30,), 2)


def test_images_are_transposed_to_nchw():
    x = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    t = to_tensor(x)
    assert t.shape == (2, 5, 3, 4) and t[1, 4, 2, 3] == x[1, 2, 3, 4]
