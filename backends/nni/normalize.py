"""NNI model events -> TrialRecord."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from unified_nas.backends.nni.space import to_canonical
from unified_nas.evaluation.train.result import TrialResult
from unified_nas.report.records import TrialRecord

if TYPE_CHECKING:
    from unified_nas.runs.context import RunContext


@dataclass
class NativeTrial:
    """One finished NNI model, as the engine callbacks saw it.

    Attributes:
        index: Order of completion.
        sample: NNI's sample (all labels, input choices as ``[i]``).
        status: NNI's ``ModelStatus`` name (``Trained``, ``Failed``, ``Interrupted``).
        metric: The final metric dict the trial reported, if any.
        start, end: Unix times; ``start`` is when the previous trial ended (or
            the search started), so strategy and engine time count as overhead.
        error: Traceback of a failed trial.
        native_id: NNI's name for it if not its index (one-shot: ``exported``).
        extra: Kept in the record's ``extra`` (one-shot: the supernet's cost).
    """

    index: int
    sample: dict[str, Any]
    status: str
    metric: Any
    start: float
    end: float
    error: str | None = None
    native_id: str | None = None  # default: the index
    extra: dict[str, Any] = field(default_factory=dict)


def normalize_trial(t: NativeTrial, ctx: RunContext) -> TrialRecord:
    """Converts a finished NNI model into the canonical record.

    Args:
        t: The model as the engine callbacks saw it.
        ctx: The run's context (recipe for the canonical sample, record builder).

    Returns:
        A ``complete`` record if NNI trained it and it reported our payload, else ``failed``
        with the trial's traceback (or, lacking one, NNI's status).
    """
    payload = t.metric.get("unas") if isinstance(t.metric, dict) else None
    result = TrialResult.from_dict(payload["result"]) if payload else None
    sample = payload["sample"] if payload else to_canonical(ctx.recipe.space, t.sample)
    status = "complete" if t.status == "Trained" and result is not None else "failed"
    error = t.error if status == "failed" else None
    if status == "failed" and error is None:
        error = f"NNI reported {t.status} without a result"
    return ctx.record_from_result(
        index=t.index,
        native_id=t.native_id or str(t.index),
        sample=sample,
        result=result,
        status=status,
        start_time=t.start,
        duration_s=t.end - t.start,
        error=error,
        extra={"nni_status": t.status, **t.extra},
    )
