"""The NNI trial: train the network NNI froze with the shared protocol, report to NNI.

``evaluate_model`` is what NNI's ``FunctionalEvaluator`` calls, in-process
(headless engine) or in a trial process (web engine). Its ``env`` argument is
a key of an in-process registry, or, in a separate process, a JSON text from
which the trial rebuilds recipe and data (small: NNI pickles evaluator
arguments and refuses large untraced ones).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import nni

from unified_nas.backends.nni.space import to_canonical
from unified_nas.core.errors import format_failure
from unified_nas.data import Dataset
from unified_nas.evaluation.evaluators import make_evaluator
from unified_nas.evaluation.train.evaluate import train_model
from unified_nas.evaluation.train.result import TrialResult
from unified_nas.recipe import Recipe, load_recipe_text
from unified_nas.recipe.text import read_recipe_text
from unified_nas.runs.scalarise import Scalariser
from unified_nas.runs.threads import apply_inherited_threads
from unified_nas.tables.recipes import load_recipe_data


@dataclass
class TrialEnv:
    """What a trial needs: the recipe, its data, the run seed; and where it leaves its result.

    ``result_dir`` is set for trials in other processes: they report only the
    score to NNI and write their full result (or traceback) there, because NNI
    3.0's manager-to-dispatcher channel truncates larger metric messages and
    the strategy then waits forever. In-process, the headless engine keeps a
    failed trial's traceback itself (``run.RecordingEngine``): the trial may
    fail before this module's code runs, while NNI builds the network.
    """

    recipe: Recipe
    data: Dataset
    seed: int
    # (sample, on_epoch, native training) -> result: RunContext.evaluate in-process; in a trial process the
    # run's evaluator itself (see _resolve_env). It decides whether the model NNI built is trained.
    evaluate: Callable[..., TrialResult]
    result_dir: str | None = None
    # Several objectives with a single-objective strategy: the run's scalarisation (RunContext.scalariser).
    scalarise: Scalariser | None = None

    # A scalarising run: each scored sample's objective values (by its NNI sample), to re-score it later.
    scored: dict[str, tuple[list[float], bool]] = field(default_factory=dict)
    # Called after each scalarised score: re-scores what the strategy keeps (run.rescore_population).
    after_score: Callable[[], None] | None = None

    def score(self, values: list[float], feasible: bool = True, sample: Any = None) -> float:
        """NNI strategies maximise one number: the first objective, sign-adjusted, or the negated scalarised score.

        Args:
            values: The trial's objective values.
            feasible: False for a trial that broke a constraint.
            sample: NNI's sample of the trial (a scalarising run keeps its values under it).
        """
        if self.scalarise is None:
            return values[0] if self.recipe.objectives[0].direction == "maximize" else -values[0]
        score = self.scalarise.maximised(values, feasible)
        self.scored[sample_key(sample)] = (values, feasible)
        if self.after_score is not None:
            self.after_score()
        return score


def sample_key(sample: Any) -> str:
    """An NNI sample as a key (its JSON text, keys sorted)."""
    return json.dumps(sample, sort_keys=True, default=str)


_ENVS: dict[str, TrialEnv] = {}


def register(key: str, env: TrialEnv) -> None:
    _ENVS[key] = env


def unregister(key: str) -> None:
    _ENVS.pop(key, None)


def env_json(recipe: Recipe, seed: int, run_dir: Path) -> str:
    """The ``env`` argument for trials in other processes: short paths, not the recipe text.

    The recipe is written to ``<run_dir>/recipe.yaml``. NNI 3.0 repeats the
    evaluator arguments, escaped several levels deep, in every manager
    message, and its dispatcher chokes on long ones (the search then stalls
    after the first trial); a few short paths keep the messages small.
    """
    path = run_dir / "recipe.yaml"
    path.write_text(recipe.source)
    results = run_dir / "trial_results"
    results.mkdir(exist_ok=True)
    # Absolute: a trial process may start in another working directory than this one.
    base_dir = str(Path(recipe.base_dir).resolve())
    return json.dumps({"recipe": str(path), "base_dir": base_dir, "seed": seed, "result_dir": str(results)})


def _resolve_env(env: str) -> TrialEnv:
    if env in _ENVS:
        return _ENVS[env]
    d = json.loads(env)
    apply_inherited_threads()  # a trial process of the web engine: the run's thread count, as in-process trials
    path = Path(d["recipe"])  # <run_dir>/recipe.yaml
    source = read_recipe_text(path)
    recipe = load_recipe_text(source, d["base_dir"], "recipe", "recipe.yaml")
    data = load_recipe_data(recipe)
    evaluator = make_evaluator(recipe, data, d["seed"])
    evaluator.restore(path.parent)  # what the run prepared before its search (a supernet), read back here

    def evaluate(sample: Any, on_epoch: Any = None, own_training: Any = None) -> TrialResult:
        # One process per trial: NNI's sequence number is the trial's position in the run.
        return evaluator(sample, nni.get_sequence_id(), on_epoch, own_training)

    _ENVS[env] = TrialEnv(recipe, data, d["seed"], evaluate, result_dir=d["result_dir"])
    return _ENVS[env]


def _write(e: TrialEnv, payload: dict[str, Any]) -> None:
    if e.result_dir:
        job = os.environ.get("NNI_TRIAL_JOB_ID", "unknown")
        Path(e.result_dir, f"{job}.json").write_text(json.dumps(payload))


def evaluate_model(model: Any, env: str, **hparams: Any) -> None:
    """Has NNI's frozen sample evaluated by the run (NNI's network trained, if it is trained) and reports to NNI.

    In-process the report is ``{"default": score, "unas": {sample, result}}``;
    in a trial process it is the score alone, the rest going to ``result_dir``.

    Args:
        model: NNI's frozen model space (``ExecutableModelSpace``; see
            ``run.ModelOnRequest``): ``model.sample`` is NNI's sample,
            ``model.executable_model()`` builds the network NNI built for it.
        env: Registry key or JSON text (see module docstring).
        **hparams: Training hyperparameters, frozen by NNI (searched ones are evaluator choices).

    Raises:
        Exception: Whatever building or training raised (a trial process
            first writes its traceback to ``result_dir``).
    """
    e = _resolve_env(env)
    try:
        if not hasattr(model, "executable_model"):  # built by NNI already (an evaluator NNI wrapped itself)
            network = model
            model = SimpleNamespace(sample=network.unas_sample, executable_model=lambda: network)
        sample = to_canonical(e.recipe.space, {**(model.sample or {}), **hparams})
        arch = e.recipe.space.resolve(sample)
        primary = e.recipe.objectives[0].metric

        def on_epoch(epoch: int, row: dict[str, float]) -> bool:
            if primary in row:
                nni.report_intermediate_result(row[primary])
            return False

        result = e.evaluate(
            sample,
            on_epoch,
            lambda: train_model(model.executable_model(), arch, e.data, e.recipe.protocol, e.seed, on_epoch),
        )
        values = result.objective_values((o.metric, o.direction) for o in e.recipe.objectives)  # NaN: fails
    except Exception as exc:
        _write(e, {"error": format_failure(exc)})
        raise
    payload = {"sample": sample, "result": result.to_dict()}
    if e.result_dir:
        _write(e, payload)
        nni.report_final_result(e.score(values, result.feasible, model.sample))
    else:
        nni.report_final_result({"default": e.score(values, result.feasible, model.sample), "unas": payload})
