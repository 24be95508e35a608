"""Small, named workarounds for NNI 3.0's Node.js manager (the web engine); pinned to nni==3.0.

Remove a workaround when ``nni`` moves past 3.0 and its "still needed" test
in tests/backends/nni/test_nni_web.py fails.

* :func:`manager_loopback_nni30` (``MANAGER_LOOPBACK_NNI30``): the manager
  binds 127.0.0.1 instead of every interface.
* :func:`experiment_file_in_run_dir_nni30` (``EXPERIMENT_FILE_IN_RUN_DIR_NNI30``):
  NNI's experiment manifest ``nni-experiments/.experiment`` goes to the run
  directory instead of the user's home.

Two more reach into NNI 3.0's private API and live where they are used:

* ``web.WatchedExperiment`` (``MANAGER_WATCHDOG``, watchdog.py) wraps
  ``nni.experiment.launcher._start_rest_server`` to arm a watchdog on the
  manager's pid the moment it exists, so a SIGKILLed run leaves no manager.
* ``web._run`` calls ``NasExperiment.start`` and ``_wait_completion`` instead
  of ``run``, which on Ctrl-C stops the manager and returns None: the
  finished trials could no longer be read and the interrupt was lost.
  Covered by tests/backends/nni/test_nni_web_faults.py.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

LOOPBACK_JS = Path(__file__).resolve().with_name("loopback.js")
"""Node.js preload script that forces the manager's listening host (ships with this package)."""

DEFAULT_MANAGER_HOST = "127.0.0.1"
MANAGER_HOSTS = ("127.0.0.1", "0.0.0.0", "::")
"""Hosts the manager may bind. NNI's own clients (the launcher, the strategy's tuner
channel, trials) reach it at ``localhost``, so the address must include 127.0.0.1."""

MANAGER_HOST_ENV = "UNAS_NNI_MANAGER_HOST"
"""Environment variable loopback.js reads the host from."""


@contextlib.contextmanager
def environ(**values: str) -> Iterator[None]:
    """Sets environment variables for the ``with`` block, then restores the previous ones.

    NNI starts its manager with ``Popen`` and no ``env`` argument, so the
    manager (and the trial processes it starts) inherit this process's
    environment; that is the only way to reach them without editing NNI.

    Args:
        **values: Variable names and their values for the block.
    """
    old = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in old.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def node_require_option(script: Path) -> str:
    """``--require "<script>"`` quoted the way Node.js parses NODE_OPTIONS (paths may hold spaces).

    Args:
        script: Path of the script to preload.

    Returns:
        The option text.
    """
    quoted = str(script).replace("\\", "\\\\").replace('"', '\\"')
    return f'--require "{quoted}"'


@contextlib.contextmanager
def manager_loopback_nni30(host: str = DEFAULT_MANAGER_HOST) -> Iterator[None]:
    """Workaround MANAGER_LOOPBACK_NNI30: NNI managers started in the block listen on ``host`` (nni==3.0).

    NNI 3.0's manager (nni_node/rest_server/index.js) calls ``app.listen(port)``
    without a host, so it listens on all interfaces and serves its
    unauthenticated REST API (experiment, trials, logs) to the network; neither
    ``Experiment.run`` nor main.js (a strict yargs parser) accepts a bind
    address. Node.js preloads loopback.js from NODE_OPTIONS (appended to the
    user's own), and that script passes ``host`` to every wildcard ``listen``.

    Args:
        host: The address to listen on; one of :data:`MANAGER_HOSTS` for NNI to work.
    """
    options = " ".join(filter(None, (os.environ.get("NODE_OPTIONS"), node_require_option(LOOPBACK_JS))))
    with environ(NODE_OPTIONS=options, **{MANAGER_HOST_ENV: host}):
        yield


@contextlib.contextmanager
def experiment_file_in_run_dir_nni30(run_dir: Path) -> Iterator[Path]:
    """Workaround EXPERIMENT_FILE_IN_RUN_DIR_NNI30: NNI's experiment manifest goes under ``run_dir`` (nni==3.0).

    NNI 3.0 keeps a list of all experiments in ``~/nni-experiments/.experiment``
    (plus ``.experiment.lock*`` files) whatever ``experiment_working_directory``
    says, and writes it twice per run:

    * the Python launcher (``nni.experiment.launcher.start_experiment``) calls
      ``Experiments()``, whose ``home_dir`` default is
      ``nni.tools.nnictl.constants.NNI_HOME_DIR``, computed from ``~`` when
      ``nni`` is first imported: changing HOME later does not move it;
    * the manager (nni_node/common/globals/paths.js) uses ``os.homedir()``,
      i.e. its HOME.

    Inside the block, ``Experiments()``'s default directory is
    ``run_dir/nni-experiments`` and HOME is ``run_dir``, so both writers use the
    same file, ``run_dir/nni-experiments/.experiment``. The manager's trial
    processes inherit that HOME too.

    Args:
        run_dir: The run directory (absolute).

    Yields:
        ``run_dir/nni-experiments``, the directory to use as NNI's experiment working directory.
    """
    from nni.tools.nnictl.config_utils import Experiments

    workdir = run_dir / "nni-experiments"
    init = Experiments.__init__
    old_defaults = init.__defaults__
    init.__defaults__ = (str(workdir),)
    try:
        with environ(HOME=str(run_dir)):
            yield workdir
    finally:
        init.__defaults__ = old_defaults
