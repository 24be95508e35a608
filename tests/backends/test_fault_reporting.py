"""Failed trials on NNI (headless) and Optuna: the cause is in the record, not on stderr.

Real searches on digits. Failures are provoked in our own code: an SGD step
with lr 1e30 diverges in training (``TrainingDiverged``); a patched
``MacroLayer`` refuses to build 32-wide layers, which fails an NNI trial while
NNI builds the network, before our evaluator function runs. That a failed
trial is recorded and the search goes on, and that Ctrl-C in a trial ends the
search as interrupted, is checked on every backend by the behaviour suite
(tests/conformance/test_behaviour.py); this file is about what the toolkits
print, and NNI's own failure paths.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import run_on, tiny_recipe
from unified_nas.recipe import Recipe

pytestmark = pytest.mark.slow


def diverging_recipe() -> Recipe:
    """Widths 16/32 x lr 0.01/1e30 with SGD: the 1e30 trials diverge in their first epoch."""
    return tiny_recipe(
        {"depth": 1, "layer": {"op": "linear", "width": [16, 32]}}, training={"lr": [0.01, 1.0e30], "optimizer": "sgd"}
    )


@pytest.mark.parametrize("backend", ["nni", "optuna"])
def test_training_failure_is_recorded_with_its_cause_and_not_printed(backend, store, tmp_path, capfd):
    report = run_on(backend, diverging_recipe(), store, tmp_path, strategy="grid", trials=4)
    failed = [t for t in store.load_run(report.run_id).trials if t.status == "failed"]
    assert len(failed) == 2
    for t in failed:
        assert t.sample["lr"] == 1.0e30
        # Type and message last, the frame that raised it (the trainer) kept.
        assert t.error.splitlines()[-1].startswith("unified_nas.core.errors.TrainingDiverged: training loss became")
        assert "unified_nas/train/trainer.py" in t.error
    shown = "".join(capfd.readouterr())  # NNI's log handler writes to stdout, Optuna's to stderr
    assert "Traceback" not in shown and "TrainingDiverged" not in shown, shown[-2000:]


def test_autokeras_failed_trials_are_recorded_and_not_printed(store, tmp_path, capfd):
    """keras-tuner prints each failed trial's traceback unless its DEBUG is off (run.no_trial_tracebacks)."""
    pytest.importorskip("autokeras")
    report = run_on(
        "autokeras", diverging_recipe(), store, tmp_path, trials=2, extra_options={"max_model_size": 1}
    )  # every model is larger than 1 parameter: each trial fails in keras-tuner's own check
    trials = store.load_run(report.run_id).trials
    assert [t.status for t in trials] == ["failed", "failed"] and all("Oversized" in (t.error or "") for t in trials)
    shown = "".join(capfd.readouterr())
    assert "Traceback" not in shown, shown[-2000:]


def test_nni_failure_while_nni_builds_the_network_is_recorded(store, tmp_path, capfd, monkeypatch):
    import unified_nas.backends.nni.space as nni_space

    class UnbuildableAt32(nni_space.MacroLayer):
        """Fails like an allocation error would, for 32-wide layers only (NNI builds its space with 16)."""

        def __init__(self, cfg: Any, *args: Any, **kwargs: Any) -> None:
            if cfg.width == 32:
                raise RuntimeError("provoked: cannot build a 32-wide layer")
            super().__init__(cfg, *args, **kwargs)

    monkeypatch.setattr(nni_space, "MacroLayer", UnbuildableAt32)
    report = run_on("nni", diverging_recipe(), store, tmp_path, strategy="grid", trials=4)
    by_width: dict[int, list[Any]] = {}
    for t in store.load_run(report.run_id).trials:
        by_width.setdefault(t.sample["layer0/width"], []).append(t)
    assert sorted(t.status for t in by_width[16]) == ["complete", "failed"]
    assert [t.status for t in by_width[32]] == ["failed", "failed"]
    for t in by_width[32]:
        assert t.error.splitlines()[-1] == "RuntimeError: provoked: cannot build a 32-wide layer"
        assert "without a result" not in t.error
    shown = "".join(capfd.readouterr())
    assert "Traceback" not in shown and "provoked" not in shown, shown[-2000:]


def test_optuna_failed_trial_prints_one_progress_line_only(store, tmp_path, capfd):
    from unified_nas.runs.runner import run_recipe

    # Progress on (not --quiet): the one line per trial is ours; Optuna adds no warning and no traceback.
    report = run_recipe(
        diverging_recipe(), "optuna", strategy="grid", trials=4, store=store, runs_dir=tmp_path / "runs", progress=True
    )
    out, err = capfd.readouterr()
    lines = err.splitlines()
    assert out == ""
    assert len(lines) == 4 and all(" trial " in line for line in lines), lines
    assert sum(" failed " in line for line in lines) == 2
    assert report.budget_spent["failed"] == 2


@contextlib.contextmanager
def optuna_records() -> Iterator[list[logging.LogRecord]]:
    """Every record that reaches Optuna's root logger inside the block (whatever its handlers print)."""
    seen: list[logging.LogRecord] = []
    probe = logging.Handler()
    probe.emit = seen.append  # type: ignore[method-assign]
    root = logging.getLogger("optuna")
    root.addHandler(probe)
    try:
        yield seen
    finally:
        root.removeHandler(probe)


def test_optuna_quiet_run_silences_optuna_and_restores_its_logging(store, tmp_path, capfd):
    import optuna

    # run_on runs with progress off, as `unas run --quiet` does (RunContext.quiet).
    before = optuna.logging.get_verbosity()
    with optuna_records() as seen:
        report = run_on("optuna", diverging_recipe(), store, tmp_path, strategy="grid", trials=4)
    assert report.budget_spent["failed"] == 2
    assert seen == [], [r.getMessage()[:200] for r in seen]
    assert capfd.readouterr() == ("", "")
    assert optuna.logging.get_verbosity() == before


def test_optuna_logging_block_quiet_drops_every_optuna_record_and_restores():
    import optuna

    from unified_nas.backends.optuna.run import optuna_logging

    before = optuna.logging.get_verbosity()
    sampler_logger = optuna.logging.get_logger("optuna.samplers._tpe.sampler")
    with optuna_records() as seen:
        with optuna_logging(quiet=True):
            sampler_logger.warning("a sampler warning")
        with optuna_logging(quiet=False):
            sampler_logger.warning("shown when not quiet")
        sampler_logger.warning("shown after the block")
    assert [r.getMessage() for r in seen] == ["shown when not quiet", "shown after the block"]
    assert optuna.logging.get_verbosity() == before
