"""The run's ``optuna.journal`` (issue 20, case 5): a damaged one never makes a run unresumable.

A full disk while Optuna writes the journal leaves a partial last record; a
later append glues the next record onto it. Neither may end every later
``unas run --resume`` in a bare ``JSONDecodeError``: the store holds every
trial and a resume replays them from there, so the damaged journal is set
aside (never deleted) with a one-line note and written again. A journal that
is a user's shared storage (``--storage``) is never moved: its damage is a
one-line error naming the file.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

optuna = pytest.importorskip("optuna")

from tests.conftest import tiny_recipe, unas  # noqa: E402
from unified_nas.report.store import ResultsStore  # noqa: E402

TRIALS, KEPT = 6, 3


def _recipe():
    return tiny_recipe(
        {"depth": {"low": 1, "high": 2}, "layer": {"op": "linear", "width": [16, 32], "activation": ["relu", "tanh"]}},
        training={"lr": {"low": 1e-3, "high": 1e-2, "log": True}},
    )


def _key(t) -> tuple:
    """What an uninterrupted run and a resumed one must share, trial by trial."""
    return json.dumps(t.sample, sort_keys=True), t.status, t.objectives


def _truncate(data: bytes) -> bytes:
    """A full disk during the write: the file ends in the middle of a record (a partial last line)."""
    cut = len(data) // 2
    assert data[cut - 1 : cut] != b"\n"
    return data[:cut]


def _glued(data: bytes) -> bytes:
    """A partial record with later records appended after it (an append after a full disk)."""
    lines = data.splitlines(keepends=True)
    mid = len(lines) // 2
    return b"".join(lines[:mid] + [lines[mid][: len(lines[mid]) // 2]] + lines[mid + 1 :])


def _zeros(data: bytes) -> bytes:
    """A block of NUL bytes in the middle (what some file systems leave after a crash mid-write)."""
    lines = data.splitlines(keepends=True)
    mid = len(lines) // 2
    return b"".join(lines[:mid] + [b"\0" * 4096] + lines[mid:])


@pytest.mark.slow
@pytest.mark.parametrize("damage", [_truncate, _glued, _zeros], ids=["truncated", "glued", "zeros"])
def test_a_damaged_journal_is_set_aside_and_the_resume_equals_an_uninterrupted_run(damage, tmp_path, capfd):
    from unified_nas.runs.runner import resume_run, run_recipe

    path = tmp_path / "s.sqlite"
    store = ResultsStore(path)
    whole = run_recipe(
        _recipe(), "optuna", trials=TRIALS, seed=1, store=store, runs_dir=tmp_path / "runs", progress=False
    )
    expected = [_key(t) for t in whole.trials]
    journal = Path(whole.run_dir) / "optuna.journal"
    damaged = damage(journal.read_bytes())
    journal.write_bytes(damaged)
    # As if the run had stopped after KEPT trials, its journal damaged by the disk filling up.
    whole.status, whole.trials = "interrupted", whole.trials[:KEPT]
    store.save_run(whole)
    store.close()
    db = sqlite3.connect(path)
    with db:
        db.execute("DELETE FROM trials WHERE run_id = ? AND idx >= ?", (whole.run_id, KEPT))
    db.close()
    capfd.readouterr()

    resumed = resume_run(whole.run_id, store=ResultsStore(path), progress=False)

    assert resumed.status == "complete"
    assert [_key(t) for t in resumed.trials] == expected
    err = capfd.readouterr().err
    aside = sorted(journal.parent.glob("optuna.journal.damaged-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == damaged  # kept as it was, not deleted
    notes = [line for line in err.splitlines() if str(journal) in line]
    assert len(notes) == 1 and f"moved aside as {aside[0].name}" in notes[0], err
    from optuna.storages.journal import JournalFileBackend

    study = optuna.load_study(
        study_name=whole.run_id, storage=optuna.storages.JournalStorage(JournalFileBackend(str(journal)))
    )
    assert [t.params for t in study.trials] == [t.sample for t in resumed.trials]


SHARED = """name: shared
data: {name: digits}
space:
  depth: 1
  layer: {op: linear, width: [16, 32], activation: [relu, tanh]}
training: {epochs: 1, batch_size: 64, lr: [0.001, 0.01], optimizer: adam}
budget: {trials: 2}
backends: {optuna: {strategy: random}}
"""


def _shared_run(tmp_path: Path, storage: str) -> str:
    """A finished shared run, marked interrupted in its store (so that it can be resumed); its run id."""
    (tmp_path / "r.yaml").write_text(SHARED)
    proc = unas(
        "run", "r.yaml", "--backend", "optuna", "--storage", storage, "--store", "s.sqlite", "--quiet", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    run_id = proc.stdout.split()[1].rstrip(":")
    with ResultsStore(tmp_path / "s.sqlite") as store:
        report = store.load_run(run_id)
        report.status = "interrupted"
        store.save_run(report)
    return run_id


@pytest.mark.slow
@pytest.mark.parametrize("damage", [_truncate, _glued, _zeros], ids=["truncated", "glued", "zeros"])
def test_a_damaged_shared_journal_is_a_one_line_error_naming_it_and_is_left_as_it_is(damage, tmp_path):
    journal = tmp_path / "study.journal"
    run_id = _shared_run(tmp_path, str(journal))
    damaged = damage(journal.read_bytes())
    journal.write_bytes(damaged)
    for args in (["worker", run_id, "--storage", journal], ["run", "--resume", run_id, "--store", "s.sqlite"]):
        proc = unas(*args, "--quiet", cwd=tmp_path)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.startswith(f"unas: error: --storage: {journal} is damaged ("), proc.stderr
        assert proc.stderr.count("\n") == 1 and "JSONDecodeError" not in proc.stderr, proc.stderr
    assert journal.read_bytes() == damaged  # a user's shared storage is never moved nor rewritten
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("study.journal")) == ["study.journal"]
    with ResultsStore(tmp_path / "s.sqlite") as store:
        assert store.load_run(run_id).status == "interrupted"  # refused before the run was claimed


@pytest.fixture(params=["journal", "sqlite", "postgres"])
def any_storage(request, tmp_path) -> str:
    if request.param == "journal":
        return str(tmp_path / "study.journal")
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'optuna.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.mark.slow
def test_quiet_shared_runs_workers_and_resumes_print_no_toolkit_warning(any_storage, tmp_path):
    """Issue 20, case 11: with --quiet no ExperimentalWarning (Optuna's heartbeat helpers) reaches stderr."""
    (tmp_path / "r.yaml").write_text(SHARED)
    first = unas(
        "run", "r.yaml", "--backend", "optuna", "--storage", any_storage, "--store", "s.sqlite", "--quiet", cwd=tmp_path
    )
    assert first.returncode == 0, first.stderr
    run_id = first.stdout.split()[1].rstrip(":")
    worker = unas("worker", run_id, "--storage", any_storage, "--quiet", cwd=tmp_path)
    assert worker.returncode == 0, worker.stderr
    with ResultsStore(tmp_path / "s.sqlite") as store:
        report = store.load_run(run_id)
        report.status = "interrupted"
        store.save_run(report)
    resumed = unas("run", "--resume", run_id, "--store", "s.sqlite", "--quiet", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    for proc in (first, worker, resumed):
        assert "Warning" not in proc.stderr, proc.stderr
        # What --quiet leaves: the line saying how other processes join, nothing from the toolkit.
        assert all(line.startswith(f"run {run_id}: other processes join with") for line in proc.stderr.splitlines())


# Run in a child process: the file size limit holds for every file the process writes.
_FILE_TOO_LARGE = """
import errno, resource, signal, sys
from pathlib import Path
import optuna
from unified_nas.backends.optuna.journal import write_study

path = Path(sys.argv[1])
memory = optuna.storages.InMemoryStorage()
study = optuna.create_study(study_name="s", storage=memory)
x = optuna.distributions.FloatDistribution(0, 1000)
for i in range(100):
    study.add_trial(optuna.trial.create_trial(params={"x": i}, distributions={"x": x}, value=i, user_attrs={"pad": "p" * 500}))
# A real partial write, as a full disk gives: writes past the limit are cut short, then fail with EFBIG.
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (20000, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
try:
    write_study(memory, "s", path)
except OSError as e:
    print("refused", errno.errorcode[e.errno])
"""


def test_a_journal_write_cut_short_leaves_the_earlier_journal_whole_and_no_partial_file(tmp_path):
    from optuna.storages.journal import JournalFileBackend

    journal = tmp_path / "optuna.journal"
    earlier = optuna.create_study(
        study_name="s", storage=optuna.storages.JournalStorage(JournalFileBackend(str(journal)))
    )
    earlier.add_trial(optuna.trial.create_trial(params={}, distributions={}, value=1.0))
    before = journal.read_bytes()
    proc = subprocess.run(
        [sys.executable, "-c", _FILE_TOO_LARGE, str(journal)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "refused EFBIG", proc.stdout + proc.stderr
    assert journal.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["optuna.journal"]
