"""Benchmark: a plain Optuna script vs `unas run` on the same recipe, side by side.

Both sides train the same models with the same trainer (unified_nas.models.torch_model
and unified_nas.evaluation.train) on the same split and seed, with TPE seeded alike; the
native side is what a user would write by hand for recipes/digits_mlp.yaml
(define-by-run suggestions, in-memory storage). Each side runs in its own fresh
process, alternating, ``--repeats`` times. Printed per side: process wall time,
search wall time, median per-trial overhead (trial wall - time in the training
loop), and the unas/native ratios.

Usage:
    python benchmarks/optuna_overhead.py [--trials 20] [--repeats 2] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from common import alternate, medians, run_unas  # benchmarks/common.py (scripts run from this folder)

ROOT = Path(__file__).resolve().parent.parent
RECIPE = ROOT / "recipes" / "digits_mlp.yaml"

NATIVE = r"""
import json, sys, time
import optuna
from unified_nas.data import load_dataset
from unified_nas.recipe import load_recipe
from unified_nas.space.spaces import TrainingConfig
from unified_nas.models.torch_model import build_model
from unified_nas.evaluation.train.evaluate import seed_everything
from unified_nas.evaluation.train.trainer import train
from unified_nas.space.ops import OPS
from unified_nas.space.spaces import LayerConfig, MacroConfig, ArchConfig

trials, seed = int(sys.argv[1]), int(sys.argv[2])
recipe = load_recipe(sys.argv[3])
data = load_dataset(recipe.data)
optuna.logging.set_verbosity(optuna.logging.WARNING)
train_s = {}

def objective(trial):
    # Hand-written, as a native Optuna user would for this space.
    depth = trial.suggest_int("depth", 1, 4)
    layers = []
    for i in range(depth):
        w = trial.suggest_categorical(f"layer{i}/width", [32, 64, 128, 256])
        a = trial.suggest_categorical(f"layer{i}/activation", ["relu", "gelu", "silu"])
        layers.append(LayerConfig(OPS["linear"], w, a, False, "none", False))
    lr = trial.suggest_float("lr", 1e-4, 1e-1, log=True)
    opt = trial.suggest_categorical("optimizer", ["adam", "sgd", "adamw"])
    dropout = trial.suggest_float("dropout", 0.0, 0.5)
    hp = TrainingConfig(lr, opt, 64, 0.0, dropout)
    seed_everything(seed)
    model = build_model(ArchConfig(MacroConfig(tuple(layers)), hp), data.input_shape, data.num_classes)
    history, t, _ = train(model, data, hp, recipe.protocol, seed)
    train_s[trial.number] = t
    return history[-1]["val_accuracy"]

t0 = time.perf_counter()
study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
study.optimize(objective, n_trials=trials)
wall = time.perf_counter() - t0
ovh = [(t.datetime_complete - t.datetime_start).total_seconds() - train_s[t.number] for t in study.trials]
print(json.dumps({"search_wall_s": wall, "overheads": ovh, "best": study.best_value,
                  "samples": [t.params for t in study.trials]}))
"""


def run_native(trials: int, seed: int) -> dict:
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", NATIVE, str(trials), str(seed), str(RECIPE)], capture_output=True, text=True, check=True
    )
    d = json.loads(out.stdout.strip().splitlines()[-1])
    d["process_wall_s"] = time.perf_counter() - t0
    return d


def run_unas_side(trials: int, seed: int) -> dict:
    return run_unas(RECIPE, "optuna", "tpe", trials, seed)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    res = alternate(
        {"native": lambda: run_native(a.trials, a.seed), "unas": lambda: run_unas_side(a.trials, a.seed)}, a.repeats
    )
    same = res["native"][0]["samples"] == res["unas"][0]["samples"]
    print(
        f"recipe {RECIPE.name}, {a.trials} trials, TPE seed {a.seed}, {a.repeats} repeats; "
        f"identical samples on both sides: {same}"
    )
    print(f"{'side':8} {'process wall s':>15} {'search wall s':>14} {'median ovh ms/trial':>20} {'best val_acc':>13}")
    med = {}
    for side, runs in res.items():
        pw, sw, ov = med[side] = medians(runs, skip_first_trial=True)
        print(f"{side:8} {pw:15.2f} {sw:14.2f} {ov * 1000:20.1f} {runs[0]['best']:13.4f}")
    (pn, sn, on), (pu, su, ou) = med["native"], med["unas"]
    print(
        f"ratio unas/native: process wall {pu / pn:.3f}, search wall {su / sn:.3f}, "
        f"per-trial overhead {ou / on:.2f}x (+{(ou - on) * 1000:.1f} ms/trial)"
    )


if __name__ == "__main__":
    main()
