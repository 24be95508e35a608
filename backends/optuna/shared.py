"""One Optuna study shared by several processes or machines: ``--storage URL`` and ``unas worker``.

Optuna's own scale-out path: every worker runs ``study.optimize`` on the same
study in a database (PostgreSQL, MySQL, SQLite URL) or an Optuna journal
file, and the sampler sees every worker's trials. unified-nas adds what a
comparison needs:

* **Everything a worker needs is in the study.** The run that creates it
  stores the recipe text, the run seed, the options, the data digest and the
  budget as study user attributes; ``unas worker RUN_ID --storage URL``
  rebuilds the same recipe, split and protocol from them, and refuses data
  whose digest differs.
* **The budget is the study's.** Each worker asks :func:`within_budget`
  before training: a trial beyond the run's trial budget (counting every
  worker's trials, except attempts lost with a dead worker and those
  surplus ones) is marked ``surplus`` and fails at once, so the workers
  together run exactly the budget.
* **Dead workers.** With an RDB URL, workers send Optuna's heartbeat; a trial
  whose worker stopped beating for ``GRACE_S`` is failed by the next worker
  that starts a trial and retried once as a new trial with the same
  parameters (Optuna's ``RetryHeartbeatStaleTrialCallback``). A journal file has no
  heartbeat in Optuna 5.0: a killed worker's trial stays RUNNING there.
* **One unified store.** The process that ran ``unas run`` stores every
  finished trial of every worker (:func:`finished_unreported`), in trial
  order, as they finish, and waits at the end until the study's budget is
  done; workers store nothing themselves. A trial lost with a dead worker is
  stored as failed (with its retry as its own trial); surplus trials are not
  stored.
"""

from __future__ import annotations

import os
import socket
import time
import warnings
from collections.abc import Sequence
from typing import Any

import optuna

from unified_nas.errors import UserError

# Seconds between heartbeats, and without one before a running trial counts as dead. Short enough
# that a dead worker's trial is retried within a minute, long enough not to fail a trial whose
# worker is merely busy (the heartbeat runs in its own thread).
HEARTBEAT_S = 5
GRACE_S = 20
RUN_ATTR = "unas.run"  # study user attribute: what a worker needs to rebuild the run
SURPLUS_ATTR = "unas_surplus"  # trial user attribute: started beyond the budget, not run
WORKER_ATTR = "unas_worker"  # trial user attribute: host and pid of the worker that ran it
RETRY_HISTORY = "retry_history"  # system attribute of a retry: the attempts it replaces (Optuna's callback)
POSTGRES_HINT = "pip install 'unified-nas[postgres]'"


def open_storage(url: str) -> optuna.storages.BaseStorage:
    """The storage of ``--storage``: an RDB URL (with heartbeat and retries) or a journal file path.

    Args:
        url: ``postgresql+psycopg://...``, ``postgresql://...``, ``mysql+pymysql://...``,
            ``sqlite:///path`` or a file path (an Optuna journal).

    Returns:
        The storage.

    Raises:
        UserError: The database driver is missing, or the database cannot be reached.
    """
    if "://" not in url:
        from optuna.storages.journal import JournalFileBackend

        return optuna.storages.JournalStorage(JournalFileBackend(url))
    if url.startswith("postgresql://"):  # SQLAlchemy's default driver is psycopg2; the extra installs psycopg 3
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    try:
        with warnings.catch_warnings():
            # Heartbeats and RetryHeartbeatStaleTrialCallback are marked experimental; the optuna pin keeps them.
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(
                url,
                heartbeat_interval=HEARTBEAT_S,
                grace_period=GRACE_S,
                heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=1),
                engine_kwargs={"pool_pre_ping": True},
            )
    except ModuleNotFoundError as e:
        raise UserError(f"--storage: the driver {e.name} is not installed ({POSTGRES_HINT} for PostgreSQL)") from None
    except Exception as e:  # SQLAlchemy's OperationalError and kin: the message's first line says why
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"--storage: cannot open {_hide_password(url)}: {first[:300]}") from None


def _hide_password(url: str) -> str:
    """``url`` without its password (it may end up in logs and reports)."""
    scheme, _, rest = url.partition("://")
    creds, at, host = rest.rpartition("@")
    if not at or ":" not in creds:
        return url
    return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}"


def worker_tag() -> dict[str, Any]:
    """Who runs a trial (its record's ``extra.worker``)."""
    return {"host": socket.gethostname(), "pid": os.getpid()}


def _counted(trials: Sequence[optuna.trial.FrozenTrial]) -> list[optuna.trial.FrozenTrial]:
    """The trials that count against the budget: all but surplus ones and dead workers' retried attempts."""
    retried = {n for t in trials for n in t.system_attrs.get(RETRY_HISTORY, ())}
    return [
        t
        for t in trials
        if not (t.state == optuna.trial.TrialState.FAIL and (t.user_attrs.get(SURPLUS_ATTR) or t.number in retried))
    ]


def within_budget(study: optuna.Study, trial_number: int, budget: int | None) -> bool:
    """Whether trial ``trial_number`` is one of the first ``budget`` counted trials of the study.

    Trial numbers are handed out by the storage in order, so this is the same
    answer in every worker, and the workers together run exactly ``budget`` trials.
    """
    if budget is None:
        return True
    before = [t for t in _counted(study.get_trials(deepcopy=False)) if t.number < trial_number]
    return len(before) < budget


def budget_done(study: optuna.Study, budget: int | None) -> bool:
    """True once ``budget`` counted trials have finished (none of them running or waiting)."""
    if budget is None:
        return False
    counted = _counted(study.get_trials(deepcopy=False))[:budget]
    return len(counted) >= budget and all(t.state.is_finished() for t in counted)


def finished_unreported(study: optuna.Study, reported: set[int]) -> list[optuna.trial.FrozenTrial]:
    """Finished trials of every worker not stored yet, in trial order (surplus trials are never stored)."""
    return [
        t
        for t in study.get_trials(deepcopy=False)
        if t.state.is_finished() and t.number not in reported and not t.user_attrs.get(SURPLUS_ATTR)
    ]


def wait_for_budget(study: optuna.Study, budget: int | None, on_finished: Any, poll_s: float = 1.0) -> None:
    """Waits until the study's budget is done, storing other workers' trials as they finish.

    A trial whose worker died is failed here too once its heartbeat is stale
    (``fail_stale_trials``), which enqueues its retry for a live worker.

    Args:
        study: The shared study.
        budget: The run's trial budget (None: nothing to wait for).
        on_finished: Called once per pass (stores finished trials).
        poll_s: Seconds between passes.
    """
    while True:
        on_finished()
        if budget is None or budget_done(study, budget):
            return
        # (Optuna wraps an RDB storage in a cache, so ask it rather than test the type; a journal has no heartbeat.)
        optuna.storages.fail_stale_trials(study)
        waiting = [t for t in study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.WAITING]
        if waiting:
            return  # a retry is waiting: the caller runs it
        time.sleep(poll_s)


def check_storage_url(url: Any) -> str:
    """A ``--storage`` value: a non-empty string.

    Raises:
        UserError: Otherwise.
    """
    if not isinstance(url, str) or not url.strip() or "\0" in url:
        raise UserError(f"--storage: {url!r} is not a database URL or journal file path")
    return url
