"""AutoKeras tuners that follow the recipe's protocol and record what keras-tuner does not.

One mixin over each AutoKeras tuner class (greedy, random, bayesian,
hyperband) and a grid tuner built the same way. Per trial it:

* seeds Keras before the model is built (same architecture, same weights);
* compiles with the recipe's optimizer, learning rate and weight decay, and
  fits with its batch size (AutoKeras's own ``optimizer``/``learning_rate``
  are pinned and unused, its batch size is per search, not per trial);
* records per-epoch history, wall and training time, and test accuracy of
  the final weights, and hands every finished trial (failed ones with their
  traceback) to the run at once;
* reports the last epoch's metrics to the oracle, the value every backend's
  records carry (keras-tuner would rank trials by their best epoch).

In a run that trains nothing (a table or a proxy answers every trial) no Keras
model is built at all: the space is declared, not built, and the end-of-search
reload of the best model fails at once (:class:`NotFitted`).
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import keras
import keras_tuner
import numpy as np
from autokeras import tuners as ak_tuners
from autokeras.engine.tuner import AutoTuner

from unified_nas.backends.autokeras.normalize import NativeTrial
from unified_nas.backends.autokeras.space import declare_hyperparameters, sample_from_values
from unified_nas.backends.autokeras.workarounds import (
    ask_again_when_oracle_gives_up,
    save_build_config,
    unchecked_model_size,
)
from unified_nas.core.errors import TrainingDiverged
from unified_nas.data import Dataset
from unified_nas.evaluation.train.keras_protocol import accuracy, compile_model
from unified_nas.evaluation.train.result import TrialResult
from unified_nas.models.keras_model import count_trainable
from unified_nas.network.flops import count_flops
from unified_nas.recipe import Protocol
from unified_nas.runs.scalarise import Scalariser
from unified_nas.space import SearchSpace, space_size

#: The oracle's objective when a run scalarises several objectives (minimised; never a Keras log).
SCALARISED_METRIC = "unas_scalarised"
HYPERBAND_KEYS = ("tuner/epochs", "tuner/initial_epoch", "tuner/bracket", "tuner/round", "tuner/trial_id")


@dataclass
class TrialEnv:
    """What the tuner needs from the run."""

    space: SearchSpace
    data: Dataset
    protocol: Protocol
    seed: int
    emit: Callable[[NativeTrial], None]
    out_of_budget: Callable[[], bool]  # RunContext.out_of_budget: wall-clock or simulated time spent
    # RunContext.evaluate: (sample, on_epoch, native training) -> result; it decides whether to train.
    evaluate: Callable[..., TrialResult]
    objectives: tuple[tuple[str, str], ...] = (("val_accuracy", "maximize"),)  # (metric, direction), recipe order
    # recipe.evaluation.trains: False when a table or proxy answers every trial, so no Keras model is ever needed.
    trains: bool = True
    stop_early: Callable[[str], None] | None = None  # RunContext.stop_early: why the oracle stopped proposing
    # Several objectives with a single-objective oracle: the run's scalarisation (RunContext.scalariser); the
    # oracle's objective is then SCALARISED_METRIC, minimised.
    scalarise: Scalariser | None = None


class NotFitted(Exception):
    """keras-tuner asked for the weights of a trial that Keras never fitted (looked up, proxy-scored or replayed)."""


@contextlib.contextmanager
def global_rngs_kept() -> Iterator[None]:
    """Python's and numpy's global RNG states after the block as before it.

    Each trial reseeds them for its build (:meth:`UnasTunerMixin._seed`), and AutoKeras's greedy oracle
    draws from numpy's (``np.random.choice`` in ``GreedyOracle._select_hps``). Reseeded before every
    trial, the oracle would try its groups of hyperparameters in the same order on every trial: not
    AutoKeras's search (measured on nb201_cifar10, 20 seeds: 17 runs gave up short of 100 trials, and
    the answers' true accuracy was 0.9114 against 0.9143 with the stock draws).
    """
    py, np_state = random.getstate(), np.random.get_state()
    try:
        yield
    finally:
        random.setstate(py)
        np.random.set_state(np_state)


class UnasTunerMixin:
    """Put before an AutoKeras tuner class in the bases (see :func:`tuner_class`)."""

    # Set by the keras-tuner class this mixin is put before (annotations only: no class attribute).
    hypermodel: Any
    oracle: Any

    def __init__(self, *args: Any, unas: TrialEnv, **kwargs: Any) -> None:
        self.unas = unas
        self.unas_search_begun = False
        self.unas_search_done = False
        self._model: Any = None
        self._history: list[dict[str, float]] = []
        self._train_s = 0.0
        self._epoch_t0 = 0.0
        self._started = 0.0
        self._result: TrialResult | None = None
        self._compiled: dict[str, Any] = {}
        self.unas_unfitted = 0  # trials answered without a Keras fit (replayed or looked up): no checkpoint
        self._fitted: set[str] = set()  # ids of the trials Keras fitted (they have a checkpoint)
        # A scalarising run: each scored trial's objective values, to re-score it after later trials.
        self.unas_scalarised: dict[str, tuple[list[float], bool]] = {}
        self._decls = unas.space.decls()  # read for every trial's sample: declared once
        self._space_size = space_size(self._decls)  # math.inf for a continuous range
        super().__init__(*args, **kwargs)
        ask_again_when_oracle_gives_up(self.oracle, self._enumerated, self._stop_early)  # ORACLE_GIVES_UP_AK300

    def _stop_early(self, reason: str) -> None:
        if self.unas.stop_early is not None:
            self.unas.stop_early(reason)

    def _enumerated(self) -> str | None:
        """Why no sample is left to propose, once the oracle's trials cover the whole (finite) space."""
        size = self._space_size
        if len(self.oracle.trials) < size:  # fewer trials than samples: some are untried, whatever they were
            return None
        tried = {json.dumps(self._sample(t.hyperparameters), sort_keys=True) for t in self.oracle.trials.values()}
        return f"all {size} samples of the space were tried" if len(tried) >= size else None

    def _sample(self, hp: keras_tuner.HyperParameters) -> dict[str, Any]:
        return sample_from_values(self._decls, hp.values)

    # -- build and fit -------------------------------------------------------------------------------
    def _try_build(self, hp: keras_tuner.HyperParameters) -> Any:
        if self.unas_search_begun:
            return super()._try_build(hp)  # type: ignore[misc]
        # AutoTuner.search builds the default architecture once to register the space (and ignores the model).
        with global_rngs_kept():
            if not self.unas.trains:  # no trial of this run is fitted: declaring the space is all the oracle needs
                self._declare(hp)
                return None
            with unchecked_model_size(self):  # INITIAL_BUILD_SIZE_CHECK_AK300
                return super()._try_build(hp)  # type: ignore[misc]

    def load_model(self, trial: keras_tuner.engine.trial.Trial) -> Any:
        """keras-tuner's reload of a trial's best weights (AutoTuner.search, after the last trial).

        Raises:
            NotFitted: The trial has no checkpoint: it was never fitted by Keras. Raised before the
                model is built, which would be wasted (keras-tuner's own load fails on the missing file).
        """
        if trial.trial_id not in self._fitted:
            raise NotFitted(f"trial {trial.trial_id} was not fitted by Keras: no weights to load")
        return super().load_model(trial)  # type: ignore[misc]

    def _seed(self) -> None:
        # Before every build: weights depend on the architecture and seed only. This also reseeds Python's and
        # numpy's global RNGs, which AutoKeras's greedy oracle draws from: every trial keeps them as they were
        # (global_rngs_kept), so the oracle draws as in stock AutoKeras, which seeds numpy once (AutoModel).
        keras.utils.set_random_seed(self.unas.seed)

    def _build_hypermodel(self, hp: keras_tuner.HyperParameters) -> Any:
        self._seed()
        model = super()._build_hypermodel(hp)  # type: ignore[misc]
        arch = self.unas.space.resolve(self._sample(hp))
        compile_model(model, arch.training, from_logits=False)
        self._model = model
        self._compiled = {
            "optimizer": type(model.optimizer).__name__,
            "learning_rate": float(model.optimizer.learning_rate),
        }
        return model

    def _build_and_fit_model(
        self, trial: keras_tuner.engine.trial.Trial, *args: Any, **kwargs: Any
    ) -> dict[str, float]:
        """The trial's metrics for the oracle, from the run's evaluator (which may call :meth:`_fit`)."""
        with global_rngs_kept():  # the oracle's draws never depend on what a trial did (trained, looked up, replayed)
            return self._trial_metrics(trial, *args, **kwargs)

    def _trial_metrics(self, trial: keras_tuner.engine.trial.Trial, *args: Any, **kwargs: Any) -> dict[str, float]:
        sample = self._sample(trial.hyperparameters)
        fitted: list[bool] = []

        def own_training() -> TrialResult:
            fitted.append(True)
            return self._fit(trial, sample, *args, **kwargs)

        result = self.unas.evaluate(sample, None, own_training)
        if fitted:
            self._fitted.add(trial.trial_id)
        else:  # answered without training: no Keras model was built or fitted
            self.unas_unfitted += 1
            self._declare(trial.hyperparameters)
        self._history, self._result = list(result.history), result
        # The objectives by name as well: an infeasible sample (not trained) has no val_accuracy of its
        # own, and the oracle is then told the worst value, as every backend's toolkit is.
        objectives = self.unas.objectives
        values = result.objective_values(objectives)
        out = {**{k: float(v) for k, v in result.metrics.items()}, **{m: v for (m, _), v in zip(objectives, values)}}
        if self.unas.scalarise is not None:
            out[SCALARISED_METRIC] = self.unas.scalarise(values, result.feasible)
            self._rescore_completed(trial.trial_id, values, result.feasible)
        return out

    def _rescore_completed(self, trial_id: str, values: list[float], feasible: bool) -> None:
        """Every completed trial's score as the latest trial's ranges and weights give it (ParEGO's way).

        The oracle ranks its completed trials by ``trial.score`` (the greedy oracle mutates the best
        one, the Bayesian one fits its model to all), and keras-tuner never recomputes a score once a
        trial ended: a trial scored against narrower ranges would keep an unbeatable score. The
        trial being scored now gets its score from its metrics when it ends, as any trial does.
        """
        scalarise = self.unas.scalarise
        assert scalarise is not None  # only called when the run scalarises
        self.unas_scalarised[trial_id] = (values, feasible)
        for other in self.oracle.trials.values():
            if other.trial_id != trial_id and other.trial_id in self.unas_scalarised and other.score is not None:
                other.score = scalarise.rescore(*self.unas_scalarised[other.trial_id])

    def _declare(self, hp: keras_tuner.HyperParameters) -> None:
        """What a build does for the oracle, without building any layer (a trial answered without training).

        keras-tuner's build declares the trial's hyperparameters, and the
        greedy and Bayesian oracles derive later trials from them; our build
        also reseeds the global RNGs (:meth:`_seed`). Both, and nothing else.
        """
        self._seed()
        declare_hyperparameters(self.hypermodel, hp)

    def _fit(
        self, trial: keras_tuner.engine.trial.Trial, sample: dict[str, Any], *args: Any, **kwargs: Any
    ) -> TrialResult:
        """AutoKeras's own build and fit of one trial, under the recipe's protocol.

        Raises:
            TrainingDiverged: The training loss became NaN or infinite.
        """
        arch = self.unas.space.resolve(sample)
        kwargs["batch_size"] = arch.training.batch_size
        super()._build_and_fit_model(trial, *args, **kwargs)  # type: ignore[misc]
        model, data = self._model, self.unas.data
        bad = next((h for h in self._history if not math.isfinite(h["train_loss"])), None)
        if bad is not None:  # as the torch trainer: a diverged trial is a failed trial, not a low score
            raise TrainingDiverged(f"training loss became {bad['train_loss']} in epoch {bad['epoch'] + 1}")
        save_build_config(self, trial.trial_id, model)  # HYPERBAND_BUILD_CONFIG_AK300
        last = self._history[-1]
        epochs = trial.hyperparameters.values.get("tuner/epochs", self.unas.protocol.epochs)
        stopped = (
            "early_stopping"
            if len(self._history) < epochs - trial.hyperparameters.values.get("tuner/initial_epoch", 0)
            else None
        )
        return TrialResult(
            metrics={k: last[k] for k in ("val_accuracy", "val_loss", "train_loss")},
            test_accuracy=accuracy(model, data.x_test, data.y_test),
            history=list(self._history),
            params=count_trainable(model),
            flops=count_flops(arch, data.input_shape, data.num_classes),
            train_s=self._train_s,
            stopped=stopped,
        )

    # -- hooks ---------------------------------------------------------------------------------------
    def on_trial_begin(self, trial: keras_tuner.engine.trial.Trial) -> None:
        self._started = time.time()
        self._history, self._train_s, self._result, self._compiled = [], 0.0, None, {}
        super().on_trial_begin(trial)  # type: ignore[misc]

    def on_epoch_begin(self, trial: Any, model: Any, epoch: int, logs: Any = None) -> None:
        self._epoch_t0 = time.perf_counter()
        super().on_epoch_begin(trial, model, epoch, logs)  # type: ignore[misc]

    def on_epoch_end(self, trial: Any, model: Any, epoch: int, logs: Any = None) -> None:
        self._train_s += time.perf_counter() - self._epoch_t0
        logs = logs or {}
        self._history.append(
            {
                "epoch": epoch,
                "train_loss": float(logs["loss"]),
                "val_loss": float(logs["val_loss"]),
                "val_accuracy": float(logs["val_accuracy"]),
            }
        )
        super().on_epoch_end(trial, model, epoch, logs)  # type: ignore[misc]

    def on_trial_end(self, trial: keras_tuner.engine.trial.Trial) -> None:
        values = trial.hyperparameters.values
        ok = trial.status == keras_tuner.engine.trial.TrialStatus.COMPLETED
        self.unas.emit(
            NativeTrial(
                trial_id=trial.trial_id,
                sample=self._sample(trial.hyperparameters),
                status=str(trial.status),
                result=self._result if ok else None,
                start=self._started,
                end=time.time(),
                error=None if ok else (trial.message or "").strip(),
                extra={"compiled": self._compiled, **{k: values[k] for k in HYPERBAND_KEYS if k in values}},
            )
        )
        if self.unas.out_of_budget():
            self.oracle.max_trials = len(self.oracle.trials)  # the run's budget is spent: no new trial
        super().on_trial_end(trial)  # type: ignore[misc]

    def on_search_begin(self) -> None:
        self.unas_search_begun = True
        super().on_search_begin()  # type: ignore[misc]

    def on_search_end(self) -> None:
        self.unas_search_done = True
        super().on_search_end()  # type: ignore[misc]


class GridSearch(keras_tuner.GridSearch, AutoTuner):
    """keras-tuner's grid oracle with AutoKeras's tuner (as AutoKeras builds its RandomSearch)."""


NATIVE = {
    "greedy": ak_tuners.Greedy,
    "random": ak_tuners.RandomSearch,
    "bayesian": ak_tuners.BayesianOptimization,
    "hyperband": ak_tuners.Hyperband,
    "grid": GridSearch,
}


def tuner_class(strategy: str) -> type:
    """The AutoKeras tuner of a unified strategy name, with the mixin in front."""
    base = NATIVE[strategy]
    return type(f"Unas{base.__name__}", (UnasTunerMixin, base), {})
