"""unified-nas: one NAS recipe, run and compared across NNI, Optuna and AutoKeras.

Importing this package imports no toolkit (no torch, tensorflow, nni, optuna
or autokeras); backends are imported by name on first use.
"""

from __future__ import annotations

__version__ = "0.1.0"

from unified_nas.errors import RecipeError, UnasError, UserError
from unified_nas.recipe import Recipe, load_recipe, parse_recipe

__all__ = ["RecipeError", "Recipe", "UnasError", "UserError", "__version__", "load_recipe", "parse_recipe"]
