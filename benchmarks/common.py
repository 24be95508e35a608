"""Shared by the benchmark scripts: a `unas run` in a fresh process, alternating sides, median figures."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path


def run_unas(recipe: Path, backend: str, strategy: str, trials: int, seed: int) -> dict:
    """Process wall, search wall, per-trial overheads, best val_accuracy and samples of one unas run."""
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "unified_nas.cli",
                "run",
                str(recipe),
                "--backend",
                backend,
                "--strategy",
                strategy,
                "--trials",
                str(trials),
                "--seed",
                str(seed),
                "--quiet",
            ],
            cwd=tmp,
            capture_output=True,
            text=True,
            check=True,
        )
        wall = time.perf_counter() - t0
        rep = json.loads(
            subprocess.run(
                [sys.executable, "-m", "unified_nas.cli", "report", "latest", "--format", "json"],
                cwd=tmp,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
    ts = rep["trials"]
    return {
        "process_wall_s": wall,
        "search_wall_s": rep["budget_spent"]["wall_s"],
        "overheads": [t["overhead_s"] for t in ts],
        "best": rep["incumbent"]["val_accuracy"],
        "samples": [t["sample"] for t in ts],
    }


def alternate(sides: dict[str, Callable[[], dict]], repeats: int) -> dict[str, list[dict]]:
    """Runs every side once per repeat, in turn, so machine noise hits all sides alike."""
    res: dict[str, list[dict]] = {side: [] for side in sides}
    for r in range(repeats):
        for side, run in sides.items():
            res[side].append(run())
        print(f"repeat {r + 1}/{repeats} done", file=sys.stderr)
    return res


def medians(runs: list[dict], skip_first_trial: bool) -> tuple[float, float, float]:
    """Median process wall, search wall and per-trial overhead over repeats.

    Args:
        skip_first_trial: Leave out each run's trial 0 (it pays first-call warm-up).
    """
    first = 1 if skip_first_trial else 0
    return (
        statistics.median(r["process_wall_s"] for r in runs),
        statistics.median(r["search_wall_s"] for r in runs),
        statistics.median(o for r in runs for o in r["overheads"][first:]),
    )
