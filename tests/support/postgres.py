"""A real, throwaway PostgreSQL server for tests, CI and benchmarks (no mocks); not shipped.

:class:`PostgresServer` runs the distribution's own binaries: ``initdb`` into a temporary
directory, ``pg_ctl start`` on 127.0.0.1 and a free port, ``pg_ctl stop`` at the end, and the
temporary directory is removed. It returns a SQLAlchemy URL Optuna's ``RDBStorage`` accepts::

    from tests.support.postgres import PostgresServer, postgres_missing_reason

    if postgres_missing_reason() is None:
        with PostgresServer() as server:
            storage = optuna.storages.RDBStorage(server.url)

Debian's ``postgresql`` package puts the binaries in ``/usr/lib/postgresql/<version>/bin``,
not on ``PATH``; :func:`find_postgres_bin` looks there too. PostgreSQL refuses to run as root,
so when we are root the server commands run as the ``postgres`` system user (which the
package creates) and the temporary directory is handed to that user.
"""

from __future__ import annotations

import importlib.util
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import weakref
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = ["PostgresServer", "find_postgres_bin", "postgres_missing_reason"]

# The three programs we run; a directory is usable only if it has all of them (pg_ctl starts
# the `postgres` next to itself).
_PROGRAMS = ("initdb", "pg_ctl", "postgres")
_DEBIAN_ROOT = Path("/usr/lib/postgresql")
APT_COMMAND = "apt-get install -y postgresql"
PIP_COMMAND = "pip install 'unified-nas[postgres]'"
# The system user the server runs as when we are root (PostgreSQL refuses to run as root).
DEFAULT_RUN_AS = "postgres"
# Settings for a small test machine (2 cores): ~6 processes, each with a SQLAlchemy pool
# (5 connections + 10 overflow by default), stay well under 50 connections; 32MB of shared
# buffers holds every table an Optuna study of a test creates.
DEFAULT_SETTINGS: dict[str, str] = {
    "max_connections": "50",
    "shared_buffers": "32MB",
    # A throwaway server: no durability needed, so skip fsync and its seconds of waiting.
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
}
# Phrases of the server log that mean "another process took our port between probe and bind".
_PORT_TAKEN = re.compile(r"could not bind|address already in use|could not create any TCP/IP sockets", re.I)


def _has_programs(directory: Path) -> bool:
    return all(os.access(directory / name, os.X_OK) for name in _PROGRAMS)


def _version_key(directory: Path) -> tuple[int, ...]:
    # /usr/lib/postgresql/<version>/bin: "15" or "9.6" sort numerically, so 15 beats 9.6.
    return tuple(int(part) for part in re.findall(r"\d+", directory.parent.name)) or (-1,)


def find_postgres_bin() -> Path | None:
    """The directory holding PostgreSQL's ``initdb``, ``pg_ctl`` and ``postgres``.

    Returns:
        The directory of ``pg_ctl`` on ``PATH`` if ``initdb`` and ``postgres`` sit next to it,
        else the newest ``/usr/lib/postgresql/<version>/bin`` that has all three (Debian's
        layout, which is not on ``PATH``), else None.
    """
    on_path = shutil.which("pg_ctl")
    if on_path is not None:
        directory = Path(on_path).parent
        if _has_programs(directory):
            return directory
        # A /usr/local/bin symlink whose siblings are missing: look next to its target.
        directory = Path(on_path).resolve().parent
        if _has_programs(directory):
            return directory
    candidates = [d for d in _DEBIAN_ROOT.glob("*/bin") if _has_programs(d)]
    if not candidates:
        return None
    return max(candidates, key=_version_key)


def _run_as_ids(run_as: str | None) -> tuple[int, int] | None:
    """(uid, gid) to run the server commands as, or None to run them as ourselves.

    Raises:
        KeyError: we are root and the user ``run_as`` does not exist.
    """
    if os.geteuid() != 0:
        return None  # not root: PostgreSQL runs as us
    import pwd

    entry = pwd.getpwnam(run_as or DEFAULT_RUN_AS)
    return entry.pw_uid, entry.pw_gid


def postgres_missing_reason(run_as: str = DEFAULT_RUN_AS) -> str | None:
    """Why :class:`PostgresServer` cannot run here, or None if it can.

    Args:
        run_as: the system user the server runs as when we are root.

    Returns:
        None when the binaries, the ``psycopg`` driver and (as root) the ``run_as`` user are
        all present; otherwise one sentence naming what is missing and the command that
        installs it.
    """
    return _missing_reason(run_as, need_bin=True)


def _missing_reason(run_as: str, *, need_bin: bool) -> str | None:
    if os.name != "posix":
        return f"a PostgreSQL test server needs a POSIX system (this is {sys.platform})"
    if need_bin and find_postgres_bin() is None:
        return (
            "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found on PATH or in "
            f"{_DEBIAN_ROOT}/*/bin; install them with `{APT_COMMAND}`"
        )
    if importlib.util.find_spec("psycopg") is None:
        return f"the PostgreSQL driver psycopg is not installed; install it with `{PIP_COMMAND}`"
    try:
        _run_as_ids(run_as)
    except KeyError:
        return (
            f"running as root, and PostgreSQL refuses to run as root, but the user {run_as!r} to "
            f"run it as does not exist (`{APT_COMMAND}` creates 'postgres')"
        )
    return None


def _enterable(directory: Path, uid: int, gid: int) -> bool:
    """Whether the user ``uid`` (group ``gid``) may enter ``directory`` and every directory above it."""
    import stat

    for path in (directory, *directory.parents):
        mode = path.stat()
        if mode.st_uid == uid:
            bit = stat.S_IXUSR
        elif mode.st_gid == gid:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not mode.st_mode & bit:
            return False
    return True


def _free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _kill_postmaster(data_dir: Path) -> None:
    """Last resort when ``pg_ctl stop`` failed: SIGQUIT, then SIGKILL, the postmaster."""
    try:
        pid = int((data_dir / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return
    for sig, wait in ((signal.SIGQUIT, 5.0), (signal.SIGKILL, 5.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)


class PostgresServer:
    """A PostgreSQL server in a temporary directory, on 127.0.0.1 and a free port.

    Use it as a context manager (``with PostgresServer() as server: server.url``) or call
    :meth:`start` and :meth:`stop`. It is single use: after :meth:`stop` its directory is gone.

    Attributes:
        url: the SQLAlchemy URL of the database, ``postgresql+psycopg://postgres@127.0.0.1:PORT/unas``
            (None until started).
        port: the TCP port it listens on (None until started).
        directory: the temporary directory holding the data directory, the socket and the log.
        log_path: the server log (inside ``directory``).
    """

    def __init__(
        self,
        *,
        database: str = "unas",
        bin_dir: Path | str | None = None,
        run_as: str = DEFAULT_RUN_AS,
        settings: dict[str, str] | None = None,
        base_dir: Path | str | None = None,
        start_attempts: int = 5,
        timeout: float = 60.0,
    ) -> None:
        """Configure the server; nothing runs until :meth:`start`.

        Args:
            database: the database to create, the one :attr:`url` names.
            bin_dir: the directory of ``initdb``/``pg_ctl``/``postgres``; default
                :func:`find_postgres_bin`.
            run_as: the system user the server runs as when we are root.
            settings: server settings (``-c name=value``) added to or replacing
                :data:`DEFAULT_SETTINGS`. ``listen_addresses``, ``port`` and
                ``unix_socket_directories`` are ours and cannot be set here.
            base_dir: where the temporary directory goes (default: the system's). Keep it short:
                the unix socket path must fit in 107 bytes.
            start_attempts: how many ports to try when another process takes the probed port
                before the server binds it.
            timeout: seconds to wait for the server to start or stop.
        """
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", database):
            raise ValueError(f"database name {database!r}: use lowercase letters, digits and _")
        reserved = {"listen_addresses", "port", "unix_socket_directories"} & set(settings or {})
        if reserved:
            raise ValueError(f"settings {sorted(reserved)} are chosen by PostgresServer")
        self.database = database
        self.bin_dir = Path(bin_dir) if bin_dir is not None else None
        self.run_as = run_as
        self.settings = {**DEFAULT_SETTINGS, **(settings or {})}
        self.base_dir = Path(base_dir) if base_dir is not None else None
        self.start_attempts = max(1, start_attempts)
        self.timeout = timeout
        self.url: str | None = None
        self.password = secrets.token_urlsafe(24)  # for TCP connections (see _init_cluster)
        self.pgpass: Path | None = None  # the libpq password file; point PGPASSFILE at it
        self.port: int | None = None
        self.directory: Path | None = None
        self.log_path: Path | None = None
        self._ids: tuple[int, int] | None = None
        self._running = False
        self._finalizer: weakref.finalize[Any, Any] | None = None

    # -- paths ---------------------------------------------------------------------------

    @property
    def data_dir(self) -> Path:
        """The cluster's data directory (inside :attr:`directory`)."""
        assert self.directory is not None, "not started"
        return self.directory / "data"

    @property
    def socket_dir(self) -> Path:
        """The directory of the server's unix socket (inside :attr:`directory`)."""
        assert self.directory is not None, "not started"
        return self.directory / "socket"

    # -- running commands ----------------------------------------------------------------

    def _command(self, name: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run one of the PostgreSQL programs, as ``run_as`` when we are root."""
        assert self.bin_dir is not None and self.directory is not None
        # Our own PG* variables (PGDATA, PGPORT, PGHOST...) must not steer the throwaway server.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        # A fixed locale: initdb fails on a locale the machine has not generated.
        env.update(LC_ALL="C", LANG="C", HOME=str(self.directory))
        kwargs: dict[str, Any] = {}
        if self._ids is not None:
            # Drop root: uid, gid and root's supplementary groups (PostgreSQL checks the uid).
            kwargs.update(user=self._ids[0], group=self._ids[1], extra_groups=[])
        return subprocess.run(
            [str(self.bin_dir / name), *args],
            # cwd: the server user may not be allowed into our working directory.
            cwd=self.directory,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=self.timeout + 30,
            check=check,
            **kwargs,
        )

    def _log_tail(self, lines: int = 30) -> str:
        if self.log_path is None or not self.log_path.exists():
            return "(no server log)"
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:]) or "(empty server log)"

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> str:
        """Create the cluster, start the server and create the database.

        Returns:
            The SQLAlchemy URL of the database (also :attr:`url`).

        Raises:
            RuntimeError: PostgreSQL is not usable here (:func:`postgres_missing_reason`), the
                server is already started or was stopped, or it did not start (the message
                carries the last lines of the server log). Everything created is removed first.
        """
        if self._running or self.directory is not None:
            raise RuntimeError("PostgresServer is single use: it was already started")
        if self.bin_dir is not None:  # given: check it rather than search for one
            if not _has_programs(self.bin_dir):
                raise RuntimeError(f"no executable {', '.join(_PROGRAMS)} in {self.bin_dir}")
            reason = _missing_reason(self.run_as, need_bin=False)
        else:
            reason = postgres_missing_reason(self.run_as)
            self.bin_dir = find_postgres_bin()
        if reason is not None or self.bin_dir is None:
            raise RuntimeError(reason)
        self._ids = _run_as_ids(self.run_as)
        parent = Path(self.base_dir if self.base_dir is not None else tempfile.gettempdir()).resolve()
        if self._ids is not None and not _enterable(parent, *self._ids):
            # Found here, with a clear message, rather than as initdb's "Permission denied".
            raise RuntimeError(
                f"the server user {self.run_as!r} cannot enter {parent} (a directory on the way is "
                "closed to it); pass a base_dir it can reach, such as /tmp"
            )
        self.directory = Path(tempfile.mkdtemp(prefix="unas-pg-", dir=parent))
        self.log_path = self.directory / "server.log"
        # Whatever happens to this process short of SIGKILL, do not leave a server behind.
        self._finalizer = weakref.finalize(
            self, PostgresServer._cleanup, self.bin_dir, self.directory, self._ids, os.getpid()
        )
        try:
            self._init_cluster()
            self._start_on_free_port()
            self._create_database()
        except RuntimeError:
            self.stop()  # the message already carries the server log
            raise
        except Exception as error:
            # initdb failed (its stderr says why), or the server did not answer on its port.
            log = self._log_tail()
            self.stop()
            detail = f"\n{error.stderr.strip()}" if isinstance(error, subprocess.CalledProcessError) else ""
            raise RuntimeError(
                f"PostgreSQL server did not start: {error}{detail}\nserver log (last lines):\n{log}"
            ) from error
        except BaseException:
            self.stop()  # KeyboardInterrupt and the like: clean up, then let it through
            raise
        self._write_pgpass()
        # No password in the URL (unified-nas refuses one: the URL is kept in run reports); libpq
        # finds it in the file PGPASSFILE names, as a user's ~/.pgpass would hold it.
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{self.database}"
        return self.url

    def _write_pgpass(self) -> None:
        """A libpq password file for this server, readable by this process's user only (libpq insists on 0600)."""
        fd, path = tempfile.mkstemp(prefix="unas-pgpass-")
        with os.fdopen(fd, "w") as f:
            f.write(f"127.0.0.1:{self.port}:*:postgres:{self.password}\n")
        self.pgpass = Path(path)

    def _init_cluster(self) -> None:
        assert self.directory is not None and self.log_path is not None
        self.socket_dir.mkdir()
        self.log_path.touch()
        if self._ids is not None:
            # The server user must own its data directory (initdb insists on it) and write the
            # socket and the log; mkdtemp's 0700 keeps everyone else out.
            for path in (self.directory, self.socket_dir, self.log_path):
                os.chown(path, *self._ids)
        # Any local user can reach 127.0.0.1, so TCP connections need a password (a random one, this
        # server's only); the unix socket, in our 0700 directory, trusts whoever can reach it.
        pwfile = self.directory / "pwfile"
        pwfile.write_text(self.password + "\n")
        pwfile.chmod(0o600)
        if self._ids is not None:
            os.chown(pwfile, *self._ids)
        self._command(
            "initdb",
            f"--pgdata={self.data_dir}",
            "--username=postgres",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            f"--pwfile={pwfile}",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",  # a throwaway cluster: no need to wait for the disk
        )

    def _start_on_free_port(self) -> None:
        """``pg_ctl start`` on a free port, with a new port if another process took the probed one."""
        assert self.log_path is not None
        for attempt in range(1, self.start_attempts + 1):
            port = self._pick_port()
            options = [
                "-c listen_addresses=127.0.0.1",  # loopback only: never reachable from the network
                f"-p {port}",
                f"-c unix_socket_directories={self.socket_dir}",
                *(f"-c {name}={value}" for name, value in self.settings.items()),
            ]
            log_start = self.log_path.stat().st_size
            result = self._command(
                "pg_ctl",
                "start",
                f"--pgdata={self.data_dir}",
                f"--log={self.log_path}",
                "--wait",
                f"--timeout={int(self.timeout)}",
                f"--options={' '.join(options)}",
                check=False,
            )
            if result.returncode == 0:
                self.port = port
                self._running = True
                return
            # Only the attempt's own log lines: an earlier attempt's bind error must not count.
            with open(self.log_path, errors="replace") as log:
                log.seek(log_start)
                attempt_log = log.read()
            if _PORT_TAKEN.search(attempt_log) and attempt < self.start_attempts:
                continue  # lost the race for the port between probe and bind: try another
            _kill_postmaster(self.data_dir)  # a server half up after a timeout
            raise RuntimeError(
                f"pg_ctl start failed (exit {result.returncode}) on port {port}: "
                f"{(result.stderr or result.stdout).strip()}\nserver log (last lines):\n{self._log_tail()}"
            )

    def _pick_port(self) -> int:
        """A free port on 127.0.0.1; a separate method so tests can force a taken one."""
        return _free_port()

    def _create_database(self) -> None:
        import psycopg

        # Over TCP, as the URL will be used: this also proves the server answers on 127.0.0.1.
        with psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            user="postgres",
            password=self.password,
            dbname="postgres",
            autocommit=True,
            connect_timeout=10,
        ) as connection:
            connection.execute(f'CREATE DATABASE "{self.database}"')  # name checked in __init__

    def stop(self) -> None:
        """Stop the server (``pg_ctl stop -m fast``, waiting for it) and remove its directory.

        Safe to call twice, and after a failed :meth:`start`.
        """
        self._running = False
        if self._finalizer is not None:
            self._finalizer()  # runs _cleanup once; later calls do nothing
        if self.pgpass is not None:
            self.pgpass.unlink(missing_ok=True)

    @staticmethod
    def _cleanup(bin_dir: Path, directory: Path, ids: tuple[int, int] | None, owner_pid: int) -> None:
        # A staticmethod with no reference to the server, so weakref.finalize can call it
        # at exit without keeping the object alive.
        if os.getpid() != owner_pid:
            return  # a forked child exiting: the server belongs to the parent, leave it running
        data_dir = directory / "data"
        if (data_dir / "postmaster.pid").exists():
            kwargs: dict[str, Any] = {}
            if ids is not None:
                kwargs.update(user=ids[0], group=ids[1], extra_groups=[])
            try:
                subprocess.run(
                    [str(bin_dir / "pg_ctl"), "stop", f"--pgdata={data_dir}", "--mode=fast", "--wait", "--timeout=60"],
                    cwd=directory,
                    env={**{k: v for k, v in os.environ.items() if not k.startswith("PG")}, "LC_ALL": "C"},
                    stdin=subprocess.DEVNULL,
                    capture_output=True,
                    timeout=90,
                    check=True,
                )
            except (OSError, subprocess.SubprocessError):
                _kill_postmaster(data_dir)
        shutil.rmtree(directory, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self._running else "stopped"
        return f"PostgresServer(url={self.url!r}, {state})"
