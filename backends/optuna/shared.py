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

import contextlib
import datetime
import math
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import optuna

from unified_nas.backends.optuna.storage import GRACE_S
from unified_nas.core.errors import UserError
from unified_nas.core.limits import MAX_SEED
from unified_nas.evaluation.devices import current_device
from unified_nas.runs.lifecycle import owner_alive, this_process

RUN_ATTR = "unas.run"  # study user attribute: what a worker needs to rebuild the run
SURPLUS_ATTR = "unas_surplus"  # trial user attribute: started beyond the budget, not run
WORKER_ATTR = "unas_worker"  # trial user attribute: host and pid of the worker that ran it
# Trial user attribute: why a live process failed this trial for its dead one ({"trial": N, "why": ...}; the
# number because Optuna's retry inherits the user attributes of the trial it retries).
DEAD_ATTR = "unas_dead"
RETRY_HISTORY = "retry_history"  # system attribute of a retry: the attempts it replaces (Optuna's callback)


def worker_tag(trial: int) -> dict[str, Any]:
    """Who runs a trial (its record's ``extra.worker``): the process (to tell it is gone), its device and threads.

    Workers may run with their own ``--device`` and ``--threads``: each trial says what it ran on.

    Args:
        trial: The trial's number. Optuna's retry of a dead worker's trial inherits its user
            attributes, so a tag counts only for the trial it names (:func:`fail_dead_trials`).
    """
    import torch

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
    :func:`unified_nas.runs.lifecycle.owner_alive`) is checked directly, on any
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


def fail_stale_trials(study: optuna.Study, quiet: bool) -> None:
    """Optuna's ``fail_stale_trials`` (heartbeat-stale trials failed, and retried), silent when ``quiet``.

    Marked experimental since Optuna 2.9 (the optuna pin keeps it as it is): the first
    call in a process warns with an ``ExperimentalWarning`` on stderr, which ``--quiet``
    promises not to show. Only that category, only around this call, and only when quiet:
    entering ``warnings.catch_warnings`` resets Python's once-per-place memory of shown
    warnings, so doing it on every pass otherwise would repeat other warnings.

    Args:
        study: The shared study (a no-op without a heartbeat: journal files).
        quiet: Progress output is off.
    """
    with warnings.catch_warnings() if quiet else contextlib.nullcontext():
        if quiet:
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


def settle(
    study: optuna.Study,
    budget: int | None,
    sync: Callable[[], None],
    out_of_time: Callable[[], bool],
    poll_s: float = 1.0,
    quiet: bool = False,
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
        quiet: ``--quiet``: no toolkit warning on stderr (:func:`fail_stale_trials`'s ExperimentalWarning).

    Returns:
        True if this process should run trials again (a retry is waiting, or the budget has
        room and time is left); False once every trial of every process has finished.
    """
    while True:
        sync()
        fail_stale_trials(study, quiet)
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


def _is_str(v: Any) -> bool:
    """Whether ``v`` is a string."""
    return isinstance(v, str)


def _is_int(v: Any) -> bool:
    """Whether ``v`` is an integer (JSON ``true`` is a bool, and Python's bools are ints)."""
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    """Whether ``v`` is a finite number (not a bool)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _description_problem(desc: Any, run_id: str) -> str | None:
    """What is wrong with a run description read from a study, or None if its shape is right.

    The shape is :meth:`unified_nas.runs.context.RunContext.describe_for_workers`'s: every key it writes.
    """

    def record(value: Any, key: str, fields: dict[str, Callable[[Any], bool]], kind: str) -> str | None:
        if not isinstance(value, dict):
            return f"{key} is not a mapping"
        for name, ok in fields.items():
            if name not in value:
                return f"no {key}.{name}"
            if not ok(value[name]):
                return f"{key}.{name} is not {kind}"
        return None

    if not isinstance(desc, dict):
        return "not a mapping"
    for key in ("run_id", "recipe", "seed", "options", "budget", "data", "started", "packages"):
        if key not in desc:
            return f"no {key}"
    if desc["run_id"] != run_id:
        return f"run_id is {str(desc['run_id'])[:80]!r}"
    problem = record(desc["recipe"], "recipe", dict.fromkeys(("text", "name", "base_dir"), _is_str), "a string")
    problem = problem or record(
        desc["data"], "data", dict.fromkeys(("split_sha256", "content_sha256"), _is_str), "a string"
    )
    problem = problem or record(
        desc["budget"],
        "budget",
        {
            "trials": lambda v: v is None or (_is_int(v) and v > 0),
            "time_s": lambda v: v is None or (_is_number(v) and v > 0),
        },
        "a positive number or null",
    )
    if problem:
        return problem
    if not (_is_int(desc["seed"]) and 0 <= desc["seed"] <= MAX_SEED):
        return f"seed is not an integer in 0..{MAX_SEED}"
    if not (isinstance(desc["options"], dict) and all(isinstance(k, str) for k in desc["options"])):
        return "options is not a mapping of names"
    if not _is_number(desc["started"]):
        return "started is not a time"
    packages = desc["packages"]
    if not (isinstance(packages, dict) and all(isinstance(k, str) and _is_str(v) for k, v in packages.items())):
        return "packages is not a mapping of names to versions"
    return None


def check_run_description(desc: Any, run_id: str, storage: str) -> dict[str, Any]:
    """Checks the shape of a run description a worker read from the study (``RUN_ATTR``).

    The study is shared storage anyone with access may write: a malformed description
    must be refused with one line, not end the worker in a ``KeyError``. The recipe text
    inside is checked again by the recipe loader, the options by the backend's options.

    Args:
        desc: The study's ``unas.run`` user attribute.
        run_id: The run the worker joins (the study's name).
        storage: The ``--storage`` value (for the message).

    Returns:
        A copy of the description.

    Raises:
        UserError: A key is missing or has the wrong type, or it describes another run.
    """
    problem = _description_problem(desc, run_id)
    if problem is not None:
        raise UserError(f"worker: the run description of {run_id} in {storage} is malformed ({problem})")
    return dict(desc)
