"""Zero-cost proxies on the torch twin: definitions, determinism, isolation, baselines."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
import torch
from torch import nn

from tests.conftest import ROOT
from unified_nas.evaluation.proxies import PROXIES, compute_proxies, minibatch, score_model
from unified_nas.models.torch_model import build_model, count_params
from unified_nas.network.flops import count_flops
from unified_nas.recipe import load_recipe
from unified_nas.space import random_sample, start_sample
from unified_nas.space.parse import parse_space
from unified_nas.tables.recipes import load_recipe_data

NAMES = ("synflow", "snip", "grad_norm", "jacov", "naswot")


@pytest.fixture(scope="module")
def mlp():
    recipe = load_recipe(ROOT / "recipes" / "digits_mlp.yaml")
    return recipe.space, load_recipe_data(recipe)


@pytest.fixture(scope="module")
def cnn():
    recipe = load_recipe(ROOT / "recipes" / "digits_cnn.yaml")
    return recipe.space, load_recipe_data(recipe)


def _samples(space, n=3):
    return [start_sample(space.decls())] + [random_sample(space.decls(), s) for s in range(n)]


def test_registry_has_the_required_proxies_with_citations():
    assert set(NAMES) <= set(PROXIES)
    for spec in PROXIES.values():
        assert spec.direction == "maximize" and spec.citation and spec.description


def test_cnn_proxies_are_finite_and_baselines_present(cnn):
    space, data = cnn
    for sample in _samples(space):
        v = compute_proxies(space, sample, data, seed=0)
        assert list(v) == [*PROXIES, "params", "flops"]
        assert all(math.isfinite(x) for x in v.values()), v
        assert v["synflow"] > 0 and v["snip"] > 0 and v["grad_norm"] > 0


def test_mlp_proxies_are_finite_except_a_singular_naswot_kernel(mlp):
    space, data = mlp
    for sample in _samples(space):
        v = compute_proxies(space, sample, data, seed=0)
        assert all(math.isfinite(v[k]) for k in v if k != "naswot"), v
        assert v["synflow"] > 0 and v["snip"] > 0 and v["grad_norm"] > 0
        assert math.isfinite(v["naswot"]) or v["naswot"] == -math.inf


def test_naswot_is_minus_inf_exactly_when_units_cannot_separate_the_batch(mlp):
    _, data = mlp
    wide = parse_space({"depth": 2, "layer": {"op": "linear", "width": 256, "activation": "relu"}})
    narrow = parse_space({"depth": 1, "layer": {"op": "linear", "width": 8, "activation": "relu"}})
    # 8 ReLUs give a kernel of rank <= 9 on 64 examples: singular, log det = -inf.
    assert compute_proxies(narrow, {}, data, 0, names=["naswot"])["naswot"] == -math.inf
    assert math.isfinite(compute_proxies(wide, {}, data, 0, names=["naswot"])["naswot"])


def test_same_inputs_give_identical_numbers(cnn, mlp):
    for space, data in (cnn, mlp):
        sample = random_sample(space.decls(), 5)
        assert compute_proxies(space, sample, data, 3) == compute_proxies(space, sample, data, 3)


def test_another_seed_gives_other_values(cnn):
    space, data = cnn
    sample = random_sample(space.decls(), 1)
    a, b = compute_proxies(space, sample, data, 1), compute_proxies(space, sample, data, 2)
    assert a["snip"] != b["snip"] and a["synflow"] != b["synflow"]  # other weights
    assert a["params"] == b["params"] and a["flops"] == b["flops"]


def test_global_rng_states_are_unchanged(cnn):
    space, data = cnn
    torch.manual_seed(123)
    np.random.seed(123)
    random.seed(123)
    before = torch.get_rng_state(), np.random.get_state(), random.getstate()
    compute_proxies(space, random_sample(space.decls(), 0), data, 9)
    after = torch.get_rng_state(), np.random.get_state(), random.getstate()
    assert torch.equal(before[0], after[0])
    assert before[1][0] == after[1][0] and np.array_equal(before[1][1], after[1][1]) and before[1][2:] == after[1][2:]
    assert before[2] == after[2]


def test_params_and_flops_are_the_built_models(cnn, mlp):
    for space, data in (cnn, mlp):
        for sample in _samples(space, 2):
            arch = space.resolve(sample)
            v = compute_proxies(space, sample, data, 0, names=[])
            assert v == {
                "params": count_params(build_model(arch, data.input_shape, data.num_classes)),
                "flops": count_flops(arch, data.input_shape, data.num_classes),
            }


def test_synflow_grows_with_width_at_the_same_depth(mlp):
    _, data = mlp
    for depth in (1, 3):
        values = [
            compute_proxies(
                parse_space({"depth": depth, "layer": {"op": "linear", "width": w, "activation": "relu"}}),
                {},
                data,
                0,
                names=["synflow"],
            )["synflow"]
            for w in (16, 64, 256)
        ]
        assert values[0] < values[1] < values[2], values


def test_synflow_ignores_the_data_but_snip_does_not(cnn):
    space, data = cnn
    arch = space.resolve(random_sample(space.decls(), 2))
    torch.manual_seed(0)
    model = build_model(arch, data.input_shape, data.num_classes)
    a = score_model(model, *minibatch(data, 1), names=["synflow", "snip"])
    b = score_model(model, *minibatch(data, 2), names=["synflow", "snip"])
    assert a["synflow"] == b["synflow"]
    assert a["snip"] != b["snip"]  # the two minibatches really differ


def test_synflow_removes_batchnorm(cnn):
    space, data = cnn
    torch.manual_seed(0)
    model = build_model(space.resolve(start_sample(space.decls())), data.input_shape, data.num_classes)
    x, y = minibatch(data, 0)
    before = score_model(model, x, y, ["synflow", "snip"])
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns
    with torch.no_grad():
        for bn in bns:
            bn.weight.fill_(3.0)
            bn.running_var.fill_(50.0)
    after = score_model(model, x, y, ["synflow", "snip"])
    assert after["synflow"] == before["synflow"]
    assert after["snip"] != before["snip"]  # BatchNorm's scale does reach the other proxies


def test_minibatch_is_seeded_and_from_the_training_split(mlp):
    _, data = mlp
    x1, y1 = minibatch(data, 4, 32)
    x2, y2 = minibatch(data, 4, 32)
    x3, _ = minibatch(data, 5, 32)
    assert torch.equal(x1, x2) and torch.equal(y1, y2) and not torch.equal(x1, x3)
    assert x1.shape == (32, 1, 8, 8) and y1.dtype == torch.int64
    train = {row.tobytes() for row in data.x_train.reshape(len(data.x_train), -1)}
    assert all(row.tobytes() in train for row in x1.numpy().reshape(32, -1))
    with pytest.raises(ValueError):
        minibatch(data, 0, 1)


def test_proxies_do_not_modify_the_model_or_each_other(cnn):
    space, data = cnn
    torch.manual_seed(0)
    model = build_model(space.resolve(random_sample(space.decls(), 0)), data.input_shape, data.num_classes)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    x, y = minibatch(data, 0)
    together = score_model(model, x, y)  # synflow first: abs weights, double, no BatchNorm
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    for name in NAMES:
        assert score_model(model, x, y, [name])[name] == together[name]


def test_unknown_proxy_name_raises(mlp):
    space, data = mlp
    with pytest.raises(ValueError, match="unknown proxies nope"):
        compute_proxies(space, {}, data, 0, names=["nope"])


# ---- definitions checked against hand computations on tiny networks ----


def _tiny(w1, w2):
    net = nn.Sequential(nn.Linear(2, 3, bias=False), nn.ReLU(), nn.Linear(3, 2, bias=False))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor(w1, dtype=torch.float32))
        net[2].weight.copy_(torch.tensor(w2, dtype=torch.float32))
    return net


def test_naswot_equals_the_hand_computed_hamming_kernel():
    net = _tiny([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], [[1.0, 1.0, 1.0], [1.0, -1.0, 0.5]])
    x = torch.tensor([[1.0, -1.0], [-1.0, 1.0], [1.0, 1.0]])
    # Pre-activations [1,-1,0], [-1,1,0], [1,1,2] -> codes 100, 010, 111 (0 is not > 0).
    # Agreeing units: 100/010 -> 1, 100/111 -> 1, 010/111 -> 1; diagonal 3.
    # det [[3,1,1],[1,3,1],[1,1,3]] = 20.
    value = PROXIES["naswot"].fn(net, x, torch.zeros(3, dtype=torch.int64))
    assert value == pytest.approx(math.log(20.0), rel=1e-12)


def test_jacov_equals_the_hand_computation_for_a_linear_network():
    # Without a nonlinearity every example has the same Jacobian W^T 1: the
    # correlation matrix is all ones, eigenvalues n and 0 (n - 1 times).
    net = nn.Linear(4, 3)
    with torch.no_grad():
        net.weight.copy_(torch.tensor([[1.0, 2.0, 0.0, -1.0], [0.5, 0.0, 1.0, 3.0], [2.0, -1.0, 1.0, 0.0]]))
    n, k = 5, 1e-5
    x = torch.randn(n, 4, generator=torch.Generator().manual_seed(0))
    expected = -(math.log(n + k) + 1 / (n + k) + (n - 1) * (math.log(k) + 1 / k))
    value = PROXIES["jacov"].fn(net, x, torch.zeros(n, dtype=torch.int64))
    assert value == pytest.approx(expected, rel=1e-9)


def test_synflow_equals_depth_times_r_for_a_positive_linear_network():
    # R(theta) = 1^T |W2| relu(|W1| 1) is homogeneous of degree 1 in each
    # layer, so each layer's sum of theta * dR/dtheta is R: synflow = 2 R.
    w1, w2 = [[1.0, -2.0], [0.5, 0.0], [-1.0, 1.0]], [[1.0, 2.0, -1.0], [0.0, 3.0, 1.0]]
    r = float(torch.tensor(w2).abs().sum(0) @ torch.tensor(w1).abs().sum(1))
    value = PROXIES["synflow"].fn(_tiny(w1, w2), torch.full((4, 2), -7.0), torch.zeros(4, dtype=torch.int64))
    assert value == pytest.approx(2 * r, rel=1e-12)


def test_snip_and_grad_norm_follow_their_definitions():
    net = _tiny([[1.0, -2.0], [0.5, 0.3], [-1.0, 1.0]], [[1.0, 2.0, -1.0], [0.2, 3.0, 1.0]])
    x = torch.tensor([[1.0, 2.0], [-0.5, 1.0], [2.0, -1.0]])
    y = torch.tensor([0, 1, 1])
    weights = [net[0].weight, net[2].weight]
    grads = torch.autograd.grad(nn.functional.cross_entropy(net(x), y), weights)
    snip = sum(float((w.detach() * g).abs().sum()) for w, g in zip(weights, grads, strict=True))
    norm = sum(float(g.norm()) for g in grads)
    assert PROXIES["snip"].fn(net, x, y) == pytest.approx(snip, rel=1e-6)
    assert PROXIES["grad_norm"].fn(net, x, y) == pytest.approx(norm, rel=1e-6)
    assert snip > 0 and norm > 0
