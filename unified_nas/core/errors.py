"""Exception types of unified-nas.

Every error a user can cause has a one-line message that names the field or
the cause. The CLI maps :class:`UserError` subclasses to exit status 2 and
everything else to exit status 1.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass


class UnasError(Exception):
    """Base class of every error raised on purpose by unified-nas."""


class UserError(UnasError):
    """Bad input: a broken recipe, a wrong flag, an unknown backend. Exit 2."""


class RecipeError(UserError):
    """A recipe field is invalid.

    Args:
        path: Dotted path of the offending field, e.g. ``space.layers[2].kernel``.
        message: What is wrong with it.
    """

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message}" if path else message)


class SampleError(UserError):
    """A sample does not belong to its search space (unknown label, bad value...)."""


class BackendNotFound(UserError):
    """No backend of that name is registered."""


class BackendUnavailable(UserError):
    """A known backend whose toolkit is not installed; the message names the extra."""


@dataclass(frozen=True)
class Gap:
    """One recipe feature a backend cannot serve.

    Attributes:
        feature: What the recipe asks for, e.g. ``strategy 'cmaes'``.
        blocker: ``"toolkit"`` when the toolkit itself lacks it, ``"adapter"``
            when our adapter does not implement it (yet), ``"table"`` when a
            recipe's table of final results (or a proxy) cannot answer it,
            ``"evaluation"`` when the recipe's supernet cannot.
        detail: Why, and what is offered instead.
    """

    feature: str
    blocker: str
    detail: str

    def __str__(self) -> str:
        return f"{self.feature} ({self.blocker}: {self.detail})"


class UnsupportedFeatures(UserError):
    """Everything a backend cannot serve in a recipe, reported at once."""

    def __init__(self, backend: str, gaps: list[Gap]) -> None:
        self.backend = backend
        self.gaps = list(gaps)
        super().__init__(f"backend '{backend}' cannot run this recipe: " + "; ".join(map(str, gaps)))


class TrainingDiverged(UnasError):
    """The loss became NaN or infinite during training (the trial fails)."""


class StoreError(UnasError):
    """The results store cannot be read or written, or holds an unknown schema."""


def format_failure(e: BaseException, frames: int = 4) -> str:
    """A failed trial's error text, the same for every backend: innermost frames, ``Type: message`` last.

    Args:
        e: The exception the trial raised.
        frames: How many of the innermost stack frames to keep (where it was
            raised, not the toolkit's own calls around it).

    Returns:
        Python's traceback text, cut to ``frames`` frames.
    """
    return "".join(traceback.format_exception(e, limit=-frames)).rstrip()


def one_line(e: BaseException, limit: int | None = None) -> str:
    """An exception's message folded to one line (toolkits raise multi-line ones), cut at ``limit`` if given.

    Our own errors are shown whole (a backend's gap list can be long); a
    toolkit's exception is cut, since it may carry a whole tensor dump.
    """
    text = " ".join(str(e).split())
    return text if limit is None or len(text) <= limit else text[:limit] + " ..."
