"""The throwaway PostgreSQL server of tests/support/postgres.py, against a real server (no mocks).

The tests skip when PostgreSQL is not usable here (the reason says what to install), and fail
instead under UNAS_REQUIRE_POSTGRES=1, which .ci/run sets: CI must never skip them.
"""

from __future__ import annotations

import contextlib
import os
import socket
import uuid
import warnings
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.support.postgres import PostgresServer, find_postgres_bin, postgres_missing_reason


@pytest.fixture
def pg_usable(postgres_url: str) -> None:
    """Skips (or fails under UNAS_REQUIRE_POSTGRES=1) exactly like the session fixture it uses."""


def _decode(hex_address: str) -> str:
    """An address of /proc/net/tcp{,6}: 32-bit words in host (little-endian) byte order."""
    raw = bytes.fromhex(hex_address)
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return socket.inet_ntop(socket.AF_INET if len(raw) == 4 else socket.AF_INET6, words)


def _listeners(port: int) -> list[str]:
    """The local addresses with a TCP socket listening on ``port``, read from the kernel."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(FileNotFoundError):
            for line in Path(table).read_text().splitlines()[1:]:
                local, state = line.split()[1], line.split()[3]
                address, hex_port = local.split(":")
                if state == "0A" and int(hex_port, 16) == port:  # 0A: TCP_LISTEN
                    found.append(_decode(address))
    return found


def _non_loopback_ipv4() -> set[str]:
    """This machine's own IPv4 addresses other than 127.x (maybe none, e.g. offline)."""
    addresses = set()
    with contextlib.suppress(OSError):
        addresses |= {str(info[4][0]) for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)}
    # The address of the default route's interface: connect() on UDP sends nothing.
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.123", 9))
        addresses.add(probe.getsockname()[0])
    return {a for a in addresses if not a.startswith("127.") and a != "0.0.0.0"}


def _refused(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=3):
            return False
    except ConnectionRefusedError:
        return True


def test_missing_reason_and_bin(pg_usable: None) -> None:
    assert postgres_missing_reason() is None
    bin_dir = find_postgres_bin()
    assert bin_dir is not None
    assert all(os.access(bin_dir / name, os.X_OK) for name in ("initdb", "pg_ctl", "postgres"))


def test_listens_on_loopback_only(postgres_url: str) -> None:
    url = urlsplit(postgres_url)
    assert url.scheme == "postgresql+psycopg" and url.hostname == "127.0.0.1" and url.path == "/unas"
    assert url.port is not None
    assert _listeners(url.port) == ["127.0.0.1"]  # no 0.0.0.0, no IPv6
    for address in _non_loopback_ipv4():
        assert _refused(address, url.port), f"server reachable on {address}"


def test_server_does_not_run_as_root(postgres_url: str) -> None:
    import psycopg

    url = urlsplit(postgres_url)
    with psycopg.connect(host="127.0.0.1", port=url.port, user="postgres", dbname="unas") as connection:
        row = connection.execute("SELECT pg_backend_pid(), current_setting('max_connections')").fetchone()
        assert row is not None
        pid, max_connections = row
        # Read while connected: the backend process ends with the connection.
        status = Path(f"/proc/{pid}/status").read_text()
    assert int(max_connections) >= 50
    uid = next(line.split()[1] for line in status.splitlines() if line.startswith("Uid:"))
    assert int(uid) != 0


def test_tcp_connections_need_the_password(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Any local user can reach 127.0.0.1: without the server's password (its libpq file), no way in."""
    import psycopg

    url = urlsplit(postgres_url)
    assert url.password is None  # never in the URL: unified-nas keeps storage URLs in run reports
    monkeypatch.setenv("PGPASSFILE", "/nonexistent")
    with pytest.raises(psycopg.OperationalError, match="password"):
        psycopg.connect(host="127.0.0.1", port=url.port, user="postgres", dbname="unas", connect_timeout=5)


def test_optuna_rdb_study_with_heartbeat(postgres_url: str) -> None:
    optuna = pytest.importorskip("optuna")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    name = f"test-{uuid.uuid4().hex[:8]}"
    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # heartbeat_interval's
    storage = optuna.storages.RDBStorage(postgres_url, heartbeat_interval=1, grace_period=3)
    study = optuna.create_study(study_name=name, storage=storage, sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(lambda trial: (trial.suggest_float("x", -1.0, 1.0)) ** 2, n_trials=4)
    # A second storage (a second pool, as another process would have) sees the same trials.
    other = optuna.storages.RDBStorage(postgres_url, heartbeat_interval=1, grace_period=3)
    loaded = optuna.load_study(study_name=name, storage=other)
    trials = loaded.get_trials()
    assert len(trials) == 4
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    assert loaded.best_value == min(t.value for t in trials)
    for s in (storage, other):
        s.engine.dispose()


def test_stop_closes_port_and_removes_directory(pg_usable: None) -> None:
    server = PostgresServer()
    url = server.start()
    assert url == server.url and server.port is not None and server.directory is not None
    directory, port = server.directory, server.port
    assert directory.is_dir() and _listeners(port)
    server.stop()
    assert not directory.exists()
    assert _listeners(port) == []
    assert _refused("127.0.0.1", port)
    server.stop()  # twice is harmless
    with pytest.raises(RuntimeError, match="single use"):
        server.start()


def test_retries_when_the_port_is_taken(pg_usable: None) -> None:
    # Another process binds the probed port before the server does: the server must move on.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        picks: list[int] = []

        class RacingServer(PostgresServer):
            def _pick_port(self) -> int:
                port = taken if not picks else super()._pick_port()
                picks.append(port)
                return port

        with RacingServer() as server:
            assert picks[0] == taken and len(picks) == 2
            assert server.port == picks[1] != taken
            assert _listeners(server.port) == ["127.0.0.1"]


def test_failed_start_cleans_up_and_shows_the_log(pg_usable: None) -> None:
    server = PostgresServer(settings={"shared_buffers": "not-a-size"})
    with pytest.raises(RuntimeError, match="shared_buffers") as info:
        server.start()
    assert "server log" in str(info.value)
    assert server.directory is not None and not server.directory.exists()  # cleaned up
    assert server.url is None


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0, reason="only root hands the server to another user"
)
def test_base_dir_the_server_user_cannot_enter(pg_usable: None, tmp_path: Path) -> None:
    private = tmp_path / "private"
    private.mkdir(mode=0o700)  # root's own: the postgres user cannot enter it
    with pytest.raises(RuntimeError, match="cannot enter"):
        PostgresServer(base_dir=private).start()
    assert list(private.iterdir()) == []


def test_reserved_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="listen_addresses"):
        PostgresServer(settings={"listen_addresses": "*"})
    with pytest.raises(ValueError, match="database name"):
        PostgresServer(database="x; DROP")
