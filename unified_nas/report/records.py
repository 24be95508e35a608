"""TrialRecord and RunReport: the one result format of every backend.

Nothing here knows which backend produced a record. Both carry
``schema_version``; readers refuse versions they do not know instead of guessing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any, cast

from unified_nas.core.errors import StoreError, UserError

if TYPE_CHECKING:
    import pandas as pd

SCHEMA_VERSION = 1
STATUSES = ("complete", "pruned", "failed", "infeasible")


def check_schema(d: dict[str, Any], what: str) -> None:
    """Raises StoreError unless ``d`` was written with a schema this version reads."""
    v = d.get("schema_version")
    if v != SCHEMA_VERSION:
        raise StoreError(
            f"{what} has schema_version {v!r}; this unified-nas reads {SCHEMA_VERSION} only "
            "(upgrade unified-nas, or re-run with this version)"
        )


def require_pandas() -> Any:
    """Imports pandas on first use: it is an optional extra, and ``import unified_nas`` must stay light.

    Returns:
        The ``pandas`` module.

    Raises:
        UserError: pandas is not installed (the message names the pip command).
    """
    try:
        import pandas
    except ImportError:
        raise UserError("to_pandas() needs pandas: pip install 'unified-nas[pandas]'") from None
    return pandas


# Per-trial columns of RunReport.to_pandas besides the metrics and the sample, in order.
_TRIAL_COLUMNS = (
    "params",
    "flops",
    "duration_s",
    "train_s",
    "overhead_s",
    "simulated_s",
    "true_accuracy",
    "test_accuracy",
    "start_time",
    "native_id",
    "error",
)


@dataclass
class TrialRecord:
    """One trial, normalized.

    Attributes:
        index: 0-based position in the run.
        native_id: The toolkit's own id of the trial.
        status: ``complete``, ``pruned``, ``failed`` or ``infeasible`` (violated a recipe
            constraint; not trained, see ``violations``).
        sample: Canonical sample ``{label: JSON scalar}``.
        metrics: ``val_accuracy``, ``val_loss``, ``train_loss`` (last epoch run), and the
            registered metrics computed before training that the recipe names (an
            infeasible trial has only these).
        objectives: Objective values in recipe order (None if failed).
        params: Trainable parameters. flops: FLOPs of one example (2 per multiply-add).
        history: Per-epoch metrics.
        start_time: Unix time the trial started.
        duration_s: Wall time of the whole trial as the toolkit ran it.
        train_s: Seconds inside the training loop; ``duration_s - train_s`` is overhead.
        error: Error text of a failed trial.
        simulated_s: Training time a table recorded for the sample (table recipes only).
        true_accuracy: The table's mean validation accuracy of the sample over its
            recorded seeds (table recipes only; shown for incumbents, as test accuracy is).
        violations: The constraints an infeasible trial violated (``params 61234 > max 50000``).
        test_accuracy: Kept in the store, shown for the incumbent only (not in ``to_dict``).
    """

    index: int
    native_id: str
    status: str
    sample: dict[str, Any]
    metrics: dict[str, float] = field(default_factory=dict)
    objectives: list[float] | None = None
    params: int | None = None
    flops: int | None = None
    history: list[dict[str, float]] = field(default_factory=list)
    start_time: float = 0.0
    duration_s: float = 0.0
    train_s: float = 0.0
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    simulated_s: float | None = None
    true_accuracy: float | None = None
    violations: list[str] | None = None
    test_accuracy: float | None = field(default=None, repr=False)
    schema_version: int = SCHEMA_VERSION

    @property
    def overhead_s(self) -> float:
        return max(0.0, self.duration_s - self.train_s)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("test_accuracy")
        d["overhead_s"] = self.overhead_s
        return d

    @staticmethod
    def from_dict(d: dict[str, Any], test_accuracy: float | None = None) -> TrialRecord:
        check_schema(d, "trial record")
        names = {f.name for f in fields(TrialRecord)}
        return TrialRecord(**{k: v for k, v in d.items() if k in names}, test_accuracy=test_accuracy)


def dominates(a: Sequence[float], b: Sequence[float], directions: Sequence[str]) -> bool:
    """True if ``a`` is at least as good as ``b`` everywhere and better somewhere."""
    sign = [1 if d == "maximize" else -1 for d in directions]
    ge = all(s * x >= s * y for s, x, y in zip(sign, a, b))
    return ge and any(s * x > s * y for s, x, y in zip(sign, a, b))


def pareto_front(trials: Sequence[TrialRecord], directions: Sequence[str]) -> list[int]:
    """Indices of complete trials that no other complete trial dominates."""
    done = [t for t in trials if t.status == "complete" and t.objectives is not None]
    # Every trial in done has objectives (the filter above); the casts say so to mypy.
    return [
        t.index
        for t in done
        if not any(
            dominates(cast("list[float]", o.objectives), cast("list[float]", t.objectives), directions) for o in done
        )
    ]


def incumbent(trials: Sequence[TrialRecord], directions: Sequence[str]) -> TrialRecord | None:
    """Best complete trial on the first objective (ties: the earlier trial)."""
    done = [t for t in trials if t.status == "complete" and t.objectives is not None]
    if not done:
        return None
    s = 1 if directions[0] == "maximize" else -1
    return max(done, key=lambda t: (s * cast("list[float]", t.objectives)[0], -t.index))  # filtered: not None


@dataclass
class RunReport:
    """One run of one recipe on one backend, normalized.

    ``trials`` are filled from the store; ``incumbent`` is chosen on the first
    objective (validation metrics only) and is the only trial whose test
    accuracy is reported.
    """

    run_id: str
    recipe: dict[str, Any]  # name, hash, text, path
    backend: dict[str, Any]  # name, version
    strategy: str
    options: dict[str, Any]
    seed: int
    objectives: list[dict[str, str]]
    budget_asked: dict[str, Any]
    data: dict[str, Any]
    space: dict[str, Any]
    environment: dict[str, Any]
    run_dir: str
    started_at: float
    ended_at: float | None = None
    status: str = "running"  # running, complete, failed, interrupted (shown as died if its process is gone)
    error: str | None = None
    budget_spent: dict[str, Any] = field(default_factory=dict)
    incumbent: dict[str, Any] | None = None
    pareto_front: list[int] = field(default_factory=list)
    search_cost: dict[str, Any] | None = None  # one-shot: supernet wall time and epochs, apart from the trials
    # Why a run that ended on its own spent less than its trial budget (the strategy stopped proposing): a
    # complete run never has fewer trials than asked without saying why (see RunContext.stopped_early).
    stopped_early: str | None = None
    process: dict[str, Any] | None = None  # host, pid, start ticks of the process running it (lifecycle.py)
    attempts: list[dict[str, Any]] = field(default_factory=list)  # earlier attempts of a resumed run
    evaluation: dict[str, Any] = field(default_factory=lambda: {"mode": "train"})  # train, proxy, or the table used
    constraints: list[dict[str, Any]] = field(default_factory=list)  # the recipe's bounds (metrics.Bound.to_dict)
    trials: list[TrialRecord] = field(default_factory=list)
    schema_version: int = SCHEMA_VERSION

    @property
    def directions(self) -> list[str]:
        return [o["direction"] for o in self.objectives]

    @property
    def by_table(self) -> bool:
        """Trials were looked up in a table: incumbents show ``true_accuracy`` where trained ones show test accuracy."""
        return self.evaluation.get("mode") == "table"

    def summarize(self) -> None:
        """Recomputes ``budget_spent``, ``incumbent`` and ``pareto_front`` from ``trials``."""
        counts = {s: sum(t.status == s for t in self.trials) for s in STATUSES}
        self.budget_spent = {
            "trials": len(self.trials),
            **counts,
            "wall_s": round(self.active_s(), 3),
            "train_s": round(sum(t.train_s for t in self.trials), 3),
            "epochs": sum(len(t.history) for t in self.trials),
        }
        simulated = [t.simulated_s for t in self.trials if t.simulated_s is not None]
        if simulated:
            self.budget_spent["simulated_s"] = round(sum(simulated), 3)
        best = incumbent(self.trials, self.directions)
        self.incumbent = (
            None
            if best is None
            else {
                "index": best.index,
                "sample": best.sample,
                "objectives": best.objectives,
                "val_accuracy": best.metrics.get("val_accuracy"),
                "test_accuracy": best.test_accuracy,
                "params": best.params,
                "flops": best.flops,
            }
        )
        if best is not None and best.true_accuracy is not None:
            assert self.incumbent is not None  # set just above whenever best is not None
            self.incumbent["true_accuracy"] = best.true_accuracy
        self.pareto_front = pareto_front(self.trials, self.directions) if len(self.objectives) > 1 else []

    def current_attempt_s(self) -> float:
        """Seconds the current (or last) attempt ran: to its end, or to its last trial's end if it died."""
        start = self.attempts[-1]["resumed_at"] if self.attempts else self.started_at
        end = self.ended_at or max(
            (t.start_time + t.duration_s for t in self.trials if t.start_time >= start), default=start
        )
        return max(0.0, end - start)

    def active_s(self) -> float:
        """Seconds the run searched over all its attempts (time while no process ran it does not count)."""
        return sum(a.get("active_s", 0.0) for a in self.attempts) + self.current_attempt_s()

    def to_pandas(self) -> pd.DataFrame:
        """The trials as a DataFrame, one row per trial in run order.

        Columns: ``index``, ``status``; one per objective and per metric the
        trials recorded (``val_accuracy``, ``val_loss``, ...; objectives first);
        ``params``, ``flops``, ``duration_s``, ``train_s``, ``overhead_s``,
        ``simulated_s`` and ``true_accuracy`` (table recipes), ``test_accuracy``,
        ``start_time``, ``native_id``, ``error``; then one per canonical label
        of the space, named by the label (``lr``, ``cell/op_1_0``). A label
        that is also the name of one of the columns before it is prefixed
        ``sample.`` (a label ``params`` becomes ``sample.params``). Missing
        values are NaN/None.

        ``test_accuracy`` is filled for the incumbent only, as in every report:
        the test set must not pick among trials.

        Returns:
            A ``pandas.DataFrame``.

        Raises:
            UserError: pandas is not installed (``pip install 'unified-nas[pandas]'``).
        """
        pd = require_pandas()
        best = (self.incumbent or {}).get("index")
        metrics = [o["metric"] for o in self.objectives]
        for t in self.trials:
            metrics += [m for m in t.metrics if m not in metrics]
        metrics = [m for m in metrics if m not in _TRIAL_COLUMNS]  # params, flops: their own columns
        fixed = ["index", "status", *metrics, *_TRIAL_COLUMNS]
        labels = [p["label"] for p in self.space.get("params", [])]
        for t in self.trials:  # a label missing from the header (an older report): still shown
            labels += [k for k in t.sample if k not in labels]
        named = {label: f"sample.{label}" if label in fixed else label for label in labels}
        rows = []
        for t in self.trials:
            values = dict(zip([o["metric"] for o in self.objectives], t.objectives or []))
            row: dict[str, Any] = {"index": t.index, "status": t.status}
            row.update({m: t.metrics.get(m, values.get(m)) for m in metrics})
            row.update({c: getattr(t, c) for c in _TRIAL_COLUMNS})
            row["test_accuracy"] = t.test_accuracy if t.index == best else None
            row.update({named[k]: t.sample.get(k) for k in labels})
            rows.append(row)
        return pd.DataFrame(rows, columns=[*fixed, *named.values()])

    def to_dict(self, with_trials: bool = True) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "trials"}
        if with_trials:
            d["trials"] = [t.to_dict() for t in self.trials]
        return d

    @staticmethod
    def from_dict(d: dict[str, Any], trials: list[TrialRecord] | None = None) -> RunReport:
        check_schema(d, "run report")
        names = {f.name for f in fields(RunReport)} - {"trials"}
        return RunReport(**{k: v for k, v in d.items() if k in names}, trials=trials or [])


def pick_trial(report: RunReport, trial: str, complete_to: str | None = None) -> TrialRecord:
    """``best`` (the run's incumbent, chosen on validation) or a trial index, as ``--trial`` takes it.

    Args:
        report: The run, with its trials.
        trial: ``best`` or an integer.
        complete_to: What only a complete trial can be used for (``export``): then a trial of another
            status is refused; None takes any trial (a failed one keeps its sample).

    Returns:
        The trial.

    Raises:
        UserError: Not ``best`` or an integer, no incumbent, no trial of that index, or (with
            ``complete_to``) a trial that did not complete.
    """
    if trial == "best":
        if report.incumbent is None:
            hint = "" if complete_to else "; pick one with --trial N"
            raise UserError(f"run {report.run_id} has no complete trial, so no incumbent{hint}")
        index = report.incumbent["index"]
    else:
        try:
            index = int(trial)
        except ValueError:
            raise UserError(f"--trial: expected 'best' or a trial index, got {trial[:40]!r}") from None
    found = next((t for t in report.trials if t.index == index), None)
    if found is None:
        if not report.trials:
            raise UserError(f"run {report.run_id} has no trials")
        known = sorted(t.index for t in report.trials)
        raise UserError(f"run {report.run_id} has no trial {index} (indices {known[0]}..{known[-1]})")
    if complete_to and found.status != "complete":
        raise UserError(f"trial {index} of run {report.run_id} is {found.status}; {complete_to} a complete trial")
    return found
