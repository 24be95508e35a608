"""Failed trials on a real search: the cause is in the record, not on stderr (shared by each backend's faults tests).

Failures are provoked in our own code: an SGD step with lr 1e30 diverges in
training (``TrainingDiverged``). That a failed trial is recorded and the search
goes on, and that Ctrl-C in a trial ends the search as interrupted, is checked
on every backend by the behaviour suite (tests/conformance/test_behaviour.py);
the faults tests are about what the toolkits print, and their own failure paths.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_on, tiny_recipe
from unified_nas.recipe import Recipe
from unified_nas.report.store import ResultsStore


def diverging_recipe() -> Recipe:
    """Widths 16/32 x lr 0.01/1e30 with SGD: the 1e30 trials diverge in their first epoch."""
    return tiny_recipe(
        {"depth": 1, "layer": {"op": "linear", "width": [16, 32]}}, training={"lr": [0.01, 1.0e30], "optimizer": "sgd"}
    )


def check_training_failure_is_recorded_with_its_cause_and_not_printed(
    backend: str, store: ResultsStore, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """A grid over :func:`diverging_recipe`: both diverging trials failed, with the trainer's traceback, and none shown."""
    report = run_on(backend, diverging_recipe(), store, tmp_path, strategy="grid", trials=4)
    failed = [t for t in store.load_run(report.run_id).trials if t.status == "failed"]
    assert len(failed) == 2
    for t in failed:
        assert t.sample["lr"] == 1.0e30
        # Type and message last, the frame that raised it (the trainer) kept.
        assert t.error is not None
        assert t.error.splitlines()[-1].startswith("unified_nas.core.errors.TrainingDiverged: training loss became")
        assert "unified_nas/evaluation/train/trainer.py" in t.error
    shown = "".join(capfd.readouterr())  # NNI's log handler writes to stdout, Optuna's to stderr
    assert "Traceback" not in shown and "TrainingDiverged" not in shown, shown[-2000:]
