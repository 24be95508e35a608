"""Benchmark: what a looked-up trial costs, per backend, and where the time goes.

In one warm process per backend (as a benchmark's run process does its runs),
runs ``recipes/nb201_cifar10.yaml`` with the backend's strategy for 100 trials
per run: a few runs to warm up, then ``--runs`` measured runs. Prints per backend
the median of each run's wall time divided by its trials (goal: at most 5 ms for
NNI and Optuna, 20 ms for AutoKeras), and, from a cProfile of one more run, the
share of that time spent in:

* ``lookup``: the evaluator (the table lookup, and params/FLOPs of the
  architecture, cached per process);
* ``store``: writing the trial into the results store (one SQLite commit);
* ``record``: turning the toolkit's trial into our record, without the store;
* ``strategy``: everything else: the toolkit proposing samples, its own
  bookkeeping between trials and its per-run set-up.

One framework thread (``--threads 1``). Usage:

    python benchmarks/trial_cost.py [--runs 10] [--strategy random] [--backends nni,optuna,autokeras]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

CODE = r"""
import cProfile, json, pstats, statistics, sys, tempfile, time
from pathlib import Path
from unified_nas.recipe import load_recipe
from unified_nas.report.store import ResultsStore
from unified_nas.runs.runner import run_recipe

backend, strategy, runs, recipe = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
tmp = Path(tempfile.mkdtemp())
r = load_recipe(recipe)
store = ResultsStore(tmp / "s.sqlite")
def one(seed):
    rep = run_recipe(r, backend, strategy=strategy, trials=100, seed=seed, store=store, runs_dir=tmp / "runs",
                     progress=False, threads=1)
    return 1000 * rep.budget_spent["wall_s"] / len(rep.trials)
for seed in range(3):
    one(1000 + seed)
per_trial = [one(seed) for seed in range(runs)]
prof = cProfile.Profile()
prof.enable()
t0 = time.perf_counter()
one(999)
total = time.perf_counter() - t0
prof.disable()
stats = pstats.Stats(prof).stats
def cum(suffix, name):
    return sum(v[3] for (f, _, n), v in stats.items() if f.endswith(suffix) and n == name)
lookup = cum("evaluation/evaluators.py", "__call__")  # one evaluator: the recipe has no constraints to wrap it
store_s = cum("report/store.py", "add_trial")
record = cum("runs/runner.py", "on_native") - store_s
print(json.dumps({"per_trial_ms": statistics.median(per_trial), "min_ms": min(per_trial), "max_ms": max(per_trial),
                  "profiled_s": total, "lookup": lookup, "store": store_s, "record": record}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--strategy", default="random")
    ap.add_argument("--backends", default="nni,optuna,autokeras")
    a = ap.parse_args()
    recipe = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "recipes", "nb201_cifar10.yaml")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"}
    print(f"# A looked-up trial's cost, warm process, 100-trial runs, strategy {a.strategy} ({os.cpu_count()} cores)")
    print("| backend | run wall / trial, median (min-max) of runs | lookup | store | record | strategy and set-up |")
    print("|---|---|---|---|---|---|")
    for backend in a.backends.split(","):
        out = subprocess.run(
            [sys.executable, "-c", CODE, backend, a.strategy, str(a.runs), recipe],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        d = json.loads(out.stdout.strip().splitlines()[-1])
        total = d["profiled_s"]
        rest = total - d["lookup"] - d["store"] - d["record"]
        share = " | ".join(f"{100 * v / total:.0f}%" for v in (d["lookup"], d["store"], d["record"], rest))
        print(f"| {backend} | {d['per_trial_ms']:.1f} ms ({d['min_ms']:.1f}-{d['max_ms']:.1f}) | {share} |")


if __name__ == "__main__":
    main()
