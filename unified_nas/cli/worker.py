"""``unas worker``: joins a run's shared search (started with ``unas run ... --storage URL``) from another process."""

from __future__ import annotations

import argparse

from unified_nas.cli.common import DEVICE_HELP, EXIT_OK, THREADS_HELP, Subparsers, int_at_least, threads_value
from unified_nas.runs.runner import join_run


def add_parser(sub: Subparsers) -> argparse.ArgumentParser:
    """Adds ``unas worker`` and its arguments to ``sub``; returns its parser."""
    w = sub.add_parser("worker", help="join a run's shared search (started with `unas run ... --storage URL`)")
    w.add_argument("run_id", metavar="RUN_ID")
    w.add_argument("--storage", required=True, metavar="URL", help="the storage the run was started with")
    w.add_argument(
        "--trials", type=int_at_least(1), help="at most N trials here (default: until the run's budget is done)"
    )
    w.add_argument("--backend", help="the run's backend (default: the one installed backend that shares searches)")
    w.add_argument("--threads", type=threads_value, help=THREADS_HELP)
    w.add_argument("--device", help=DEVICE_HELP)
    w.add_argument("--quiet", action="store_true", help="no progress output")
    return w


def handle(a: argparse.Namespace) -> int:
    ran = join_run(
        a.run_id,
        a.storage,
        backend_name=a.backend,
        trials=a.trials,
        threads=a.threads,
        device=a.device,
        progress=not a.quiet,
    )
    print(f"worker: ran {ran} trial(s) of run {a.run_id}; they are stored by the run's first process")
    return EXIT_OK
