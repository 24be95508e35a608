"""Start points: a recipe's ``default:`` per parameter, and the neutral value when it declares none."""

from __future__ import annotations

import math

import pytest

from unified_nas.core.errors import RecipeError
from unified_nas.space import Categorical, FloatRange, IntRange, start_sample, start_values
from unified_nas.space.params import distribution_from_dict
from unified_nas.space.parse import parse_space, space_from_dict, space_to_dict
from unified_nas.testing.conformance import conformance_raw, recipe_from_raw


@pytest.mark.parametrize(
    ("dist", "start"),
    [
        (FloatRange(1e-4, 1e-1, log=True), math.sqrt(1e-4 * 1e-1)),  # geometric middle of a log range
        (FloatRange(0.0, 0.5), 0.25),
        (IntRange(1, 4), 2),  # lower middle of 1, 2, 3, 4
        (IntRange(1, 5), 3),
        (IntRange(8, 64, step=8), 32),  # on the grid 8, 16, ..., 64 (8 values: the lower middle)
        (IntRange(1, 100, log=True), 10),
        (Categorical((32, 64, 128, 256)), 64),  # numbers: the middle in sorted order
        (Categorical((256, 32, 128)), 128),
        (Categorical((3, 5, 7)), 5),
        (Categorical(("relu", "gelu", "silu")), "relu"),  # no order: the first listed
        (Categorical((False, True)), False),
    ],
)
def test_neutral_start_of_each_distribution(dist, start):
    assert dist.start() == pytest.approx(start) if isinstance(start, float) else dist.start() == start
    assert dist.check(dist.start()) is None


def test_a_declared_default_wins_and_must_belong_to_the_distribution():
    assert FloatRange(1e-4, 1e-1, log=True, default=1e-3).start() == 1e-3
    assert Categorical(("relu", "gelu"), default="gelu").start() == "gelu"
    assert IntRange(1, 4, default=4).start() == 4
    with pytest.raises(ValueError, match="default 0.5 is outside"):
        FloatRange(0.0, 0.1, default=0.5)
    with pytest.raises(ValueError, match="default 3 is not on the grid"):
        IntRange(2, 8, step=2, default=3)
    with pytest.raises(ValueError, match="default 'tanh' is not one of"):
        Categorical(("relu", "gelu"), default="tanh")


@pytest.mark.parametrize(
    "dist", [FloatRange(0.0, 1.0, default=0.3), IntRange(1, 9, 2, default=5), Categorical((1, 2), 2)]
)
def test_defaults_survive_the_dict_round_trip(dist):
    assert distribution_from_dict(dist.to_dict()) == dist
    assert "default" not in type(dist)(**{**dist.__dict__, "default": None}).to_dict()  # absent when not declared


def _space(training: dict, space: dict | None = None):
    raw = conformance_raw("mlp")
    return parse_space(space or raw["space"], {**raw["training"], **training})


def test_recipe_default_keys_are_parsed_for_ranges_and_choices():
    space = _space(
        {
            "lr": {"low": 1.0e-4, "high": 1.0e-1, "log": True, "default": "1e-3"},  # YAML reads 1e-3 as text
            "optimizer": {"choices": ["sgd", "adam"], "default": "adam"},
            "batch_size": {"low": 16, "high": 128, "step": 16, "default": 64},
        }
    )
    start = start_sample(space.decls())
    assert (start["lr"], start["optimizer"], start["batch_size"]) == (1e-3, "adam", 64)
    assert space_from_dict(space_to_dict(space)) == space  # defaults are kept by the YAML round trip


@pytest.mark.parametrize(
    ("training", "path", "why"),
    [
        ({"lr": {"low": 0.001, "high": 0.01, "default": 0.5}}, "training.lr.default", "outside"),
        ({"lr": {"choices": [0.001], "default": 0.001}}, "training.lr.default", "fixed value has no default"),
        ({"optimizer": {"choices": ["sgd", "adam"], "default": "rmsprop"}}, "training.optimizer.default", "not one of"),
        ({"batch_size": {"low": 16, "high": 64, "default": 3.5}}, "training.batch_size.default", "not an integer"),
        ({"dropout": {"low": 0.0, "high": 0.5, "default": True}}, "training.dropout.default", "not a number"),
    ],
)
def test_a_bad_default_is_refused_naming_its_path(training, path, why):
    with pytest.raises(RecipeError, match=why) as e:
        _space(training)
    assert e.value.path == path


def test_cell_ops_take_a_default_for_every_edge():
    space = parse_space(
        {"type": "dense_cell", "ops": {"choices": ["none", "conv_3x3", "skip_connect"], "default": "conv_3x3"}}
    )
    start = start_sample(space.decls())
    assert set(start.values()) == {"conv_3x3"} and len(start) == 6
    assert space_from_dict(space_to_dict(space)) == space
    with pytest.raises(RecipeError, match="is not one of") as e:
        parse_space({"type": "dense_cell", "ops": {"choices": ["none", "conv_3x3"], "default": "conv_1x1"}})
    assert e.value.path == "space.ops.default"


def test_a_cell_edge_starts_at_the_first_op_with_weights_and_reads_the_previous_cell():
    nb201 = parse_space({"type": "dense_cell"})  # NAS-Bench-201 lists none first: not a start
    assert set(start_sample(nb201.decls()).values()) == {"conv_1x1"}
    only_free = parse_space({"type": "dense_cell", "ops": ["none", "skip_connect", "avg_pool_3x3"]})
    assert set(start_sample(only_free.decls()).values()) == {"none"}  # no weighted op: the first listed
    cell = parse_space({"type": "cell", "ops": ["none", "max_pool_3x3", "sep_conv_3x3"], "nodes": 2})
    start = start_sample(cell.decls())
    assert {v for k, v in start.items() if "/op_" in k} == {"sep_conv_3x3"}
    assert {v for k, v in start.items() if "/input_" in k} == {1}


def test_the_start_point_is_canonical_and_start_values_cover_inactive_labels():
    recipe = recipe_from_raw(conformance_raw("mlp"))
    decls = recipe.space.decls()
    values, start = start_values(decls), start_sample(decls)
    assert set(values) == {d.label for d in decls}
    assert set(start) <= set(values) and all(start[k] == values[k] for k in start)
