"""MANAGER_WATCHDOG: NNI's Node.js manager (and its trials) die with the run process, even after SIGKILL.

NNI's launcher starts the manager in a process group of its own
(``preexec_fn=os.setpgrp``) and stops it only from ``Experiment.stop`` or an
``atexit`` hook; a run killed with SIGKILL runs neither, so the manager would
keep listening and training. The watchdog is a small child process that
blocks reading a pipe from the run process: the kernel closes the pipe when the
run process dies however it dies, and EOF without the word "release" makes
the watchdog kill the manager, every process below it, and its process group.
It lives in a session of its own so a Ctrl-C at the terminal does not reach
it (the run stops the manager itself then, and releases the watchdog).
"""

from __future__ import annotations

import subprocess
import sys

RELEASE = b"release\n"
"""Written by the run when it stopped the manager itself: the watchdog leaves without killing."""

# The watchdog's code: runs with ``python -c``; argv[1] is the manager's pid.
_WATCHDOG_CODE = r"""
import os, signal, sys, time
import psutil
pid = int(sys.argv[1])
signal.signal(signal.SIGINT, signal.SIG_IGN)
if sys.stdin.buffer.read() == b"release\n":
    sys.exit(0)
try:
    manager = psutil.Process(pid)
    procs = [manager] + manager.children(recursive=True)
except psutil.Error:
    sys.exit(0)
for p in procs:
    try:
        p.terminate()
    except psutil.Error:
        pass
try:
    os.killpg(pid, signal.SIGTERM)
except OSError:
    pass
gone, alive = psutil.wait_procs(procs, timeout=3)
for p in alive:
    try:
        p.kill()
    except psutil.Error:
        pass
try:
    os.killpg(pid, signal.SIGKILL)
except OSError:
    pass
"""


class ManagerWatchdog:
    """Kills the process tree of ``pid`` when this process dies without calling :meth:`release`.

    Args:
        pid: The NNI manager's pid (also its process group id: NNI starts it with ``setpgrp``).

    Attributes:
        proc: The watchdog process.
    """

    def __init__(self, pid: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _WATCHDOG_CODE, str(pid)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # no terminal Ctrl-C: the run handles that one itself
            close_fds=True,  # only this process holds the pipe's write end, so its death means EOF
        )

    def release(self, timeout: float = 10.0) -> None:
        """Ends the watchdog without killing anything (the run stopped the manager itself).

        Args:
            timeout: Seconds to wait for the watchdog to exit.
        """
        stdin = self.proc.stdin
        if stdin is None or stdin.closed:
            return
        try:
            stdin.write(RELEASE)
            stdin.close()
        except OSError:  # the watchdog is gone already
            pass
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
