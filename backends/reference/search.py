"""The reference search loop: propose from the IR, score with ``ctx.evaluate``, report, repeat.

Trials run one at a time, in order: trial ``i`` is evaluated and reported
before trial ``i + 1`` is drawn, which is what resuming a run relies on (see
:class:`unified_nas.runs.lifecycle.Replay`). The proposals do not depend on
scores, so a replayed trial leads to the same next sample by construction.
"""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from unified_nas.core.errors import format_failure
from unified_nas.evaluation.train.result import TrialResult
from unified_nas.space import ParamDecl, enumerate_samples, random_sample, start_sample

if TYPE_CHECKING:
    from unified_nas.report.records import TrialRecord
    from unified_nas.runs.context import RunContext


@dataclass(frozen=True)
class NativeTrial:
    """One finished trial, as the loop saw it.

    Attributes:
        index: Position in the run (0-based, in the order trials ran).
        sample: The canonical sample it evaluated.
        start: Unix time the trial started (before its sample was drawn, so
            proposing counts as overhead, as it does for the toolkits).
        end: Unix time it ended.
        result: What ``ctx.evaluate`` returned; None if the trial failed.
        error: The failure's traceback (:func:`~unified_nas.core.errors.format_failure`); None if it did not fail.
    """

    index: int
    sample: dict[str, Any]
    start: float
    end: float
    result: TrialResult | None = None
    error: str | None = None


def proposals(decls: Sequence[ParamDecl], strategy: str, seed: int) -> Iterator[dict[str, Any]]:
    """The samples a strategy proposes, in order.

    Args:
        decls: The space's flat declarations.
        strategy: ``random`` (uniform, with repeats, endless) or ``grid``
            (every canonical sample once, in declaration-major order; the
            order does not depend on the seed).
        seed: The run seed (``random`` only).

    Yields:
        Canonical samples.

    Raises:
        ValueError: ``grid`` on a continuous space (the backend's declared
            ``finite_only`` refuses that before the run).
    """
    if strategy == "grid":
        yield from enumerate_samples(decls)
        return
    # One generator for the whole run: trial i's sample depends on the seed and i only.
    rng = random.Random(seed)
    while True:
        yield random_sample(decls, rng)


def run_search(decls: Sequence[ParamDecl], ctx: RunContext, report: Callable[[NativeTrial], None]) -> None:
    """Runs trials until the trial budget, the run's other budgets or the strategy's proposals are spent.

    The trial budget is counted here; the wall-clock and simulated-time
    budgets are the runner's (``ctx.out_of_budget()``, asked before each
    trial, never during one: a started trial finishes, as with Optuna's
    timeout). A trial that raises is reported as failed with its traceback
    and the search goes on. Only ``Exception`` is caught: KeyboardInterrupt
    (Ctrl-C, SIGTERM) and the runner's own stop signal (a resume that
    diverged) are BaseExceptions and end the search, as they must.

    Args:
        decls: The space's flat declarations (what the backend's ``translate`` returned).
        ctx: The run's context (strategy, seed, budget, ``evaluate``).
        report: Called with each finished trial, as it finishes.
    """
    samples = proposals(decls, ctx.options.strategy, ctx.seed)
    if ctx.options.default_first:  # the start point, then the strategy's own proposals unchanged
        samples = itertools.chain([start_sample(decls)], samples)
    index = 0
    while ctx.budget.trials is None or index < ctx.budget.trials:
        if ctx.out_of_budget():
            break
        start = time.time()
        sample = next(samples, None)
        if sample is None:  # grid: every sample visited
            break
        try:
            result = ctx.evaluate(sample)
            ctx.objective_values(result)  # a NaN objective fails the trial here, as on every backend
        except Exception as e:
            report(NativeTrial(index, sample, start, time.time(), error=format_failure(e)))
        else:
            report(NativeTrial(index, sample, start, time.time(), result=result))
        index += 1


def normalize_trial(trial: NativeTrial, ctx: RunContext) -> TrialRecord:
    """A finished trial -> the canonical record.

    Args:
        trial: The trial as the loop saw it.
        ctx: The run's context (the shared record builder).

    Returns:
        A ``complete`` record (``pruned`` if the evaluation stopped it as
        pruned), or a ``failed`` one carrying the trial's traceback.
    """
    result = trial.result
    status = "failed" if result is None else ("pruned" if result.stopped == "pruned" else "complete")
    return ctx.record_from_result(
        index=trial.index,
        native_id=str(trial.index),
        sample=trial.sample,
        result=result,
        status=status,
        start_time=trial.start,
        duration_s=trial.end - trial.start,
        error=trial.error,
    )
