"""Failed trials on Optuna: the cause is in the record, not on stderr, and Optuna's own logging (see tests/backends/faults.py)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import pytest

from tests.backends.faults import check_training_failure_is_recorded_with_its_cause_and_not_printed, diverging_recipe
from tests.conftest import run_on

pytestmark = pytest.mark.slow


def test_training_failure_is_recorded_with_its_cause_and_not_printed(store, tmp_path, capfd):
    check_training_failure_is_recorded_with_its_cause_and_not_printed("optuna", store, tmp_path, capfd)


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
