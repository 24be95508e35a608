"""The web engine under faults: interrupted, killed, a busy port, a quiet run.

Real NNI 3.0 managers and trial processes; tiny budgets (one epoch of a small MLP).
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("nni")
psutil = pytest.importorskip("psutil")

from tests.conftest import ROOT, run_on, tiny_recipe  # noqa: E402
from unified_nas.backends.nni.watchdog import ManagerWatchdog  # noqa: E402
from unified_nas.backends.nni.web import nni_output, port_is_free  # noqa: E402
from unified_nas.core.errors import UserError  # noqa: E402

_run = functools.partial(run_on, "nni")
MLP = {"depth": 1, "layer": {"op": "linear", "width": [16, 32]}}


def _managers_below(pid: int) -> list[psutil.Process]:
    """NNI managers (``node ... main.js``) started by process ``pid``."""
    found = []
    for p in psutil.Process(pid).children(recursive=True):
        try:
            if any(a.endswith("main.js") for a in p.cmdline()):
                found.append(p)
        except psutil.Error:
            pass
    return found


def _stored_trials(db: Path) -> int:
    try:
        with sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True, timeout=5) as c:
            return int(c.execute("SELECT COUNT(*) FROM trials").fetchone()[0])
    except sqlite3.Error:
        return 0


def _wait_for(predicate, timeout: float, step: float = 0.1) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return False


@pytest.mark.slow
def test_interrupted_web_run_keeps_its_finished_trials_and_stops_the_manager(store, tmp_path):
    """Ctrl-C mid-search: KeyboardInterrupt reaches the runner (not NNI's RuntimeError), the run is
    ``interrupted``, every trial finished before is stored (emitted as it finished), no manager is left."""
    recipe = tiny_recipe(MLP)
    seen: dict[str, object] = {}

    def interrupt_after_two_stored() -> None:
        # Stored while the search still runs: trials are emitted as they finish, not at the end.
        seen["stored_before"] = _wait_for(lambda: _stored_trials(store.path) >= 2, timeout=120)
        seen["managers"] = _managers_below(os.getpid())
        os.kill(os.getpid(), signal.SIGINT)

    watcher = threading.Thread(target=interrupt_after_two_stored, daemon=True)
    watcher.start()
    with pytest.raises(KeyboardInterrupt):
        _run(recipe, store, tmp_path, strategy="random", trials=8, extra_options={"engine": "web"})
    watcher.join()
    assert seen["stored_before"], "no trial was stored while the search ran"
    ((run_id, *_),) = store.list_runs()
    report = store.load_run(run_id)
    assert report.status == "interrupted"
    assert 2 <= len(report.trials) < 8
    assert all(t.status == "complete" for t in report.trials)
    managers = seen["managers"]
    assert managers, "no NNI manager ran"
    _, alive = psutil.wait_procs(managers, timeout=10)
    assert not alive


def test_watchdog_kills_the_manager_tree_when_its_owner_is_killed(tmp_path):
    """MANAGER_WATCHDOG: SIGKILL of the process that armed it takes the manager (own process group) and
    its children down within seconds; :meth:`ManagerWatchdog.release` leaves them alone."""
    owner_code = textwrap.dedent(
        """
        import os, subprocess, sys, time
        from unified_nas.backends.nni.watchdog import ManagerWatchdog
        # A stand-in manager as NNI starts it (its own process group) with a child, a stand-in trial.
        manager = subprocess.Popen(
            [sys.executable, "-c", "import subprocess, sys, time; "
             "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)']); time.sleep(120)"],
            preexec_fn=os.setpgrp)
        ManagerWatchdog(manager.pid)
        print(manager.pid, flush=True)
        time.sleep(120)
        """
    )
    owner = subprocess.Popen([sys.executable, "-c", owner_code], stdout=subprocess.PIPE, text=True)
    try:
        assert owner.stdout is not None
        manager = psutil.Process(int(owner.stdout.readline()))
        assert _wait_for(lambda: len(manager.children()) == 1, timeout=30)
        tree = [manager, *manager.children()]
        owner.kill()
        owner.wait()
        _, alive = psutil.wait_procs(tree, timeout=8)
        assert not alive
    finally:
        owner.kill()
        owner.wait()

    # Released: the run stopped the manager itself, nothing is killed.
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        watchdog = ManagerWatchdog(bystander.pid)
        watchdog.release()
        assert watchdog.proc.returncode == 0
        time.sleep(0.5)
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()


@pytest.mark.slow
def test_killed_web_run_leaves_no_manager(tmp_path):
    """kill -9 of ``unas run --option engine=web``: its NNI manager is gone within seconds."""
    recipe = ROOT / "recipes" / "digits_mlp.yaml"
    cmd = [str(Path(sys.executable).with_name("unas")), "run", str(recipe), "--backend", "nni"]
    cmd += ["--strategy", "random", "--trials", "8", "--option", "engine=web", "--quiet"]
    cmd += ["--store", str(tmp_path / "s.sqlite"), "--runs-dir", str(tmp_path / "runs")]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path)
    try:
        managers: list[psutil.Process] = []

        def manager_started() -> bool:
            managers[:] = _managers_below(run.pid)
            return bool(managers) and any((tmp_path / "runs").glob("*/nni-experiments/*/log/nnimanager.log"))

        assert _wait_for(manager_started, timeout=120, step=0.2), "no NNI manager started"
        tree = [*managers, *(c for m in managers for c in m.children(recursive=True))]
        run.kill()
        run.wait()
        _, alive = psutil.wait_procs(tree, timeout=10)
        assert not alive, alive
    finally:
        run.kill()
        run.wait()


def test_busy_port_is_refused_before_anything_is_written(store, tmp_path):
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        assert not port_is_free(port)
        with pytest.raises(UserError, match=rf"^--option port={port}: port {port} is in use on 127.0.0.1"):
            _run(
                tiny_recipe(MLP),
                store,
                tmp_path,
                strategy="random",
                trials=1,
                extra_options={"engine": "web", "port": port},
            )
    assert store.list_runs() == []
    assert not (tmp_path / "runs").exists()
    assert port_is_free(port)


def test_quiet_run_silences_nni_stdout():
    from nni.runtime import log as nni_log

    logger = logging.getLogger("nni")
    before = (logger.level, list(logger.handlers), dict(nni_log._handlers))
    with nni_output(quiet=True):
        assert "_stdout_" not in nni_log._handlers
        assert not any(getattr(h, "stream", None) is sys.stdout for h in logger.handlers)
        assert logger.getEffectiveLevel() == logging.WARNING
    assert (logger.level, list(logger.handlers), dict(nni_log._handlers)) == before
    with nni_output(quiet=False):  # not quiet: NNI's warnings still reach the user
        assert nni_log._handlers.get("_stdout_") is before[2].get("_stdout_")
