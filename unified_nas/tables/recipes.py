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
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from unified_nas.errors import RecipeError
from unified_nas.space.params import Categorical, FloatRange, IntRange
from unified_nas.tables.nasbench201 import CANONICAL_CELL

if TYPE_CHECKING:
    from unified_nas.data import Dataset
    from unified_nas.evaluation import EvaluationSpec
    from unified_nas.recipe import Recipe
    from unified_nas.space import SearchSpace
    from unified_nas.space.spaces import CellSpace, DenseCellSpace
    from unified_nas.tables.nasbench201 import NasBench201Table
    from unified_nas.tables.own import OwnTable

_DISTS = (Categorical, IntRange, FloatRange)


@dataclass(frozen=True)
class TableData:
    """What a table's results were recorded on (the recipe's data, for shapes and reports).

    Attributes:
        name: The data set as the table names it.
        input_shape: One example, channels last.
        num_classes: Classes.
    """

    name: str
    input_shape: tuple[int, int, int]
    num_classes: int


@dataclass(frozen=True)
class TableInfo:
    """One tabular benchmark: its data sets and the network it recorded.

    Attributes:
        datasets: Data set name -> :class:`TableData`.
        space_kind: The IR space kind of its cell.
        ops: The ops its cells choose from (canonical names).
        nodes: Nodes per cell, the input included.
        network: Fixed fields of the space (``channels``, ``cells_per_stage``, ``skeleton``).
        epochs: Epochs each recorded training ran.
    """

    datasets: dict[str, TableData]
    space_kind: str
    ops: tuple[str, ...]
    nodes: int
    network: dict[str, Any]
    epochs: int


# NAS-Bench-201 / NATS-Bench tss: CIFAR-10 (cifar10-valid), CIFAR-100 and ImageNet16-120 (16x16 images,
# 120 classes); the network has C=16 channels in its first stage and N=5 cells per stage.
TABLES: dict[str, TableInfo] = {
    "nasbench201": TableInfo(
        datasets={
            "cifar10": TableData("cifar10-valid", (32, 32, 3), 10),
            "cifar100": TableData("cifar100", (32, 32, 3), 100),
            "imagenet": TableData("ImageNet16-120", (16, 16, 3), 120),
        },
        space_kind="dense_cell",
        ops=tuple(CANONICAL_CELL.op_names),
        nodes=4,
        network={"channels": 16, "cells_per_stage": 5, "skeleton": "nasbench201"},
        epochs=200,
    ),
}


def table_info(spec: EvaluationSpec) -> TableInfo:
    """The registry entry of a recipe's table.

    Args:
        spec: The recipe's ``evaluation`` section.

    Returns:
        The table's :class:`TableInfo`.

    Raises:
        RecipeError: Naming ``evaluation.table`` or ``evaluation.dataset``.
    """
    info = TABLES.get(spec.table or "")
    if info is None:
        raise RecipeError(
            "evaluation.table",
            f"{spec.table!r} is not one of {', '.join(TABLES)}, nor the path of a table file (unas tabulate)",
        )
    if spec.dataset not in info.datasets:
        raise RecipeError("evaluation.dataset", f"{spec.dataset!r} is not one of {', '.join(info.datasets)}")
    return info


def check_table_space(spec: EvaluationSpec, space: SearchSpace) -> None:
    """Refuses a space the table did not record.

    Args:
        spec: The recipe's ``evaluation`` section.
        space: The recipe's search space.

    Raises:
        RecipeError: Naming the space field that differs from the table's network.
    """
    info = table_info(spec)
    if space.kind != info.space_kind:
        raise RecipeError("space.type", f"table {spec.table} records a {info.space_kind} space, not {space.kind}")
    net = cast("CellSpace | DenseCellSpace", space.network)  # a table's kind (checked above) is a cell kind
    if sorted(net.ops) != sorted(info.ops):
        raise RecipeError("space.ops", f"table {spec.table} records exactly the ops {', '.join(info.ops)}")
    if net.nodes != info.nodes:
        raise RecipeError("space.nodes", f"table {spec.table} records cells of {info.nodes} nodes")
    for field, value in info.network.items():
        if getattr(net, field) != value:
            raise RecipeError(
                f"space.{field}",
                f"table {spec.table} recorded the network with {field} {value}; params and FLOPs are counted from it",
            )
    searched = [d.label for d in space.training.decls()]
    if searched:
        raise RecipeError(
            f"training.{searched[0]}",
            f"table {spec.table} was recorded with one training protocol; training hyperparameters cannot be searched",
        )


def own_table_path(spec: EvaluationSpec, base_dir: str) -> Path:
    """The file of a table made by ``unas tabulate``: its path, relative to the recipe's folder."""
    return Path(base_dir) / str(spec.table)


def open_own_table(spec: EvaluationSpec, base_dir: str) -> OwnTable:
    """Opens a recipe's table file read-only.

    Raises:
        RecipeError: ``evaluation.table``: no such file, or not a table of unified-nas.
    """
    from unified_nas.tables.own import OwnTable

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
    from unified_nas.recipe import load_recipe_text

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
    from unified_nas.tables.nasbench201 import NasBench201Table

    return NasBench201Table(str(spec.dataset))


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
    from unified_nas.data import Dataset, SplitInfo

    y = np.arange(num_classes, dtype=np.int64)
    x = np.zeros((num_classes, *input_shape), dtype=np.float32)
    split = SplitInfo(0, 0.0, 0.0, {"train": 0, "val": 0, "test": 0}, digest)
    kind = "image" if len(input_shape) == 3 else "tabular"
    return Dataset(name, kind, input_shape, num_classes, x, y, x, y, x, y, split, content or digest)
