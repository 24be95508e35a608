"""The search-space IR: toolkit-free, frozen, plain data."""

from unified_nas.space.decl import Condition, ParamDecl
from unified_nas.space.params import Categorical, FloatRange, IntRange
from unified_nas.space.sampling import (
    active_labels,
    canonicalize,
    enumerate_samples,
    random_sample,
    space_size,
    start_sample,
    start_values,
    validate_sample,
)
from unified_nas.space.spaces import (
    ArchConfig,
    CellConfig,
    CellSpace,
    DenseCellConfig,
    DenseCellSpace,
    LayerConfig,
    LayerSpace,
    MacroConfig,
    MacroSpace,
    SearchSpace,
    TrainingConfig,
    TrainingSpace,
)

__all__ = [
    "ArchConfig",
    "Categorical",
    "CellConfig",
    "CellSpace",
    "Condition",
    "DenseCellConfig",
    "DenseCellSpace",
    "FloatRange",
    "IntRange",
    "LayerConfig",
    "LayerSpace",
    "MacroConfig",
    "MacroSpace",
    "ParamDecl",
    "SearchSpace",
    "TrainingConfig",
    "TrainingSpace",
    "active_labels",
    "canonicalize",
    "enumerate_samples",
    "random_sample",
    "space_size",
    "start_sample",
    "start_values",
    "validate_sample",
]
