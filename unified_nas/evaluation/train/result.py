"""The outcome of training one sample (framework-free, JSON-ready)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from unified_nas.core.metrics import objective_values

# Called after every epoch with (epoch index from 0, metrics of that epoch);
# returning True stops training there (pruning).
EpochCallback = Callable[[int, dict[str, float]], bool]


@dataclass
class TrialResult:
    """Metrics of one trained architecture.

    Attributes:
        metrics: Final ``val_accuracy``, ``val_loss``, ``train_loss``, and any
            registered metric the recipe names that is computed before training
            (:mod:`unified_nas.core.metrics`).
        test_accuracy: Accuracy on the test split of the final weights; the
            run report shows it for the incumbent only.
        history: One dict per epoch (``epoch``, ``train_loss``, ``val_loss``, ``val_accuracy``).
        params: Trainable parameters.
        flops: FLOPs of one example's forward pass (see ``count_flops``).
        train_s: Seconds inside the training loop (epochs incl. validation).
        stopped: ``None``, ``"pruned"`` or ``"early_stopping"``.
        simulated_s: A table's recorded training time (table recipes; None when trained).
        true_accuracy: A table's mean validation accuracy over its recorded
            training seeds: the architecture's quality without the noise of one
            training run (table recipes; None when trained).
        violations: The recipe constraints the sample violated (``params 61234 > max 50000``):
            it was not trained and ``metrics`` holds only what is known before training.
            None for a feasible sample.
    """

    metrics: dict[str, float]
    test_accuracy: float | None
    history: list[dict[str, float]] = field(default_factory=list)
    params: int = 0
    flops: int = 0
    train_s: float = 0.0
    stopped: str | None = None
    simulated_s: float | None = None
    true_accuracy: float | None = None
    violations: list[str] | None = None

    @property
    def feasible(self) -> bool:
        """Whether the sample met every constraint (and so was evaluated)."""
        return self.violations is None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_dict(d: dict[str, Any]) -> TrialResult:
        return TrialResult(**d)

    def objective_values(self, objectives: Iterable[tuple[str, str]]) -> list[float]:
        """The values every toolkit is told, in recipe order (see :func:`unified_nas.core.metrics.objective_values`).

        Args:
            objectives: ``(metric, direction)`` pairs.

        Returns:
            The values; an infeasible trial's untrained metrics are their worst values.
        """

        return objective_values(self.metrics, self.params, self.flops, objectives, self.feasible)
