"""Which RUNNING trials of a shared Optuna study a live process fails (and retries) for a dead one."""

from __future__ import annotations

import subprocess
import sys

import pytest

optuna = pytest.importorskip("optuna")

from unified_nas.backends.optuna import shared  # noqa: E402
from unified_nas.backends.optuna.shared import DEAD_ATTR, WORKER_ATTR, fail_dead_trials  # noqa: E402
from unified_nas.runs.lifecycle import this_process  # noqa: E402


def _study(tmp_path):
    return optuna.create_study(storage=f"sqlite:///{tmp_path / 'o.db'}", study_name="s")


def _running(study, tag=None):
    trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    if tag is not None:
        trial.set_user_attr(WORKER_ATTR, tag)
    return trial


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _states(study):
    return {t.number: t.state.name for t in study.get_trials()}


def test_an_untagged_trial_is_failed_and_retried_only_after_the_grace_period(tmp_path, monkeypatch):
    """Killed between Optuna creating the trial and the objective: no tag and no heartbeat."""
    study = _study(tmp_path)
    _running(study)
    fail_dead_trials(study)
    assert _states(study) == {0: "RUNNING"}  # young: its process may be about to tag it
    monkeypatch.setattr(shared, "GRACE_S", 0)
    fail_dead_trials(study)
    trials = study.get_trials()
    assert [t.state.name for t in trials] == ["FAIL", "WAITING"]
    assert (
        trials[0].user_attrs[DEAD_ATTR]["trial"] == 0
        and "before the trial began" in trials[0].user_attrs[DEAD_ATTR]["why"]
    )
    assert trials[1].params == trials[0].params and trials[1].system_attrs["retry_history"] == [0]


def test_a_trial_tagged_by_a_dead_process_is_failed_at_once_and_a_live_ones_is_kept(tmp_path):
    study = _study(tmp_path)
    _running(study, {**this_process(), "trial": 0})
    _running(study, {**this_process(), "pid": _dead_pid(), "trial": 1})
    fail_dead_trials(study)
    assert _states(study) == {0: "RUNNING", 1: "FAIL", 2: "WAITING"}
    assert "stopped during the trial" in study.get_trials()[1].user_attrs[DEAD_ATTR]["why"]


def test_a_retry_is_not_judged_by_the_tag_it_inherited(tmp_path, monkeypatch):
    """Optuna's retry copies the dead trial's user attributes, its dead worker's tag included."""
    study = _study(tmp_path)
    _running(study, {**this_process(), "pid": _dead_pid(), "trial": 0})
    fail_dead_trials(study)
    retry = study.ask()  # a live process takes the retry: RUNNING, still carrying trial 0's tag
    assert retry.number == 1 and study.get_trials()[1].user_attrs[WORKER_ATTR]["trial"] == 0
    fail_dead_trials(study)
    assert _states(study)[1] == "RUNNING"  # not failed for trial 0's dead worker
