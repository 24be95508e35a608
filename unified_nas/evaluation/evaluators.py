"""How a sample becomes metrics: the evaluator the runner hands to every backend.

A backend proposes samples and keeps its toolkit's bookkeeping; it never
decides how a sample is scored. It calls ``ctx.evaluate(sample, on_epoch,
own_training)`` (see :class:`unified_nas.runs.context.RunContext`), where ``own_training`` is
how the backend would train the sample with its toolkit's own machinery
(AutoKeras fits a Keras model, NNI trains the network it froze), or None for
the shared torch trainer. The run's :class:`Evaluator` then either calls
that training or answers without training (a tabular benchmark), and the
backend cannot tell which happened: it gets a :class:`TrialResult` either way.

Evaluators:
    * :class:`Training` (recipe ``evaluation: train``, the default): trains
      with ``own_training`` if the backend gave one, else with the shared torch trainer.
    * :class:`TableLookup` (``evaluation: {table: nasbench201, dataset: cifar10}``):
      one recorded training seed of the architecture, chosen from the run seed
      and the trial's position; the table's training time as simulated cost;
      ``params`` and ``flops`` counted by unified-nas from the architecture.
    * :class:`OwnTableLookup` (``evaluation: {table: PATH}``): a table made by ``unas tabulate``.
    * :class:`ProxyScore` (``evaluation: {proxy: synflow}``): a zero-cost proxy, nothing trained.
    * :class:`~unified_nas.evaluation.supernet.evaluator.SupernetScore` (``evaluation: {supernet: {...}}``):
      one weight-sharing supernet, trained once before the search (:meth:`Evaluator.prepare`), scores
      every trial with inherited weights.
    * :class:`Constrained` wraps any of them when the recipe has ``constraints:`` or objectives
      known before training (``latency_ms``, a proxy): those are computed first, and a sample
      outside a bound is not evaluated (its result carries ``violations``).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from unified_nas.core.metrics import METRICS, violations
from unified_nas.evaluation.base import Evaluator, OwnTraining
from unified_nas.evaluation.measures import compute_before_training
from unified_nas.evaluation.train.result import EpochCallback, TrialResult
from unified_nas.network import compile_plan
from unified_nas.recipe.tables import table_info
from unified_nas.space.parse import space_to_dict
from unified_nas.tables import open_table
from unified_nas.tables.recipes import open_own_table

if TYPE_CHECKING:
    from unified_nas.data import Dataset
    from unified_nas.recipe import Recipe
    from unified_nas.space import SearchSpace
    from unified_nas.tables.nasbench201 import NasBench201Table
    from unified_nas.tables.own import OwnTable


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
        own_training: OwnTraining | None = None,
    ) -> TrialResult:
        if own_training is not None:
            return own_training()
        from unified_nas.evaluation.train.evaluate import evaluate_sample  # imports torch

        r = self.recipe
        return evaluate_sample(r.space, sample, self.data, r.protocol, self.seed, on_epoch)


# Params and FLOPs of a table's architectures, by (space, input shape, classes), then table index: a pure
# function of those, so it is shared by every run of the process (at most the table's size per space).
_TABLE_COSTS: dict[tuple[str, tuple[int, ...], int], dict[int, tuple[int, int]]] = {}


class TableLookup(Evaluator):
    """Answers from a tabular benchmark: nothing is trained, ``own_training`` is never called.

    The recorded validation accuracy of one seed is ``val_accuracy``; the
    mean over the recorded seeds is the architecture's ``true_accuracy``; the table's training time is the
    trial's ``simulated_s``. Parameters and FLOPs are counted from the
    architecture by unified-nas, cached per architecture for the whole process
    (:data:`_TABLE_COSTS`): the plan is the slow part of a lookup, and a warm
    benchmark process meets the same architectures run after run.

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
        key = (json.dumps(space_to_dict(space), sort_keys=True), self.input_shape, num_classes)
        self._costs = _TABLE_COSTS.setdefault(key, {})

    def _cost(self, index: int, sample: Mapping[str, Any]) -> tuple[int, int]:
        if index not in self._costs:
            plan = compile_plan(self.space.resolve(sample), self.input_shape, self.num_classes)
            self._costs[index] = (plan.params, plan.flops)
        return self._costs[index]

    def __call__(
        self,
        sample: Mapping[str, Any],
        trial: int,
        on_epoch: EpochCallback | None = None,
        own_training: OwnTraining | None = None,
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


class OwnTableLookup(Evaluator):
    """Answers from a table made by ``unas tabulate`` (``evaluation: {table: PATH}``): nothing is trained.

    The table trained each architecture once, under one seed: that training's
    last-epoch metrics are the trial's, its training time the simulated cost,
    and its validation accuracy the ``true_accuracy`` (the only estimate the
    table has). An architecture whose tabulation failed is a failed trial.

    Args:
        table: The opened table (its coverage of the recipe's space checked when the data was loaded).
    """

    def __init__(self, table: OwnTable) -> None:
        self.table = table

    def __call__(
        self,
        sample: Mapping[str, Any],
        trial: int,
        on_epoch: EpochCallback | None = None,
        own_training: OwnTraining | None = None,
    ) -> TrialResult:
        row = self.table.lookup(sample)
        if row is None:  # check_replay made sure every architecture is there; a table changed since
            raise KeyError(f"architecture not in table {self.table.path}: {dict(sample)}")
        if not row.complete:
            raise RuntimeError(f"the architecture failed when it was tabulated: {row.error}")
        metrics = {k: float(getattr(row, k)) for k in ("val_accuracy", "val_loss", "train_loss")}
        return TrialResult(
            metrics=metrics,
            test_accuracy=row.test_accuracy,
            history=[{"epoch": self.table.epochs - 1, **metrics}],
            params=int(row.params or 0),
            flops=int(row.flops or 0),
            simulated_s=row.train_s,
            true_accuracy=row.val_accuracy,
        )


class ProxyScore(Evaluator):
    """Scores a sample by a zero-cost proxy, training nothing (recipe ``evaluation: {proxy: synflow}``).

    The proxy is computed on the sample's torch twin from one seeded minibatch
    of the recipe's training data (:mod:`unified_nas.evaluation.proxies`), so it is the
    same number whichever backend proposed the sample. ``own_training`` is never called.

    Args:
        proxy: The proxy's registered name.
        space: The recipe's search space.
        data: The split data set.
        seed: The run seed (weights and minibatch).
    """

    def __init__(self, proxy: str, space: SearchSpace, data: Dataset, seed: int) -> None:
        self.proxy, self.space, self.data, self.seed = proxy, space, data, seed

    def __call__(
        self,
        sample: Mapping[str, Any],
        trial: int,
        on_epoch: EpochCallback | None = None,
        own_training: OwnTraining | None = None,
    ) -> TrialResult:
        t0 = time.perf_counter()
        values = compute_before_training((self.proxy, "params", "flops"), self.space, sample, self.data, self.seed)
        score = values[self.proxy]
        if math.isnan(score):  # a failed trial on every backend, rather than each toolkit's own NaN handling
            raise ValueError(f"proxy {self.proxy} is undefined (NaN) for this architecture")
        return TrialResult(
            metrics={self.proxy: score},
            test_accuracy=None,
            params=int(values["params"]),
            flops=int(values["flops"]),
            train_s=time.perf_counter() - t0,  # the evaluation's own cost, as training time is for trained trials
        )


class Constrained(Evaluator):
    """Computes the metrics known before training that the recipe names, and checks its constraints first.

    Wraps the run's evaluator. For each sample it computes the constrained
    metrics and the objectives the inner evaluator does not give (e.g.
    ``latency_ms``, a proxy beside trained accuracy) with
    :func:`unified_nas.core.metrics.compute_before_training`. A sample outside a
    bound is not evaluated at all: its result carries ``violations`` and the
    metrics known so far, and each backend tells its toolkit the worst score
    (Optuna also gets the violations, as ``Trial.set_constraint``).

    Args:
        inner: The run's evaluator.
        recipe: The recipe (constraints, objectives, space).
        data: The run's data.
        seed: The run seed.
        given: Metrics ``inner`` gives itself (not computed again).
    """

    def __init__(self, inner: Evaluator, recipe: Recipe, data: Dataset, seed: int, given: set[str]) -> None:
        self.inner, self.recipe, self.data, self.seed = inner, recipe, data, seed
        self.bounds = recipe.constraints
        # The constrained metrics first, then size (an infeasible sample's record still has it), then
        # objectives the inner evaluator does not give: these are skipped for an infeasible sample.
        first = [b.metric for b in self.bounds] + (["params", "flops"] if self.bounds else [])
        self.checked = tuple(dict.fromkeys(first))
        later = [o.metric for o in recipe.objectives if METRICS[o.metric].cost != "trained" and o.metric not in given]
        self.later = tuple(m for m in dict.fromkeys(later) if m not in self.checked)
        self.names = self.checked + self.later

    def restore(self, run_dir: Path) -> None:
        self.inner.restore(run_dir)

    def prepare(self, run_dir: Path | None, say: Callable[[str], None] | None = None) -> dict[str, Any] | None:
        return self.inner.prepare(run_dir, say)

    def __call__(
        self,
        sample: Mapping[str, Any],
        trial: int,
        on_epoch: EpochCallback | None = None,
        own_training: OwnTraining | None = None,
    ) -> TrialResult:
        r = self.recipe
        values = compute_before_training(self.checked, r.space, sample, self.data, self.seed)
        violated = violations(self.bounds, values)
        if not violated:
            values.update(compute_before_training(self.later, r.space, sample, self.data, self.seed))
            undefined = [m for m in self.later if math.isnan(values[m])]
            if undefined:  # it would fail after training (metrics.objective_values): fail before, train nothing
                raise ValueError(f"objective {', '.join(undefined)} is undefined (NaN) for this architecture")
        known = {k: v for k, v in values.items() if k not in ("params", "flops")}  # those have fields of their own
        if violated:
            return TrialResult(
                metrics=known,
                test_accuracy=None,
                params=int(values["params"]),
                flops=int(values["flops"]),
                violations=violated,
            )
        result = self.inner(sample, trial, on_epoch, own_training)
        result.metrics = {**known, **result.metrics}
        return result


def make_evaluator(recipe: Recipe, data: Dataset, seed: int) -> Evaluator:
    """The run's evaluator, from the recipe's ``evaluation`` section (and its constraints).

    Args:
        recipe: The recipe.
        data: The run's data (a table recipe's: shapes only, see ``tables.table_dataset``).
        seed: The run seed.

    Returns:
        :class:`Training`, :class:`ProxyScore`, ``SupernetScore`` or :class:`TableLookup`, wrapped in
        :class:`Constrained` when the recipe has constraints or objectives known before training.

    Raises:
        RecipeError: An unknown table or data set.
        UserError: The table's package is not installed (with the pip command).
    """
    spec = recipe.evaluation
    inner: Evaluator
    if spec.proxy is not None:
        inner, given = ProxyScore(spec.proxy, recipe.space, data, seed), {spec.proxy, "params", "flops"}
    elif spec.supernet is not None:
        from unified_nas.evaluation.supernet.evaluator import SupernetScore  # imports torch

        inner, given = SupernetScore(spec.supernet, recipe.space, data, seed), {"params", "flops"}
    elif spec.trains:
        inner, given = Training(recipe, data, seed), {"params", "flops"}
    elif spec.own_table:
        inner, given = OwnTableLookup(open_own_table(spec, recipe.base_dir)), {"params", "flops"}
    else:
        inner = TableLookup(
            open_table(spec), recipe.space, data.input_shape, data.num_classes, seed, table_info(spec).epochs
        )
        given = {"params", "flops"}
    wrapped = Constrained(inner, recipe, data, seed, given)
    return wrapped if wrapped.names else inner
