"""unified-nas: one NAS recipe, run and compared across NNI, Optuna and AutoKeras.

Importing this package imports no toolkit (no torch, tensorflow, nni, optuna
or autokeras) and no pandas; backends are imported by name on first use, and
the Python API (:func:`~unified_nas.api.run`, :func:`~unified_nas.api.bench`,
:func:`~unified_nas.api.load`) when first called::

    import unified_nas as unas

    report = unas.run("recipes/digits_mlp.yaml", backend="optuna", trials=5)
    report.to_pandas()

The package is a pipeline; each folder is a stage, and a module imports only
from its own stage or earlier ones (``tests/unit/test_layers.py`` checks every
import, function-local ones included):

1. ``core``: errors, limits, strict JSON, message text, strategy names, environment, the metric registry
2. ``space``: the search-space IR (declarations, sampling, canonical samples)
3. ``recipe``: bounded recipe text, the section types, the table catalogue, parsing
4. ``data``: data sets, untrusted data files, the seeded split
5. ``network``: the framework-neutral network plan, params and FLOPs
6. ``models``: plan -> torch module, plan -> Keras model, ONNX
7. ``tables``: NAS-Bench-201 and tables of your own (format, reader), random-search references
8. ``evaluation``: evaluators (train, table, proxy, constraints), trainer, proxies, latency, devices
9. ``report``: trial records, the results store, run renderers
10. ``runs``: options, threads, the run context, lifecycle, registry, runner; the backend contract
    (``unified_nas.backends.base``) belongs here
11. ``backends``: one folder per toolkit (``backends/`` at the repository's top level)
12. ``benchmark``: ``unas bench`` (plans, executors, workers, statistics, suites, the report)
13. ``testing``: the conformance and behaviour suites any backend can run
14. entry: ``api``, ``cli``, ``results``, ``commands`` (export, tabulate) compose everything
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

from unified_nas.core.errors import RecipeError, UnasError, UserError
from unified_nas.recipe import Recipe, load_recipe, parse_recipe

if TYPE_CHECKING:  # what type checkers see; at run time see __getattr__ below
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


def __getattr__(name: str) -> Any:
    # PEP 562: the API module is imported on first use, not with the package.
    if name in ("run", "bench", "load"):
        from unified_nas import api  # lazy: the API is imported on first use (import unified_nas stays light)

        return getattr(api, name)
    raise AttributeError(f"module 'unified_nas' has no attribute {name!r}")
