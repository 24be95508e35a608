"""Framework threads per run: derived from cores and concurrent runs, overridable, applied and recorded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import unas
from unified_nas.core.errors import UserError
from unified_nas.runs import threads as T

ROOT = Path(__file__).resolve().parents[2]


def test_one_thread_by_default_auto_shares_the_cores_and_a_count_is_kept(monkeypatch):
    monkeypatch.setattr(T, "cores_available", lambda: 8)
    assert T.threads_per_run(1)[0] == T.threads_per_run(4)[0] == 1
    assert T.threads_per_run(1, "auto") == (8, "auto: 8 core(s) / 1 concurrent run(s)")
    assert T.threads_per_run(3, "auto")[0] == 2
    assert T.threads_per_run(16, "auto")[0] == 1  # never below one
    assert T.threads_per_run(2, threads=5) == (5, "--threads")


@pytest.mark.parametrize("bad", [0, -1, True, 1.5, "two", "", 4097, 10**20])
def test_a_bad_thread_count_is_refused_naming_the_field(bad):
    with pytest.raises(UserError, match=r"^threads: expected an integer in 1..4096 or 'auto'"):
        T.threads_per_run(1, bad)
    with pytest.raises(UserError, match="^jobs: "):
        T.threads_per_run(0)


def test_the_cli_text_is_auto_or_a_count():
    assert T.parse_threads("auto") == "auto" and T.parse_threads("3") == 3
    for bad in ("0", "x", "1.5", ""):
        with pytest.raises(UserError, match="threads: expected"):
            T.parse_threads(bad)


def test_cores_available_follow_the_affinity_mask():
    assert T.cores_available() == len(os.sched_getaffinity(0))


def _run_in_child(code: str, env: dict[str, str] | None = None) -> dict:
    """Runs ``code`` in a fresh interpreter (thread settings are per process) and returns its printed JSON."""
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        timeout=600,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_apply_threads_sets_torch_and_the_environment_and_reads_them_back():
    record = _run_in_child(
        "import json, torch; from unified_nas.runs.threads import apply_threads; "
        "print(json.dumps(apply_threads(2, 'test')))",
        env={"OMP_NUM_THREADS": "7", "OMP_WAIT_POLICY": ""},
    )
    assert record["threads"] == 2 and record["source"] == "test"
    assert record["torch"] == {"intra_op": 2, "inter_op": T.INTER_OP_THREADS}
    assert record["env"]["OMP_NUM_THREADS"] == "2" and record["env"]["TF_NUM_INTEROP_THREADS"] == "1"
    assert record["env"]["OMP_WAIT_POLICY"] == "PASSIVE"
    assert "tensorflow" not in record  # never imported just to be configured


def test_a_child_process_of_a_run_inherits_its_thread_count():
    record = _run_in_child(
        "import json, torch; from unified_nas.runs.threads import apply_inherited_threads; "
        "print(json.dumps(apply_inherited_threads()))",
        env={T.ENV_VAR: "1"},
    )
    assert record["threads"] == 1 and record["torch"]["intra_op"] == 1


@pytest.mark.slow
def test_a_run_records_the_threads_it_trained_with(tmp_path):
    pytest.importorskip("optuna")
    store = tmp_path / "s.sqlite"
    args = ("--backend", "optuna", "--trials", "1", "--threads", "1", "--store", store, "--quiet")
    out = unas("run", ROOT / "recipes" / "digits_mlp.yaml", *args, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    shown = unas("report", "latest", "--format", "json", "--store", store, cwd=tmp_path, timeout=120)
    record = json.loads(shown.stdout)["environment"]["threads"]
    assert record["threads"] == 1 and record["source"] == "--threads"
    assert record["torch"] == {"intra_op": 1, "inter_op": 1}


def test_threads_below_one_are_refused_on_the_cli(tmp_path):
    out = unas(
        "run", ROOT / "recipes" / "digits_mlp.yaml", "--backend", "optuna", "--threads", "0", cwd=tmp_path, timeout=120
    )
    assert out.returncode == 2 and "--threads" in out.stderr
    assert list(tmp_path.iterdir()) == []
