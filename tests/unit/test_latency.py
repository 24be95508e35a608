"""Latency: measured (torch eager and ONNX Runtime, conditions recorded) and predicted by the per-op table."""

from __future__ import annotations

import json
import sys

import pytest
import torch
from torch import nn

from tests.conftest import ROOT
from unified_nas.core.errors import UserError
from unified_nas.evaluation import latency
from unified_nas.evaluation.latency import Latency, OpLatencyTable, measure_latency, op_key, sample_latency
from unified_nas.network.nodes import Conv2d, Shape
from unified_nas.recipe import load_recipe

SHAPE, CLASSES = (8, 8, 1), 10
SMALL = {"depth": 1, "layer0/kernel": 3, "layer0/width": 8, "layer0/pool": "none", "layer0/skip": False}
BIG = {"depth": 3} | {
    f"layer{i}/{k}": v for i in range(3) for k, v in (("kernel", 7), ("width", 32), ("pool", "none"), ("skip", True))
}


@pytest.fixture(scope="module")
def space():
    return load_recipe(ROOT / "recipes" / "digits_cnn.yaml").space


def _mlp(width: int) -> nn.Module:
    return nn.Sequential(nn.Linear(64, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(), nn.Linear(width, 10))


def _fast_table(**kw) -> OpLatencyTable:
    return OpLatencyTable(warmup=1, repeats=5, **kw)


def test_latency_records_its_conditions():
    lat = measure_latency(_mlp(8), (64,), batch_size=4, warmup=1, repeats=7)
    assert isinstance(lat, Latency)
    assert (lat.batch_size, lat.threads, lat.runtime, lat.repeats, lat.warmup) == (
        4,
        torch.get_num_threads(),
        "torch",
        7,
        1,
    )
    assert lat.median_ms > 0 and lat.iqr_ms >= 0


def test_bigger_network_measures_slower():
    # ~8M multiply-adds against ~600: three orders of magnitude, far beyond timing noise.
    small = measure_latency(_mlp(8), (64,), warmup=2, repeats=15).median_ms
    big = measure_latency(_mlp(2048), (64,), warmup=2, repeats=15).median_ms
    assert big > 3 * small


def test_bad_runtime_and_counts_are_user_errors(space):
    with pytest.raises(UserError, match="runtime"):
        measure_latency(_mlp(8), (64,), runtime="tensorrt")
    with pytest.raises(UserError, match="runtime"):
        sample_latency(space, SMALL, SHAPE, CLASSES, runtime="eager")
    with pytest.raises(UserError, match="runtime"):
        OpLatencyTable(runtime="tflite")
    with pytest.raises(UserError, match="repeats"):
        measure_latency(_mlp(8), (64,), repeats=0)


def test_sample_latency_leaves_global_rng_alone(space):
    state = torch.get_rng_state()
    lat = sample_latency(space, SMALL, SHAPE, CLASSES, warmup=1, repeats=3)
    assert torch.equal(state, torch.get_rng_state())
    assert lat.runtime == "torch" and lat.batch_size == 1


def test_onnxruntime_path(space):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    lat = sample_latency(space, SMALL, SHAPE, CLASSES, runtime="onnxruntime", batch_size=2, warmup=1, repeats=5)
    assert (lat.runtime, lat.batch_size, lat.threads) == ("onnxruntime", 2, torch.get_num_threads())
    assert lat.median_ms > 0


def test_missing_onnxruntime_gives_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # makes `import onnxruntime` raise ImportError
    with pytest.raises(UserError, match=r"pip install 'unified-nas\[onnx\]'"):
        measure_latency(_mlp(8), (64,), runtime="onnxruntime")


def test_op_key_names_kind_attributes_and_shapes():
    key = op_key(Conv2d(8, 16, 3, padding=1), [Shape.map(8, 8, 8)])
    assert key.startswith("Conv2d(c_in=8, c_out=16, kernel=3") and key.endswith("@ 8x8x8")


def test_prediction_reuses_entries_and_builds_nothing(space, monkeypatch, tmp_path):
    table = _fast_table()
    arch = space.resolve(SMALL)
    first = table.predict_ms(arch, SHAPE, CLASSES)
    assert first > 0 and table.measured > 0
    measured = table.measured
    # A filled table neither measures nor builds a module, let alone the network.
    # Patched where the table's code looks them up (evaluation/latency/table.py).
    monkeypatch.setattr(latency.table, "node_module", lambda *a: pytest.fail("built a module"))
    monkeypatch.setattr(latency.table, "build_model", lambda *a: pytest.fail("built the network"))
    assert table.predict_ms(arch, SHAPE, CLASSES) == first
    assert table.measured == measured

    path = tmp_path / "table.json"
    table.save(path)
    loaded = OpLatencyTable.load(path)
    assert loaded.predict_ms(arch, SHAPE, CLASSES) == first
    assert loaded.measured == 0 and loaded.entries == table.entries
    saved = json.loads(path.read_text())
    assert saved["threads"] == torch.get_num_threads() and saved["batch_size"] == 1 and saved["runtime"] == "torch"
    assert saved["info"]["torch"] == torch.__version__ and "machine" in saved["info"]


def test_prediction_ranks_a_much_bigger_network_higher(space):
    table = _fast_table()
    small = table.predict_ms(space.resolve(SMALL), SHAPE, CLASSES)
    big = table.predict_ms(space.resolve(BIG), SHAPE, CLASSES)
    assert big > 1.5 * small  # measured here: ~4x


def test_table_refuses_to_measure_under_other_threads(space):
    table = _fast_table(threads=torch.get_num_threads() + 1)
    with pytest.raises(UserError, match="thread"):
        table.predict_ms(space.resolve(SMALL), SHAPE, CLASSES)


def test_calibration_fits_and_is_stored(space, tmp_path):
    table = _fast_table()
    with pytest.raises(UserError, match="two or more"):
        table.calibrate([space.resolve(SMALL)], SHAPE, CLASSES)
    table.calibrate([space.resolve(SMALL), space.resolve(BIG)], SHAPE, CLASSES)
    assert {"<scale>", "<offset>"} <= table.entries.keys()
    # The fitted correction travels with the table.
    path = tmp_path / "t.json"
    table.save(path)
    assert OpLatencyTable.load(path).predict_ms(space.resolve(BIG), SHAPE, CLASSES) == table.predict_ms(
        space.resolve(BIG), SHAPE, CLASSES
    )


def test_onnxruntime_table_predicts(space):
    pytest.importorskip("onnxruntime")
    table = _fast_table(runtime="onnxruntime")
    assert table.predict_ms(space.resolve(SMALL), SHAPE, CLASSES) > 0


@pytest.mark.parametrize(
    "text", ["not json", json.dumps({"format": 99}), json.dumps({"format": 1, "runtime": "torch"})]
)
def test_load_rejects_bad_files(tmp_path, text):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(UserError, match="latency table"):
        OpLatencyTable.load(path)
