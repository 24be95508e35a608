"""Latency: the per-op lookup table's predictions against measured latencies of random architectures.

What it measures: ``--archs`` random architectures of a recipe's space (seeds
``0 .. archs - 1``), each one's median forward time as exported
(``unified_nas.evaluation.latency.sample_latency``, batch ``--batch-size``, torch eager or
ONNX Runtime), and its latency predicted by an :class:`OpLatencyTable` built
on this machine as the predictions need entries. With ``--calibrate K`` the
table first fits its scale and offset on K other random architectures (seeds
from 10**6, never scored).

Reported: Spearman's rank correlation between predicted and measured (goal
>= 0.9), the share of architectures predicted within 10% of measured, the
median predicted/measured ratio, the table's size and build time, and the
per-sample measurement time (build + warm-up + timed passes).

Run: ``python benchmarks/latency_table.py [--recipe recipes/digits_cnn.yaml]
[--archs 100] [--runtime torch|onnxruntime] [--threads 1] [--calibrate 10] [--repeats N] [--ceiling]
[--table out.json]``
"""

from __future__ import annotations

import argparse
import os
import sys
import time


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="recipes/digits_cnn.yaml")
    parser.add_argument("--archs", type=int, default=100)
    parser.add_argument("--runtime", default="torch", choices=("torch", "onnxruntime"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--calibrate", type=int, default=0, help="architectures to fit the table's correction on")
    parser.add_argument("--warmup", type=int, default=None, help="untimed passes per sample (default: the library's)")
    parser.add_argument("--repeats", type=int, default=None, help="timed passes per sample (default: the library's)")
    parser.add_argument(
        "--ceiling",
        action="store_true",
        help="measure every architecture twice: Spearman between the two is the noise ceiling",
    )
    parser.add_argument("--table", help="write the table (JSON) here")
    args = parser.parse_args(argv)

    # Before torch loads: its OpenMP pool reads these (see unified_nas.runs.threads).
    from unified_nas.runs.threads import apply_threads, set_thread_environment

    set_thread_environment(args.threads)
    import numpy as np
    import torch
    from scipy.stats import spearmanr

    from unified_nas.evaluation.latency import DEFAULT_REPEATS, DEFAULT_WARMUP, OpLatencyTable, sample_latency
    from unified_nas.recipe import load_recipe
    from unified_nas.space.sampling import random_sample
    from unified_nas.tables.recipes import load_recipe_data

    apply_threads(args.threads, "--threads")
    recipe = load_recipe(args.recipe)
    data = load_recipe_data(recipe)
    shape, classes = data.input_shape, data.num_classes
    decls = recipe.space.decls()
    table = OpLatencyTable(runtime=args.runtime, batch_size=args.batch_size)

    start = time.perf_counter()
    if args.calibrate:
        calib = [recipe.space.resolve(random_sample(decls, 10**6 + i)) for i in range(args.calibrate)]
        table.calibrate(calib, shape, classes)
    calibrate_s = time.perf_counter() - start

    timing = {
        "runtime": args.runtime,
        "batch_size": args.batch_size,
        "warmup": DEFAULT_WARMUP if args.warmup is None else args.warmup,
        "repeats": DEFAULT_REPEATS if args.repeats is None else args.repeats,
    }
    predicted, measured, again, table_s, measure_s = [], [], [], 0.0, []
    for seed in range(args.archs):
        sample = random_sample(decls, seed)
        t0 = time.perf_counter()
        predicted.append(table.predict_ms(recipe.space.resolve(sample), shape, classes))
        t1 = time.perf_counter()
        lat = sample_latency(recipe.space, sample, shape, classes, **timing)
        measure_s.append(time.perf_counter() - t1)
        if args.ceiling:
            again.append(sample_latency(recipe.space, sample, shape, classes, **timing).median_ms)
        table_s += t1 - t0
        measured.append(lat.median_ms)
    p, m = np.array(predicted), np.array(measured)
    rho = float(spearmanr(p, m)[0])
    within = float(np.mean(np.abs(p - m) / m <= 0.10))
    if args.table:
        table.save(args.table)
    print(
        f"recipe {args.recipe}, runtime {args.runtime}, batch {args.batch_size}, threads {torch.get_num_threads()} (lat.threads {lat.threads}), archs {args.archs}, cores {os.cpu_count()}"
    )
    print(f"measured ms: median {np.median(m):.4f}, range {m.min():.4f}-{m.max():.4f}")
    print(
        f"spearman rho {rho:.3f} (goal >= 0.9); within 10%: {within:.0%}; median predicted/measured {np.median(p / m):.3f}"
    )
    print(
        f"table: {len(table.entries)} entries, {table.measured} measured; calibration {calibrate_s:.2f} s "
        f"({args.calibrate} archs, scale {table.entries.get('<scale>', 1.0):.3f}, offset {table.entries.get('<offset>', 0.0):.4f} ms); "
        f"build while predicting {table_s:.2f} s"
    )
    if args.ceiling:
        print(f"noise ceiling: spearman between two measurements of each architecture {spearmanr(m, again)[0]:.3f}")
    print(f"per-sample measurement: median {np.median(measure_s) * 1e3:.1f} ms, max {max(measure_s) * 1e3:.1f} ms")


if __name__ == "__main__":
    main(sys.argv[1:])
