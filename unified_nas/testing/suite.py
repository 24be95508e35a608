"""``check_backend``: every conformance check and behaviour promise on one backend, in one call."""

from __future__ import annotations

from pathlib import Path

from unified_nas.core.vocabulary import UNIFIED_STRATEGIES
from unified_nas.runs.registry import get_backend
from unified_nas.testing.behaviour import PROMISES, check_promise
from unified_nas.testing.conformance import check_declared_gap, check_describe, conformance_recipes


def check_backend(name: str, tmp_dir: Path) -> None:
    """Runs all checks on one backend with its default strategy.

    Args:
        name: A registered backend.
        tmp_dir: An empty folder for stores and run directories.

    Raises:
        AssertionError: On the first violation (a behaviour promise the
            backend declares it cannot keep must fail: see
            :func:`unified_nas.testing.behaviour.check_promise`).
    """
    check_describe(name)
    offered = get_backend(name).strategies
    for strategy in UNIFIED_STRATEGIES:
        if strategy not in offered:
            check_declared_gap(name, conformance_recipes()["mlp"], strategy)
    for promise in PROMISES:  # "records" runs the default strategy on every space kind (check_run)
        check_promise(name, promise, Path(tmp_dir) / f"promise-{promise}")
