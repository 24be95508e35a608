"""Benchmark: what a weight-sharing supernet costs next to trained trials.

On a recipe's space, data and protocol (default ``recipes/digits_nb201.yaml``):

* one trained trial: ``train_sample`` of a uniform sample under the recipe's
  protocol (median over ``--trials`` samples, whole call: build, train, test);
* supernet training: ``train_supernet`` for the protocol's epochs (or
  ``--epochs``), the batch size, learning rate and optimizer of the recipe,
  ``--sampling`` paths;
* per-trial scoring: ``score`` of ``--scores`` fresh uniform samples (each
  subnet built, BatchNorm recalibrated on ``--recalibration-batches`` batches,
  validation and test evaluated), median, and as a fraction of one trained
  trial (goal: at most 5%).

One framework thread unless ``--threads``. Usage:

    python benchmarks/supernet_cost.py [--recipe recipes/digits_nb201.yaml] [--trials 3] [--scores 20]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402  (after the thread setting)

from unified_nas.data import load_dataset  # noqa: E402
from unified_nas.evaluation.supernet import Supernet, score, train_supernet  # noqa: E402
from unified_nas.evaluation.train.evaluate import train_sample  # noqa: E402
from unified_nas.recipe import load_recipe  # noqa: E402
from unified_nas.space import random_sample  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--recipe", default=str(ROOT / "recipes" / "digits_nb201.yaml"))
    ap.add_argument("--trials", type=int, default=3, help="trained trials (median)")
    ap.add_argument("--scores", type=int, default=20, help="scored samples (median)")
    ap.add_argument("--epochs", type=int, default=None, help="supernet epochs (default: the protocol's)")
    ap.add_argument("--sampling", default="uniform", choices=["uniform", "sandwich"])
    ap.add_argument("--recalibration-batches", type=int, default=4)
    ap.add_argument("--recalibration-batch-size", type=int, default=128)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    recipe = load_recipe(a.recipe)
    assert recipe.data is not None, "a recipe with data (not a table recipe)"
    data = load_dataset(recipe.data, Path(a.recipe).parent)
    space, protocol = recipe.space, recipe.protocol
    decls = space.decls()
    rng = random.Random(a.seed)
    samples = [random_sample(decls, rng) for _ in range(a.trials + a.scores)]
    hp = space.resolve(samples[0]).training

    train_sample(space, samples[0], data, protocol, a.seed)  # warm-up: first-call costs of torch
    trial_s = []
    for s in samples[: a.trials]:
        t0 = time.perf_counter()
        train_sample(space, s, data, protocol, a.seed)
        trial_s.append(time.perf_counter() - t0)
    trial = statistics.median(trial_s)

    epochs = a.epochs if a.epochs is not None else protocol.epochs
    net = Supernet(space, data.input_shape, data.num_classes, seed=a.seed)
    cost = train_supernet(
        net, data, epochs, hp.batch_size, hp.lr, hp.optimizer, hp.weight_decay, a.sampling, seed=a.seed
    )
    metrics = [
        score(net, s, data, a.recalibration_batches, a.recalibration_batch_size, seed=a.seed)
        for s in samples[a.trials :]
    ]
    per_score = statistics.median(m["score_s"] for m in metrics)
    accs = [m["val_accuracy"] for m in metrics]

    print(
        f"# Supernet cost on {recipe.name} ({len(data.x_train)} training examples), {a.threads} thread(s), "
        f"{os.cpu_count()} cores, torch {torch.__version__}"
    )
    print("| what | wall | vs one trained trial |")
    print("|---|---|---|")
    print(f"| one trained trial ({protocol.epochs} epochs, median of {a.trials}) | {trial:.3f} s | 1.00 |")
    print(
        f"| supernet training ({cost['epochs']:.0f} epochs, {cost['steps']:.0f} steps, {a.sampling}) "
        f"| {cost['wall_s']:.3f} s | {cost['wall_s'] / trial:.2f} |"
    )
    print(
        f"| per-trial score ({a.recalibration_batches}x{a.recalibration_batch_size} BN recalibration, "
        f"median of {a.scores}) | {1000 * per_score:.1f} ms | {100 * per_score / trial:.1f}% |"
    )
    print(f"\nscored val_accuracy: median {statistics.median(accs):.3f}, min {min(accs):.3f}, max {max(accs):.3f}")


if __name__ == "__main__":
    main()
