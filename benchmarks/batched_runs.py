"""Benchmark: many runs per process (``unas bench --runs-per-process``) against a process per run.

Three measurements, each side by side in one invocation, with one framework
thread per run (``--threads 1``):

1. **Table recipe.** ``unas bench recipes/nb201_cifar10.yaml --backends
   nni,optuna,autokeras --seeds S --trials 100 --jobs 2`` with every backend's
   ``random`` strategy, once with ``--runs-per-process 1`` and once with
   ``auto``, alternating. Prints the benchmark's wall time and, per backend,
   the median of each run's own wall time divided by its trials (the per-trial
   cost of a looked-up trial: proposal, lookup, record, store and the
   strategy's time). Goal for ``auto``: at most 150 s for 100 seeds on 2 cores;
   at most 5 ms per trial for NNI and Optuna, 20 ms for AutoKeras.
2. **Trained recipe.** The same for a small trained recipe (iris, 2 epochs,
   ``--seeds T --trials 3``), with ``--runs-per-process 1`` against ``T`` (one
   process per backend does all its runs): what reuse saves where a run trains.
   This decides ``--runs-per-process auto`` for trained recipes.
3. **Memory.** One process does R table runs of each backend one after the
   other, as a warm benchmark process does them (``worker.run_job``, then
   ``worker._forget_run``); prints its resident memory after runs 1, 10, ..., R:
   what a warm process's cap (``LOOKUP_RUNS_PER_PROCESS``) bounds.

Usage:
    python benchmarks/batched_runs.py [--seeds 20] [--trained-seeds 4] [--memory-runs 50] [--skip table,trained,memory]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NB201 = ROOT / "recipes" / "nb201_cifar10.yaml"
BACKENDS = ("nni", "optuna", "autokeras")
TRAINED = """
name: iris_batched
data: {name: iris}
space:
  type: macro
  depth: [1, 2]
  layer: {op: linear, width: [4, 8, 16], activation: [relu, tanh]}
training: {epochs: 2, batch_size: 16, lr: [0.01, 0.05]}
seed: 0
"""
ONE_THREAD = {"OMP_NUM_THREADS": "1", "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"}


def bench(recipe: Path, seeds: int, trials: int, per_process: str, extra: list[str]) -> tuple[float, dict]:
    """One ``unas bench`` in a fresh folder; returns its wall time and its report.json."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "unified_nas.cli", "bench", str(recipe), "--backends", ",".join(BACKENDS)]
        cmd += ["--seeds", str(seeds), "--trials", str(trials), "--jobs", "2", "--threads", "1"]
        cmd += ["--runs-per-process", per_process, "--store", "s.sqlite", *extra]
        t0 = time.perf_counter()
        subprocess.run(cmd, cwd=tmp, env={**os.environ, **ONE_THREAD}, capture_output=True, text=True, check=True)
        wall = time.perf_counter() - t0
        (report,) = Path(tmp, "unas-runs").glob("bench-*/report.json")
        return wall, json.loads(report.read_text())


def per_trial_ms(report: dict) -> dict[str, float]:
    """Per backend: the median over its runs of the run's wall time divided by its trials, in ms."""
    out: dict[str, list[float]] = {}
    for run in report["runs"]:
        spent = run["budget_spent"]
        if spent.get("trials"):
            out.setdefault(run["backend"], []).append(1000 * spent["wall_s"] / spent["trials"])
    return {b: statistics.median(v) for b, v in out.items()}


def side_by_side(recipe: Path, seeds: int, trials: int, extra: list[str], title: str, reuse: str = "auto") -> None:
    """A process per run against ``--runs-per-process reuse``, alternating twice (reuse, 1, 1, reuse)."""
    walls: dict[str, list[float]] = {"1": [], reuse: []}
    costs: dict[str, list[dict[str, float]]] = {"1": [], reuse: []}
    for side in (reuse, "1", "1", reuse):
        wall, report = bench(recipe, seeds, trials, side, extra)
        walls[side].append(wall)
        costs[side].append(per_trial_ms(report))
        print(f"  {title}: --runs-per-process {side:4} {wall:7.1f} s", file=sys.stderr)
    print(f"\n## {title}: {len(BACKENDS)} backends x {seeds} seeds x {trials} trials, --jobs 2 --threads 1")
    print(
        "| --runs-per-process | benchmark wall (s), each try | " + " | ".join(f"{b} ms/trial" for b in BACKENDS) + " |"
    )
    print("|---|---|" + "---|" * len(BACKENDS))
    for side in ("1", reuse):
        ms = [statistics.median(c[b] for c in costs[side] if b in c) for b in BACKENDS]
        tries = ", ".join(f"{w:.1f}" for w in walls[side])
        print(f"| {side} | {tries} | " + " | ".join(f"{m:.1f}" for m in ms) + " |")
    ratio = statistics.median(walls["1"]) / statistics.median(walls[reuse])
    print(f"speed-up of --runs-per-process {reuse} over a process per run: {ratio:.2f}x (median walls)")


def memory(runs: int) -> None:
    """Resident memory of one process doing ``runs`` table runs per backend, as a warm worker does them."""
    code = f"""
import json, sys, tempfile
from unified_nas.benchmark.worker import _forget_run, run_job
def rss_mb():
    for line in open('/proc/self/status'):
        if line.startswith('VmRSS:'):
            return int(line.split()[1]) / 1024
tmp = tempfile.mkdtemp()
marks = {{}}
for i in range({runs}):
    job = {{"bench_id": "b", "backend": sys.argv[1], "seed": i, "run_id": f"r{{i}}", "recipe": {str(NB201)!r},
           "trials": 100, "strategy": "random", "store": tmp + "/s.sqlite", "runs_dir": tmp + "/runs", "threads": 1}}
    assert run_job(job) == 0
    _forget_run()
    if i + 1 in (1, 10, 25, 50, 100, 200) or i + 1 == {runs}:
        marks[i + 1] = round(rss_mb())
print(json.dumps(marks))
"""
    print("\n## Memory of one warm process: resident MB after N table runs (100 trials each, random)")
    print("| backend | resident memory after N runs |")
    print("|---|---|")
    for backend in BACKENDS:
        out = subprocess.run(
            [sys.executable, "-c", code, backend],
            env={**os.environ, **ONE_THREAD},
            capture_output=True,
            text=True,
            check=True,
        )
        marks = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"| {backend} | " + ", ".join(f"{n}: {mb} MB" for n, mb in marks.items()) + " |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--trained-seeds", type=int, default=4)
    ap.add_argument("--memory-runs", type=int, default=50)
    ap.add_argument("--skip", default="", help="comma-separated: table, trained, memory")
    a = ap.parse_args()
    skip = set(filter(None, a.skip.split(",")))
    print(f"# Many runs per process ({os.cpu_count()} cores; {time.strftime('%Y-%m-%d %H:%M')})")
    if "table" not in skip:
        random = [x for b in BACKENDS for x in ("--strategy", f"{b}=random")]
        side_by_side(NB201, a.seeds, 100, random, "NAS-Bench-201 table, random strategies")
    if "trained" not in skip:
        with tempfile.TemporaryDirectory() as tmp:
            recipe = Path(tmp, "iris_batched.yaml")
            recipe.write_text(TRAINED)
            # auto is 1 for a trained recipe: compare with one process doing all of a backend's runs.
            side_by_side(recipe, a.trained_seeds, 3, [], "trained iris MLP, default strategies", str(a.trained_seeds))
    if "memory" not in skip:
        memory(a.memory_runs)


if __name__ == "__main__":
    main()
