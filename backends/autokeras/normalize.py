"""AutoKeras (keras-tuner) trials -> TrialRecord."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from unified_nas.evaluation.train.result import TrialResult
from unified_nas.report.records import TrialRecord

if TYPE_CHECKING:
    from unified_nas.runs.context import RunContext


@dataclass
class NativeTrial:
    """One finished keras-tuner trial with what keras-tuner does not store.

    Attributes:
        trial_id: keras-tuner's zero-padded trial id.
        sample: Canonical sample (from the trial's hyperparameters).
        status: keras-tuner's status (``COMPLETED``, ``FAILED``, ``INVALID``).
        result: Metrics, per-epoch history, size and training time (None if it failed).
        start, end: Unix times of ``on_trial_begin`` and ``on_trial_end``.
        error: keras-tuner's traceback of a failed trial.
        extra: Native details worth keeping (Hyperband's epochs and parent trial).
    """

    trial_id: str
    sample: dict[str, Any]
    status: str
    result: TrialResult | None
    start: float
    end: float
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def normalize_trial(t: NativeTrial, ctx: RunContext) -> TrialRecord:
    status = "complete" if t.status == "COMPLETED" and t.result is not None else "failed"
    error = t.error if status == "failed" else None
    if status == "failed" and not error:
        error = f"keras-tuner reported {t.status} without a result"
    return ctx.record_from_result(
        index=int(t.trial_id),
        native_id=t.trial_id,
        sample=t.sample,
        result=t.result,
        status=status,
        start_time=t.start,
        duration_s=t.end - t.start,
        error=error,
        extra={"keras_tuner_status": t.status, **t.extra},
    )
