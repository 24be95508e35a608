"""Benchmark: does the Keras path train the same networks as well as the torch path?

The AutoKeras backend trains its networks in Keras (TensorFlow backend); the
NNI and Optuna backends train the same canonical samples in torch. This script
draws ``--samples`` seeded random samples of each recipe's space and trains
each one twice under the recipe's protocol, same data split, same run seed:

* torch: ``unified_nas.evaluation.train.evaluate.evaluate_sample``, what the NNI and
  Optuna backends run per trial;
* Keras: the AutoKeras backend's own trial, step by step: the AutoKeras graph
  of ``search_graph`` (``UnasBlock`` + ``UnasHead``) built with the sample's
  hyperparameters after ``clear_session`` and ``keras.utils.set_random_seed``,
  compiled by ``keras_protocol.compile_model``, fitted with the sample's batch
  size, one-hot labels and ``protocol_callbacks``; the tuner's search loop and
  project files are left out.

Both report what a run records: the last epoch's ``val_accuracy`` (not the
best epoch's), the test accuracy of the final weights and the trainable
parameter count (a mismatch, i.e. not the same network, prints a WARNING line).

How to read it: the two frameworks draw different initial weights, batch
orders and dropout masks, so single pairs differ by training noise (given the
same initial weights and batches, the two paths train to the same network:
per-step losses agree to ~1e-3 relative). Parity means the paired differences
(keras - torch, in accuracy points; one validation example is 100/n_val
points) centre on 0. Per recipe it prints, for validation and test accuracy,
the median and mean difference, a bootstrap 95% interval of the mean, the
Wilcoxon signed-rank p-value (small p with a non-zero median: a systematic
gap), the mean absolute difference and the share of samples within 2 points;
then the median per-sample time ratio keras/torch (wall of build + training +
test scoring; the first sample of each framework pays its warm-up, so read the
median). Small or slow-learning networks (still climbing at the last epoch)
swing by up to ~15 points from seed to seed in either framework: ``--baseline``
also trains every sample in torch under seed+1 and prints the same figures for
torch vs torch, the spread to read the keras - torch one against. Pairs in
which either side diverged (non-finite training loss) are shown but left out
of the figures. Nothing is asserted.

Usage:
    OMP_NUM_THREADS=1 python benchmarks/training_parity.py \\
        [--recipe recipes/digits_mlp.yaml recipes/digits_cnn.yaml] [--samples 10] \\
        [--seed S] [--threads 1] [--baseline] [--json parity.json]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import random
import shlex
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any, NoReturn

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_RECIPE = "recipes/digits_mlp.yaml"  # recipe paths are tried from the working folder, then from ROOT
WITHIN = 2.0  # points
BOOTSTRAP = 10_000

# (importable module, extra to install)
REQUIRED = (
    ("torch", "torch"),
    ("tensorflow", "autokeras"),
    ("keras", "autokeras"),
    ("keras_tuner", "autokeras"),
    ("autokeras", "autokeras"),
)


def fail(message: str) -> NoReturn:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def check_installed() -> None:
    """Exits 2 with one line naming the extra when a framework is missing."""
    for module, extra in REQUIRED:
        if importlib.util.find_spec(module) is None:
            fail(f"{module} is not installed: pip install 'unified-nas[{extra}]'")


def set_threads(n: int) -> dict[str, Any]:
    """Pins every framework's thread pools to ``n`` (env first, before torch or TensorFlow is imported)."""
    for var in ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
        os.environ[var] = str(n)
    try:
        import torch

        from unified_nas.backends.autokeras.keras_env import select_keras_backend
        from unified_nas.backends.autokeras.workarounds import quiet_native_stderr

        torch.set_num_threads(n)
        torch.set_num_interop_threads(n)
        select_keras_backend("tensorflow")  # KERAS_BACKEND, before Keras is imported
        with quiet_native_stderr():  # TensorFlow's import banner
            import tensorflow as tf

            tf.config.threading.set_intra_op_parallelism_threads(n)
            tf.config.threading.set_inter_op_parallelism_threads(n)
            import autokeras
            import keras

            from unified_nas.backends.autokeras.run import QUIET
    except ImportError as e:
        extra = "torch" if (e.name or "").split(".")[0] == "torch" else "autokeras"
        fail(f"cannot import {e.name or e}: pip install 'unified-nas[{extra}]'")
    for message in QUIET:  # the AutoKeras backend's own filters (harmless Keras warnings)
        warnings.filterwarnings("ignore", message=message)
    return {
        "env": {v: os.environ[v] for v in ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")},
        "torch": {"intra": torch.get_num_threads(), "inter": torch.get_num_interop_threads()},
        "tensorflow": {
            "intra": tf.config.threading.get_intra_op_parallelism_threads(),
            "inter": tf.config.threading.get_inter_op_parallelism_threads(),
        },
        "versions": {
            "torch": torch.__version__,
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "autokeras": autokeras.__version__,
        },
    }


def draw_samples(space: Any, k: int, seed: int) -> list[dict[str, Any]]:
    """``k`` distinct seeded random samples (fewer if the space is smaller)."""
    from unified_nas.space.sampling import random_sample

    rng, decls = random.Random(seed), space.decls()
    out: list[dict[str, Any]] = []
    for _ in range(100 * k):
        if len(out) == k:
            break
        s = random_sample(decls, rng)
        if s not in out:
            out.append(s)
    return out


def torch_trial(recipe: Any, sample: dict[str, Any], data: Any, seed: int) -> dict[str, Any]:
    """One trial as the NNI and Optuna backends run it."""
    from unified_nas.core.errors import TrainingDiverged
    from unified_nas.evaluation.train.evaluate import evaluate_sample

    t0 = time.perf_counter()
    try:
        r = evaluate_sample(recipe.space, sample, data, recipe.protocol, seed)
    except TrainingDiverged as e:
        return {"diverged": str(e), "wall_s": time.perf_counter() - t0}
    return {
        "val_accuracy": r.metrics["val_accuracy"],
        "val_loss": r.metrics["val_loss"],
        "test_accuracy": r.test_accuracy,
        "params": r.params,
        "epochs": len(r.history),
        "val_accuracy_per_epoch": [h["val_accuracy"] for h in r.history],
        "train_s": r.train_s,
        "wall_s": time.perf_counter() - t0,
    }


def autokeras_hyperparameters(graph: Any, space: Any, sample: dict[str, Any]) -> Any:
    """keras-tuner hyperparameters holding ``sample`` as the AutoKeras backend's trial would (names ``unas/...``)."""
    import keras_tuner

    from unified_nas.backends.autokeras.space import PREFIX, choice_codec, declare_hyperparameters, sample_from_values
    from unified_nas.space import Categorical

    decls = space.decls()
    hp = keras_tuner.HyperParameters()
    declare_hyperparameters(graph, hp)  # registers every parameter, as the tuner's first build does
    by_label = {d.label: d for d in decls}
    for label, value in sample.items():
        dist = by_label[label].dist
        if isinstance(dist, Categorical):
            value = {v: k for k, v in choice_codec(dist)[1].items()}[value]
        hp.values[PREFIX + label] = value
    back = sample_from_values(decls, hp.values)
    if back != sample:  # the backend reads a trial's sample back the same way
        raise RuntimeError(f"hyperparameters do not hold the sample: {back} != {sample}")
    return hp


def keras_trial(recipe: Any, sample: dict[str, Any], data: Any, seed: int) -> dict[str, Any]:
    """One trial as the AutoKeras backend trains it (backends/autokeras/tuner.py: _build_hypermodel, _fit)."""
    import autokeras as ak
    import keras

    from unified_nas.backends.autokeras.run import search_graph
    from unified_nas.evaluation.train.keras_protocol import accuracy, compile_model, one_hot, protocol_callbacks
    from unified_nas.models.keras_model import count_trainable

    arch = recipe.space.resolve(sample)
    inp, out = search_graph(recipe.space)
    graph = ak.graph.Graph(inputs=inp, outputs=out)
    inp.shape = tuple(data.input_shape)  # what AutoModel.fit's analysers set from the data
    graph.outputs[0].in_blocks[0].shape = (data.num_classes,)
    hp = autokeras_hyperparameters(graph, recipe.space, sample)
    keras.backend.clear_session()  # keras-tuner's _try_build, then the tuner's _seed
    keras.utils.set_random_seed(seed)
    t0 = time.perf_counter()
    model = graph.build(hp)
    compile_model(model, arch.training, from_logits=False)
    t_fit = time.perf_counter()
    hist = model.fit(
        data.x_train,
        one_hot(data.y_train, data.num_classes),
        validation_data=(data.x_val, one_hot(data.y_val, data.num_classes)),
        epochs=recipe.protocol.epochs,
        batch_size=arch.training.batch_size,
        callbacks=protocol_callbacks(recipe.protocol),
        verbose=0,
    ).history
    train_s = time.perf_counter() - t_fit
    if not all(math.isfinite(v) for v in hist["loss"]):  # TerminateOnNaN stopped it; the tuner fails the trial
        return {"diverged": f"training loss became {hist['loss'][-1]}", "wall_s": time.perf_counter() - t0}
    test = accuracy(model, data.x_test, data.y_test)
    return {
        "val_accuracy": float(hist["val_accuracy"][-1]),
        "val_loss": float(hist["val_loss"][-1]),
        "test_accuracy": test,
        "params": count_trainable(model),
        "epochs": len(hist["loss"]),
        "val_accuracy_per_epoch": [float(v) for v in hist["val_accuracy"]],
        "train_s": train_s,
        "wall_s": time.perf_counter() - t0,
    }


def wilcoxon_p(diffs: list[float]) -> float | None:
    """Two-sided Wilcoxon signed-rank p-value (None when every difference is 0 or fewer than 2 pairs)."""
    from scipy.stats import wilcoxon

    if len(diffs) < 2 or all(d == 0 for d in diffs):
        return None
    return float(wilcoxon(diffs).pvalue)


def bootstrap_ci(diffs: list[float], seed: int) -> tuple[float, float] | None:
    """Percentile bootstrap 95% interval of the mean difference."""
    import numpy as np

    if len(diffs) < 2:
        return None
    d = np.asarray(diffs)
    means = d[np.random.default_rng(seed).integers(0, len(d), (BOOTSTRAP, len(d)))].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def paired(diffs: list[float], seed: int) -> dict[str, Any]:
    """Figures of paired differences in points: centre, spread, tests."""
    if not diffs:
        return {"n": 0}
    return {
        "n": len(diffs),
        "median": statistics.median(diffs),
        "mean": statistics.fmean(diffs),
        "mean_abs": statistics.fmean(abs(d) for d in diffs),
        "bootstrap95_mean": bootstrap_ci(diffs, seed),
        "wilcoxon_p": wilcoxon_p(diffs),
        "share_within_2_points": sum(abs(d) <= WITHIN + 1e-9 for d in diffs) / len(diffs),
    }


def usable(result: dict[str, Any] | None) -> bool:
    return result is not None and "diverged" not in result


def summarize(rows: list[dict[str, Any]], seed: int) -> dict[str, Any]:
    ok = [r for r in rows if usable(r["torch"]) and usable(r["keras"])]
    ratios = [r["keras"]["wall_s"] / r["torch"]["wall_s"] for r in ok]
    summary: dict[str, Any] = {
        "pairs": len(ok),
        "diverged": {side: sum(not usable(r[side]) for r in rows) for side in ("torch", "keras")},
        "param_mismatches": sum(r["torch"]["params"] != r["keras"]["params"] for r in ok),
        "val_diff_points": paired([r["diff_points"] for r in ok], seed),
        "test_diff_points": paired(
            [100 * (r["keras"]["test_accuracy"] - r["torch"]["test_accuracy"]) for r in ok], seed
        ),
        "median_val_accuracy": {
            side: statistics.median(r[side]["val_accuracy"] for r in ok) if ok else None for side in ("torch", "keras")
        },
        "median_time_ratio_keras_over_torch": statistics.median(ratios) if ratios else None,
        "median_train_s": {
            side: statistics.median(r[side]["train_s"] for r in ok) if ok else None for side in ("torch", "keras")
        },
    }
    if any("torch_seed2" in r for r in rows):
        summary["baseline_val_diff_points"] = paired(
            [r["baseline_diff_points"] for r in ok if usable(r["torch_seed2"])], seed
        )
    return summary


def paired_line(name: str, p: dict[str, Any]) -> str:
    if not p["n"]:
        return f"   {name}: no pairs"
    ci = p["bootstrap95_mean"]
    return (
        f"   {name}: median {p['median']:+.2f}, mean {p['mean']:+.2f} "
        f"(bootstrap 95% {'n/a' if ci is None else f'[{ci[0]:+.2f}, {ci[1]:+.2f}]'}), "
        f"Wilcoxon p {fmt(p['wilcoxon_p'], '.3g')}, mean |diff| {p['mean_abs']:.2f}, "
        f"within {WITHIN:g} points {100 * p['share_within_2_points']:.0f}%"
    )


def fmt(x: float | None, spec: str) -> str:
    return "n/a" if x is None else format(x, spec)


def reproduce(recipe: str, samples: int, seed: int, threads: int, baseline: bool) -> str:
    return (
        f"cd {shlex.quote(str(ROOT))} && OMP_NUM_THREADS={threads} python benchmarks/training_parity.py "
        f"--recipe {shlex.quote(recipe)} --samples {samples} --seed {seed} --threads {threads}"
        + (" --baseline" if baseline else "")
    )


def locate(arg: str) -> tuple[Path, str]:
    """The recipe file, and how the reproduce command names it (relative to ROOT when inside it)."""
    path = Path(arg)
    if not path.exists() and not path.is_absolute() and (ROOT / path).exists():
        path = ROOT / path
    path = path.resolve()
    return path, str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def run_recipe(arg: str, samples: int, seed_arg: int | None, threads: int, baseline: bool) -> dict[str, Any]:
    from unified_nas.backends.autokeras import l2_decay_gap
    from unified_nas.core.errors import UserError
    from unified_nas.recipe import load_recipe
    from unified_nas.tables.recipes import load_recipe_data

    file, path = locate(arg)
    try:
        recipe = load_recipe(file)
    except UserError as e:
        fail(f"{path}: {e}")
    if not recipe.evaluation.trains:
        fail(f"{path}: a table recipe (evaluated by table {recipe.evaluation.table}) trains nothing to compare")
    gap = l2_decay_gap(recipe)
    if gap is not None:
        fail(f"{path}: the Keras path cannot train it ({gap.feature}: {gap.detail})")
    seed = recipe.seed if seed_arg is None else seed_arg
    try:
        data = load_recipe_data(recipe)
    except UserError as e:
        fail(f"{path}: {e}")
    drawn = draw_samples(recipe.space, samples, seed)
    p = recipe.protocol
    print(
        f"\n== {recipe.name} ({path}): {len(drawn)} samples, seed {seed}, {p.epochs} epochs, schedule {p.schedule}, "
        f"patience {p.patience}; headline metric {recipe.objectives[0].metric} (last epoch); "
        f"split train/val/test {data.split.sizes['train']}/{data.split.sizes['val']}/{data.split.sizes['test']}"
    )
    if len(drawn) < samples:
        print(f"(the space has only {len(drawn)} distinct samples)")
    print(
        f"{'#':>3} {'params':>8} {'torch val':>10} {'keras val':>10} {'diff pts':>9} "
        f"{'torch test':>11} {'keras test':>11} {'torch s':>8} {'keras s':>8}"
        + (f" {f'torch@{seed + 1}':>10} {'noise':>8}" if baseline else "")
    )
    rows = []
    for i, sample in enumerate(drawn):
        # Alternate which framework goes first, so machine noise hits both alike.
        order = ("torch", "keras") if i % 2 == 0 else ("keras", "torch")
        res = {side: (torch_trial if side == "torch" else keras_trial)(recipe, sample, data, seed) for side in order}
        t, k = res["torch"], res["keras"]
        row: dict[str, Any] = {"index": i, "sample": sample, "torch": t, "keras": k}
        rows.append(row)
        t2 = None
        if baseline:
            t2 = row["torch_seed2"] = torch_trial(recipe, sample, data, seed + 1)
        if not (usable(t) and usable(k)):
            why = "; ".join(f"{s} diverged ({res[s]['diverged']})" for s in ("torch", "keras") if not usable(res[s]))
            print(f"{i:>3} {'-':>8} {why}  [left out]  {t['wall_s']:8.2f} {k['wall_s']:8.2f}")
            continue
        row["diff_points"] = 100 * (k["val_accuracy"] - t["val_accuracy"])
        params = str(t["params"]) if t["params"] == k["params"] else f"{t['params']}|{k['params']}"
        line = (
            f"{i:>3} {params:>8} {t['val_accuracy']:10.4f} {k['val_accuracy']:10.4f} {row['diff_points']:+9.2f} "
            f"{t['test_accuracy']:11.4f} {k['test_accuracy']:11.4f} {t['wall_s']:8.2f} {k['wall_s']:8.2f}"
        )
        if t2 is not None:
            if usable(t2):
                row["baseline_diff_points"] = 100 * (t2["val_accuracy"] - t["val_accuracy"])
                line += f" {t2['val_accuracy']:10.4f} {row['baseline_diff_points']:+8.2f}"
            else:
                line += f" {'diverged':>10}"
        print(line)
        if t["params"] != k["params"]:
            print(f"WARNING: sample {i}: params differ, torch {t['params']} vs keras {k['params']}: {sample}")
    s = summarize(rows, seed)
    command = reproduce(path, samples, seed, threads, baseline)
    print(f"-- {recipe.name} summary ({s['pairs']} pairs; accuracy points):")
    print(paired_line("val  keras - torch", s["val_diff_points"]))
    print(paired_line("test keras - torch", s["test_diff_points"]))
    if "baseline_val_diff_points" in s:
        print(
            paired_line(
                f"val  torch seed {seed + 1} - torch seed {seed} (noise baseline)", s["baseline_val_diff_points"]
            )
        )
    mv = s["median_val_accuracy"]
    print(f"   median val accuracy: torch {fmt(mv['torch'], '.4f')}, keras {fmt(mv['keras'], '.4f')}")
    print(
        f"   time: median ratio keras/torch {fmt(s['median_time_ratio_keras_over_torch'], '.2f')} "
        f"(median training s: torch {fmt(s['median_train_s']['torch'], '.2f')}, "
        f"keras {fmt(s['median_train_s']['keras'], '.2f')})"
    )
    d = s["diverged"]
    if d["torch"] or d["keras"]:
        print(f"   diverged (left out): torch {d['torch']}, keras {d['keras']}")
    if s["param_mismatches"]:
        print(f"   WARNING: {s['param_mismatches']} sample(s) with different parameter counts")
    print(f"   reproduce: {command}")
    return {"recipe": path, "name": recipe.name, "seed": seed, "command": command, "rows": rows, "summary": s}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipe", nargs="+", default=[DEFAULT_RECIPE], help="one or more recipe files")
    ap.add_argument("--samples", type=int, default=10, help="random samples per recipe")
    ap.add_argument("--seed", type=int, default=None, help="sampling and training seed (default: the recipe's)")
    ap.add_argument("--threads", type=int, default=1, help="threads of each framework")
    ap.add_argument(
        "--baseline",
        action="store_true",
        help="also train each sample in torch under seed+1: the torch-vs-torch spread to read the gap against",
    )
    ap.add_argument("--json", type=Path, default=None, help="write per-sample rows and summaries here")
    a = ap.parse_args()
    if a.samples < 1 or a.threads < 1:
        fail("--samples and --threads must be at least 1")
    check_installed()
    threads = set_threads(a.threads)
    env = " ".join(f"{k}={v}" for k, v in threads["env"].items())
    print(
        f"threads: {env}; torch intra {threads['torch']['intra']} inter {threads['torch']['inter']}; "
        f"tensorflow intra {threads['tensorflow']['intra']} inter {threads['tensorflow']['inter']}"
    )
    print("versions: " + ", ".join(f"{k} {v}" for k, v in threads["versions"].items()))
    t0 = time.perf_counter()
    results = [run_recipe(r, a.samples, a.seed, a.threads, a.baseline) for r in a.recipe]
    wall = time.perf_counter() - t0
    print(f"\ntotal wall {wall:.1f} s")
    if a.json is not None:
        a.json.write_text(
            json.dumps(
                {"threads": threads, "argv": sys.argv, "wall_s": wall, "recipes": results},
                indent=1,
                default=str,
            )
        )
        print(f"wrote {a.json}")


if __name__ == "__main__":
    main()
