"""Inference latency: measured on the exported model (:mod:`.measure`), and predicted from a per-op lookup table (:mod:`.table`).

This module re-exports both, so ``from unified_nas.evaluation.latency import
...`` reaches every public name.
"""

from __future__ import annotations

from unified_nas.evaluation.latency.measure import (
    DEFAULT_REPEATS,
    DEFAULT_WARMUP,
    RUNTIMES,
    Latency,
    measure_latency,
    sample_latency,
)
from unified_nas.evaluation.latency.table import TABLE_REPEATS, TABLE_WARMUP, OpLatencyTable, op_key

__all__ = [
    "DEFAULT_REPEATS",
    "DEFAULT_WARMUP",
    "RUNTIMES",
    "TABLE_REPEATS",
    "TABLE_WARMUP",
    "Latency",
    "OpLatencyTable",
    "measure_latency",
    "op_key",
    "sample_latency",
]
