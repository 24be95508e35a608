"""The ``darts`` skeleton of cell spaces: the DARTS paper's evaluation network, in every framework.

The reference is DARTS itself: its best cell (``DARTS_V2`` in quark0/darts'
``genotypes.py``) in its CIFAR-10 network (C=36, 20 cells) has 3,349,342
parameters without the auxiliary head (``param size = 3.349342MB`` in its
training logs) and about 528M multiply-adds.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.unit.test_dense_cell import assert_same_logits, copy_into_keras
from unified_nas.core.errors import RecipeError
from unified_nas.models.torch_model import build_model, count_params, measure_flops
from unified_nas.network import Shape, compile_plan
from unified_nas.network.compile import cell_edge, factorized_reduce
from unified_nas.network.nodes import Crop
from unified_nas.space import random_sample
from unified_nas.space.ops import op_spec
from unified_nas.space.parse import parse_space, space_from_dict, space_to_dict

DARTS_OPS = [
    "none",
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
]
# DARTS_V2 as (op, input) per edge, two edges per node, as in quark0/darts' genotypes.py.
DARTS_V2 = {
    "normal": [
        ("sep_conv_3x3", 0),
        ("sep_conv_3x3", 1),
        ("sep_conv_3x3", 0),
        ("sep_conv_3x3", 1),
        ("sep_conv_3x3", 1),
        ("skip_connect", 0),
        ("skip_connect", 0),
        ("dil_conv_3x3", 2),
    ],
    "reduce": [
        ("max_pool_3x3", 0),
        ("max_pool_3x3", 1),
        ("skip_connect", 2),
        ("max_pool_3x3", 1),
        ("max_pool_3x3", 0),
        ("skip_connect", 2),
        ("skip_connect", 2),
        ("max_pool_3x3", 1),
    ],
}
CIFAR = (32, 32, 3)


def _space(**kw):
    return parse_space({"type": "cell", "nodes": 4, "ops": DARTS_OPS, "skeleton": "darts", **kw})


def _genotype_sample(genotype: dict) -> dict:
    sample = {}
    for kind, edges in genotype.items():
        for e, (op, inp) in enumerate(edges):
            node, k = divmod(e, 2)
            sample[f"{kind}/input_{node + 2}_{k}"] = inp
            sample[f"{kind}/op_{node + 2}_{k}"] = op
    return sample


def test_darts_v2_has_the_papers_parameters_and_multiply_adds():
    arch = _space(cells=20, channels=36).resolve(_genotype_sample(DARTS_V2))  # reductions default to 6 and 13
    assert arch.network.reductions == (6, 13)
    plan, model = compile_plan(arch, CIFAR, 10), build_model(arch, CIFAR, 10)
    assert plan.params == count_params(model) == 3_349_342
    assert plan.flops == measure_flops(model, CIFAR) and round(plan.flops / 2e6) == 528


def test_the_skeleton_blocks_are_dartss():
    arch = _space(cells=3, channels=8).resolve(_genotype_sample(DARTS_V2))  # reductions at 1 and 2
    body = compile_plan(arch, CIFAR, 10).body
    assert body.node("stem").op.node("conv").op.c_out == 24  # stem_multiplier 3
    cell1, cell2 = body.node("cell1").op, body.node("cell2").op
    # After a reduction cell, input 0 is halved by a FactorizedReduce.
    assert [n.name for n in cell2.node("pre0").op.nodes] == ["relu", "conv_1", "crop", "conv_2", "concat", "bn"]
    assert [n.name for n in cell1.node("pre0").op.nodes] == ["relu", "conv", "bn"]
    normal = body.node("cell0").op.node("op_2_0").op  # sep_conv_3x3: DARTS's SepConv
    assert [n.name for n in normal.nodes] == [
        "relu",
        "depthwise",
        "pointwise",
        "bn",
        "relu_1",
        "depthwise_1",
        "pointwise_1",
        "bn_1",
    ]
    reduce_skip = cell_edge(op_spec("skip_connect"), Shape.map(16, 16, 16), 2, "darts")
    assert reduce_skip == factorized_reduce(Shape.map(16, 16, 16), 16)
    sep = cell_edge(op_spec("sep_conv_5x5"), Shape.map(16, 16, 16), 2, "darts")
    assert [(n.op.stride, n.op.padding) for n in sep.nodes if n.name.startswith("depthwise")] == [(2, 2), (1, 2)]
    assert sep.output_shape.dims == (8, 8, 16)
    dil = cell_edge(op_spec("dil_conv_3x3"), Shape.map(16, 16, 16), 1, "darts")
    assert dil == cell_edge(op_spec("dil_conv_3x3"), Shape.map(16, 16, 16), 1)  # DilConv: one block in both
    fr = factorized_reduce(Shape.map(16, 16, 6), 16)
    assert fr.node("crop").op == Crop(1, 1) and fr.node("crop").shape.dims == (15, 15, 6)
    assert fr.node("conv_2").shape.dims == (8, 8, 8) and fr.output_shape.dims == (8, 8, 16)


def test_the_compact_skeleton_is_unchanged_and_stays_the_default():
    space = parse_space({"type": "cell", "ops": ["sep_conv_3x3", "skip_connect"], "cells": 3, "channels": 8})
    assert space.network.skeleton == "compact" and "skeleton" not in space_to_dict(space)["space"]
    body = compile_plan(space.resolve(random_sample(space.decls(), 0)), (8, 8, 3), 10).body
    assert body.node("stem").op.node("conv").op.c_out == 8
    assert [n.name for n in cell_edge(op_spec("sep_conv_3x3"), Shape.map(8, 8, 4), 2).nodes] == [
        "relu",
        "depthwise",
        "pointwise",
        "bn",
    ]
    assert [n.name for n in cell_edge(op_spec("skip_connect"), Shape.map(8, 8, 4), 2).nodes] == ["relu", "conv", "bn"]


def test_round_trip_and_errors():
    space = _space(cells=5, channels=[8, 16])
    assert space_from_dict(space_to_dict(space)) == space and space_to_dict(space)["space"]["skeleton"] == "darts"
    with pytest.raises(RecipeError, match=r"^space\.skeleton: nasbench201 is not one of compact, darts$"):
        parse_space({"type": "cell", "ops": ["none"], "skeleton": "nasbench201"})
    with pytest.raises(ValueError, match="even channel count and map size"):
        factorized_reduce(Shape.map(7, 8, 4), 4)
    with pytest.raises(ValueError, match="even channel count and map size"):
        factorized_reduce(Shape.map(8, 8, 4), 5)
    with pytest.raises(ValueError, match="cannot crop"):
        Crop(1, 1).out_shape([Shape.map(1, 4, 2)])


def test_flops_equal_torchs_on_random_darts_networks():
    space = _space(cells=4, reductions=[1, 3], channels=6)
    for seed in range(4):
        arch = space.resolve(random_sample(space.decls(), seed))
        model = build_model(arch, (8, 8, 3), 4)
        plan = compile_plan(arch, (8, 8, 3), 4)
        assert (plan.flops, plan.params) == (measure_flops(model, (8, 8, 3)), count_params(model)), seed


@pytest.mark.parametrize("seed", range(3))
def test_keras_builds_the_same_network(seed, monkeypatch):
    """Same parameters, and the same logits from the same weights (inference and training mode)."""
    keras = pytest.importorskip("keras")
    from unified_nas.models import keras_model

    space = _space(cells=4, reductions=[1, 3], channels=4)
    sample = _genotype_sample(DARTS_V2) if seed == 0 else random_sample(space.decls(), seed)
    arch, shape = space.resolve(sample), (8, 8, 3)
    tm, km = copy_into_keras(keras, keras_model, arch, shape, 5, monkeypatch)
    assert keras_model.count_trainable(km) == count_params(tm)
    assert_same_logits(keras, tm, km, shape, seed)


def test_nni_cells_are_the_plans():
    pytest.importorskip("nni")
    from unified_nas.backends.nni.space import UnasModelSpace, make_spec, to_canonical

    space = _space(cells=3, channels=4)
    model_space = UnasModelSpace(make_spec(space, (8, 8, 1), 3))
    for seed in range(3):
        nni_sample: dict = {}
        model_space.random(memo=nni_sample, random_state=np.random.RandomState(seed))
        arch = space.resolve(to_canonical(space, nni_sample))
        frozen, plan = model_space.freeze(nni_sample), compile_plan(arch, (8, 8, 1), 3)
        assert (count_params(frozen), measure_flops(frozen, (8, 8, 1))) == (plan.params, plan.flops), seed
