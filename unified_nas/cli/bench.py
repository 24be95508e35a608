"""``unas bench``: one recipe (or a suite of them) across backends and seeds, and the comparison reports."""

from __future__ import annotations

import argparse
import sys

from unified_nas.api import bench
from unified_nas.benchmark.inputs import TABLE_SEEDS, TRAINED_SEEDS
from unified_nas.cli.common import (
    DEFAULT_FIRST_HELP,
    DEVICE_HELP,
    EXIT_OK,
    EXIT_RUNTIME,
    THREADS_HELP,
    Subparsers,
    int_at_least,
    positive_float,
    threads_value,
)
from unified_nas.core.errors import UserError
from unified_nas.report.store import DEFAULT_STORE
from unified_nas.runs.threads import MAX_THREADS


def add_parser(sub: Subparsers) -> argparse.ArgumentParser:
    """Adds ``unas bench`` and its arguments to ``sub``; returns its parser."""
    be = sub.add_parser(
        "bench",
        help="benchmark recipes across backends and seeds, and write the comparison report(s)",
        description="Benchmark a recipe across backends and seeds. Several recipes, or one suite file "
        "(YAML: recipes: [paths relative to it], optional name:), run one benchmark per recipe with the "
        "same flags and add a suite report comparing them.",
    )
    be.add_argument("recipes", nargs="+", metavar="RECIPE", help="recipe YAML file(s), or one suite file")
    be.add_argument(
        "--backends",
        help="comma-separated (default: every installed backend that is a NAS toolkit, see `unas backends`)",
    )
    be.add_argument(
        "--seeds",
        type=int_at_least(1),
        default=None,
        help=f"seeds per backend, from the recipe's seed up (default: {TABLE_SEEDS} for a recipe evaluated "
        f"by a table or a proxy, else {TRAINED_SEEDS}; per recipe in a suite)",
    )
    be.add_argument("--trials", type=int_at_least(1), help="trial budget per run (overrides the recipe)")
    be.add_argument("--time", type=positive_float, dest="time_s", metavar="SECONDS", help="wall-clock budget per run")
    be.add_argument(
        "--strategy",
        action="append",
        default=[],
        metavar="BACKEND=NAME",
        help="strategy for one backend (repeatable), e.g. --strategy nni=random",
    )
    be.add_argument(
        "--jobs",
        type=int_at_least(1, MAX_THREADS),
        default=1,
        help="runs at once, each in a process apart (default 1)",
    )
    be.add_argument(
        "--runs-per-process",
        type=runs_value,
        default=None,
        metavar="N|auto",
        help="runs one process does one after the other, paying its toolkit's imports once; each run is "
        "as isolated as in a process of its own (default auto: 100 for table and proxy recipes, "
        "20 for trained ones)",
    )
    be.add_argument("--threads", type=threads_value, help=THREADS_HELP + "; per run")
    be.add_argument("--device", help=DEVICE_HELP)
    be.add_argument("--default-first", action="store_true", help=DEFAULT_FIRST_HELP + " (every backend)")
    be.add_argument(
        "--retrain",
        type=int_at_least(0),
        default=0,
        metavar="R",
        help="retrain each incumbent R times from scratch (torch protocol) for its test accuracy",
    )
    be.add_argument("--resume", action="store_true", help="continue the latest benchmark with the same settings")
    be.add_argument("--store", default=DEFAULT_STORE)
    be.add_argument("--runs-dir", default=None, help="where run directories and reports go (default: unas-runs/)")
    be.add_argument(
        "--executor",
        choices=("local", "dask"),
        default="local",
        help="where runs execute: local processes (default), or dask: each run a Dask task, one per worker "
        "process at a time (pip install 'unified-nas[dask]')",
    )
    be.add_argument(
        "--scheduler",
        metavar="tcp://HOST:PORT",
        help="with --executor dask: a running Dask scheduler, whose workers were started with "
        "--nthreads 1 --resources unas_run=1 and see the recipe and --runs-dir at the same paths "
        "(default: a local cluster on 127.0.0.1 with --jobs workers)",
    )
    return be


def runs_value(text: str) -> int | None:
    """``--runs-per-process``: a count of at least 1, or ``auto`` (None).

    Raises:
        argparse.ArgumentTypeError: Anything else.
    """
    if text == "auto":
        return None
    return int_at_least(1)(text)


def handle(a: argparse.Namespace) -> int:
    strategies = {}
    for item in a.strategy:
        name, sep, strat = item.partition("=")
        if not sep or not name or not strat:
            raise UserError(f"--strategy: expected BACKEND=NAME, got {item!r}")
        strategies[name] = strat
    result = bench(
        a.recipes,
        backends=a.backends,
        seeds=a.seeds,
        trials=a.trials,
        time_s=a.time_s,
        strategies=strategies,
        jobs=a.jobs,
        threads=a.threads,
        retrain=a.retrain,
        default_first=a.default_first,
        resume=a.resume,
        store=a.store,
        runs_dir=a.runs_dir or None,
        executor=a.executor,
        device=a.device,
        scheduler=a.scheduler,
        runs_per_process=a.runs_per_process,
    )
    for bench_id, paths in result.reports.items():
        print(f"benchmark {bench_id}: reports {', '.join(paths)}")
    if result.suite_id is not None:
        print(f"suite {result.suite_id}: reports {', '.join(result.suite_reports)}")
    print(f"view again: unas report {result.id} --format html|md|json --store {a.store}")
    bad = result.incomplete()
    if bad:
        print("unas: error: some runs did not complete (kept in the report): " + "; ".join(bad), file=sys.stderr)
        return EXIT_RUNTIME
    return EXIT_OK
