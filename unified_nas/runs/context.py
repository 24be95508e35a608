"""The run context: what a backend gets to run a search, and the one door for its results.

The half of the backend contract the runner gives (:mod:`unified_nas.backends.base`
is the half backends implement): the recipe, data, seed, budget and options of
the run, ``evaluate`` (how a sample becomes metrics: trained, looked up,
replayed), ``emit`` (each finished trial stored at once) and the budget checks.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from unified_nas.core.multiobjective import SCALARISATION_KEY
from unified_nas.data import Dataset
from unified_nas.evaluation.evaluators import Evaluator, OwnTraining
from unified_nas.evaluation.train.result import EpochCallback, TrialResult
from unified_nas.recipe import Budget, Recipe
from unified_nas.report.records import TrialRecord
from unified_nas.runs.lifecycle import Replay, raise_if_terminated
from unified_nas.runs.options import Options
from unified_nas.runs.scalarise import Scalariser


@dataclass
class RunContext:
    """What a backend needs to run, and the one door for its results (``emit``)."""

    recipe: Recipe
    data: Dataset
    seed: int
    budget: Budget
    options: Options
    run_dir: Path
    run_id: str
    emit_record: Callable[[TrialRecord], None]
    started: float = field(default_factory=time.time)
    search_cost: dict[str, Any] | None = None  # one-shot strategies: the supernet's cost, reported apart
    quiet: bool = False  # no progress output: toolkits should not log per trial either
    replay: Replay | None = None  # set when resuming: finished trials answered from the store
    # How a sample becomes metrics (make_evaluator, made before anything is stored: it may refuse the recipe).
    evaluator: Evaluator | None = None
    evaluations: int = 0  # samples evaluated so far (replayed ones included)
    simulated_s: float = 0.0  # a table's training time of the trials finished so far (replayed ones included)
    packages: dict[str, str] = field(default_factory=dict)  # versions the run records (workers must match them)
    stop_reason: str | None = None  # why the toolkit stopped proposing before the budget was spent (stop_early)

    def scalariser(self) -> Scalariser | None:
        """A fresh :class:`~unified_nas.runs.scalarise.Scalariser` when the run scalarises, else None.

        The backend makes one per search and calls it once per evaluated trial, in the order its
        strategy sees them (the options hold the resolved ``scalarisation`` strategy argument only
        when the backend's strategy takes a scalarised score: ``Backend.scalarises``).
        """
        spec = self.options.strategy_args.get(SCALARISATION_KEY)
        if spec is None:
            return None
        metrics = [o.metric for o in self.recipe.objectives]
        return Scalariser(spec, metrics, self.directions, self.seed)

    @property
    def directions(self) -> list[str]:
        """Each objective's direction, in recipe order."""
        return [o.direction for o in self.recipe.objectives]

    @property
    def resuming(self) -> bool:
        """Whether this run continues a stored one (finished trials are answered from the store)."""
        return self.replay is not None

    @property
    def replaying(self) -> bool:
        """Whether stored trials of an earlier attempt remain to be answered from the store."""
        return self.replay is not None and self.replay.active

    def hand_over_replay(self) -> set[int]:
        """Ends replay at once, for a search that keeps its own history (a shared study in its storage).

        Returns:
            The toolkit's numbers of the trials already stored (see :meth:`Replay.hand_over`); empty
            when not resuming.
        """
        return self.replay.hand_over() if self.replay is not None else set()

    def report_search_cost(self, cost: dict[str, Any]) -> None:
        """Records a search cost that belongs to no trial (a one-shot strategy's supernet), reported apart.

        Args:
            cost: JSON-ready figures, e.g. ``{"supernet_wall_s": 12.5}``.
        """
        self.search_cost = dict(cost)

    def stop_early(self, reason: str) -> None:
        """Records why the toolkit's strategy stopped proposing before the run's budget was spent.

        A backend calls it where its toolkit ends the search on its own (an
        oracle that finds no new sample, a grid that is done). The report shows
        it beside the budget; a run that ends short without a reason gets a
        generic one from the runner.

        Args:
            reason: One line, naming the toolkit's cause.
        """
        self.stop_reason = reason

    def evaluate(
        self, sample: Mapping[str, Any], on_epoch: EpochCallback | None = None, own_training: OwnTraining | None = None
    ) -> TrialResult:
        """The result of one canonical sample: the one way every backend scores a trial.

        A backend passes its toolkit's own training as ``own_training`` if it has
        one (AutoKeras fits Keras, NNI trains the model it froze); whether it
        is called is the run's business, not the backend's: when resuming, a
        trial finished in an earlier attempt is answered from the store; a
        table recipe answers from the table; otherwise the sample is trained
        (``own_training``, or the shared torch trainer).

        Args:
            sample: A canonical sample of the recipe's space.
            on_epoch: Per-epoch callback for pruning (return True to stop).
            own_training: The toolkit's own training of this sample.

        Returns:
            The sample's result.

        Raises:
            ReplayedTrialFailed: Resuming, and the trial failed in the earlier attempt.
            ResumeDiverged: Resuming, and the strategy proposed another sample than before.
            Terminated: SIGTERM arrived earlier and was swallowed by a toolkit.
        """
        raise_if_terminated()  # a safe point: see lifecycle.raise_if_terminated
        trial, self.evaluations = self.evaluations, self.evaluations + 1
        replayed = self.replay.result(sample, on_epoch) if self.replay is not None else None
        if replayed is not None:
            return replayed
        assert self.evaluator is not None, "RunContext needs its evaluator"
        return self.evaluator(sample, trial, on_epoch, own_training)

    def describe_for_workers(self) -> dict[str, Any]:
        """What a worker process needs to join this run's shared search (:func:`join_run`): JSON-ready.

        The recipe text (with the folder its relative paths refer to), seed,
        options, budget and data digests: a worker rebuilds the same recipe,
        split and protocol from it, and refuses data that differs.
        """
        return {
            "run_id": self.run_id,
            "recipe": {
                "text": self.recipe.source,
                "name": self.recipe.name,
                "base_dir": str(Path(self.recipe.base_dir).resolve()),
            },
            "seed": self.seed,
            "options": self.options.to_dict(),
            "budget": {"trials": self.budget.trials, "time_s": self.budget.time_s},
            "data": {"split_sha256": self.data.split.sha256, "content_sha256": self.data.content_sha256},
            # One clock for every process: a worker's wall-clock budget ends when the run's does.
            "started": self.started,
            # A worker must run the same code: a sampler or trainer of another version is another search.
            "packages": dict(self.packages),
        }

    def objective_values(self, result: TrialResult) -> list[float]:
        return result.objective_values((o.metric, o.direction) for o in self.recipe.objectives)

    def record_from_result(
        self,
        index: int,
        native_id: str,
        sample: Mapping[str, Any],
        result: TrialResult | None,
        status: str,
        start_time: float,
        duration_s: float,
        error: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> TrialRecord:
        """The shared TrialRecord builder every ``normalize`` ends in."""
        if result is None:
            return TrialRecord(
                index,
                native_id,
                "failed",
                dict(sample),
                start_time=start_time,
                duration_s=duration_s,
                error=error,
                extra=extra or {},
            )
        if not result.feasible and status == "complete":  # the toolkit saw a worst score; the record says why
            status = "infeasible"
        return TrialRecord(
            index,
            native_id,
            status,
            dict(sample),
            metrics=dict(result.metrics),
            objectives=self.objective_values(result) if status == "complete" else None,
            params=result.params,
            flops=result.flops,
            history=list(result.history),
            start_time=start_time,
            duration_s=duration_s,
            train_s=result.train_s,
            error=error,
            extra=extra or {},
            test_accuracy=result.test_accuracy,
            simulated_s=result.simulated_s,
            true_accuracy=result.true_accuracy,
            violations=result.violations,
        )

    def emit(self, record: TrialRecord) -> None:
        """Stores one finished trial at once (nothing computed is lost on a crash)."""
        self.emit_record(record)

    def time_left(self) -> float | None:
        if self.budget.time_s is None:
            return None
        return max(0.0, self.budget.time_s - (time.time() - self.started))

    def out_of_budget(self) -> bool:
        """True once no further trial may start: the wall-clock or the simulated-time budget is spent.

        Backends ask it between trials, each through the stop mechanism its
        toolkit has (Optuna's ``study.stop``, NNI's engine budget, keras-tuner's
        ``max_trials``). The trial budget is each toolkit's own count. No
        toolkit knows simulated time, which is ours: the trial that crosses
        the budget is the last one.
        """
        left = self.time_left()
        if left is not None and left <= 0:
            return True
        return self.budget.simulated_s is not None and self.simulated_s >= self.budget.simulated_s
