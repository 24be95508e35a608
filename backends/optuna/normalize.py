"""Optuna FrozenTrial -> TrialRecord.

The objective stores the canonical sample and the trainer's result in the
trial's user attributes; wall time comes from Optuna's own start/complete
timestamps, so sampler and storage overhead are part of ``duration_s``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import optuna

from unified_nas.backends.optuna.shared import DEAD_ATTR, WORKER_ATTR
from unified_nas.evaluation.train.result import TrialResult
from unified_nas.report.records import TrialRecord

if TYPE_CHECKING:
    from unified_nas.runs.context import RunContext

STATUS = {
    optuna.trial.TrialState.COMPLETE: "complete",
    optuna.trial.TrialState.PRUNED: "pruned",
    optuna.trial.TrialState.FAIL: "failed",
}


def normalize_trial(trial: optuna.trial.FrozenTrial, ctx: RunContext) -> TrialRecord:
    """Converts a finished Optuna trial into the canonical record.

    Args:
        trial: A trial Optuna finished (COMPLETE, PRUNED or FAIL).
        ctx: The run's context (record builder).

    Returns:
        The record; a failed one carries the objective's traceback, or, if the
        trial failed without one (Optuna rejected what the objective returned),
        Optuna's state.
    """
    attrs = trial.user_attrs
    start = trial.datetime_start.timestamp() if trial.datetime_start else 0.0
    end = trial.datetime_complete.timestamp() if trial.datetime_complete else start
    result = TrialResult.from_dict(attrs["result"]) if "result" in attrs else None
    status = STATUS.get(trial.state, "failed") if result is not None else "failed"
    error = attrs.get("error")
    dead = attrs.get(DEAD_ATTR) or {}
    if status == "failed" and error is None and dead.get("trial") == trial.number:  # shared.fail_dead_trials
        error = dead["why"]
    if status == "failed" and error is None and WORKER_ATTR in attrs:  # Optuna's heartbeat failed it
        w = attrs[WORKER_ATTR]
        error = (
            f"worker {w['host']}:{w['pid']} stopped during the trial (no Optuna heartbeat); "
            "the trial is retried as a new one"
        )
    if status == "failed" and error is None:
        # Optuna's warning about it is filtered out of the log (run.optuna_logging): say so in the record.
        error = f"Optuna marked the trial {trial.state.name} without an exception"
    return ctx.record_from_result(
        index=trial.number,
        native_id=str(trial.number),
        sample=attrs.get("sample", trial.params),
        result=result,
        status=status,
        start_time=start,
        duration_s=end - start,
        error=error,
        # A shared study's trials say which worker ran them (backends/optuna/shared.py).
        extra={"optuna_state": trial.state.name, **({"worker": attrs[WORKER_ATTR]} if WORKER_ATTR in attrs else {})},
    )
