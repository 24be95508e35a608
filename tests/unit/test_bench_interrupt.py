"""Ctrl-C right after a run finished keeps it ``complete``: ``--resume`` does not train it again (issue 20, case 9).

A real benchmark of the ``reference`` backend on each executor (local processes,
and a real Dask LocalCluster on 127.0.0.1). The executor is the real one, made to
deliver a real SIGINT to the benchmark at the one moment that matters: the run
has ended (its process exited, or its Dask task finished with its records) and
the benchmark has not collected it yet.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest

from unified_nas.benchmark.executors import LocalExecutor
from unified_nas.benchmark.orchestrate import run_bench
from unified_nas.benchmark.spec import BenchSpec
from unified_nas.recipe import load_recipe
from unified_nas.report.store import ResultsStore

RECIPE = """name: ctrl_c
data: {name: iris}
space:
  type: macro
  depth: 1
  layer: {op: linear, width: [4, 8], activation: relu}
training: {epochs: 1, batch_size: 32, lr: 0.01}
seed: 0
"""


class CtrlCOnceFinished(LocalExecutor):
    """Local processes; SIGINT to this process once a run's process has exited, before the benchmark collects it."""

    def done(self, handle: Any) -> bool:
        handle[0].wait()  # the run stored itself complete and exited
        signal.raise_signal(signal.SIGINT)  # Ctrl-C: KeyboardInterrupt raised here, by Python's handler
        raise AssertionError("SIGINT did not interrupt the benchmark")


def interrupted_then_resumed(tmp: Path, executor: Any) -> None:
    """A one-run benchmark interrupted right after its run finished: the run stays complete and is not redone."""
    (tmp / "r.yaml").write_text(RECIPE)
    recipe = load_recipe(tmp / "r.yaml")
    spec = BenchSpec(str(tmp / "r.yaml"), ("reference",), (0,), 2, None)
    with pytest.raises(KeyboardInterrupt):
        run_bench(recipe, spec, tmp / "s.sqlite", tmp / "runs", progress=False, executor=executor)
    with ResultsStore(tmp / "s.sqlite", readonly=True) as store:
        ((bench_id, _, _),) = store.list_benches()
        ((key, row),) = store.latest_bench_runs(bench_id).items()
        assert row["status"] == "complete", row
        assert store.load_run(row["run_id"]).status == "complete"
        assert len(store.load_run(row["run_id"]).trials) == 2
    assert run_bench(recipe, spec, tmp / "s.sqlite", tmp / "runs", resume=True, progress=False) == bench_id
    with ResultsStore(tmp / "s.sqlite", readonly=True) as store:
        assert store.bench_runs(bench_id) == [row]  # nothing run again, nothing stored twice


def test_a_local_run_finished_just_before_ctrl_c_stays_complete(tmp_path):
    interrupted_then_resumed(tmp_path, CtrlCOnceFinished(1))


def test_a_dask_run_finished_just_before_ctrl_c_stays_complete(tmp_path):
    distributed = pytest.importorskip("distributed", reason="dask[distributed] is not installed")
    from unified_nas.benchmark.executors import DaskExecutor

    class DaskCtrlCOnceFinished(DaskExecutor):
        """A local Dask cluster; SIGINT once a task has finished with the run's records, before they are stored."""

        def done(self, handle: Any) -> bool:
            distributed.wait(handle.future)
            assert handle.future.status == "finished"
            signal.raise_signal(signal.SIGINT)
            raise AssertionError("SIGINT did not interrupt the benchmark")

    executor = DaskCtrlCOnceFinished(None, 1)
    try:
        interrupted_then_resumed(tmp_path, executor)
    finally:
        executor.close()
