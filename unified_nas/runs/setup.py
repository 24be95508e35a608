"""The one set-up of a run (new, resumed or joined) and the checks that come before anything is written."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from unified_nas.backends.base import Backend as BaseBackend
from unified_nas.backends.base import Options
from unified_nas.core.errors import RecipeError, UserError
from unified_nas.data import Dataset, check_same_data
from unified_nas.evaluation.devices import Device, resolve_device, use_device
from unified_nas.evaluation.evaluators import Evaluator, make_evaluator
from unified_nas.recipe import Recipe
from unified_nas.runs.threads import apply_threads, plan_threads
from unified_nas.space.ops import SPATIAL_FAMILIES
from unified_nas.space.spaces import CellSpace, DenseCellSpace
from unified_nas.tables.recipes import load_recipe_data


def check_data_fits(recipe: Recipe, data: Dataset) -> None:
    """Spatial ops and cell spaces need image data.

    Raises:
        RecipeError: Naming the space field that does not fit the data.
    """
    if data.kind == "image":
        return
    if isinstance(recipe.space.network, (CellSpace, DenseCellSpace)):
        raise RecipeError("space.type", f"a cell space needs image data; {data.name} is tabular")
    for i, layer in enumerate(recipe.space.network.layers):
        ops = layer.op.choices if hasattr(layer.op, "choices") else (layer.op,)
        if any(o in SPATIAL_FAMILIES for o in ops):
            raise RecipeError(f"space.layers[{i}].op", f"spatial ops need image data; {data.name} is tabular")


@dataclass(frozen=True)
class Setup:
    """What every way into a run (new, resumed, joined) prepares the same way before its search starts."""

    data: Dataset
    evaluator: Evaluator
    threads: dict[str, Any]  # what the frameworks report back (apply_threads), for the report
    device: Device


def set_up(
    recipe: Recipe,
    backend: BaseBackend[Any, Any],
    options: Options,
    seed: int,
    *,
    expect_data: tuple[Mapping[str, str], str] | None,
    threads: int | str | None,
    jobs: int,
    device: str | None,
) -> Setup:
    """The one set-up of a run, for :func:`run_recipe`, :func:`resume_run` and :func:`join_run` alike.

    In this order, each step a refusal before anything is written: the backend's
    gaps, the data (and its digests, where the caller expects some), whether the
    space fits it, the evaluator (a table's package), the device (CUDA where
    there is none), then the toolkit's heavy imports (not booked as search time)
    and the framework threads.

    Args:
        recipe: The recipe.
        backend: The backend.
        options: Its resolved options.
        seed: The run seed.
        expect_data: ``(digests, message)``: the data must have these digests, else the message
            (with the digests appended) is the error; None: any data.
        threads: ``--threads`` (see :func:`~unified_nas.runs.threads.plan_threads`).
        jobs: Runs sharing this machine's cores at once.
        device: The device spec (``--device``, the recipe's, or the stored run's).

    Returns:
        The data, evaluator, thread record and device.

    Raises:
        UserError: Any refusal above, naming its cause.
    """
    backend.check(recipe, options)
    data = load_recipe_data(recipe)
    if expect_data is not None:
        check_same_data(expect_data[0], data, expect_data[1])
    check_data_fits(recipe, data)
    evaluator = make_evaluator(recipe, data, seed)  # a table's package is missing: refused here
    thread_count, thread_source = plan_threads(threads, jobs)
    chosen = _use_device(device)  # an empty --device is refused, not taken as the default
    backend.prepare(options)  # heavy imports now, so they are not booked as search time
    return Setup(data, evaluator, apply_threads(thread_count, thread_source), chosen)


def _use_device(spec: str | None) -> Device:
    """Resolves the run's device and makes it this process's (and its children's) training device.

    Raises:
        UserError: CUDA asked for where there is none.
    """
    chosen = resolve_device(spec)
    use_device(chosen)
    return chosen


def check_creatable(path: Path) -> None:
    """Refuses a directory that cannot be made, before the store is created.

    Raises:
        UserError: If the nearest existing ancestor is not a writable folder.
    """
    parent = path
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise UserError(f"cannot create run directory {path}: {parent} is not a writable folder")
