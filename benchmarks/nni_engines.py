"""Benchmark: unified-nas's default NNI path (headless sequential engine) vs
NNI's own NasExperiment with its default engine (Node.js manager, one process
per trial: the way NNI's tutorials run it), side by side.

Both run the same recipe, strategy, seed and trial count through `unas run`
(``--option engine=headless`` vs ``--option engine=web``), each in a fresh process,
alternating, ``--repeats`` times. Printed per engine: process wall time,
search wall time, median per-trial overhead (trial wall - time in the training
loop), and the web/headless ratios.

Usage:
    python benchmarks/nni_engines.py [--recipe recipes/digits_cnn.yaml] [--trials 6] [--repeats 1]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import alternate, medians  # benchmarks/common.py (scripts run from this folder)

ROOT = Path(__file__).resolve().parent.parent


def run(recipe: str, engine: str, trials: int, seed: int, strategy: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "unified_nas.cli",
                "run",
                recipe,
                "--backend",
                "nni",
                "--strategy",
                strategy,
                "--trials",
                str(trials),
                "--seed",
                str(seed),
                "--option",
                f"engine={engine}",
                "--quiet",
            ],
            cwd=tmp,
            capture_output=True,
            text=True,
            check=True,
            timeout=1800,
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
    return {
        "process_wall_s": wall,
        "search_wall_s": rep["budget_spent"]["wall_s"],
        "overheads": [t["overhead_s"] for t in rep["trials"]],
        "trials": len(rep["trials"]),
        "best": rep["incumbent"]["val_accuracy"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipe", default=str(ROOT / "recipes" / "digits_cnn.yaml"))
    ap.add_argument("--trials", type=int, default=6)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--strategy", default="random")
    a = ap.parse_args()
    res = alternate(
        {e: (lambda e=e: run(a.recipe, e, a.trials, a.seed, a.strategy)) for e in ("headless", "web")}, a.repeats
    )
    print(
        f"recipe {Path(a.recipe).name}, strategy {a.strategy}, {a.trials} trials, seed {a.seed}, {a.repeats} repeat(s)"
    )
    print(
        f"{'engine':9} {'trials':>6} {'process wall s':>15} {'search wall s':>14} {'median ovh s/trial':>19} {'best val_acc':>13}"
    )
    med = {}
    for engine, runs in res.items():
        pw, sw, ov = med[engine] = medians(runs, skip_first_trial=False)
        print(f"{engine:9} {runs[0]['trials']:6d} {pw:15.2f} {sw:14.2f} {ov:19.3f} {runs[0]['best']:13.4f}")
    (ph, sh, oh), (pw_, sw_, ow) = med["headless"], med["web"]
    print(
        f"ratio web/headless: process wall {pw_ / ph:.2f}, search wall {sw_ / sh:.2f}, "
        f"per-trial overhead {ow / max(oh, 1e-9):.0f}x (+{ow - oh:.2f} s/trial)"
    )


if __name__ == "__main__":
    main()
