"""Benchmark: what `unas run --resume` costs per replayed trial, beside what a trained trial costs.

Per backend, in a fresh process with one framework thread: a run of
``--trials`` trials (each trained), then the same run resumed as if its process
had died after its last trial. The stored run is marked ``interrupted`` in the
store by this script (the state Ctrl-C or SIGTERM leaves; the kill-and-resume
tests do it with real signals), so the resume replays every trial from the
store and trains none. Printed per backend: median seconds per trial of the
trained run, of the replay, and their ratio; and whether the replay proposed
exactly the stored samples (it must, or resume would refuse).

Usage:
    python benchmarks/resume_replay.py [--trials 10] [--backends nni,optuna,autokeras]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RECIPE = ROOT / "recipes" / "digits_mlp.yaml"

CHILD = r"""
import json, sys, time
from pathlib import Path
import torch
torch.set_num_threads(1)
torch.set_num_interop_threads(1)
from unified_nas.recipe import load_recipe
from unified_nas.report.store import ResultsStore
from unified_nas.runs.runner import resume_run, run_recipe

recipe_path, backend, trials, tmp = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
store = ResultsStore(tmp / "s.sqlite")
recipe = load_recipe(recipe_path)
ref = run_recipe(recipe, backend, trials=trials, store=store, runs_dir=tmp / "runs", progress=False)
trained_s = (ref.ended_at - ref.started_at) / trials
ref.status = "interrupted"  # as Ctrl-C or SIGTERM would leave it after its last trial
store.save_run(ref)
t0 = time.perf_counter()
res = resume_run(ref.run_id, store=store, progress=False)
replay_s = (time.perf_counter() - t0) / trials
same = [t.sample for t in res.trials] == [t.sample for t in ref.trials] and len(res.trials) == trials
print(json.dumps({"trained_s": trained_s, "replay_s": replay_s, "same": same}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=10)
    ap.add_argument("--backends", default="nni,optuna,autokeras")
    a = ap.parse_args()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"}
    print(f"recipe {RECIPE.name}, {a.trials} trials, 1 framework thread per process")
    print(f"{'backend':<10} {'trained s/trial':>16} {'replayed s/trial':>17} {'ratio':>8}  same samples")
    for backend in a.backends.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            out = subprocess.run(
                [sys.executable, "-c", CHILD, str(RECIPE), backend, str(a.trials), tmp],
                capture_output=True,
                text=True,
                env=env,
                cwd=tmp,
            )
        if out.returncode != 0:
            print(f"{backend:<10} failed: {out.stderr.strip().splitlines()[-1:]}")
            continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(
            f"{backend:<10} {r['trained_s']:>16.3f} {r['replay_s']:>17.4f} {r['replay_s'] / r['trained_s']:>8.3f}"
            f"  {r['same']}"
        )


if __name__ == "__main__":
    main()
