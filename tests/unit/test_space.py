"""The IR: distributions, conditions, validation, sampling, counting, round trip."""

from __future__ import annotations

import math

import pytest

from tests.conftest import RECIPES
from unified_nas.core.errors import SampleError
from unified_nas.recipe import load_recipe
from unified_nas.space import (
    Categorical,
    FloatRange,
    IntRange,
    active_labels,
    canonicalize,
    enumerate_samples,
    random_sample,
    space_size,
    validate_sample,
)
from unified_nas.space.parse import parse_space, space_from_dict, space_to_dict


def test_int_bounds_are_inclusive_and_step_is_a_grid():
    r = IntRange(4, 16, step=4)
    assert r.values() == [4, 8, 12, 16]
    assert r.check(16) is None and r.check(6) is not None and r.check(20) is not None


def test_bool_is_not_an_int_in_choices():
    assert Categorical((0, 1)).check(True) is not None
    assert Categorical((False, True)).check(0) is not None
    assert Categorical((1, 2)).check(1.0) is None  # numeric equality is fine


def test_log_and_step_are_rejected_together():
    with pytest.raises(ValueError, match="log and step"):
        IntRange(1, 64, step=2, log=True)


def test_draws_stay_in_range():
    import random

    rng = random.Random(0)
    for dist in (IntRange(1, 7, log=True), IntRange(3, 9, step=3), FloatRange(1e-4, 1e-1, log=True)):
        for _ in range(300):
            assert dist.check(dist.draw(rng)) is None


MACRO = {
    "depth": {"low": 1, "high": 3},
    "layer": {"op": ["conv", "max_pool"], "kernel": [3, 5], "width": [8, 16], "skip": [False, True]},
}


def _macro():
    return parse_space(MACRO)


def test_depth_makes_later_layers_inactive():
    decls = _macro().decls()
    s = {"depth": 1, "layer0/op": "max_pool", "layer0/skip": True}
    assert active_labels(decls, s) == ["depth", "layer0/op", "layer0/skip"]
    validate_sample(decls, s)


def test_op_choice_makes_width_and_kernel_conditional():
    decls = _macro().decls()
    s = {"depth": 1, "layer0/op": "conv", "layer0/kernel": 5, "layer0/width": 8, "layer0/skip": False}
    validate_sample(decls, s)
    assert "layer0/width" not in active_labels(decls, {**s, "layer0/op": "max_pool"})


@pytest.mark.parametrize(
    "bad, message",
    [
        (
            {"depth": 1, "layer0/op": "conv", "layer0/kernel": 5, "layer0/width": 8, "layer0/skip": False, "foo": 1},
            "unknown label",
        ),
        (
            {"depth": 1, "layer0/op": "conv", "layer0/kernel": 7, "layer0/width": 8, "layer0/skip": False},
            "layer0/kernel: 7 is not one of 3, 5",
        ),
        (
            {"depth": 2, "layer0/op": "conv", "layer0/kernel": 5, "layer0/width": 8, "layer0/skip": False},
            "layer1/op: missing",
        ),
        ({"depth": 1, "layer0/op": "max_pool", "layer0/width": 8, "layer0/skip": False}, "layer0/width: inactive"),
        ({"depth": 4, "layer0/op": "max_pool", "layer0/skip": False}, "depth: 4 is outside 1..3"),
    ],
)
def test_validation_names_the_label(bad, message):
    with pytest.raises(SampleError, match=message.replace("(", r"\(").replace(".", r"\.")):
        validate_sample(_macro().decls(), bad)


def test_random_samples_are_valid_and_seeded():
    decls = _macro().decls()
    for seed in range(50):
        validate_sample(decls, random_sample(decls, seed))
    assert random_sample(decls, 3) == random_sample(decls, 3)
    assert len({str(random_sample(decls, s)) for s in range(20)}) > 5


def test_size_matches_enumeration():
    decls = _macro().decls()
    samples = list(enumerate_samples(decls))
    assert len(samples) == space_size(decls)
    assert len({str(sorted(s.items())) for s in samples}) == len(samples)
    for s in samples[::37]:
        validate_sample(decls, s)


def test_size_of_continuous_space_is_infinite():
    space = parse_space({"layer": {"op": "linear", "width": 8}}, {"lr": {"low": 1e-4, "high": 1e-1, "log": True}})
    assert math.isinf(space_size(space.decls()))


def test_canonicalize_drops_inactive_labels():
    decls = _macro().decls()
    full = {
        "depth": 1,
        "layer0/op": "max_pool",
        "layer0/kernel": 3,
        "layer0/width": 8,
        "layer0/skip": False,
        "layer1/op": "conv",
    }
    assert canonicalize(decls, full) == {"depth": 1, "layer0/op": "max_pool", "layer0/skip": False}


def test_cell_space_labels_and_inputs():
    space = parse_space({"type": "cell", "nodes": 3, "cells": 3, "ops": ["skip_connect", "sep_conv_3x3"]})
    decls = space.decls()
    labels = [d.label for d in decls]
    assert "normal/input_4_1" in labels and "reduce/op_2_0" in labels and len(labels) == 2 * 3 * 2 * 2
    node2_in = next(d for d in decls if d.label == "normal/input_4_0")
    assert node2_in.dist.choices == (0, 1, 2, 3)  # two cell inputs + nodes 0 and 1


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.stem)
def test_recipe_spaces_round_trip(path):
    space = load_recipe(path).space
    again = space_from_dict(space_to_dict(space))
    assert again == space
    assert [d.to_dict() for d in again.decls()] == [d.to_dict() for d in space.decls()]


def test_round_trip_through_yaml_text():
    import yaml

    space = _macro()
    assert space_from_dict(yaml.safe_load(yaml.safe_dump(space_to_dict(space)))) == space


def test_resolve_ignores_inactive_conditional_fields():
    # A pool layer has no kernel or width: they are absent from the sample and must not be read.
    space = parse_space(MACRO)
    arch = space.resolve({"depth": 1, "layer0/op": "max_pool", "layer0/skip": False})
    assert arch.network.layers[0].op.name == "max_pool_3x3" and arch.network.layers[0].width is None
