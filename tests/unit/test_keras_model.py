"""The Keras materializer builds the same networks as the torch one."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("keras")
torch = pytest.importorskip("torch")

import keras  # noqa: E402

from tests.conftest import RECIPES, ROOT  # noqa: E402
from unified_nas.data import load_dataset  # noqa: E402
from unified_nas.models import torch_model  # noqa: E402
from unified_nas.models.keras_model import build_keras_model, core_op, count_trainable  # noqa: E402
from unified_nas.recipe import load_recipe  # noqa: E402
from unified_nas.space import random_sample  # noqa: E402
from unified_nas.space.ops import CELL_OPS, op_spec  # noqa: E402

# Runs in a fresh process on Keras's torch backend, where torch's FlopCounterMode
# can count what the Keras model really computes.
PARITY_SCRIPT = """
import json, os, sys
os.environ["KERAS_BACKEND"] = "torch"
import numpy as np, torch, keras
from torch.utils.flop_counter import FlopCounterMode
from unified_nas.data import load_dataset
from unified_nas.network.flops import count_flops
from unified_nas.models.keras_model import build_keras_model, count_trainable
from unified_nas.recipe import load_recipe
from unified_nas.space import random_sample
from unified_nas.models.torch_model import build_model, count_params
bad = []
for path in sys.argv[2:]:
    recipe = load_recipe(path); data = load_dataset(recipe.data)
    for seed in range(int(sys.argv[1])):
        sample = random_sample(recipe.space.decls(), seed); arch = recipe.space.resolve(sample)
        km = build_keras_model(arch, data.input_shape, data.num_classes)
        tm = build_model(arch, data.input_shape, data.num_classes)
        with FlopCounterMode(display=False) as fc, torch.no_grad():
            out = km(np.zeros((1, *data.input_shape), np.float32), training=False)
        got = (count_trainable(km), int(fc.get_total_flops()), tuple(out.shape))
        want = (count_params(tm), count_flops(arch, data.input_shape, data.num_classes), (1, data.num_classes))
        if got != want:
            bad.append([path, seed, sample, got, want])
        keras.backend.clear_session()
print(json.dumps({"bad": bad, "tensorflow_loaded": "tensorflow" in sys.modules}))
"""


def test_keras_models_equal_torch_models_in_params_and_flops():
    """50 samples of every recipe: equal trainable params, and the Keras model's measured FLOPs equal the count."""
    out = subprocess.run(
        [sys.executable, "-c", PARITY_SCRIPT, "50", *map(str, RECIPES)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
        timeout=900,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["bad"] == [], result["bad"][:3]
    assert result["tensorflow_loaded"] is False


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.stem)
def test_keras_param_counts_on_the_tensorflow_backend(path):
    """The default Keras backend builds the same parameter counts (fewer samples: the subprocess test covers 50)."""
    recipe, data = load_recipe(path), load_dataset(load_recipe(path).data)
    for seed in range(8):
        arch = recipe.space.resolve(random_sample(recipe.space.decls(), seed))
        km = build_keras_model(arch, data.input_shape, data.num_classes)
        assert count_trainable(km) == torch_model.count_params(
            torch_model.build_model(arch, data.input_shape, data.num_classes)
        ), seed
        keras.backend.clear_session()


def _copy_weights(tmod: torch.nn.Module, kmodel: keras.Model) -> None:
    """torch conv/BN parameters -> the Keras layers in the same order."""
    tl = [m for m in tmod.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.BatchNorm2d))]
    kl = [layer for layer in kmodel.layers if layer.weights]
    assert len(tl) == len(kl), (tl, kl)
    for t, k in zip(tl, kl):
        if isinstance(t, torch.nn.BatchNorm2d):
            k.set_weights([p.detach().numpy() for p in (t.weight, t.bias, t.running_mean, t.running_var)])
        elif t.groups > 1:  # depthwise (c, 1, kh, kw) -> (kh, kw, c, 1)
            k.set_weights([t.weight.detach().permute(2, 3, 0, 1).numpy()])
        else:
            k.set_weights(
                [t.weight.detach().permute(2, 3, 1, 0).numpy()]
                + ([t.bias.detach().numpy()] if t.bias is not None else [])
            )


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("size", [7, 8])
@pytest.mark.parametrize("name", [o for o in CELL_OPS if o not in ("skip_connect", "none")])
def test_each_op_computes_what_the_torch_op_computes(name, size, stride):
    """Same weights in, same numbers out: padding, stride, dilation and pooling conventions agree."""
    spec, c = op_spec(name), 3
    torch.manual_seed(0)
    tmod = torch_model.core_op(spec, c, c, stride, bias=True).eval()
    for m in tmod.modules():
        if isinstance(m, torch.nn.BatchNorm2d):  # non-trivial statistics
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
            m.weight.data.uniform_(0.5, 2)
            m.bias.data.uniform_(-1, 1)
    inp = keras.Input((size, size, c))
    out = core_op(spec, inp, c, c, stride, bias=True)
    if name == "identity" and stride == 1:
        assert out is inp
        return
    kmodel = keras.Model(inp, out)
    _copy_weights(tmod, kmodel)
    x = np.random.default_rng(0).standard_normal((2, size, size, c)).astype(np.float32)
    with torch.no_grad():
        want = tmod(torch.from_numpy(x).permute(0, 3, 1, 2)).permute(0, 2, 3, 1).numpy()
    got = np.asarray(kmodel(x, training=False))
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-4)


def test_cell_model_keeps_unread_cell_inputs_like_torch():
    """A cell input no edge reads still has its preprocessing (as in torch and DARTS)."""
    recipe = load_recipe(ROOT / "recipes" / "digits_cell.yaml")
    data = load_dataset(recipe.data)
    sample = random_sample(recipe.space.decls(), 0)
    for label in list(sample):
        if "/input_" in label:
            sample[label] = 0  # every edge reads input 0: input 1 is never read
    arch = recipe.space.resolve(sample)
    km = build_keras_model(arch, data.input_shape, data.num_classes)
    assert count_trainable(km) == torch_model.count_params(
        torch_model.build_model(arch, data.input_shape, data.num_classes)
    )
