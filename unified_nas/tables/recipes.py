"""Recipes evaluated by a table: which tables exist, what they were recorded on, what a recipe must say.

A table answers for exactly the network it recorded. A recipe with
``evaluation: {table: nasbench201, dataset: cifar10}`` therefore has no
``data`` of its own (the table's data set is the data), searches the table's
cell with the table's ops, fixes the skeleton the table trained (C=16, N=5
for NAS-Bench-201: parameters and FLOPs are counted from it) and searches no
training hyperparameters (the table used one training protocol). Everything
is checked before any work, each problem a one-line error naming the field.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from unified_nas.core.errors import RecipeError
from unified_nas.data import Dataset, SplitInfo, load_dataset
from unified_nas.recipe import load_recipe_text
from unified_nas.recipe.tables import table_info
from unified_nas.space.params import Categorical, FloatRange, IntRange
from unified_nas.tables.nasbench201 import NasBench201Table
from unified_nas.tables.own import OwnTable

if TYPE_CHECKING:
    from unified_nas.data import Dataset
    from unified_nas.recipe import Recipe
    from unified_nas.recipe.sections import EvaluationSpec
    from unified_nas.tables.nasbench201 import NasBench201Table
    from unified_nas.tables.own import OwnTable

_DISTS = (Categorical, IntRange, FloatRange)


def own_table_path(spec: EvaluationSpec, base_dir: str) -> Path:
    """The file of a table made by ``unas tabulate``: its path, relative to the recipe's folder."""
    return Path(base_dir) / str(spec.table)


def open_own_table(spec: EvaluationSpec, base_dir: str) -> OwnTable:
    """Opens a recipe's table file read-only.

    Raises:
        RecipeError: ``evaluation.table``: no such file, or not a table of unified-nas.
    """

    return OwnTable.open(own_table_path(spec, base_dir), field="evaluation.table")


def own_table_dataset(recipe: Recipe) -> Dataset:
    """The data of a recipe evaluated by a table file: the tabulated data's shapes, no examples to train on.

    The table must hold every architecture of the recipe's space exactly once (a search may propose
    any), and be tabulated with the recipe's training.

    Args:
        recipe: A recipe with ``evaluation: {table: PATH}``.

    Returns:
        The stand-in data set: its split digest is the table's fingerprint, its ``content_sha256``
        :attr:`OwnTable.content_sha256` (of the rows a replay reads).

    Raises:
        RecipeError: ``evaluation.table``: no table there, a damaged one, another space, only part of
            the space or rows of no architecture of it; ``training.*``: other training.
    """
    table = open_own_table(recipe.evaluation, recipe.base_dir)
    with table:
        table.check_replay(recipe.space.decls())
        _check_same_training(recipe, table)
        d = table.meta.data
        # The split digest names how the table was made (its fingerprint); the content digest is of
        # the rows a replay reads, so a table replaced by another of the same recipe is told apart.
        return _stand_in(
            f"table {table.path.name}/{d['name']}",
            tuple(d["input_shape"]),
            int(d["num_classes"]),
            table.meta.fingerprint,
            content=table.content_sha256,
        )


def _check_same_training(recipe: Recipe, table: OwnTable) -> None:
    """Refuses a replay recipe whose training differs from the tabulated one (the numbers would be another's).

    Raises:
        RecipeError: ``training``, naming the first field that differs.
    """

    made = load_recipe_text(table.meta.recipe_text, recipe.base_dir, table.meta.recipe_name, f"table {table.path}")
    for name in ("lr", "optimizer", "batch_size", "weight_decay", "dropout"):
        ours, theirs = getattr(recipe.space.training, name), getattr(made.space.training, name)
        if ours != theirs:
            raise RecipeError(
                f"training.{name}",
                f"table {table.path} was tabulated with {name} {theirs!r}, not {ours!r}; "
                "copy the training: section of its recipe (it is in the table)",
            )
    for name in ("epochs", "schedule", "patience", "loss"):
        ours, theirs = getattr(recipe.protocol, name), getattr(made.protocol, name)
        if ours != theirs:
            raise RecipeError(
                f"training.{name}",
                f"table {table.path} was tabulated with {name} {theirs!r}, not {ours!r}; "
                "copy the training: section of its recipe (it is in the table)",
            )


def open_table(spec: EvaluationSpec) -> NasBench201Table:
    """The table of a recipe (imports the optional package).

    Args:
        spec: The recipe's ``evaluation`` section.

    Returns:
        The table, ready for lookups.

    Raises:
        RecipeError: Unknown table or data set.
        UserError: The table's package is not installed (with the pip command).
    """
    table_info(spec)

    return NasBench201Table(str(spec.dataset))


def transfer_datasets(spec: EvaluationSpec) -> tuple[str, ...]:
    """The data sets of a recipe's table other than its own: where its answers can be looked up too.

    Args:
        spec: The recipe's ``evaluation`` section (a table we ship, e.g. NAS-Bench-201 on ``cifar10``).

    Returns:
        The table's other data sets, in the table's order (``cifar100``, ``imagenet`` for
        NAS-Bench-201 on ``cifar10``).

    Raises:
        RecipeError: Unknown table or data set.
    """
    return tuple(d for d in table_info(spec).datasets if d != spec.dataset)


def true_accuracies_on(spec: EvaluationSpec, dataset: str, samples: Sequence[Mapping[str, Any]]) -> list[float]:
    """What the same table recorded for each canonical sample on another of its data sets.

    The transfer of NAS-Bench-201's Table 5 (architectures searched on CIFAR-10, looked up on
    CIFAR-100 and ImageNet16-120). Each value is that data set's mean validation accuracy over its
    recorded training seeds: the sample's ``true_accuracy`` there, as a run records it on its own.

    Args:
        spec: The ``evaluation`` section the samples were searched with (its ``table`` is used).
        dataset: A data set of that table (:func:`transfer_datasets`).
        samples: Canonical samples of the table's cell (e.g. runs' incumbent samples).

    Returns:
        One accuracy (a fraction) per sample, in order.

    Raises:
        RecipeError: Unknown table or data set.
        UserError: The table's package is not installed (with the pip command).
        SampleError: A sample is not one of the table's cell.
    """
    table = open_table(replace(spec, dataset=dataset))
    means = table.all_means()
    return [float(means[table.index(s)]) for s in samples]


def table_dataset(spec: EvaluationSpec) -> Dataset:
    """The recipe's data for a table: the table's shapes, and no examples to train on.

    Backends read shapes from the data (NNI builds its model space from them,
    AutoKeras analyses a batch before its search), so each split holds one
    all-zero example per class. Nothing trains on them: the evaluator answers
    from the table. The report's data section names the table's data set.

    Args:
        spec: The recipe's ``evaluation`` section.

    Returns:
        The stand-in data set (its split digest identifies table and data set, for resume).

    Raises:
        RecipeError: Unknown table or data set.
    """
    info = table_info(spec)
    d = info.datasets[str(spec.dataset)]
    digest = hashlib.sha256(f"{spec.table}:{spec.dataset}".encode()).hexdigest()[:16]
    return _stand_in(f"{spec.table}/{d.name}", d.input_shape, d.num_classes, digest)


def _stand_in(
    name: str, input_shape: tuple[int, ...], num_classes: int, digest: str, content: str | None = None
) -> Dataset:
    """One all-zero example per class in every split (see :func:`table_dataset`).

    Args:
        name: The data set's name in reports.
        input_shape: One example's shape.
        num_classes: Classes.
        digest: Identifies the table (the split digest).
        content: Digest of the table's content (``content_sha256``); ``digest`` if None.

    Returns:
        The stand-in data set.
    """

    y = np.arange(num_classes, dtype=np.int64)
    x = np.zeros((num_classes, *input_shape), dtype=np.float32)
    split = SplitInfo(0, 0.0, 0.0, {"train": 0, "val": 0, "test": 0}, digest)
    kind = "image" if len(input_shape) == 3 else "tabular"
    return Dataset(name, kind, input_shape, num_classes, x, y, x, y, x, y, split, content or digest)


def load_recipe_data(recipe: Recipe) -> Dataset:
    """A recipe's data: its data set split, or, for a table recipe, the table's shapes without examples.

    Args:
        recipe: The recipe.

    Returns:
        The data every backend of the run shares.

    Raises:
        RecipeError: As :func:`load_dataset`.
        UserError: A table recipe whose table cannot be read here (its package is missing: the
            message holds the pip command). Every command reads its data before any work, so
            checking here refuses such a recipe before anything is written, once for all of them.
    """
    if recipe.data is None and recipe.evaluation.own_table:
        return own_table_dataset(recipe)
    if recipe.data is None:
        open_table(recipe.evaluation)
        return table_dataset(recipe.evaluation)
    return load_dataset(recipe.data, recipe.base_dir)
