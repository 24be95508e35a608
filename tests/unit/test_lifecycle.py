"""Run lifecycle without a toolkit: owners, time across attempts, claims, replay checks."""

from __future__ import annotations

import os

import pytest

from tests.unit.test_store import _report, _trial
from unified_nas.runs.lifecycle import (
    Replay,
    ReplayedTrialFailed,
    ResumeDiverged,
    owner_alive,
    shown_status,
    this_process,
)


def test_owner_alive_tells_this_process_a_dead_pid_and_another_machine_apart():
    me = this_process()
    assert owner_alive(me) is True
    assert owner_alive({**me, "pid": 2**22 + 12345, "start_ticks": 1}) is False  # above Linux's pid_max
    assert shown_status("running", {**me, "pid": 2**22 + 12345}) == "died"
    # Another boot, pid namespace or host: this machine cannot tell, so the run is not called dead.
    for key in ("boot_id", "pidns", "host"):
        assert owner_alive({**me, key: "elsewhere"}) is None
        assert shown_status("running", {**me, key: "elsewhere", "pid": 2**22 + 1}) == "running"
    assert owner_alive(None) is None


def test_a_reused_pid_is_not_the_owner():
    me = this_process()
    assert owner_alive({**me, "start_ticks": me["start_ticks"] + 1}) is False


def test_active_time_leaves_out_the_time_a_run_was_dead():
    r = _report()
    r.started_at = 1000.0
    r.trials = [_trial(0, 0.5), _trial(1, 0.6)]  # start 1.0 + i, 1 s each: not in this attempt's window
    for t, start in zip(r.trials, (1000.0, 1100.0)):
        t.start_time, t.duration_s = start, 50.0
    assert r.current_attempt_s() == 150.0  # died after its last trial: 1000 .. 1150
    r.attempts.append({"active_s": r.current_attempt_s(), "resumed_at": 90_000.0})  # resumed a day later
    r.trials.append(_trial(2, 0.7))
    r.trials[-1].start_time, r.trials[-1].duration_s = 90_010.0, 40.0
    assert r.current_attempt_s() == 50.0
    assert r.active_s() == 200.0
    r.ended_at = 90_060.0
    r.summarize()
    assert r.budget_spent["wall_s"] == 210.0


def test_claim_run_lets_one_resume_win(store):
    r = _report("run-1")
    dead = {**this_process(), "pid": 2**22 + 12345}
    r.status, r.process = "running", dead  # a died run: stored as running, its owner gone
    store.save_run(r)
    first, second = _report("run-1"), _report("run-1")
    for claimant, pid in ((first, 1), (second, 2)):
        claimant.status, claimant.process = "running", {**this_process(), "pid": pid}
    # Both read the same died run; before, both claims passed (the status stays 'running').
    assert store.claim_run(first, "running", dead) is True
    assert store.claim_run(second, "running", dead) is False
    r.status, r.process = "interrupted", first.process
    store.save_run(r)
    assert store.claim_run(second, "interrupted", first.process) is True
    assert store.claim_run(first, "interrupted", first.process) is False  # the second resume finds it running


def test_replay_answers_in_order_and_refuses_another_sample():
    done = [_trial(0, 0.5), _trial(1, 0.0, status="failed")]
    replay = Replay(list(reversed(done)))
    assert replay.result({"a": 0}).metrics == {"val_accuracy": 0.5}
    assert replay.consume(done[0]) is done[0]
    with pytest.raises(ResumeDiverged, match="resume diverged at trial 1"):
        replay.result({"a": 99})
    with pytest.raises(ReplayedTrialFailed):
        replay.result({"a": 1})
    assert replay.consume(done[1]) is done[1]
    assert not replay.active and replay.result({"a": 2}) is None and replay.consume(_trial(2, 0.1)) is None


def test_replay_refuses_a_pruner_that_decides_otherwise():
    rec = _trial(0, 0.5)
    rec.history = [{"epoch": 0, "val_accuracy": 0.3}, {"epoch": 1, "val_accuracy": 0.5}]
    assert Replay([rec]).result({"a": 0}, lambda epoch, row: False).metrics["val_accuracy"] == 0.5
    with pytest.raises(ResumeDiverged, match="the pruner now prunes a trial that was complete"):
        Replay([rec]).result({"a": 0}, lambda epoch, row: epoch == 0)


@pytest.mark.skipif(not os.path.exists("/proc/self/ns/pid"), reason="needs Linux /proc")
def test_owner_records_boot_and_pid_namespace():
    me = this_process()
    assert me["boot_id"] and me["pidns"] and me["start_ticks"] is not None


SWALLOWED_SIGTERM = """
import gc, os, signal, sys, time
from unified_nas.runs.lifecycle import Terminated, handle_sigterm, raise_if_terminated

class Finalized:
    def __del__(self):  # the handler runs here, and Python ignores what it raises
        os.kill(os.getpid(), signal.SIGTERM)
        deadline = time.time() + 5
        while time.time() < deadline:
            pass

handle_sigterm()
Finalized()
gc.collect()
print("survived")
try:
    raise_if_terminated()
except Terminated:
    sys.exit(143)
sys.exit(0)
"""


def test_a_sigterm_swallowed_by_a_finalizer_is_raised_again_at_the_next_safe_point():
    # Seen in CI: SIGTERM arrived inside a TensorFlow weakref callback, the
    # Terminated it raised was printed as "Exception ignored", and the run
    # finished with exit 0.
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", SWALLOWED_SIGTERM], capture_output=True, text=True, timeout=60)
    assert "Exception ignored" in proc.stderr  # the finalizer really swallowed it
    assert proc.stdout.strip() == "survived"
    assert proc.returncode == 143
