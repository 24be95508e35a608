"""The run's Optuna study on disk (``<run_dir>/optuna.journal``): written whole, set aside when damaged.

During a run the study lives in memory (Optuna's RDB storage costs ~130 ms of
SQL per trial here) and is written when the search ends. A resume never
reads it back: the results store replays every trial to the re-seeded sampler.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import optuna

from unified_nas.backends.optuna.storage import journal_damage
from unified_nas.core.errors import UnasError

if TYPE_CHECKING:
    from unified_nas.runs.context import RunContext

STUDY_FILE = "optuna.journal"


class StudyNotSaved(UnasError):
    """The study could not be written to the run directory (a full disk); every trial is in the store."""


def write_study(from_storage: optuna.storages.BaseStorage, study_name: str, path: Path) -> None:
    """Writes one study whole to the journal file ``path``, replacing that file only once all of it is written.

    Optuna appends a journal record by record; a failure part way (a full disk)
    would leave a partial record at the end, which Optuna's next append is glued
    to (see :func:`~.storage.journal_damage`). Written to a new file beside it
    and renamed over it, the journal is always either the earlier file or the
    whole new one.

    Args:
        from_storage: The storage holding the study (the run's in-memory one).
        study_name: The study.
        path: The journal file to write (replaced whole if it exists).

    Raises:
        OSError: The new file could not be written or renamed; the earlier one is unchanged, the partial
            new one removed.
    """
    from optuna.storages.journal import JournalFileBackend

    partial = path.with_name(f"{path.name}.partial-{os.getpid()}")
    partial.unlink(missing_ok=True)  # left by a killed process that had this pid
    try:
        target = optuna.storages.JournalStorage(JournalFileBackend(str(partial)))
        optuna.copy_study(from_study_name=study_name, from_storage=from_storage, to_storage=target)
        os.replace(partial, path)
    except BaseException:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
        raise


def _earlier_journal(path: Path, run_id: str) -> tuple[bool, str | None]:
    """Whether an earlier run-directory journal holds the run's study, and why Optuna cannot use it (None: it can).

    Raises:
        OSError: It cannot be read (then it cannot be moved aside either).
    """
    from optuna.storages.journal import JournalFileBackend

    why = journal_damage(str(path))
    if why is not None:
        return False, why
    try:
        return run_id in optuna.get_all_study_names(optuna.storages.JournalStorage(JournalFileBackend(str(path)))), None
    except Exception as e:  # whole JSON lines Optuna still cannot replay (a record of another version, edited by hand)
        return False, f"Optuna cannot replay it: {type(e).__name__}: {str(e)[:200]}"


def save_study(memory: optuna.storages.BaseStorage, ctx: RunContext, failing: bool = False) -> None:
    """Saves the run's in-memory study as ``<run_dir>/optuna.journal``, written whole (:func:`write_study`).

    A resumed run finds its earlier journal. Once replay is over the study holds
    every trial of the earlier one and more, and replaces it; stopped during
    replay it holds fewer, and the earlier journal stays if Optuna can read it.
    A resume never needs the earlier journal's content (the store holds every
    trial, and :class:`~unified_nas.runs.lifecycle.Replay` hands them to the
    re-seeded sampler), so one Optuna cannot read (a full disk cut a record
    short) is set aside as ``optuna.journal.damaged-<time>``, never deleted,
    with a one-line note, and the study is written anew.

    Args:
        memory: The run's in-memory storage.
        ctx: The run (its directory, id and replay).
        failing: The search is ending in an exception: a failure to save is a note on stderr, not
            an exception that would hide the one that ends the run.

    Raises:
        StudyNotSaved: The journal could not be written (or a damaged one moved aside); an earlier
            journal is unchanged, and ``unas run --resume`` writes it again.
    """
    path = ctx.run_dir / STUDY_FILE
    try:
        if path.exists():  # a resumed run's (a new run's directory is new)
            holds_study, why = _earlier_journal(path, ctx.run_id)
            if why is not None:
                stamp = time.strftime("%Y%m%d-%H%M%S")
                aside, n = path.with_name(f"{path.name}.damaged-{stamp}"), 1
                while aside.exists():  # another one set aside in the same second: never overwritten
                    aside, n = path.with_name(f"{path.name}.damaged-{stamp}-{n}"), n + 1
                os.rename(path, aside)
                print(
                    f"unas: note: {path} is damaged ({why}); moved aside as {aside.name}, "
                    "and the study is written again from the run's stored trials",
                    file=sys.stderr,
                    flush=True,
                )
            elif holds_study and ctx.replaying:
                return
        write_study(memory, ctx.run_id, path)
    except OSError as e:
        message = (
            f"cannot save the Optuna study as {path}: {e.strerror or type(e).__name__}; every trial is in the "
            f"store, and `unas run --resume {ctx.run_id}` writes it again"
        )
        if failing:
            print(f"unas: note: {message}", file=sys.stderr, flush=True)
            return
        raise StudyNotSaved(message) from None
