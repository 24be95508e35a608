"""The outcome of training one sample (framework-free, JSON-ready)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

# Called after every epoch with (epoch index from 0, metrics of that epoch);
# returning True stops training there (pruning).
EpochCallback = Callable[[int, dict[str, float]], bool]


@dataclass
class TrialResult:
    """Metrics of one trained architecture.

    Attributes:
        metrics: Final ``val_accuracy``, ``val_loss``, ``train_loss``.
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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_dict(d: dict[str, Any]) -> TrialResult:
        return TrialResult(**d)

    def value(self, metric: str) -> float:
        """A metric by objective name (``params`` and ``flops`` included)."""
        if metric == "params":
            return float(self.params)
        if metric == "flops":
            return float(self.flops)
        return self.metrics[metric]
