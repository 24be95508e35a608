"""NNI's web engine (NasExperiment + its Node.js manager): loopback only, nothing written outside the run dir.

Real NNI 3.0 throughout. Listening sockets are read from /proc/net/tcp{,6} (Linux).
"""

from __future__ import annotations

import functools
import inspect
import ipaddress
import json
import os
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("nni")

from tests.conftest import run_on, tiny_recipe  # noqa: E402
from unified_nas.backends.nni.web import free_port  # noqa: E402
from unified_nas.backends.nni.web_workarounds import (  # noqa: E402
    LOOPBACK_JS,
    MANAGER_HOST_ENV,
    experiment_file_in_run_dir_nni30,
    manager_loopback_nni30,
)
from unified_nas.core.errors import RecipeError  # noqa: E402
from unified_nas.space import validate_sample  # noqa: E402

if not Path("/proc/net/tcp").exists():
    pytest.skip("reads listening sockets from /proc/net/tcp (Linux)", allow_module_level=True)

_run = functools.partial(run_on, "nni")
LOOPBACK = {"127.0.0.1"}
WILDCARDS = {"0.0.0.0", "::"}

# Test-only preload: the manager starts listening 1.5 s after its process starts,
# which makes NNI's launcher (_check_rest_server, probes at ~0 s and ~1 s) log
# "Timeout, retry..." and take its retry path, deterministically.
SLOW_LISTEN_JS = """
const net = require('net');
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  setTimeout(() => listen.apply(this, args), Math.max(0, 1500 - process.uptime() * 1000));
  return this;
};
"""


def _node_dir() -> Path:
    import nni_node

    return Path(nni_node.__path__[0])


def listen_addresses(port: int) -> set[str]:
    """Local addresses with a TCP socket in LISTEN state on ``port``, from /proc/net/tcp and tcp6."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not os.path.exists(table):
            continue
        with open(table) as f:
            next(f)
            for line in f:
                local, state = line.split()[1], line.split()[3]
                addr, port_hex = local.split(":")
                if state != "0A" or int(port_hex, 16) != port:  # 0A: TCP_LISTEN
                    continue
                raw = bytes.fromhex(addr)  # 32-bit words in host (little-endian) order
                raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
                found.add(str(ipaddress.ip_address(raw)))
    return found


def wait_listening(port: int, timeout: float = 60.0) -> set[str]:
    deadline = time.time() + timeout
    while time.time() < deadline:
        addresses = listen_addresses(port)
        if addresses:
            return addresses
        time.sleep(0.05)
    raise AssertionError(f"nothing listened on port {port} within {timeout} s")


def non_loopback_ipv4() -> str | None:
    """An IPv4 address of this machine other than loopback (another host would reach the manager there)."""
    import psutil

    for addrs in psutil.net_if_addrs().values():
        for a in addrs:
            if a.family == socket.AF_INET and not ipaddress.ip_address(a.address).is_loopback:
                return a.address
    return None


def refused(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def snapshot(path: Path) -> dict[str, int] | None:
    """Names and mtimes under ``path`` (None if absent): detects any write there."""
    if not path.exists():
        return None
    return {str(p.relative_to(path)): p.stat().st_mtime_ns for p in path.rglob("*")}


class ListenWatcher(threading.Thread):
    """Polls, while a run goes on, where something listens on ``port``; and whether another address reaches it."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port, self.addresses, self.reachable_from = port, set(), {}
        self.done = threading.Event()

    def run(self) -> None:
        other = non_loopback_ipv4()
        while not self.done.is_set():
            addresses = listen_addresses(self.port)
            if addresses and other and other not in self.reachable_from:
                self.reachable_from[other] = not refused(other, self.port)
            self.addresses |= addresses
            time.sleep(0.05)


@pytest.mark.slow
@pytest.mark.parametrize("slow_start", [False, True], ids=["start", "slow_start"])
def test_web_engine_runs_loopback_only_and_inside_the_run_dir(slow_start, store, tmp_path, monkeypatch, caplog):
    """NNI's NasExperiment + Node.js manager: bound to 127.0.0.1, every file in the run dir, results collected.

    With ``slow_start`` the manager starts listening late, so NNI's launcher
    takes its retry path; still nothing is written outside the run dir.
    """
    from nni.tools.nnictl.constants import NNI_HOME_DIR  # where unpatched NNI writes (import-time ~)

    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    if slow_start:
        (tmp_path / "slow_listen.js").write_text(SLOW_LISTEN_JS)
        monkeypatch.setenv("NODE_OPTIONS", f'--require "{tmp_path / "slow_listen.js"}"')
    nni_home_before = snapshot(Path(NNI_HOME_DIR))
    port = free_port()
    watcher = ListenWatcher(port)
    watcher.start()
    recipe = tiny_recipe(
        {"depth": {"low": 1, "high": 2}, "layer": {"op": "linear", "width": [16, 32]}},
        training={"lr": {"low": 0.001, "high": 0.01, "log": True}},
    )
    try:
        report = _run(
            recipe, store, tmp_path, strategy="random", trials=2, extra_options={"engine": "web", "port": port}
        )
    finally:
        watcher.done.set()
        watcher.join()

    assert report.budget_spent["complete"] == 2
    for t in report.trials:
        validate_sample(recipe.space.decls(), t.sample)
        assert t.duration_s > t.train_s > 0
    # The manager listened on loopback only, and another address of this machine was refused.
    assert watcher.addresses == LOOPBACK
    assert not any(watcher.reachable_from.values()), watcher.reachable_from
    if slow_start:  # the retry path was taken (a busy machine may make a normal start take it too: not checked)
        assert "Timeout, retry" in caplog.text
    # Nothing in HOME, nothing in NNI's default ~/nni-experiments; the manifest is in the run dir.
    assert list(home.iterdir()) == []
    assert snapshot(Path(NNI_HOME_DIR)) == nni_home_before
    workdir = Path(report.run_dir).resolve() / "nni-experiments"
    manifest = json.loads((workdir / ".experiment").read_text())
    ((exp_id, entry),) = manifest.items()
    assert entry["logDir"] == str(workdir) and entry["status"] == "STOPPED"  # written by launcher and manager
    assert (workdir / exp_id / "log" / "nnimanager.log").is_file()
    assert os.environ["HOME"] == str(home)  # restored
    assert (MANAGER_HOST_ENV in os.environ) is False


def test_manager_host_must_be_reachable_at_localhost(store, tmp_path):
    recipe = tiny_recipe({"depth": 1, "layer": {"op": "linear", "width": 16}})
    with pytest.raises(RecipeError, match=r"manager_host: '10.0.0.1' is not one of 127.0.0.1, 0.0.0.0, ::$"):
        _run(
            recipe,
            store,
            tmp_path,
            strategy="random",
            trials=1,
            extra_options={"engine": "web", "manager_host": "10.0.0.1"},
        )


def start_manager(exp_dir: Path, port: int) -> subprocess.Popen:
    """NNI 3.0's manager, started the way NNI's launcher starts it (its own argv and Popen)."""
    from nni.experiment import launcher
    from nni.experiment.config import ExperimentConfig
    from nni.experiment.experiment import RunMode

    config = ExperimentConfig("local")
    config.experiment_working_directory = str(exp_dir)
    config.log_level = "info"
    args = launcher.NniManagerArgs("create", "stillneeded", config, port, False, False, None, None)
    return launcher._start_rest_server(args, RunMode.Background)


def manager_listens_on(tmp_path: Path) -> set[str]:
    port = free_port()
    proc = start_manager(tmp_path / "exp", port)
    try:
        return wait_listening(port)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_workaround_manager_loopback_nni30_still_needed(tmp_path, monkeypatch):
    """Unpatched, NNI 3.0's manager listens on every interface; drop MANAGER_LOOPBACK_NNI30 when this fails."""
    monkeypatch.setenv("HOME", str(tmp_path))
    assert manager_listens_on(tmp_path) <= WILDCARDS


@pytest.mark.parametrize("host, expected", [(None, LOOPBACK), ("::", {"::"})])
def test_workaround_manager_loopback_nni30_binds_the_manager(host, expected, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("NODE_OPTIONS", "--max-http-header-size=16384")  # the user's own options are kept
    with manager_loopback_nni30(*([host] if host else [])):
        assert os.environ["NODE_OPTIONS"].startswith("--max-http-header-size=16384 --require ")
        assert manager_listens_on(tmp_path) == expected
    assert os.environ["NODE_OPTIONS"] == "--max-http-header-size=16384"


def test_loopback_js_rewrites_only_wildcard_listens(tmp_path):
    """Every listen form Node.js accepts; a specific host is kept."""
    script = """
const net = require('net');
const forms = [s => s.listen(0), s => s.listen(0, () => {}), s => s.listen({port: 0}), s => s.listen(0, '0.0.0.0'),
               s => s.listen(0, '::', 5), s => s.listen(), s => s.listen(0, '127.0.0.2')];
Promise.all(forms.map(f => new Promise(done => {
  const s = net.createServer(); f(s); s.on('listening', () => { const a = s.address().address; s.close(); done(a); });
}))).then(a => console.log(JSON.stringify(a)));
"""
    env = {**os.environ, "NODE_OPTIONS": f'--require "{LOOPBACK_JS}"'}
    env.pop(MANAGER_HOST_ENV, None)
    out = subprocess.run(
        [str(_node_dir() / "node"), "-e", script], env=env, capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert json.loads(out) == ["127.0.0.1"] * 6 + ["127.0.0.2"]


def manager_experiments_list(home: Path, experiments_dir: Path) -> str:
    """Where NNI 3.0's manager (nni_node/common/globals/paths.js) keeps the experiment manifest."""
    script = (
        "require('app-module-path/register');"
        "const p = require('common/globals/paths').createPaths("
        f"{{experimentsDirectory: {json.dumps(str(experiments_dir))}, experimentId: 'x'}});"
        "console.log(p.experimentsList);"
    )
    env = {**os.environ, "HOME": str(home)}
    return subprocess.run(
        [str(_node_dir() / "node"), "-e", script],
        cwd=_node_dir(),
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()


def test_workaround_experiment_file_in_run_dir_nni30_still_needed(tmp_path, monkeypatch):
    """NNI 3.0 puts its manifest under ~ whatever the working directory; drop EXPERIMENT_FILE_IN_RUN_DIR_NNI30
    when this fails."""
    from nni.tools.nnictl.config_utils import Experiments

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    # Python launcher: the default was fixed from ~ when nni was imported; HOME now does not move it.
    default = inspect.signature(Experiments).parameters["home_dir"].default
    assert default.endswith("nni-experiments") and not default.startswith(str(tmp_path))
    # Node.js manager: $HOME, not --experiments-directory.
    assert manager_experiments_list(tmp_path / "home", tmp_path / "exp") == str(
        tmp_path / "home" / "nni-experiments" / ".experiment"
    )


def test_workaround_experiment_file_in_run_dir_nni30_redirects_both_writers(tmp_path):
    from nni.tools.nnictl.config_utils import Experiments

    before = Experiments.__init__.__defaults__
    with experiment_file_in_run_dir_nni30(tmp_path) as workdir:
        assert workdir == tmp_path / "nni-experiments"
        assert Experiments().experiment_file == str(workdir / ".experiment")
        assert manager_experiments_list(Path(os.environ["HOME"]), tmp_path / "exp") == str(workdir / ".experiment")
    assert Experiments.__init__.__defaults__ == before


def test_free_port_probes_the_manager_host():
    with socket.socket() as s:
        s.bind(("127.0.0.1", free_port("127.0.0.1")))
    with socket.socket(socket.AF_INET6) as s:
        s.bind(("::", free_port("::")))


@pytest.mark.slow
def test_web_engine_trial_processes_score_with_the_stored_supernet(store, tmp_path):
    """Trials in NNI's own processes read the supernet the run trained (they never train one each)."""
    import torch

    from tests.conftest import ROOT
    from unified_nas.evaluation.supernet.evaluator import SupernetScore
    from unified_nas.evaluation.supernet.train import score
    from unified_nas.recipe import load_recipe
    from unified_nas.tables.recipes import load_recipe_data

    recipe = load_recipe(ROOT / "recipes" / "digits_nb201_supernet.yaml")
    report = _run(recipe, store, tmp_path, strategy="random", trials=2, extra_options={"engine": "web"})
    assert report.budget_spent["complete"] == 2 and report.search_cost is not None
    assert recipe.evaluation.supernet is not None
    stored = SupernetScore(recipe.evaluation.supernet, recipe.space, load_recipe_data(recipe), recipe.seed)
    stored.restore(Path(report.run_dir))
    assert stored.supernet is not None and stored.cost is not None
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # as the run's trial processes
    try:
        for t in report.trials:
            direct = score(stored.supernet, t.sample, stored.data, recalibration_batch_size=64, seed=recipe.seed)
            assert t.metrics["val_accuracy"] == pytest.approx(direct["val_accuracy"], abs=1e-12)
    finally:
        torch.set_num_threads(before)
