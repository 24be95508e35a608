"""What several ``unas`` commands share: exit statuses, argument types and help texts, opening an existing store.

Each command's module (``unified_nas/cli/<command>.py``) builds its parser
from these and returns one of these exit statuses from its handler.
"""

from __future__ import annotations

import argparse
from typing import TypeAlias

from unified_nas.core.errors import UserError
from unified_nas.report.store import ResultsStore  # sqlite3 + json only: no toolkit
from unified_nas.runs.threads import parse_threads

EXIT_OK, EXIT_RUNTIME, EXIT_USAGE = 0, 1, 2

# What ``add_subparsers`` returns: each command's ``add_parser(sub)`` adds itself to it.
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def int_at_least(low: int, high: int | None = None):
    """An argparse type: an integer >= ``low`` (and <= ``high`` if given)."""

    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if v < low:
            raise argparse.ArgumentTypeError(f"{v} is not >= {low}")
        if high is not None and v > high:
            raise argparse.ArgumentTypeError(f"{v} is not <= {high}")
        return v

    return parse


def threads_value(text: str) -> int | str:
    """An argparse type: a ``--threads`` value, N or ``auto`` (:func:`~unified_nas.runs.threads.parse_threads`)."""
    try:
        return parse_threads(text)
    except UserError as e:
        raise argparse.ArgumentTypeError(str(e).removeprefix("threads: ")) from None


def positive_float(text: str) -> float:
    """An argparse type: a finite number > 0 (``--time``)."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not v > 0 or v == float("inf"):  # also refuses nan and inf
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number > 0")
    return v


THREADS_HELP = (
    "framework threads (torch, TensorFlow, OpenMP): N, or 'auto' for available cores / concurrent runs "
    "(default 1: the recipes' networks train fastest on one thread; use --jobs for more cores)"
)
DEFAULT_FIRST_HELP = (
    "trial 0 evaluates the recipe's start point (each parameter's default:, else its neutral middle), "
    "so runs start at the same place"
)

DEVICE_HELP = (
    "where torch trains: auto (CUDA if present), cpu, cuda or cuda:N (default: the recipe's device:, else cpu); "
    "CUDA where there is none is refused before any work"
)


def existing_store(path: str, readonly: bool = True) -> ResultsStore:
    """Opens a store that must already exist (reading commands never create or alter one).

    Args:
        path: The store file.
        readonly: Open it read-only (every command but ``run --resume``).

    Raises:
        StoreError: Naming the path, if there is no store there or it is not ours.
    """
    return ResultsStore(path, readonly=readonly, create=False)
