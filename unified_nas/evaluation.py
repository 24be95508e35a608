"""How a sample becomes metrics: the evaluator the runner hands to every backend.

A backend proposes samples and keeps its toolkit's bookkeeping; it never
decides how a sample is scored. It calls ``ctx.evaluate(sample, on_epoch,
native)`` (see :class:`unified_nas.runner.RunContext`), where ``native`` is
how the backend would train the sample with its toolkit's own machinery
(AutoKeras fits a Keras model, NNI trains the network it froze), or None for
the shared torch trainer. The run's :class:`Evaluator` then either calls
that training or answers without training (a tabular benchmark), and the
backend cannot tell which happened: it gets a :class:`TrialResult` either way.

Evaluators:
    * :class:`Training` (recipe ``evaluation: train``, the default): trains
      with ``native`` if the backend gave one, else with the shared torch trainer.
    * :class:`TableLookup` (``evaluation: {table: nasbench201, dataset: cifar10}``):
      one recorded training seed of the architecture, chosen from the run seed
      and the trial's position; the table's training time as simulated cost;
      ``params`` and ``flops`` counted by unified-nas from the architecture.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from unified_nas.train.result import EpochCallback, TrialResult

if TYPE_CHECKING:
    from unified_nas.data import Dataset
    from unified_nas.recipe import Recipe
    from unified_nas.space import SearchSpace
    from unified_nas.tables.nasbench201 import NasBench201Table

# A backend's own way to train the sample it is asking about (called only if training is wanted).
NativeTraining = Callable[[], TrialResult]


@dataclass(frozen=True)
class EvaluationSpec:
    """The recipe's ``evaluation`` section.

    Attributes:
        table: None to train every trial, else the tabular benchmark's name (``nasbench201``).
        dataset: The table's data set (``cifar10``, ``cifar100``, ``imagenet``).
    """

    table: str | None = None
    dataset: str | None = None

    @property
    def trains(self) -> bool:
        """Whether trials are trained (no table)."""
        return self.table is None

    def describe(self) -> dict[str, Any]:
        """The report's ``evaluation`` section.

        Returns:
            ``{"mode": "train"}`` or ``{"mode": "table", "table": ..., "dataset": ...}``.
        """
        return (
            {"mode": "train"} if self.table is None else {"mode": "table", "table": self.table, "dataset": self.dataset}
        )


class Evaluator(ABC):
    """Scores one sample of a run; made once per run by :func:`make_evaluator`."""

    @abstractmethod
    def __call__(
        self,
        sample: Mapping[str, Any],
        trial: int,
        on_epoch: EpochCallback | None = None,
        native: NativeTraining | None = None,
    ) -> TrialResult:
        """The result of one canonical sample.

        Args:
            sample: A canonical sample of the recipe's space.
            trial: How many evaluations the run asked for before this one (its position).
            on_epoch: Per-epoch callback (pruning), called by training only.
            native: The backend's own training of this sample, if it has one.

        Returns:
            The sample's metrics.
        """


class Training(Evaluator):
    """Trains every sample under the recipe's protocol (the backend's own training if it has one).

    Args:
        recipe: The recipe (space and protocol).
        data: The split data set.
        seed: The run seed.
    """

    def __init__(self, recipe: Recipe, data: Dataset, seed: int) -> None:
        self.recipe, self.data, self.seed = recipe, data, seed

    def __call__(
        self,
        sample: Mapping[str, Any],
        trial: int,
        on_epoch: EpochCallback | None = None,
        native: NativeTraining | None = None,
    ) -> TrialResult:
        if native is not None:
            return native()
        from unified_nas.train.evaluate import evaluate_sample  # imports torch

        r = self.recipe
        return evaluate_sample(r.space, sample, self.data, r.protocol, self.seed, on_epoch)


class TableLookup(Evaluator):
    """Answers from a tabular benchmark: nothing is trained, ``native`` is never called.

    The recorded validation accuracy of one seed is ``val_accuracy``; the
    mean over the recorded seeds is the architecture's ``true_accuracy``; the table's training time is the
    trial's ``simulated_s``. Parameters and FLOPs are counted from the
    architecture by unified-nas (cached per architecture: the plan is the
    slow part of a lookup).

    Args:
        table: The opened table.
        space: The recipe's search space (to count params and FLOPs).
        input_shape, num_classes: The table's data (one example, channels last).
        seed: The run seed (with the trial's position, it picks the recorded seed).
        epochs: Epochs of the table's training (the one history row's epoch).
    """

    def __init__(
        self,
        table: NasBench201Table,
        space: SearchSpace,
        input_shape: tuple[int, ...],
        num_classes: int,
        seed: int,
        epochs: int,
    ) -> None:
        self.table, self.space, self.seed, self.epochs = table, space, seed, epochs
        self.input_shape, self.num_classes = tuple(input_shape), num_classes
        self._costs: dict[int, tuple[int, int]] = {}

    def _cost(self, index: int, sample: Mapping[str, Any]) -> tuple[int, int]:
        if index not in self._costs:
            from unified_nas.network import compile_plan

            plan = compile_plan(self.space.resolve(sample), self.input_shape, self.num_classes)
            self._costs[index] = (plan.params, plan.flops)
        return self._costs[index]

    def __call__(
        self,
        sample: Mapping[str, Any],
        trial: int,
        on_epoch: EpochCallback | None = None,
        native: NativeTraining | None = None,
    ) -> TrialResult:
        obs = self.table.observe(sample, self.seed, trial)
        params, flops = self._cost(obs.index, sample)
        val = obs.val_accuracy
        return TrialResult(
            metrics={"val_accuracy": val},
            test_accuracy=None,
            history=[{"epoch": self.epochs - 1, "val_accuracy": val}],
            params=params,
            flops=flops,
            simulated_s=obs.train_time,
            true_accuracy=obs.mean_val_accuracy,
        )


def make_evaluator(recipe: Recipe, data: Dataset, seed: int) -> Evaluator:
    """The run's evaluator, from the recipe's ``evaluation`` section.

    Args:
        recipe: The recipe.
        data: The run's data (a table recipe's: shapes only, see ``tables.table_dataset``).
        seed: The run seed.

    Returns:
        :class:`Training` or :class:`TableLookup`.

    Raises:
        RecipeError: An unknown table or data set.
        UserError: The table's package is not installed (with the pip command).
    """
    spec = recipe.evaluation
    if spec.trains:
        return Training(recipe, data, seed)
    from unified_nas.tables import open_table, table_info

    return TableLookup(
        open_table(spec), recipe.space, data.input_shape, data.num_classes, seed, table_info(spec).epochs
    )
