"""Shared fixtures: small real recipes on scikit-learn's bundled data."""

from __future__ import annotations

from pathlib import Path

import pytest

from unified_nas.recipe import Recipe, load_recipe, parse_recipe

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


@pytest.fixture(scope="session")
def postgres_url():
    """The SQLAlchemy URL of a real PostgreSQL database, one server for the whole session.

    ``postgresql+psycopg://postgres@127.0.0.1:PORT/unas``, for e.g. ``optuna.storages.RDBStorage``.
    Skips, with what to install, when PostgreSQL or psycopg is missing; fails instead under
    ``UNAS_REQUIRE_POSTGRES=1`` (set by .ci/run), so CI never silently skips these tests.
    """
    import os

    from unified_nas.testing.postgres import PostgresServer, postgres_missing_reason

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
