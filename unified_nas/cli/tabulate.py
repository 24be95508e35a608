"""``unas tabulate``: trains sampled (or all) architectures of a recipe into a table of your own, resumably."""

from __future__ import annotations

import argparse
from pathlib import Path

from unified_nas.cli.common import EXIT_OK, THREADS_HELP, Subparsers, int_at_least, threads_value
from unified_nas.commands.tabulate import tabulate
from unified_nas.core.errors import UserError
from unified_nas.core.limits import MAX_SEED
from unified_nas.recipe import load_recipe
from unified_nas.runs.threads import apply_threads, plan_threads
from unified_nas.tables.own_format import default_table_path


def add_parser(sub: Subparsers) -> argparse.ArgumentParser:
    """Adds ``unas tabulate`` and its arguments to ``sub``; returns its parser."""
    tab = sub.add_parser(
        "tabulate",
        help="train sampled (or all) architectures of a recipe into a table of your own, resumably",
        description="Train N distinct architectures drawn with the recipe's seed (or every architecture of a "
        "finite space) under the recipe's protocol, with every zero-cost proxy, into a SQLite table. Each "
        "architecture is committed when it finishes; the same command again resumes, skipping those stored.",
    )
    tab.add_argument("recipe", help="recipe YAML file (one that trains)")
    how = tab.add_mutually_exclusive_group(required=True)
    how.add_argument("--sample", type=int_at_least(1), metavar="N", help="N distinct architectures, seeded")
    how.add_argument("--all", action="store_true", help="every architecture of a finite space")
    tab.add_argument("--out", help="table file (default: unas-tables/<recipe name>.sqlite)")
    tab.add_argument(
        "--seed", type=int_at_least(0, MAX_SEED), help="training and sampling seed (default: the recipe's)"
    )
    tab.add_argument("--threads", type=threads_value, help=THREADS_HELP)
    tab.add_argument("--quiet", action="store_true", help="no progress output")
    return tab


def handle(a: argparse.Namespace) -> int:
    count, source = plan_threads(a.threads)  # before torch is imported, as `unas run` does

    if a.out == "":  # not the default place: an empty name is a mistake (a shell variable unset)
        raise UserError("--out: empty file name")
    recipe = load_recipe(a.recipe)
    out = Path(a.out) if a.out is not None else default_table_path(recipe.name)
    import torch  # noqa: F401  (loaded now, so apply_threads can size its pools)

    apply_threads(count, source)
    s = tabulate(recipe, out, sample=a.sample, all=a.all, seed=a.seed, progress=not a.quiet)
    size = "infinite" if s.space_size == float("inf") else str(int(s.space_size))
    print(
        f"table {s.path}: {s.rows} architectures of a space of {size} ({s.mode} {s.requested}: trained {s.trained},"
        f" {s.failed} failed, {s.skipped} already stored) in {s.wall_s:.1f}s"
    )
    print(f"correlations: unas proxies {s.path}")
    return EXIT_OK
