"""Stage 4, data: built-in and user data sets, untrusted-file readers, the one seeded split.

``files`` reads a user's file safely; ``datasets`` loads, checks and splits.
"""

from unified_nas.data.datasets import (
    Dataset,
    Digests,
    InputTransform,
    SplitInfo,
    check_same_data,
    load_dataset,
    recorded_digests,
    same_data,
    shown_digests,
)

__all__ = [
    "Dataset",
    "Digests",
    "InputTransform",
    "SplitInfo",
    "check_same_data",
    "load_dataset",
    "recorded_digests",
    "same_data",
    "shown_digests",
]
