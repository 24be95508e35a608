"""The evaluator contract: how the runner's evaluator answers a backend's ``ctx.evaluate`` (see :mod:`.evaluators`)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from unified_nas.evaluation.train.result import EpochCallback, TrialResult

__all__ = ["Evaluator", "OwnTraining"]

# A backend's own way to train the sample it is asking about (called only if training is wanted).
OwnTraining = Callable[[], TrialResult]


class Evaluator(ABC):
    """Scores one sample of a run; made once per run by :func:`unified_nas.evaluation.evaluators.make_evaluator`."""

    def restore(self, run_dir: Path) -> None:  # noqa: B027 (optional hook)
        """Reloads what an earlier attempt of the run prepared in ``run_dir``, if anything (resume checks it first).

        Args:
            run_dir: The run directory.

        Raises:
            UserError: What was stored is damaged, or was prepared for another recipe.
        """

    def prepare(self, run_dir: Path | None, say: Callable[[str], None] | None = None) -> dict[str, Any] | None:
        """Work done once per run before the search (a supernet's training), on the run's clock.

        Args:
            run_dir: The run directory (what is prepared is stored there, for a resumed run).
            say: Progress lines, or None for none; call it between long steps (the runner's is a safe point
                that raises on a SIGTERM which a finalizer swallowed).

        Returns:
            The run's search cost (JSON-ready, reported apart from the trials), or None if there is none.

        Raises:
            UserError: What an earlier attempt stored is damaged (see :meth:`restore`).
            TrainingDiverged: Training what is prepared diverged.
        """
        return None

    @abstractmethod
    def __call__(
        self,
        sample: Mapping[str, Any],
        trial: int,
        on_epoch: EpochCallback | None = None,
        own_training: OwnTraining | None = None,
    ) -> TrialResult:
        """The result of one canonical sample.

        Args:
            sample: A canonical sample of the recipe's space.
            trial: How many evaluations the run asked for before this one (its position).
            on_epoch: Per-epoch callback (pruning), called by training only.
            own_training: The toolkit's own training of this sample (AutoKeras fits Keras, NNI trains the
                model it froze), if it has one.

        Returns:
            The sample's metrics.
        """
