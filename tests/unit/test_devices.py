"""--device: resolved once per run, recorded, and CUDA refused before any work where there is none."""

from __future__ import annotations

import pytest
import torch

from tests.conftest import ROOT, run_on, tiny_recipe, unas
from unified_nas.core.errors import RecipeError, UserError
from unified_nas.evaluation.devices import current_device, lightning_accelerator, resolve_device
from unified_nas.recipe import parse_recipe

NO_CUDA = not torch.cuda.is_available()


def test_cpu_and_auto_resolve_to_the_cpu_here():
    assert resolve_device(None).torch == "cpu" and resolve_device("cpu").describe()["used"] == "cpu"
    if NO_CUDA:
        assert resolve_device("auto").torch == "cpu"


@pytest.mark.skipif(not NO_CUDA, reason="this machine has CUDA: the refusal cannot be observed")
@pytest.mark.parametrize("spec", ["cuda", "cuda:0", "cuda:3"])
def test_cuda_is_refused_where_there_is_none(spec):
    with pytest.raises(UserError, match=rf"^--device {spec}: "):
        resolve_device(spec)


@pytest.mark.parametrize("spec", ["gpu", "cuda:", "cuda:x", "CPU", "", 3])
def test_malformed_specs_are_refused(spec):
    with pytest.raises(UserError, match="is not one of auto, cpu, cuda or cuda:N"):
        resolve_device(spec)  # type: ignore[arg-type]


def test_recipe_device_field_is_checked():
    raw = {"name": "t", "data": {"name": "digits"}, "space": {"layer": {"op": "linear", "width": 4}}}
    assert parse_recipe({**raw, "device": "auto"}).device == "auto"
    with pytest.raises(RecipeError, match="^device: 'tpu' is not one of"):
        parse_recipe({**raw, "device": "tpu"})


@pytest.mark.skipif(not NO_CUDA, reason="this machine has CUDA")
def test_run_on_cuda_without_cuda_fails_with_one_line_and_writes_nothing(tmp_path):
    store, runs = tmp_path / "s.sqlite", tmp_path / "runs"
    recipe = ROOT / "recipes" / "digits_mlp.yaml"
    proc = unas(
        "run", recipe, "--backend", "optuna", "--device", "cuda", "--store", store, "--runs-dir", runs, cwd=tmp_path
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("unas: error: --device cuda: ") and proc.stderr.count("\n") == 1
    assert not store.exists() and not runs.exists()


def test_a_run_records_its_device_and_trains_there(store, tmp_path, monkeypatch):
    monkeypatch.delenv("UNAS_DEVICE", raising=False)
    report = run_on("reference", tiny_recipe({"layer": {"op": "linear", "width": [4, 8]}}), store, tmp_path, trials=2)
    assert report.environment["device"] == {"requested": "cpu", "used": "cpu", "name": "cpu"}
    assert current_device() == "cpu" and lightning_accelerator() == {"accelerator": "cpu", "devices": 1}
    assert report.budget_spent["complete"] == 2
