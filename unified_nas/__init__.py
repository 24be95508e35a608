"""unified-nas: one NAS recipe, run and compared across NNI, Optuna and AutoKeras.

Importing this package imports no toolkit (no torch, tensorflow, nni, optuna
or autokeras) and no pandas; backends are imported by name on first use, and
the Python API (:func:`~unified_nas.api.run`, :func:`~unified_nas.api.bench`,
:func:`~unified_nas.api.load`) when first called::

    import unified_nas as unas

    report = unas.run("recipes/digits_mlp.yaml", backend="optuna", trials=5)
    report.to_pandas()
"""

from __future__ import annotations

import types
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

import unified_nas.bench
from unified_nas.errors import RecipeError, UnasError, UserError
from unified_nas.recipe import Recipe, load_recipe, parse_recipe

if TYPE_CHECKING:  # what type checkers see; at run time see __getattr__ and _CallableBench below
    from unified_nas.api import bench, load, run

__all__ = [
    "RecipeError",
    "Recipe",
    "UnasError",
    "UserError",
    "__version__",
    "bench",
    "load",
    "load_recipe",
    "parse_recipe",
    "run",
]


class _CallableBench(types.ModuleType):
    """The ``unified_nas.bench`` subpackage, made callable as :func:`unified_nas.api.bench`.

    Why: importing a subpackage binds it to its parent's attribute of that name, so a function
    ``unas.bench`` would be replaced by the module at the first ``import unified_nas.bench.*``.
    Calling the subpackage itself keeps both ``unas.bench(...)`` and ``unified_nas.bench.orchestrate``.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from unified_nas.api import bench

        return bench(*args, **kwargs)

    @property
    def __wrapped__(self) -> Any:  # inspect.signature and help() show the API function's
        from unified_nas.api import bench

        return bench


unified_nas.bench.__class__ = _CallableBench


def __getattr__(name: str) -> Any:
    # PEP 562: the API module is imported on first use, not with the package.
    if name in ("run", "load"):
        from unified_nas import api

        return getattr(api, name)
    raise AttributeError(f"module 'unified_nas' has no attribute {name!r}")
