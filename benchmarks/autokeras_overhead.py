"""Benchmark: a plain AutoKeras script vs `unas run --backend autokeras`, side by side.

Same space, same networks: the plain script uses the same AutoKeras block and
head (unified_nas.backends.autokeras.space) with AutoKeras's stock RandomSearch
tuner, explicit validation data and epochs, AutoKeras's own compile (Adam at
the recipe's learning rate) and a tuner subclass that only takes timestamps.
It runs twice: as is, and with ``gc.freeze()`` after the imports (what unas
does), to show what the garbage collector costs. Each side runs in its own
fresh process, alternating, ``--repeats`` times. Printed per side: process
wall, search wall, median per-trial overhead (trial wall - time in the
epochs), and the ratios to the plain script.

Usage:
    python benchmarks/autokeras_overhead.py [--trials 6] [--repeats 2] [--seed 1]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import alternate, medians, run_unas  # benchmarks/common.py (scripts run from this folder)

ROOT = Path(__file__).resolve().parent.parent
RECIPE = ROOT / "recipes" / "digits_cnn.yaml"

PLAIN = r"""
import gc, json, os, sys, time
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import autokeras as ak, keras, keras_tuner, numpy as np
from unified_nas.data import load_dataset
from unified_nas.recipe import load_recipe
from unified_nas.backends.autokeras.space import UnasBlock, UnasHead, sample_from_values

trials, seed, path, freeze, out_dir = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4] == "1", sys.argv[5]
recipe = load_recipe(path)
data = load_dataset(recipe.data)
if freeze:
    gc.collect(); gc.freeze()
times = {}

class Timed(ak.tuners.RandomSearch):  # timestamps only
    def on_trial_begin(self, trial):
        times[trial.trial_id] = {"start": time.time(), "train": 0.0}
        super().on_trial_begin(trial)
    def on_epoch_begin(self, trial, model, epoch, logs=None):
        self._t = time.perf_counter()
    def on_epoch_end(self, trial, model, epoch, logs=None):
        times[trial.trial_id]["train"] += time.perf_counter() - self._t
    def on_trial_end(self, trial):
        times[trial.trial_id]["end"] = time.time()
        super().on_trial_end(trial)

hp = keras_tuner.HyperParameters()
hp.Fixed("optimizer", "adam"); hp.Fixed("learning_rate", float(recipe.space.training.lr))
inp = ak.Input()
model = ak.AutoModel(inputs=inp, outputs=UnasHead()(UnasBlock(recipe.space)(inp)), tuner=Timed, overwrite=True,
                     seed=seed + 1, max_trials=trials, directory=out_dir, objective="val_accuracy", hyperparameters=hp)
keras.utils.set_random_seed(seed)
onehot = lambda y: np.eye(data.num_classes, dtype=np.float32)[y]
t0 = time.perf_counter()
model.fit(data.x_train, onehot(data.y_train), validation_data=(data.x_val, onehot(data.y_val)),
          epochs=recipe.protocol.epochs, batch_size=recipe.space.training.batch_size, verbose=0,
          callbacks=[keras.callbacks.EarlyStopping(monitor="val_loss", patience=recipe.protocol.epochs + 1)])
wall = time.perf_counter() - t0
ids = sorted(times, key=int)
ts = model.tuner.oracle.trials
print(json.dumps({"search_wall_s": wall, "overheads": [times[i]["end"] - times[i]["start"] - times[i]["train"] for i in ids],
                  "best": max(ts[i].score for i in ids),
                  "samples": [sample_from_values(recipe.space.decls(), ts[i].hyperparameters.values) for i in ids]}))
"""


def run_plain(trials: int, seed: int, freeze: bool) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-c", PLAIN, str(trials), str(seed), str(RECIPE), "1" if freeze else "0", tmp],
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        if out.returncode:
            sys.exit(out.stderr[-3000:])
    d = json.loads(out.stdout.strip().splitlines()[-1])
    d["process_wall_s"] = time.perf_counter() - t0
    return d


def run_unas_side(trials: int, seed: int) -> dict:
    return run_unas(RECIPE, "autokeras", "random", trials, seed)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=6)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    sides = {
        "plain": lambda: run_plain(a.trials, a.seed, False),
        "plain+gc.freeze": lambda: run_plain(a.trials, a.seed, True),
        "unas": lambda: run_unas_side(a.trials, a.seed),
    }
    res = alternate(sides, a.repeats)
    same = res["plain"][0]["samples"] == res["unas"][0]["samples"]
    print(
        f"recipe {RECIPE.name}, {a.trials} trials, random search seed {a.seed}, {a.repeats} repeats; "
        f"identical samples plain vs unas: {same}"
    )
    print(f"{'side':16} {'process wall s':>15} {'search wall s':>14} {'median ovh ms/trial':>20} {'best val_acc':>13}")
    med = {}
    for side, runs in res.items():
        pw, sw, ov = med[side] = medians(runs, skip_first_trial=True)
        print(f"{side:16} {pw:15.2f} {sw:14.2f} {ov * 1000:20.1f} {runs[0]['best']:13.4f}")
    pn, sn, on = med["plain"]
    for side in ("plain+gc.freeze", "unas"):
        pu, su, ou = med[side]
        print(
            f"ratio {side}/plain: process wall {pu / pn:.3f}, search wall {su / sn:.3f}, "
            f"per-trial overhead {ou / on:.2f}x ({(ou - on) * 1000:+.1f} ms/trial)"
        )


if __name__ == "__main__":
    main()
