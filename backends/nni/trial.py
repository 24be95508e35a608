"""The NNI trial: train the network NNI froze with the shared protocol, report to NNI.

``evaluate_model`` is what NNI's ``FunctionalEvaluator`` calls, in-process
(headless engine) or in a trial process (web engine). Its ``env`` argument is
a key of an in-process registry, or, in a separate process, a JSON text from
which the trial rebuilds recipe and data (small: NNI pickles evaluator
arguments and refuses large untraced ones).
"""
from __future__ import annotations

import json
import traceback
from dataclasses import dataclass, field
from typing import Any

import nni

from unified_nas.data import Dataset, load_dataset
from unified_nas.recipe import Recipe, parse_recipe
from unified_nas.train.evaluate import train_model

from unified_nas.backends.nni.space import to_canonical


@dataclass
class TrialEnv:
    """What a trial needs: the recipe, its data, the run seed; and what it leaves behind."""

    recipe: Recipe
    data: Dataset
    seed: int
    errors: list[str] = field(default_factory=list)

    def score(self, values: list[float]) -> float:
        """NNI strategies maximise one number: the first objective, sign-adjusted."""
        return values[0] if self.recipe.objectives[0].direction == "maximize" else -values[0]


_ENVS: dict[str, TrialEnv] = {}


def register(key: str, env: TrialEnv) -> None:
    _ENVS[key] = env


def unregister(key: str) -> None:
    _ENVS.pop(key, None)


def env_json(recipe: Recipe, seed: int) -> str:
    """The ``env`` argument for trials in other processes (recipe text, not data)."""
    return json.dumps({"recipe": recipe.source, "base_dir": recipe.base_dir, "seed": seed})


def _resolve_env(env: str) -> TrialEnv:
    if env in _ENVS:
        return _ENVS[env]
    import yaml

    d = json.loads(env)
    recipe = parse_recipe(yaml.safe_load(d["recipe"]), source=d["recipe"], base_dir=d["base_dir"])
    _ENVS[env] = TrialEnv(recipe, load_dataset(recipe.data, recipe.base_dir), d["seed"])
    return _ENVS[env]


def evaluate_model(model: Any, env: str, **hparams: Any) -> None:
    """Trains NNI's frozen ``model`` and reports ``{"default": score, "unas": {...}}``.

    Args:
        model: The network NNI built for this sample (a ``UnasModelSpace`` instance).
        env: Registry key or JSON text (see module docstring).
        **hparams: Training hyperparameters, frozen by NNI (searched ones are evaluator choices).
    """
    e = _resolve_env(env)
    try:
        sample = to_canonical(e.recipe.space, {**(model.unas_sample or {}), **hparams})
        arch = e.recipe.space.resolve(sample)
        primary = e.recipe.objectives[0].metric

        def on_epoch(epoch: int, row: dict[str, float]) -> bool:
            if primary in row:
                nni.report_intermediate_result(row[primary])
            return False

        result = train_model(model, arch, e.data, e.recipe.protocol, e.seed, on_epoch)
    except Exception:
        e.errors.append(traceback.format_exc(limit=4))
        raise
    values = [result.value(o.metric) for o in e.recipe.objectives]
    nni.report_final_result({"default": e.score(values), "unas": {"sample": sample, "result": result.to_dict()}})
