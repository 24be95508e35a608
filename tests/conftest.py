"""Shared fixtures: small real recipes on scikit-learn's bundled data, and the CLI as a user's shell runs it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

# Shared check functions outside test modules: pytest rewrites their asserts only when told before the import.
pytest.register_assert_rewrite("tests.backends.faults")

from unified_nas.recipe import Recipe, load_recipe, parse_recipe  # noqa: E402

# A test session started in the background by a non-interactive shell (`make test &`, a CI script's
# `( ... & )`) inherits SIGINT ignored, and Python then never raises KeyboardInterrupt: the Ctrl-C tests
# (tests/unit/test_bench_interrupt.py, test_dask_executor.py, the NNI interrupt test) would fail for the
# wrong reason. Restore Python's own handler; the test processes started from here get it too.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

ROOT = Path(__file__).resolve().parent.parent
ALL_RECIPES = sorted((ROOT / "recipes").glob("*.yaml"))
# Table recipes (evaluation: {table: ...}) have no data to build or train their networks on.
TABLE_RECIPES = [p for p in ALL_RECIPES if load_recipe(p).evaluation.table is not None]
RECIPES = [p for p in ALL_RECIPES if p not in TABLE_RECIPES]  # recipes that train


def tiny_recipe(space: dict, data: str = "digits", training: dict | None = None, **top) -> Recipe:
    """A recipe with one epoch per trial, for fast real searches."""
    raw = {
        "name": "tiny",
        "data": {"name": data},
        "space": space,
        "training": {"epochs": 1, "batch_size": 64, **(training or {})},
        **top,
    }
    return parse_recipe(raw, source=repr(raw))


def run_on(backend: str, recipe: Recipe, store, tmp_path: Path, **kw):
    """A real run of ``recipe`` on ``backend``, run directories under ``tmp_path/runs``, no progress output."""
    from unified_nas.runs.runner import run_recipe

    return run_recipe(recipe, backend, store=store, runs_dir=tmp_path / "runs", progress=False, **kw)


# One thread per framework: a busy CI machine must not turn a 0.2 s trial into 20 s (torch's OpenMP spinning).
ONE_THREAD = {"OMP_NUM_THREADS": "1", "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"}


def _cli(args: tuple[object, ...], prelude: str | None = None) -> list[str]:
    if prelude is None:
        return [sys.executable, "-m", "unified_nas.cli", *map(str, args)]
    code = f"import sys; {prelude}; from unified_nas.cli import main; sys.exit(main(sys.argv[1:]))"
    return [sys.executable, "-c", code, *map(str, args)]


def _cli_env(env: Mapping[str, str] | None) -> dict[str, str]:
    # Read at call time, not import time: the postgres_url fixture sets PGPASSFILE for the processes it serves.
    return {**os.environ, **ONE_THREAD, **(env or {})}


def unas(
    *args: object,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    timeout: float = 600,
    input: str | None = None,
    prelude: str | None = None,
    **kw: Any,
) -> subprocess.CompletedProcess[str]:
    """Runs ``unas ARGS`` (``python -m unified_nas.cli``) to its end, as a user's shell would.

    Args:
        args: The command line; paths and numbers are turned into text.
        cwd: The working directory (the CLI's defaults, ``unas.sqlite`` and ``unas-runs/``, go there).
        env: Variables on top of this process's environment and :data:`ONE_THREAD`.
        timeout: Seconds before the run is killed and the test fails (a hang must not stall the suite).
        input: Text for the command's standard input.
        prelude: Python the new interpreter runs before the CLI, e.g. ``sys.modules['distributed'] = None``
            (as if that package were not installed).
        kw: Further arguments of :func:`subprocess.run`, e.g. ``preexec_fn``.

    Returns:
        The finished process, with its ``stdout`` and ``stderr`` as text.
    """
    return subprocess.run(
        _cli(args, prelude),
        cwd=cwd,
        env=_cli_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        input=input,
        **kw,
    )


_STARTED: list[subprocess.Popen[str]] = []


def start_unas(*args: object, cwd: Path, env: Mapping[str, str] | None = None, **kw: Any) -> subprocess.Popen[str]:
    """Starts ``unas ARGS`` like :func:`unas` without waiting for it: for runs a test kills, interrupts or joins.

    Its ``stdout`` and ``stderr`` are text pipes unless ``kw`` says otherwise (e.g. ``stdout=subprocess.DEVNULL``);
    a process still running when its test ends is killed then.
    """
    pipes: dict[str, Any] = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    proc = subprocess.Popen(_cli(args), cwd=cwd, env=_cli_env(env), text=True, **{**pipes, **kw})
    _STARTED.append(proc)
    return proc


@pytest.fixture(autouse=True)
def _no_cli_process_outlives_its_test() -> Iterator[None]:
    """A failed test (an assertion, a timeout) must not leave a run or worker waiting on the machine for good."""
    yield
    while _STARTED:
        proc = _STARTED.pop()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.fixture
def mlp_recipe() -> Recipe:
    return tiny_recipe(
        {"depth": {"low": 1, "high": 2}, "layer": {"op": "linear", "width": [16, 32], "activation": ["relu", "tanh"]}},
        training={"lr": {"low": 1e-3, "high": 1e-2, "log": True}},
    )


@pytest.fixture
def store(tmp_path):
    from unified_nas.report.store import ResultsStore

    s = ResultsStore(tmp_path / "unas.sqlite")
    yield s
    s.close()


def edited_recipe(path: Path, **sections: Mapping[str, Any]) -> Recipe:
    """A recipe file with some of its sections' fields changed, parsed from the changed text.

    The stored run's copy of the recipe is that text, so a report says what actually ran
    (``unas.run`` refuses a Recipe object altered after parsing for the same reason).

    Args:
        path: The recipe file.
        sections: Per top-level section (``data``, ``training``...), the fields to set in it.

    Returns:
        The changed recipe, relative paths still resolved from the file's folder.
    """
    import yaml

    raw: dict[str, Any] = yaml.safe_load(path.read_text())
    for name, fields in sections.items():
        raw[name] = {**(raw.get(name) or {}), **fields}
    return parse_recipe(raw, source=yaml.safe_dump(raw, sort_keys=False), base_dir=str(path.parent))


def require_image_set(name: str) -> None:
    """Skips, with the install command, unless the built-in image data set ``name`` is installed.

    Fails instead under ``UNAS_REQUIRE_IMAGE_DATA=1`` (set by .ci/run, which installs them), so CI
    never silently skips the tests on real images.
    """
    import os

    from unified_nas.core.errors import UserError
    from unified_nas.data.builtin import IMAGE_SETS

    try:
        IMAGE_SETS[name].folder(name)
    except UserError as e:
        if os.environ.get("UNAS_REQUIRE_IMAGE_DATA", "") not in ("", "0"):
            pytest.fail(f"UNAS_REQUIRE_IMAGE_DATA is set but {e}", pytrace=False)
        pytest.skip(str(e))


@pytest.fixture()
def fashion_mnist() -> None:
    """Requires the real Fashion-MNIST (:func:`require_image_set`)."""
    require_image_set("fashion_mnist")


@pytest.fixture(scope="session")
def postgres_url():
    """The SQLAlchemy URL of a real PostgreSQL database, one server for the whole session.

    ``postgresql+psycopg://postgres@127.0.0.1:PORT/unas``, for e.g. ``optuna.storages.RDBStorage``.
    Skips, with what to install, when PostgreSQL or psycopg is missing; fails instead under
    ``UNAS_REQUIRE_POSTGRES=1`` (set by .ci/run), so CI never silently skips these tests.
    """
    import os

    from tests.support.postgres import PostgresServer, postgres_missing_reason

    reason = postgres_missing_reason()
    if reason is not None:
        if os.environ.get("UNAS_REQUIRE_POSTGRES", "") not in ("", "0"):
            pytest.fail(f"UNAS_REQUIRE_POSTGRES is set but PostgreSQL is not usable: {reason}", pytrace=False)
        pytest.skip(reason)
    with PostgresServer() as server:
        # The password of TCP connections is in the server's libpq password file, as a user's
        # ~/.pgpass would hold it; subprocesses (unas run, unas worker) inherit the variable.
        before = os.environ.get("PGPASSFILE")
        os.environ["PGPASSFILE"] = str(server.pgpass)
        try:
            yield server.url
        finally:
            if before is None:
                os.environ.pop("PGPASSFILE", None)
            else:
                os.environ["PGPASSFILE"] = before
