"""Optuna FrozenTrial -> TrialRecord.

The objective stores the canonical sample and the trainer's result in the
trial's user attributes; wall time comes from Optuna's own start/complete
timestamps, so sampler and storage overhead are part of ``duration_s``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import optuna

from unified_nas.report.records import TrialRecord
from unified_nas.train.result import TrialResult

if TYPE_CHECKING:
    from unified_nas.runner import RunContext

STATUS = {optuna.trial.TrialState.COMPLETE: "complete", optuna.trial.TrialState.PRUNED: "pruned",
          optuna.trial.TrialState.FAIL: "failed"}


def normalize_trial(trial: optuna.trial.FrozenTrial, ctx: "RunContext") -> TrialRecord:
    """Converts a finished Optuna trial into the canonical record."""
    attrs = trial.user_attrs
    start = trial.datetime_start.timestamp() if trial.datetime_start else 0.0
    end = trial.datetime_complete.timestamp() if trial.datetime_complete else start
    result = TrialResult.from_dict(attrs["result"]) if "result" in attrs else None
    status = STATUS.get(trial.state, "failed")
    return ctx.record_from_result(
        index=trial.number, native_id=str(trial.number), sample=attrs.get("sample", trial.params),
        result=result, status=status if result is not None else "failed", start_time=start,
        duration_s=end - start, error=attrs.get("error"), extra={"optuna_state": trial.state.name})
