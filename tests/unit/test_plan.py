"""The network plan: shapes along it, unknown ops, its FLOPs and params against the torch build."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest
import torch

from tests.conftest import RECIPES, ROOT
from unified_nas.data import load_dataset
from unified_nas.models.torch_model import TORCH_BUILDERS, build_model, count_params, measure_flops, node_module
from unified_nas.network import Graph, Plan, Shape, UnknownOp, compile_plan
from unified_nas.network import nodes as plan_nodes
from unified_nas.network.compile import cell_edge, macro_layer
from unified_nas.network.flops import count_flops, count_plan_params
from unified_nas.network.graph import Node
from unified_nas.network.op_rules import OP_RULES, op_graph
from unified_nas.recipe import load_recipe
from unified_nas.space import random_sample
from unified_nas.space.ops import OPS, OpSpec, op_spec
from unified_nas.space.parse import parse_space
from unified_nas.space.spaces import ArchConfig, CellConfig, LayerConfig, TrainingConfig

TRAINING = TrainingConfig(1e-3, "adam", 32, 0.0, 0.0)


def _shapes(plan: Plan) -> dict[str, tuple[int, ...]]:
    return {path: node.shape.dims for path, node, _ in plan.body.walk()}


def test_shapes_along_a_macro_plan():
    space = parse_space(
        {
            "depth": 2,
            "layers": [
                {"op": "conv", "kernel": 5, "width": 16, "batchnorm": True, "pool": "max", "skip": True},
                {"op": "sep_conv", "kernel": 3, "width": 16, "pool": "avg", "skip": True},
            ],
        }
    )
    plan = compile_plan(space.resolve({}), (7, 9, 3), 10)
    assert _shapes(plan) == {
        "layer0/conv": (7, 9, 16),
        "layer0/bn": (7, 9, 16),
        "layer0/act": (7, 9, 16),
        "layer0/proj": (7, 9, 16),
        "layer0/skip": (7, 9, 16),
        "layer0/pool": (3, 4, 16),
        "layer1/depthwise": (3, 4, 16),
        "layer1/pointwise": (3, 4, 16),
        "layer1/act": (3, 4, 16),
        "layer1/skip": (3, 4, 16),
        "layer1/pool": (1, 2, 16),  # same width: the skip adds the input, no projection
        "readout/gap": (16,),
    }
    conv = plan.body.node("layer0").op.node("conv").op
    assert (conv.kernel, conv.stride, conv.padding, conv.bias) == (5, 1, 2, False)  # no bias before a BatchNorm
    assert plan.feature_shape.dims == (16,) and plan.output_shape.dims == (10,)


def test_a_feature_map_of_one_row_is_not_pooled_and_an_mlp_flattens_its_input():
    space = parse_space({"depth": 2, "layer": {"op": "conv", "kernel": 3, "width": 4, "pool": "max"}})
    assert _shapes(compile_plan(space.resolve({}), (3, 5, 1), 2))["layer1/conv"] == (1, 2, 4)
    assert "layer1/pool" not in _shapes(compile_plan(space.resolve({}), (3, 5, 1), 2))
    mlp = parse_space({"depth": 1, "layer": {"op": "linear", "width": 7, "batchnorm": True}})
    assert _shapes(compile_plan(mlp.resolve({}), (8, 8, 2), 3)) == {
        "entry/flatten": (128,),
        "layer0/linear": (7,),
        "layer0/bn": (7,),
        "layer0/act": (7,),
    }


def _cell_sample(space, op: str, inp: int) -> dict:
    sample = random_sample(space.decls(), 0)
    for label in sample:
        if "/op_" in label:
            sample[label] = op
        elif "/input_" in label:
            sample[label] = inp
    return sample


@pytest.mark.parametrize("size, halves", [((8, 8), [(8, 8), (4, 4), (2, 2)]), ((7, 9), [(7, 9), (4, 5), (2, 3)])])
def test_shapes_along_a_cell_plan(size, halves):
    recipe = load_recipe(ROOT / "recipes" / "digits_cell.yaml")  # 3 cells, reductions at 1 and 2, channels 8
    plan = compile_plan(recipe.space.resolve(_cell_sample(recipe.space, "sep_conv_3x3", 1)), (*size, 3), 10)
    shapes, (a, b, c) = _shapes(plan), halves
    assert shapes["stem/conv"] == (*a, 8)
    assert shapes["cell0/pre0/conv"] == shapes["cell0/pre1/conv"] == (*a, 8)
    assert shapes["cell0/op_2_0/depthwise"] == shapes["cell0/node_2"] == (*a, 8)
    assert shapes["cell0/concat"] == (*a, 16)  # 2 nodes x 8 channels
    assert shapes["cell1/pre0/conv"] == shapes["cell1/pre1/conv"] == (*a, 16)  # reduction: channels doubled
    assert shapes["cell1/op_2_0/depthwise"] == (*b, 16)  # edges out of the inputs have stride 2
    assert shapes["cell1/op_3_1/depthwise"] == (*b, 16)
    assert shapes["cell1/concat"] == (*b, 32)
    assert shapes["cell2/pre0/conv"] == (*b, 32)  # after a reduction, input 0 is halved by its preprocessing
    assert shapes["cell2/concat"] == (*c, 64)
    assert shapes["readout/gap"] == (64,)
    assert "cell0/keep" in shapes  # input 0 is read by no edge: kept, not pruned
    edge = plan.body.node("cell1").op.node("op_2_0").op
    assert [n.name for n in edge.nodes] == ["relu", "depthwise", "pointwise", "bn"]
    assert edge.node("depthwise").op.stride == 2 and edge.node("depthwise").op.groups == 16


def test_cell_edges_of_non_convolutions_are_bare_and_identity_reduces_with_a_conv():
    state = Shape.map(5, 5, 4)
    assert [n.name for n in cell_edge(op_spec("max_pool_3x3"), state, 2).nodes] == ["pool"]
    assert cell_edge(op_spec("skip_connect"), state, 1).nodes == ()
    reduce = cell_edge(op_spec("identity"), state, 2)
    assert [n.name for n in reduce.nodes] == ["relu", "conv", "bn"] and reduce.output_shape.dims == (3, 3, 4)
    assert cell_edge(op_spec("none"), state, 2).output_shape.dims == (3, 3, 4)


def test_every_vocabulary_family_has_a_rule_and_every_node_kind_a_torch_builder():
    assert {spec.family for spec in OPS.values()} <= set(OP_RULES)
    kinds = {
        v
        for v in vars(plan_nodes).values()
        if isinstance(v, type) and issubclass(v, plan_nodes.NodeOp) and v is not plan_nodes.NodeOp
    }
    assert kinds | {Graph} == set(TORCH_BUILDERS)


def test_every_node_kind_has_a_keras_builder():
    pytest.importorskip("keras")
    from unified_nas.models.keras_model import KERAS_BUILDERS

    assert set(KERAS_BUILDERS) == set(TORCH_BUILDERS)


def test_an_unknown_op_raises_instead_of_counting_zero():
    shuffle = OpSpec("shuffle_3x3", "shuffle", 3)
    with pytest.raises(UnknownOp, match="shuffle"):
        cell_edge(shuffle, Shape.map(8, 8, 4), 1)
    arch = ArchConfig(
        CellConfig(
            4,
            2,
            (1,),
            (((0, shuffle), (1, op_spec("zero"))),),
            ((0, op_spec("zero")),),
        ),
        TRAINING,
    )
    with pytest.raises(UnknownOp, match="shuffle"):
        count_flops(arch, (8, 8, 1), 3)
    with pytest.raises(UnknownOp, match="shuffle"):
        build_model(arch, (8, 8, 1), 3)
    with pytest.raises(UnknownOp, match="shuffle"):
        macro_layer(LayerConfig(shuffle, 4, "relu", False, "none", False), Shape.map(8, 8, 1), 0.0)


@dataclasses.dataclass(frozen=True)
class Mystery(plan_nodes.NodeOp):
    """A node kind nobody taught anything."""


def test_an_unknown_node_kind_raises_in_shape_cost_and_every_builder():
    shape = Shape.map(4, 4, 2)
    with pytest.raises(UnknownOp):
        Mystery().out_shape([shape])
    graph = Graph((shape,), (Node("mystery", Mystery(), (0,), shape),), 1)  # hand-made: no shape rule ran
    with pytest.raises(UnknownOp, match="FLOPs"):
        graph.flops()
    with pytest.raises(UnknownOp, match="parameter"):
        graph.params()
    with pytest.raises(UnknownOp, match="torch builder"):
        node_module(graph, [shape])


def test_an_unknown_node_kind_raises_in_the_keras_builder():
    keras = pytest.importorskip("keras")
    from unified_nas.models.keras_model import apply_graph

    shape = Shape.map(4, 4, 2)
    graph = Graph((shape,), (Node("mystery", Mystery(), (0,), shape),), 1)
    with pytest.raises(UnknownOp, match="Keras builder"):
        apply_graph(graph, [keras.Input(shape.dims)])


def test_shape_rules_refuse_what_does_not_fit():
    with pytest.raises(ValueError, match="cannot change channels"):
        op_graph(op_spec("max_pool_3x3"), Shape.map(4, 4, 2), 3)
    with pytest.raises(ValueError, match="cannot change channels"):
        op_graph(op_spec("identity"), Shape.map(4, 4, 2), 3, stride=1)
    with pytest.raises(ValueError, match="needs a vector"):
        op_graph(op_spec("linear"), Shape.map(4, 4, 2), 3)
    with pytest.raises(ValueError, match="image data"):
        compile_plan(parse_space({"depth": 1, "layer": {"op": "conv", "kernel": 3, "width": 4}}).resolve({}), (30,), 2)
    with pytest.raises(ValueError, match="one shape"):
        plan_nodes.Add().out_shape([Shape.map(4, 4, 2), Shape.map(2, 2, 2)])
    with pytest.raises(ValueError, match="does not fit"):
        plan_nodes.Conv2d(1, 1, 5).out_shape([Shape.map(3, 3, 1)])


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.stem)
def test_plan_flops_and_params_equal_the_torch_build(path):
    """50 random samples of every recipe: the plan's counts equal what torch measures on its build."""
    recipe = load_recipe(path)
    data = load_dataset(recipe.data)
    for seed in range(50):
        arch = recipe.space.resolve(random_sample(recipe.space.decls(), seed))
        plan = compile_plan(arch, data.input_shape, data.num_classes)
        model = build_model(arch, data.input_shape, data.num_classes)
        assert (plan.flops, plan.params) == (measure_flops(model, data.input_shape), count_params(model)), seed
        assert count_flops(arch, data.input_shape, data.num_classes) == plan.flops
        assert count_plan_params(arch, data.input_shape, data.num_classes) == plan.params


def test_the_plan_imports_no_framework():
    code = (
        "import sys, unified_nas.network, unified_nas.network.flops;"
        "print(','.join(m for m in ('torch', 'keras', 'tensorflow', 'nni') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    assert out.splitlines()[-1] == ""


@pytest.mark.parametrize("name", ["digits_cell.yaml", "digits_cnn.yaml", "digits_mlp.yaml", "digits_nb201.yaml"])
def test_nni_models_are_the_plan_built_by_torch(name):
    """NNI's blocks and candidate ops are the plan's: same weights in, same outputs out (training and inference).

    Several models frozen from one space in turn, each trained one step, as
    in-process trials are: none may inherit another's weights or statistics.
    """
    pytest.importorskip("nni")
    import numpy as np

    from unified_nas.backends.nni.space import UnasModelSpace, make_spec, to_canonical
    from unified_nas.models.torch_model import init_weights, to_tensor

    recipe = load_recipe(ROOT / "recipes" / name)
    data = load_dataset(recipe.data)
    space = UnasModelSpace(make_spec(recipe.space, data.input_shape, data.num_classes))
    x = to_tensor(data.x_val[:8])
    for seed in range(4):
        nni_sample: dict = {}
        space.random(memo=nni_sample, random_state=np.random.RandomState(seed))
        canon = to_canonical(recipe.space, nni_sample)
        canon.update(
            {
                k: v
                for k, v in random_sample(recipe.space.decls(), seed).items()
                if k in ("lr", "optimizer", "batch_size", "weight_decay")
            }
        )
        arch = recipe.space.resolve(canon)
        models = [space.freeze(nni_sample), build_model(arch, data.input_shape, data.num_classes)]
        outs = []
        for model in models:
            torch.manual_seed(seed)
            init_weights(model)
            model.train()
            torch.manual_seed(100 + seed)
            y = model(x)
            y.sum().backward()
            with torch.no_grad():
                for p in model.parameters():
                    if p.grad is not None:  # an unread cell input's preprocessing gets no gradient
                        p -= 0.1 * p.grad
            outs.append((y.detach(), model.eval()(x).detach()))
        (train_a, eval_a), (train_b, eval_b) = outs
        torch.testing.assert_close(train_a, train_b)
        # After a step: NNI's Cell accumulates gradients in another order (float rounding, ~1e-5).
        torch.testing.assert_close(eval_a, eval_b, rtol=1e-4, atol=1e-4)
