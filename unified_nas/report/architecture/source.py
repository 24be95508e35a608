"""Where a picture's inputs come from: a stored run's recipe (the space), its data (shapes) and one of its trials.

A run report keeps the recipe text it ran, so the space is parsed from that
copy (as ``unas export`` does), never from a file that may have changed
since; the data's input shape and class count are in the report too, so
drawing needs neither the data set nor a table.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from unified_nas.core.errors import SampleError, UserError
from unified_nas.recipe import load_recipe_text
from unified_nas.report.architecture.geometry import Drawing
from unified_nas.report.architecture.layout import draw_architecture
from unified_nas.report.records import RunReport, TrialRecord, pick_trial
from unified_nas.space.spaces import SearchSpace


def recipe_space(recipe: Mapping[str, Any], where: str) -> SearchSpace:
    """The search space of the recipe copy a run (or a benchmark's first run) stored.

    Args:
        recipe: The report's ``recipe``: ``text``, ``name`` and ``base_dir``.
        where: What to call the copy in messages (``run <id>``).

    Returns:
        The space.

    Raises:
        UserError: The report keeps no recipe text; RecipeError: the text is no longer a valid recipe.
    """
    text = recipe.get("text")
    if not isinstance(text, str) or not text:
        raise UserError(f"{where} keeps no recipe text to read its search space from")
    return load_recipe_text(text, str(recipe.get("base_dir", ".")), str(recipe.get("name", "recipe")), where).space


def data_shapes(data: Mapping[str, Any]) -> tuple[tuple[int, ...] | None, int | None]:
    """The input shape and class count a report's ``data`` recorded (None where it has none)."""
    shape, classes = data.get("input_shape"), data.get("num_classes")
    dims = (
        tuple(shape) if isinstance(shape, list) and shape and all(isinstance(n, int) and n > 0 for n in shape) else None
    )
    return dims, (classes if isinstance(classes, int) and classes > 0 else None)


def draw_trial(report: RunReport, trial: str) -> tuple[TrialRecord, Drawing]:
    """The picture of one trial of a stored run.

    Args:
        report: The run, with its trials.
        trial: ``best`` or a trial index.

    Returns:
        The trial and its drawing.

    Raises:
        UserError: No such trial, a trial without a sample (or one the space does not accept), or a run
            whose recipe copy cannot be read.
    """
    record = pick_trial(report, trial)
    space = recipe_space(report.recipe, f"run {report.run_id}")
    if not record.sample and space.decls():
        raise UserError(f"trial {record.index} of run {report.run_id} has no sample to draw")
    shape, classes = data_shapes(report.data)
    best = report.incumbent is not None and report.incumbent["index"] == record.index
    title = f"{report.recipe.get('name')}, {report.backend.get('name')}: trial {record.index}" + (
        " (the incumbent)" if best else f" ({record.status})"
    )
    try:
        drawing = draw_architecture(space, record.sample, shape, classes, title, f"run {report.run_id}")
    except SampleError as e:
        raise UserError(
            f"trial {record.index} of run {report.run_id} has a sample its space does not accept: {e}"
        ) from None
    return record, drawing
