"""``unas validate``: checks a recipe (and its data, and optionally each backend's view of it) without running it."""

from __future__ import annotations

import argparse

from unified_nas.benchmark.preflight import preflight
from unified_nas.cli.common import EXIT_OK, Subparsers
from unified_nas.recipe import load_recipe
from unified_nas.runs.runner import check_data_fits
from unified_nas.space import space_size
from unified_nas.tables.recipes import load_recipe_data


def add_parser(sub: Subparsers) -> argparse.ArgumentParser:
    """Adds ``unas validate`` and its arguments to ``sub``; returns its parser."""
    v = sub.add_parser("validate", help="check a recipe without running it")
    v.add_argument("recipe")
    v.add_argument(
        "--backend",
        action="append",
        default=[],
        help="also check it as a run on this backend would, toolkit included (strategy arguments); repeatable",
    )
    return v


def handle(a: argparse.Namespace) -> int:
    recipe = load_recipe(a.recipe)
    data = load_recipe_data(recipe)
    check_data_fits(recipe, data)
    if a.backend:  # one process per backend, as a benchmark checks them (a process holds one Keras backend)
        preflight({name: [(recipe, {}, recipe.seed, None, None)] for name in a.backend})
    decls = recipe.space.decls()
    print(
        f"{a.recipe}: ok ({recipe.space.kind} space, {len(decls)} parameters, size {space_size(decls)},"
        f" data {data.name} {data.split.sizes})" + (f"; backends {', '.join(a.backend)} ok" if a.backend else "")
    )
    return EXIT_OK
