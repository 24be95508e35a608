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

import datetime
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import optuna

from unified_nas.errors import UserError
from unified_nas.lifecycle import owner_alive, this_process

# Seconds between heartbeats, and without one before a running trial counts as dead. Short enough
# that a dead worker's trial is retried within a minute, long enough not to fail a trial whose
# worker is merely busy (the heartbeat runs in its own thread).
HEARTBEAT_S = 5
GRACE_S = 20
RUN_ATTR = "unas.run"  # study user attribute: what a worker needs to rebuild the run
SURPLUS_ATTR = "unas_surplus"  # trial user attribute: started beyond the budget, not run
WORKER_ATTR = "unas_worker"  # trial user attribute: host and pid of the worker that ran it
# Trial user attribute: why a live process failed this trial for its dead one ({"trial": N, "why": ...}; the
# number because Optuna's retry inherits the user attributes of the trial it retries).
DEAD_ATTR = "unas_dead"
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
    except ImportError as e:  # SQLAlchemy's dialect import of a missing driver (psycopg, pymysql)
        raise UserError(f"--storage: a database driver is missing ({POSTGRES_HINT} for PostgreSQL): {e}") from None
    except Exception as e:  # SQLAlchemy's OperationalError and kin: the message's first line says why
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"--storage: cannot open {url}: {first[:300]}") from None


def worker_tag(trial: int) -> dict[str, Any]:
    """Who runs a trial (its record's ``extra.worker``): the process (to tell it is gone), its device and threads.

    Workers may run with their own ``--device`` and ``--threads``: each trial says what it ran on.

    Args:
        trial: The trial's number. Optuna's retry of a dead worker's trial inherits its user
            attributes, so a tag counts only for the trial it names (:func:`fail_dead_trials`).
    """
    import torch

    from unified_nas.devices import current_device

    return {**this_process(), "device": current_device(), "threads": torch.get_num_threads(), "trial": trial}


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
    """Finished trials of every worker not stored yet (surplus trials are never stored).

    In trial-number order within one call; a trial that finishes after a later-numbered one is
    stored after it, so a record's ``index`` (the trial number) is unique but not its store order.
    """
    return [
        t
        for t in study.get_trials(deepcopy=False)
        if t.state.is_finished() and t.number not in reported and not t.user_attrs.get(SURPLUS_ATTR)
    ]


def _dead(trial: optuna.trial.FrozenTrial, now: datetime.datetime) -> str | None:
    """Why a RUNNING trial's process is known to be gone, or None if it may be alive."""
    tag = trial.user_attrs.get(WORKER_ATTR)
    if tag is not None and tag.get("trial") == trial.number:  # not a tag inherited from the trial it retries
        if owner_alive(tag) is False:
            return f"worker {tag['host']}:{tag['pid']} stopped during the trial; the trial is retried as a new one"
        return None
    # The objective tags its trial before anything else (run.make_objective). Untagged this long after
    # it started, its process died between Optuna creating the trial and the objective: before the first
    # heartbeat too, and Optuna's heartbeat never fails a trial without one (5.0,
    # RDBStorage._get_stale_trial_ids), so without this the run would wait for it forever.
    if trial.datetime_start is not None and (now - trial.datetime_start).total_seconds() > GRACE_S:
        return (
            f"the process running it stopped before the trial began (untagged for over {GRACE_S} s); "
            "the trial is retried as a new one"
        )
    return None


def fail_dead_trials(study: optuna.Study) -> None:
    """Fails, and retries once, running trials whose process is known to be gone.

    Optuna's heartbeat does this for RDB storages after its grace period, for
    trials that sent a heartbeat; a journal file has no heartbeat. Here: a
    worker on this machine (same host, boot and pid namespace, see
    :func:`unified_nas.lifecycle.owner_alive`) is checked directly, on any
    storage; and a trial its process never tagged within :data:`GRACE_S`
    died before its objective began, on any machine. A dead worker on
    another machine, after tagging, is only found by the heartbeat.
    """
    now = datetime.datetime.now()  # Optuna's datetime_start is naive local time
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        why = _dead(t, now)
        if why is None:
            continue
        try:
            study._storage.set_trial_user_attr(t._trial_id, DEAD_ATTR, {"trial": t.number, "why": why})
            if not study._storage.set_trial_state_values(t._trial_id, state=optuna.trial.TrialState.FAIL):
                continue
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # another process failed it first
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=1)(study, study._storage.get_trial(t._trial_id))


def settle(
    study: optuna.Study,
    budget: int | None,
    sync: Callable[[], None],
    out_of_time: Callable[[], bool],
    poll_s: float = 1.0,
) -> bool:
    """After a process's ``optimize`` stopped: whether it has more to run, else wait for the others to finish.

    Stores finished trials (``sync``) on every pass and fails dead workers'
    trials (heartbeat, or a gone process on this machine), which enqueues
    their retries.

    Args:
        study: The shared study.
        budget: The run's trial budget (None: a time budget only).
        sync: Stores finished trials (the run's first process); a no-op in workers.
        out_of_time: The run's wall-clock budget is spent (the same clock in every process).
        poll_s: Seconds between passes while other processes' trials run.

    Returns:
        True if this process should run trials again (a retry is waiting, or the budget has
        room and time is left); False once every trial of every process has finished.
    """
    while True:
        sync()
        optuna.storages.fail_stale_trials(study)  # no-op without a heartbeat (journal files)
        fail_dead_trials(study)
        trials = study.get_trials(deepcopy=False)
        running = any(t.state == optuna.trial.TrialState.RUNNING for t in trials)
        waiting = any(t.state == optuna.trial.TrialState.WAITING for t in trials)
        finished_work = out_of_time() or budget_done(study, budget)
        if not out_of_time() and (waiting or (not finished_work and not running)):
            return True
        if not running:
            sync()
            return False
        time.sleep(poll_s)


def check_storage_url(url: Any, must_exist: bool = False) -> str:
    """Refuses a ``--storage`` value that cannot work, before anything is written (opens an RDB to check).

    Args:
        url: The flag's value.
        must_exist: A journal file must exist already (``unas worker`` joins; it creates nothing).

    Returns:
        The URL.

    Raises:
        UserError: Not a string; a password in the URL (it would be kept in the run report and the
            study: use ``PGPASSWORD`` or ``~/.pgpass``); a journal in a missing folder; a database
            that cannot be opened or a missing driver.
    """
    if not isinstance(url, str) or not url.strip() or "\0" in url:
        raise UserError(f"--storage: {url!r} is not a database URL or journal file path")
    if "://" not in url:
        path = Path(url)
        if must_exist and not path.is_file():
            raise UserError(f"--storage: no journal file {url}")
        if not path.parent.is_dir():
            raise UserError(f"--storage: the folder of {url} does not exist")
        return url
    creds = url.split("://", 1)[1].split("/", 1)[0]
    if ("@" in creds and ":" in creds.rsplit("@", 1)[0]) or "password=" in url.lower():
        raise UserError(
            "--storage: put the password in PGPASSWORD or ~/.pgpass (MySQL: ~/.my.cnf), not in the URL: "
            "the URL is kept in the run report"
        )
    open_storage(url)  # connects (and creates Optuna's tables in a new database): a bad URL fails here
    return url
