"""Benchmark: NNI's one-shot strategies against "one supernet + any search strategy", on one dense-cell space.

On ``recipes/digits_nb201.yaml`` (NAS-Bench-201's cell on digits) and its
supernet twin ``recipes/digits_nb201_supernet.yaml``, for ``--seeds`` seeds:

* NNI's one-shot strategies (``darts``, ``gumbel_darts``, ``random_one_shot``,
  and ``enas`` where its extra is installed) train their own supernet for the
  protocol's epochs and export one architecture, which the run trains under the
  standard protocol (its record);
* the supernet evaluator (SPOS-style: one uniformly trained supernet) searched by
  NNI's evolution, Optuna's TPE and AutoKeras's greedy, ``--trials`` trials
  each; the incumbent is then trained stand-alone under the same protocol and
  seed, so that every row's accuracy means the same thing.

Printed per method: the found architecture's stand-alone test accuracy (mean
and range over seeds), how many of its 6 edges hold a parameter-free op
(``none``, ``skip_connect``, ``avg_pool_3x3``: DARTS's collapse towards them on
NAS-Bench-201 is a published effect), and the search's wall time.
One framework thread. Usage:

    python benchmarks/oneshot_vs_supernet.py [--seeds 3] [--trials 50]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402  (after the thread setting)

from unified_nas.evaluation.train.evaluate import evaluate_sample  # noqa: E402
from unified_nas.recipe import load_recipe  # noqa: E402
from unified_nas.report.store import ResultsStore  # noqa: E402
from unified_nas.runs.registry import entries  # noqa: E402
from unified_nas.runs.runner import run_recipe  # noqa: E402
from unified_nas.tables.recipes import load_recipe_data  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PARAMETER_FREE = ("none", "skip_connect", "avg_pool_3x3")


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--trials", type=int, default=50)
    a = ap.parse_args()
    torch.set_num_threads(1)
    trained = load_recipe(ROOT / "recipes" / "digits_nb201.yaml")
    shared = load_recipe(ROOT / "recipes" / "digits_nb201_supernet.yaml")
    data = load_recipe_data(trained)
    one_shot = ["darts", "gumbel_darts", "random_one_shot"]
    if not entries()["nni"].backend_class().strategies["enas"].missing():
        one_shot.append("enas")
    methods = [("nni", s, trained) for s in one_shot] + [
        (b, None, shared) for b in ("nni", "optuna", "autokeras") if entries()[b].installed()
    ]
    rows: dict[str, list[tuple[float, int, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="unas-oneshot-") as tmp:
        store = ResultsStore(Path(tmp) / "s.sqlite")
        for seed in range(a.seeds):
            for backend, strategy, recipe in methods:
                report = run_recipe(
                    recipe,
                    backend,
                    strategy=strategy,
                    trials=1 if strategy else a.trials,
                    seed=seed,
                    store=store,
                    runs_dir=Path(tmp) / "runs",
                    progress=False,
                )
                best = report.incumbent
                assert best is not None
                sample = best["sample"]
                if strategy:  # the record is the exported architecture trained under the protocol
                    test = float(best["test_accuracy"])
                    name = f"nni {strategy} (one-shot)"
                else:
                    test = evaluate_sample(trained.space, sample, data, trained.protocol, seed).test_accuracy or 0.0
                    name = f"{backend} {report.strategy} on the supernet"
                free = sum(v in PARAMETER_FREE for v in sample.values())
                rows.setdefault(name, []).append(
                    (test, free, (report.ended_at or report.started_at) - report.started_at)
                )
    print(
        f"# One-shot vs supernet + search on digits_nb201, {a.seeds} seeds, {a.trials} trials for the supernet "
        f"searches, torch {torch.__version__}, 1 thread"
    )
    print("\n| method | stand-alone test accuracy of the found cell | parameter-free edges of 6 | search wall |")
    print("|---|---|---|---:|")
    for name, r in rows.items():
        accs, frees, walls = [x[0] for x in r], [x[1] for x in r], [x[2] for x in r]
        print(
            f"| {name} | {statistics.mean(accs):.3f} ({min(accs):.3f}-{max(accs):.3f}) | "
            f"{', '.join(map(str, frees))} | {statistics.mean(walls):.1f} s |"
        )


if __name__ == "__main__":
    main()
