"""``unas run``: a search of one recipe on one backend, or the resumption of a stopped run, and its summary.

The summary's exit status says whether the run found anything: 1 if no trial
completed.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from unified_nas.api import run
from unified_nas.cli.common import (
    DEFAULT_FIRST_HELP,
    DEVICE_HELP,
    EXIT_OK,
    EXIT_RUNTIME,
    THREADS_HELP,
    Subparsers,
    existing_store,
    int_at_least,
    positive_float,
    threads_value,
)
from unified_nas.core.errors import UserError
from unified_nas.core.limits import MAX_SEED
from unified_nas.report.render import status_counts
from unified_nas.report.store import DEFAULT_STORE
from unified_nas.runs.options import parse_assignments
from unified_nas.runs.runner import resume_run

if TYPE_CHECKING:
    from unified_nas.report.records import RunReport


def add_parser(sub: Subparsers) -> argparse.ArgumentParser:
    """Adds ``unas run`` and its arguments to ``sub``; returns its parser."""
    r = sub.add_parser("run", help="run a recipe on one backend, or resume a stopped run")
    r.add_argument("recipe", nargs="?", help="recipe YAML file")
    r.add_argument("--backend", help="backend name (see `unas backends`)")
    r.add_argument(
        "--resume",
        metavar="RUN_ID",
        help="continue a killed, interrupted or failed run (id, unique "
        "prefix or 'latest') until its budget is spent; finished trials are kept, not redone",
    )
    r.add_argument("--strategy", help="unified strategy name (default: the recipe's, else the backend's)")
    r.add_argument("--trials", type=int_at_least(1), help="trial budget (overrides the recipe)")
    r.add_argument("--time", type=positive_float, dest="time_s", metavar="SECONDS", help="wall-clock budget")
    r.add_argument("--seed", type=int_at_least(0, MAX_SEED), help="run seed (overrides the recipe)")
    r.add_argument("--pruner", help="early stopping of bad trials (the backend's pruners: see `unas backends`)")
    r.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a backend option (repeatable), e.g. --option engine=web; each backend's options: `unas backends`",
    )
    r.add_argument("--store", default=DEFAULT_STORE, help=f"results store (default ./{DEFAULT_STORE})")
    r.add_argument("--runs-dir", default=None, help="where run directories go (default: unas-runs/ beside the store)")
    r.add_argument("--threads", type=threads_value, help=THREADS_HELP)
    r.add_argument("--default-first", action="store_true", help=DEFAULT_FIRST_HELP)
    r.add_argument("--device", help=DEVICE_HELP)
    r.add_argument(
        "--storage",
        metavar="URL",
        help="share the search through this storage (a database URL or journal file; backends that can: Optuna); "
        "other processes join with `unas worker RUN_ID --storage URL`",
    )
    r.add_argument("--quiet", action="store_true", help="no progress output")
    return r


def handle(a: argparse.Namespace) -> int:
    if a.resume is not None:
        given = [
            f
            for f, v in (
                ("RECIPE", a.recipe),
                ("--backend", a.backend),
                ("--strategy", a.strategy),
                ("--trials", a.trials),
                ("--time", a.time_s),
                ("--seed", a.seed),
                ("--pruner", a.pruner),
                ("--option", a.option or None),
                ("--runs-dir", a.runs_dir),
                ("--default-first", a.default_first or None),
                ("--device", a.device),
                ("--storage", a.storage),
            )
            if v is not None
        ]
        if given:
            raise UserError(f"--resume continues a stored run as it was started; drop {', '.join(given)}")
        return _summary(
            resume_run(
                a.resume, store=existing_store(a.store, readonly=False), progress=not a.quiet, threads=a.threads
            ),
            a.store,
        )
    if a.recipe is None or a.backend is None:
        raise UserError("run needs a RECIPE and --backend (or --resume RUN_ID)")
    report = run(
        a.recipe,
        a.backend,
        strategy=a.strategy,
        trials=a.trials,
        time_s=a.time_s,
        seed=a.seed,
        pruner=a.pruner,
        option_texts=parse_assignments(a.option),
        options={
            **({"default_first": True} if a.default_first else {}),
            **({"storage": a.storage} if a.storage is not None else {}),
        }
        or None,
        threads=a.threads,
        device=a.device,
        store=a.store,
        runs_dir=a.runs_dir or None,
        progress=not a.quiet,
    )
    return _summary(report, a.store)


def _summary(report: RunReport, store: str) -> int:
    """Prints a finished run's summary; exit 1 if no trial completed (a run that found nothing did not work)."""
    spent, inc = report.budget_spent, report.incumbent
    print(f"run {report.run_id}: {status_counts(spent, number_first=True)} in {spent['wall_s']:.1f}s")
    if report.stopped_early:
        print(f"stopped early: {report.stopped_early}")
    if inc:
        key = "true_accuracy" if report.by_table else "test_accuracy"
        shown = "-" if inc.get(key) is None else f"{inc[key]:.4g}"
        print(f"best: trial {inc['index']} {report.objectives[0]['metric']}={inc['objectives'][0]:.4g} ({key} {shown})")
    print(f"report: unas report {report.run_id} --store {store}   (files in {report.run_dir})")
    if not spent["complete"]:
        first = next((t.error for t in report.trials if t.error), None)
        why = f"; first error: {first.strip().splitlines()[-1][:300]}" if first else ""
        print(
            f"unas: error: no trial completed ({spent['failed']} failed, {spent['pruned']} pruned"
            f"{', ' + str(spent['infeasible']) + ' infeasible' if spent.get('infeasible') else ''}){why}",
            file=sys.stderr,
        )
        return EXIT_RUNTIME
    return EXIT_OK
