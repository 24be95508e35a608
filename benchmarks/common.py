"""Shared by the benchmark scripts: one `unas run` in a fresh process, read back through `unas report`."""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run_unas(recipe: Path, backend: str, strategy: str, trials: int, seed: int) -> dict:
    """Process wall, search wall, per-trial overheads, best val_accuracy and samples of one unas run."""
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "unified_nas.cli", "run", str(recipe), "--backend", backend,
                        "--strategy", strategy, "--trials", str(trials), "--seed", str(seed), "--quiet"],
                       cwd=tmp, capture_output=True, text=True, check=True)
        wall = time.perf_counter() - t0
        rep = json.loads(subprocess.run([sys.executable, "-m", "unified_nas.cli", "report", "latest", "--format",
                                         "json"], cwd=tmp, capture_output=True, text=True, check=True).stdout)
    ts = rep["trials"]
    return {"process_wall_s": wall, "search_wall_s": rep["budget_spent"]["wall_s"],
            "overheads": [t["overhead_s"] for t in ts], "best": rep["incumbent"]["val_accuracy"],
            "samples": [t["sample"] for t in ts]}
