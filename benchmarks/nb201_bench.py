"""Benchmark: what a NAS-Bench-201 comparison costs (3 backends x 10 seeds x 100 trials, looked up, not trained).

Runs the command of the NAS-Bench-201 issue as a user would,

    unas bench recipes/nb201_cifar10.yaml --backends nni,optuna,autokeras --seeds 10 --trials 100
        [--strategy nni=random --strategy optuna=random --strategy autokeras=random]

once with every backend's ``random`` strategy and once with each backend's
default, with one framework thread per process, and prints from the stored
report:

* the wall time of the whole benchmark (goal: at most 5 minutes on 2 cores);
* per backend, the median per-trial overhead: a looked-up trial trains
  nothing, so everything it costs is plumbing. Two measures: the median of the
  trial records' ``duration_s`` (from proposal to result, as each toolkit
  times its trial) and the run's wall time divided by its trials (the
  strategy's time between trials included). Goals: at most 20 ms for NNI and
  Optuna, 150 ms for AutoKeras;
* the mean best-so-far at the last trial against the random-search band
  (95%, mean of the seeds) the report draws.

Usage:
    python benchmarks/nb201_bench.py [--seeds 10] [--trials 100] [--jobs 1] [--backends nni,optuna,autokeras]
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
RECIPE = ROOT / "recipes" / "nb201_cifar10.yaml"


def bench(backends: list[str], seeds: int, trials: int, jobs: int, random: bool, where: Path) -> tuple[float, dict]:
    """Runs one ``unas bench``; returns its wall time and its report.json."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "unified_nas.cli",
        "bench",
        str(RECIPE),
        "--backends",
        ",".join(backends),
        "--seeds",
        str(seeds),
        "--trials",
        str(trials),
        "--jobs",
        str(jobs),
        "--store",
        str(where / "s.sqlite"),
    ]
    if random:
        cmd += [f"--strategy={b}=random" for b in backends]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, cwd=where, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        sys.exit(f"unas bench failed ({out.returncode}): {out.stderr[-2000:]}")
    report = max((where / "unas-runs").glob("bench-*/report.json"), key=lambda p: p.stat().st_mtime)
    return wall, json.loads(report.read_text())


def show(title: str, wall: float, d: dict) -> None:
    ref = d.get("reference") or {}
    print(f"\n{title}: whole benchmark {wall:.1f} s wall ({len(d['runs'])} runs)")
    if ref:
        print(
            f"  random-search band at trial {ref['trials']} (mean of {ref['seeds']} seeds, 95%): "
            f"[{ref['random_lower'][-1]:.4f}, {ref['random_upper'][-1]:.4f}]; table optimum {ref['optimum']:.4f}"
        )
    print(
        f"  {'backend':<10} {'strategy':<10} {'trial ms (median)':>18} {'run wall/trial ms':>18} "
        f"{'run wall s (sum)':>17} {'mean best':>10} {'in band':>8}"
    )
    for b, s in d["backends"].items():
        runs = [r for r in d["runs"] if r["backend"] == b and r.get("trials")]
        durations = [t["duration_s"] for r in runs for t in r["trials"]]
        per_trial = [r["budget_spent"]["wall_s"] / max(1, len(r["trials"])) for r in runs]
        best = statistics.fmean(r["best_so_far"][-1] for r in runs) if runs else float("nan")
        inside = ref and ref["random_lower"][-1] <= best <= ref["random_upper"][-1]
        print(
            f"  {b:<10} {s['strategy'] or '-':<10} {1000 * statistics.median(durations):>18.1f} "
            f"{1000 * statistics.median(per_trial):>18.1f} {sum(r['budget_spent']['wall_s'] for r in runs):>17.1f} "
            f"{best:>10.4f} {'yes' if inside else 'no':>8}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--backends", default="nni,optuna,autokeras")
    a = ap.parse_args()
    backends = a.backends.split(",")
    print(
        f"recipe {RECIPE.name}: {len(backends)} backends x {a.seeds} seeds x {a.trials} trials, --jobs {a.jobs}, "
        f"1 framework thread per process, {os.cpu_count()} cores"
    )
    for random in (True, False):
        with tempfile.TemporaryDirectory() as tmp:
            wall, d = bench(backends, a.seeds, a.trials, a.jobs, random, Path(tmp))
            show("random strategies" if random else "default strategies", wall, d)


if __name__ == "__main__":
    main()
