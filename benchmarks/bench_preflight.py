"""Benchmark: what a benchmark's check of strategy arguments costs before its first run.

``unas bench`` starts one short process per backend that has strategy
arguments, all at once, that builds each strategy object as a run would
(``unified_nas.benchmark.preflight``), so bad strategy arguments are refused
before anything is written; a backend without any costs nothing. This prints the
median wall time of ``unas validate RECIPE`` without and with ``--backend``
for the given backends (the same check, same processes), alternating the two
sides so machine noise hits both alike, with one framework thread per process.

Usage:
    python benchmarks/bench_preflight.py [--repeats 5] [--backends nni,optuna,autokeras]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RECIPE = ROOT / "recipes" / "digits_mlp.yaml"


def timed(args: list[str]) -> float:
    """Wall seconds of one ``unas`` command (which must succeed)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "unified_nas.cli", *args], check=True, capture_output=True, env=env)
    return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--backends", default="nni,optuna,autokeras")
    a = p.parse_args()
    plain = ["validate", str(RECIPE)]
    checked = plain + [arg for b in a.backends.split(",") for arg in ("--backend", b)]
    sides: dict[str, list[float]] = {"validate": [], "validate + backends": []}
    for _ in range(a.repeats):
        sides["validate"].append(timed(plain))
        sides["validate + backends"].append(timed(checked))
    base = statistics.median(sides["validate"])
    for name, times in sides.items():
        med = statistics.median(times)
        print(f"{name:22s} median {med:6.2f} s  (min {min(times):.2f}, max {max(times):.2f}, n={len(times)})")
    extra = statistics.median(sides["validate + backends"]) - base
    print(f"strategy-argument check of {a.backends}: +{extra:.2f} s per benchmark (on {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
