"""Framework threads: torch's defaults against unified-nas's per-run setting, alone and two runs at once.

What it measures: the wall time of one trial's training (build, train, score:
``evaluate_sample``, what every torch backend runs per trial) of a fixed
architecture, the recipe's start point, of ``recipes/digits_mlp.yaml`` and
``recipes/digits_cnn.yaml``, in fresh processes, under:

* ``torch defaults``: our trainer with torch as installed, nothing set (one
  intra-op thread per core, OpenMP threads spinning while idle);
* ``unas``: a run's default setting (``unified_nas.runs.threads``: one intra-op
  and one inter-op thread, OMP_WAIT_POLICY=PASSIVE, the OpenMP/MKL/TF
  variables), as ``unas run`` and ``unas bench --jobs J`` apply it;
* ``unas auto``: ``--threads auto``, cores // jobs intra-op threads;
* ``hand``: a hand-written minimal loop over the same network and data (no
  per-batch loss check, no history, no test scoring), at 1 thread, at all
  cores, and with torch's defaults; the fastest is the reference the trainer
  is compared with.

Each setting runs with 1 process and with ``--jobs 2`` processes at once
(what ``unas bench --jobs 2`` does), ``--repeats`` trainings each; figures are
medians per training. With ``--busy``, one extra process spins on a core the
whole time, as on a shared machine.

How to read it: ``unas/hand`` is the trainer's overhead against the fastest
hand loop (goal <= 1.1); ``jobs2/jobs1`` of ``unas`` is what running two
trials at once costs each of them (goal <= 1.3 on 2 cores); ``torch/unas``
shows what torch's defaults cost.

Run: ``python benchmarks/threads_bench.py [--repeats 5] [--busy]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RECIPES = ("digits_mlp", "digits_cnn")


def hand_loop(recipe: Any, sample: dict[str, Any], data: Any, seed: int) -> None:
    """The same network, optimizer, epochs and per-epoch validation, with nothing else."""
    import torch
    from torch import nn

    from unified_nas.evaluation.train.trainer import make_optimizer
    from unified_nas.models.torch_model import build_model, to_tensor

    torch.manual_seed(seed)
    arch = recipe.space.resolve(sample)
    model = build_model(arch, data.input_shape, data.num_classes)
    opt = make_optimizer(model, arch.training)
    xt, yt = to_tensor(data.x_train), torch.from_numpy(data.y_train)
    xv, yv = to_tensor(data.x_val), torch.from_numpy(data.y_val)
    batch = arch.training.batch_size
    for _ in range(recipe.protocol.epochs):
        model.train()
        perm = torch.randperm(len(xt))
        for i in range(0, len(xt), batch):
            idx = perm[i : i + batch]
            opt.zero_grad(set_to_none=True)
            nn.functional.cross_entropy(model(xt[idx]), yt[idx]).backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            model(xv).argmax(1).eq(yv).float().mean().item()


def worker(cfg: dict[str, Any]) -> dict[str, Any]:
    """One process: set threads as ``cfg`` says, then time ``cfg['repeats']`` trainings."""
    from unified_nas.runs.threads import apply_threads, set_thread_environment, threads_per_run

    threads = None
    if cfg.get("threads") != "torch":
        threads, source = threads_per_run(cfg["jobs"], cfg.get("threads"))
        set_thread_environment(threads)  # before torch loads, as a run does
    import torch

    from unified_nas.evaluation.train.evaluate import evaluate_sample
    from unified_nas.recipe import load_recipe
    from unified_nas.space import start_sample
    from unified_nas.tables.recipes import load_recipe_data

    if threads is not None:
        apply_threads(threads, source)
    recipe = load_recipe(ROOT / "recipes" / f"{cfg['recipe']}.yaml")
    data = load_recipe_data(recipe)
    sample = start_sample(recipe.space.decls())
    times = []
    for i in range(cfg["repeats"] + 1):  # the first is a warm-up (allocator, lazy imports)
        t0 = time.perf_counter()
        if cfg["mode"] == "hand":
            hand_loop(recipe, sample, data, seed=i)
        else:
            evaluate_sample(recipe.space, sample, data, recipe.protocol, seed=i)
        if i:
            times.append(time.perf_counter() - t0)
    return {"times": times, "intra_op": torch.get_num_threads(), "inter_op": torch.get_num_interop_threads()}


def measure(cfg: dict[str, Any], processes: int) -> dict[str, Any]:
    """Runs ``processes`` workers of ``cfg`` at once; per-training median over all of them."""
    env = dict(os.environ)
    if cfg.get("threads") == "torch":
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_WAIT_POLICY", "UNAS_THREADS"):
            env.pop(var, None)  # torch as a user who sets nothing gets it
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, "--worker", json.dumps(cfg)], stdout=subprocess.PIPE, text=True, env=env
        )
        for _ in range(processes)
    ]
    outs = [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in procs]
    if any(p.returncode for p in procs):
        raise SystemExit(f"a worker failed: {cfg}")
    times = [t for o in outs for t in o["times"]]
    return {"median_s": statistics.median(times), "threads": f"{outs[0]['intra_op']}+{outs[0]['inter_op']}"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5, help="timed trainings per process (default 5)")
    ap.add_argument("--busy", action="store_true", help="keep one other process spinning on a core meanwhile")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        print(json.dumps(worker(json.loads(a.worker))))
        return
    cores = len(os.sched_getaffinity(0))
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if a.busy else None
    print(
        f"{cores} cores available{', one busy with another process' if a.busy else ''}; {a.repeats} trainings x process"
    )
    print(f"{'recipe':<11} {'setting':<16} {'jobs':>4} {'threads':>7} {'s/trial':>8}")
    try:
        for recipe in RECIPES:
            rows: dict[tuple[str, int], float] = {}
            for jobs in (1, 2):
                settings = [
                    ("torch defaults", {"threads": "torch"}),
                    ("unas", {}),
                    ("unas auto", {"threads": "auto"}),
                ]
                if jobs == 1:
                    settings += [
                        ("hand 1 thread", {"threads": 1}),
                        (f"hand {cores} threads", {"threads": cores}),
                        ("hand torch dflt", {"threads": "torch"}),
                    ]
                for label, extra in settings:
                    mode = label.split()[0] if label.startswith("hand") else "unas"
                    cfg = {"recipe": recipe, "mode": mode, "jobs": jobs, "repeats": a.repeats, **extra}
                    m = measure(cfg, jobs)
                    rows[(label, jobs)] = m["median_s"]
                    print(f"{recipe:<11} {label:<16} {jobs:>4} {m['threads']:>7} {m['median_s']:>8.3f}", flush=True)
            hand = min(v for (label, _), v in rows.items() if label.startswith("hand"))
            unas1, unas2 = rows[("unas", 1)], rows[("unas", 2)]
            torch1, torch2 = rows[("torch defaults", 1)], rows[("torch defaults", 2)]
            print(f"  {recipe}: unas trainer / fastest hand loop = {unas1 / hand:.2f}x (goal <= 1.1)")
            print(f"  {recipe}: unas --jobs 2 / --jobs 1 per trial = {unas2 / unas1:.2f}x (goal <= 1.3)")
            print(
                f"  {recipe}: torch defaults / unas = {torch1 / unas1:.2f}x alone, {torch2 / unas2:.2f}x with --jobs 2"
            )
            print(f"  {recipe}: unas auto / unas = {rows[('unas auto', 1)] / unas1:.2f}x alone")
    finally:
        if hog is not None:
            hog.kill()
    print(f"command: python benchmarks/threads_bench.py --repeats {a.repeats}" + (" --busy" if a.busy else ""))


if __name__ == "__main__":
    main()
