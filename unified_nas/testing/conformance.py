"""Backend-agnostic checks: capabilities, translate, run, normalize.

``check_backend(name, tmp_dir)`` runs every check against a real toolkit on
tiny real data (one epoch per trial) and raises AssertionError on the first
violation: the structural checks here, then every behaviour promise of
:mod:`unified_nas.testing.behaviour`. Each check is also exposed for
parametrized test suites.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from unified_nas.core.errors import UnsupportedFeatures
from unified_nas.core.vocabulary import UNIFIED_STRATEGIES
from unified_nas.recipe import Recipe, parse_recipe
from unified_nas.report.records import STATUSES, RunReport, TrialRecord
from unified_nas.report.store import ResultsStore
from unified_nas.runs.registry import get_backend
from unified_nas.runs.runner import run_recipe
from unified_nas.space import validate_sample

SPACES: dict[str, dict[str, Any]] = {
    "mlp": {
        "depth": {"low": 1, "high": 2},
        "layer": {"op": "linear", "width": [8, 16], "activation": ["relu", "tanh"]},
    },
    "cnn": {
        "depth": {"low": 1, "high": 2},
        "layer": {
            "op": ["conv", "max_pool"],
            "kernel": [3, 5],
            "width": [4, 8],
            "pool": ["none", "max"],
            "skip": [False, True],
        },
    },
    "cell": {
        "type": "cell",
        "nodes": 2,
        "cells": 2,
        "reductions": [1],
        "channels": 4,
        "ops": ["none", "skip_connect", "max_pool_3x3", "sep_conv_3x3"],
    },
}
# Extra recipes for strategies that refuse searched training hyperparameters
# (one-shot) or reduction cells (Proxyless): fixed lr, with and without reductions.
FIXED_TRAINING = {"cell_fixed": "cell", "cell_flat": "cell"}
# One small space per IR kind (what Capabilities.space_kinds names), for recipes of a kind a backend refuses.
KIND_SPACES: dict[str, dict[str, Any]] = {
    "macro": SPACES["mlp"],
    "cell": SPACES["cell"],
    "dense_cell": {
        "type": "dense_cell",
        "ops": ["none", "skip_connect", "conv_1x1"],
        "nodes": 3,
        "cells_per_stage": 1,
        "channels": 4,
        "skeleton": "nasbench201",
    },
}


def conformance_raw(kind: str, objectives: int = 1) -> dict[str, Any]:
    """The recipe mapping of one conformance recipe (see :func:`conformance_recipes`).

    Args:
        kind: A key of :data:`SPACES`, ``cell_fixed``/``cell_flat``, or ``dense_cell``.
        objectives: 1 (``val_accuracy``) or 2 (``val_accuracy`` and ``params``).

    Returns:
        A fresh mapping the caller may change.
    """
    objs = [{"metric": "val_accuracy"}] + ([{"metric": "params"}] if objectives > 1 else [])
    spaces = {
        **SPACES,
        "cell_fixed": SPACES["cell"],
        "cell_flat": {**SPACES["cell"], "reductions": []},
        "dense_cell": KIND_SPACES["dense_cell"],
    }
    return {
        "name": f"conformance_{kind}",
        "data": {"name": "digits"},
        "space": copy.deepcopy(spaces[kind]),
        "training": {"epochs": 1, "batch_size": 128, "lr": 0.003 if kind in FIXED_TRAINING else [0.003, 0.01]},
        "objectives": objs,
        "budget": {"trials": 2},
    }


def recipe_from_raw(raw: dict[str, Any]) -> Recipe:
    """A recipe from a mapping, with the mapping's YAML as its source text.

    Real YAML rather than a label: the report keeps ``source`` as the recipe
    text, and resuming or exporting a run parses it again.

    Args:
        raw: A recipe mapping.

    Returns:
        The validated recipe.
    """
    return parse_recipe(raw, source=yaml.safe_dump(raw, sort_keys=False))


def conformance_recipes(objectives: int = 1) -> dict[str, Recipe]:
    """Tiny finite recipes on digits (one epoch per trial, lr searched from a list)."""
    return {kind: recipe_from_raw(conformance_raw(kind, objectives)) for kind in (*SPACES, *FIXED_TRAINING)}


def first_accepted(name: str, strategy: str, objectives: int = 1) -> Recipe | None:
    """The first conformance recipe the backend accepts for ``strategy`` (None if it refuses all)."""
    backend = get_backend(name)
    for recipe in conformance_recipes(objectives).values():
        if not backend.gaps(recipe, backend.options(recipe, {"strategy": strategy})):
            return recipe
    return None


def check_describe(name: str) -> None:
    """Capabilities are data: names, strategies from the unified vocabulary, a default."""
    d = get_backend(name).describe()
    assert d["name"] == name and d["version"] != "not installed"
    assert d["default_strategy"] in d["strategies"]
    unknown = set(d["strategies"]) - set(UNIFIED_STRATEGIES)
    assert not unknown, f"strategies outside the unified vocabulary: {unknown}"


def check_record_fields(recipe: Recipe, report: RunReport, record: TrialRecord) -> None:
    """One record has the documented fields, and its sample belongs to the recipe's space.

    Args:
        recipe: The recipe the run searched.
        report: The run (for its time span).
        record: One of its trial records.

    Raises:
        AssertionError: Naming the trial and the field.
        SampleError: The sample is not a canonical sample of the space.
    """
    t, where = record, f"trial {record.index}"
    assert t.status in STATUSES, f"{where}: status {t.status!r}"
    assert isinstance(t.native_id, str) and t.native_id, f"{where}: native_id {t.native_id!r}"
    validate_sample(recipe.space.decls(), t.sample)
    # Times are real Unix times inside the run (a toolkit's own clock or epoch would land elsewhere).
    end = report.ended_at or float("inf")
    assert report.started_at - 1 <= t.start_time <= end, f"{where}: start_time {t.start_time} outside the run"
    assert t.duration_s >= 0, f"{where}: duration_s {t.duration_s}"
    if t.status == "complete":
        assert t.error is None, f"{where}: a complete trial with an error"
        assert set(t.metrics) >= {"val_accuracy", "val_loss"}, f"{where}: metrics {sorted(t.metrics)}"
        assert t.objectives is not None and len(t.objectives) == len(recipe.objectives), f"{where}: objectives"
        assert t.params and t.params > 0 and t.flops and t.flops > 0, f"{where}: params {t.params}, flops {t.flops}"
        assert 0 < t.train_s <= t.duration_s, f"{where}: train_s {t.train_s} > duration_s {t.duration_s}"
        assert len(t.history) == recipe.protocol.epochs, f"{where}: {len(t.history)} epochs in its history"
        # Documented relations: objectives are the recipe's metrics in order; metrics are the last epoch's.
        counted = {"params": t.params, "flops": t.flops}
        values = [float(counted[o.metric]) if o.metric in counted else t.metrics[o.metric] for o in recipe.objectives]
        assert t.objectives == values, f"{where}: objectives {t.objectives}, its metrics say {values}"
        last = t.history[-1]
        assert all(t.metrics[k] == last[k] for k in t.metrics.keys() & last.keys() - {"epoch"}), (
            f"{where}: metrics {t.metrics} are not its last epoch's {last}"
        )
    elif t.status == "failed":
        assert isinstance(t.error, str) and t.error.strip(), f"{where}: a failed trial without its error"
        assert t.objectives is None, f"{where}: a failed trial with objectives"
    else:  # pruned: stopped early, so no objective to rank it by
        assert t.objectives is None and len(t.history) <= recipe.protocol.epochs, f"{where}: pruned"


def check_run(name: str, recipe: Recipe, tmp_dir: Path, strategy: str | None = None, trials: int = 2) -> RunReport:
    """A real run: every record normalized, canonical, stored, and timed."""
    store = ResultsStore(Path(tmp_dir) / "unas.sqlite")
    report = run_recipe(
        recipe,
        name,
        strategy=strategy,
        trials=trials,
        seed=0,
        store=store,
        runs_dir=Path(tmp_dir) / "runs",
        progress=False,
    )
    assert report.status == "complete", report.error
    one_shot = get_backend(name).strategies[report.strategy].one_shot
    expected = 1 if one_shot else trials  # a one-shot strategy exports one architecture
    assert len(report.trials) == expected, f"{len(report.trials)} records, expected {expected}"
    if one_shot:
        assert report.search_cost and report.search_cost["supernet_wall_s"] > 0
    assert [t.index for t in report.trials] == list(range(len(report.trials))), "indices are not 0..n-1"
    for t in report.trials:
        check_record_fields(recipe, report, t)
    stored = store.load_run(report.run_id)
    assert [t.to_dict() for t in stored.trials] == [t.to_dict() for t in report.trials]
    assert stored.incumbent is not None and stored.incumbent["test_accuracy"] is not None
    store.close()
    return report


def check_declared_gap(name: str, recipe: Recipe, strategy: str) -> None:
    """A strategy the backend does not offer fails before any work, naming backend and strategy."""
    backend = get_backend(name)
    options = backend.options(recipe, {"strategy": strategy})
    try:
        backend.check(recipe, options)
    except UnsupportedFeatures as e:
        assert e.backend == name and f"strategy '{strategy}'" in str(e)
        return
    raise AssertionError(f"{name} accepted strategy {strategy!r} it does not declare")
