"""Benchmark: how far a weight-sharing supernet's scores can be trusted, and what a supernet run costs.

Two parts, on one recipe with ``evaluation: {supernet: ...}`` (default
``recipes/digits_nb201_supernet.yaml``), one framework thread unless ``--threads``:

1. **Ranking.** ``--archs`` distinct architectures (drawn as ``unas tabulate
   --sample`` draws them) are trained stand-alone under the recipe's protocol
   (``unas tabulate`` itself, into a temporary table, with every zero-cost
   proxy). Then, for each supernet setting of ``--epochs`` x ``--sampling``,
   one supernet is trained and every architecture scored with inherited
   weights. Printed: Spearman's rho and Kendall's tau-b of each supernet's
   scores, of each proxy and of params against the stand-alone validation
   accuracy, and each supernet's training time.
2. **Cost** (``--cost``). The recipe run for real on ``--backend`` with 50
   trials (supernet training included), and the same recipe with
   ``evaluation: train`` run for 5 trained trials, side by side in this
   process: the issue's goal is that the first costs less than the second.
   Also the median scored trial's time as a fraction of a trained trial's
   (whole trials, and against the training loop alone; goal: at most 5%).

Usage:

    python benchmarks/supernet_ranking.py [--recipe R] [--archs 60] [--epochs 5 20 50] \\
        [--sampling uniform sandwich progressive] [--finetune 0 1] [--cost] [--threads 1]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402  (after the thread setting)

from unified_nas.commands.tabulate import tabulate  # noqa: E402
from unified_nas.evaluation.supernet.evaluator import SupernetScore  # noqa: E402
from unified_nas.recipe import load_recipe, load_recipe_text  # noqa: E402
from unified_nas.report.store import ResultsStore  # noqa: E402
from unified_nas.runs.runner import run_recipe  # noqa: E402
from unified_nas.tables.correlation import proxy_correlations, rank_correlations  # noqa: E402
from unified_nas.tables.own import OwnTable  # noqa: E402
from unified_nas.tables.recipes import load_recipe_data  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def _num(v: float | None) -> str:
    return "-" if v is None else f"{v:+.3f}"


def ranking(
    recipe_path: Path, archs: int, epochs: list[int], samplings: list[str], finetunes: list[int], workdir: Path
) -> None:
    recipe = load_recipe(recipe_path)
    assert recipe.evaluation.supernet is not None, "a recipe with evaluation: {supernet: ...}"
    table_path = workdir / "table.sqlite"
    t0 = time.perf_counter()
    tabulate(recipe, table_path, sample=archs, progress=False)
    tab_s = time.perf_counter() - t0
    data = load_recipe_data(recipe)
    with OwnTable.open(table_path) as table:
        rows = [r for r in table.rows(complete_only=True) if r.val_accuracy is not None]
        baselines = proxy_correlations(table)
    trained = [float(r.val_accuracy or 0.0) for r in rows]  # rows without one were dropped above
    train_s = statistics.median(r.train_s or 0.0 for r in rows)
    print(
        f"# Supernet ranking on {recipe.name}: {len(rows)} architectures trained stand-alone "
        f"({recipe.protocol.epochs} epochs, median {train_s:.2f} s each; tabulated in {tab_s:.0f} s), "
        f"{torch.get_num_threads()} thread(s), torch {torch.__version__}"
    )
    print("\n| scorer | Spearman | Kendall | cost |")
    print("|---|---:|---:|---|")
    for e in epochs:
        for sampling in samplings:
            spec = dataclasses.replace(recipe.evaluation.supernet, epochs=e, sampling=sampling)
            trained_once = SupernetScore(spec, recipe.space, data, recipe.seed)
            cost = trained_once.prepare(None)
            assert cost is not None
            for finetune in finetunes:  # one supernet, scored with and without finetuning each subnet
                scorer = SupernetScore(
                    dataclasses.replace(spec, finetune_epochs=finetune), recipe.space, data, recipe.seed
                )
                scorer.supernet, scorer.cost = trained_once.supernet, cost
                results = [scorer(r.sample, 0) for r in rows]
                scores = [res.metrics["val_accuracy"] for res in results]
                per = statistics.median(res.train_s for res in results)
                rho, tau = rank_correlations(scores, trained)
                tuned = f", finetune {finetune} epoch(s)" if finetune else ""
                print(
                    f"| supernet, {e} epochs, {sampling}{tuned} | {_num(rho)} | {_num(tau)} | training "
                    f"{cost['supernet_wall_s']:.1f} s ({cost['supernet_wall_s'] / train_s:.1f} trained trials), "
                    f"{1000 * per:.0f} ms a score ({100 * per / train_s:.1f}% of a trained trial) |"
                )
    for b in baselines:
        if b["kind"] != "supernet":  # the table's own supernet column is the recipe's setting, shown above
            print(f"| {b['metric']} ({b['kind']}) | {_num(b['spearman'])} | {_num(b['kendall'])} | |")


def cost(recipe_path: Path, backend: str, workdir: Path) -> None:
    recipe = load_recipe(recipe_path)
    lines, kept, skip = recipe.source.splitlines(), [], False
    for line in lines:  # the same recipe without its evaluation section: every trial trained
        if line.startswith("evaluation:"):
            skip = True
            continue
        if skip and line.startswith(" "):
            continue
        skip = False
        kept.append(line)
    trained = load_recipe_text("\n".join(kept) + "\n", str(recipe_path.parent), recipe.name + "_trained", "cost")
    assert trained.evaluation.trains
    store = ResultsStore(workdir / "cost.sqlite")
    runs = workdir / "runs"
    # torch imports its compiler stack at the first optimizer step (about a second): paid here, by neither run.
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.Adam([p])
    p.sum().backward()
    opt.step()
    sn = run_recipe(recipe, backend, trials=50, store=store, runs_dir=runs, progress=False)
    tr = run_recipe(trained, backend, trials=5, store=store, runs_dir=runs, progress=False)
    sn_wall = (sn.ended_at or sn.started_at) - sn.started_at
    tr_wall = (tr.ended_at or tr.started_at) - tr.started_at
    assert sn.search_cost is not None
    per_trained = statistics.median(t.duration_s for t in tr.trials)
    per_score = statistics.median(t.duration_s for t in sn.trials)
    train_only = statistics.median(t.train_s for t in tr.trials)
    print(f"\n# Cost on {backend}: {recipe.name}")
    print("| run | wall | vs 5 trained trials |")
    print("|---|---:|---:|")
    print(
        f"| 50 trials scored by the supernet (its training {sn.search_cost['supernet_wall_s']:.1f} s included) "
        f"| {sn_wall:.1f} s | {sn_wall / tr_wall:.2f} |"
    )
    print(f"| 5 trained trials ({trained.protocol.epochs} epochs each) | {tr_wall:.1f} s | 1.00 |")
    print(
        f"\nper trial, whole (BN recalibration included): median {1000 * per_score:.0f} ms scored = "
        f"{100 * per_score / per_trained:.1f}% of a trained trial ({per_trained:.2f} s; its training loop alone "
        f"{train_only:.2f} s, of which the score is {100 * per_score / train_only:.1f}%)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--recipe", type=Path, default=ROOT / "recipes" / "digits_nb201_supernet.yaml")
    ap.add_argument("--archs", type=int, default=60, help="architectures trained stand-alone")
    ap.add_argument("--epochs", type=int, nargs="+", default=[5, 20, 50], help="supernet epochs to compare")
    ap.add_argument("--sampling", nargs="+", default=["uniform"], choices=["uniform", "sandwich", "progressive"])
    ap.add_argument("--finetune", type=int, nargs="+", default=[0], help="finetune_epochs to compare")
    ap.add_argument("--cost", action="store_true", help="also the cost comparison of real runs")
    ap.add_argument("--no-ranking", action="store_true", help="skip the ranking part")
    ap.add_argument("--backend", default="optuna")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    with tempfile.TemporaryDirectory(prefix="unas-supernet-bench-") as tmp:
        if not a.no_ranking:
            ranking(a.recipe, a.archs, a.epochs, a.sampling, a.finetune, Path(tmp))
        if a.cost:
            cost(a.recipe, a.backend, Path(tmp))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
