"""``unas runs``: lists the runs of a results store, one line each."""

from __future__ import annotations

import argparse

from unified_nas.cli.common import EXIT_OK, Subparsers, existing_store
from unified_nas.report.store import DEFAULT_STORE
from unified_nas.runs.lifecycle import shown_status


def add_parser(sub: Subparsers) -> argparse.ArgumentParser:
    """Adds ``unas runs`` and its arguments to ``sub``; returns its parser."""
    ls = sub.add_parser("runs", help="list stored runs")
    ls.add_argument("--store", default=DEFAULT_STORE)
    return ls


def handle(a: argparse.Namespace) -> int:
    import time

    for rid, recipe, backend, status, started, owner in existing_store(a.store).list_runs():
        print(
            f"{rid}  {recipe}  {backend}  {shown_status(status, owner)}  "
            f"{time.strftime('%Y-%m-%d %H:%M', time.localtime(started))}"
        )
    return EXIT_OK
