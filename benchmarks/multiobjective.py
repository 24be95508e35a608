"""Multi-objective search: native Pareto strategies against scalarised single-objective ones, by hypervolume.

What it measures, for each recipe (default: ``recipes/nb201_cifar10_params.yaml``,
accuracy vs params looked up in NAS-Bench-201, and ``recipes/breast_cancer_mlp.yaml``,
a trained MLP), ``--seeds`` runs (seeds 0..N-1) of each contender:

* Optuna's natively multi-objective ``nsga2``, ``tpe`` and ``random``;
* NNI's ``evolution`` and AutoKeras's ``greedy`` on a scalarised score
  (``strategy_args.scalarisation``, :mod:`unified_nas.runs.scalarise`): augmented
  Chebyshev with random weights drawn once per run (``per_run``) or anew for every
  trial (``per_trial``, ParEGO's way), and NNI's evolution on a 0.5/0.5 weighted sum.

Every run's Pareto front is the core's (every complete trial). Hypervolumes share
one frame per recipe, fixed over all complete trials of all contenders' runs
(:func:`unified_nas.benchmark.summary.hypervolume_frame`), so the figures of all
contenders are comparable; for a table recipe also in a second frame at the
table's true accuracies (the observed front's points, their true accuracy). That
frame reaches the worst trial of all (NAS-Bench-201: 10% accuracy, 1.3M
parameters), so every front covers most of its box and the differences are in
the third decimal; a second table therefore uses a tighter frame, the *fronts*
one: best and worst over the points of all runs' Pareto fronts (the trials some
run kept), the reference 10% beyond that worst (not a dominated trial of any run).
(The non-dominated union of the fronts would be tighter still, but on
breast_cancer it is one point, 100% accuracy at the smallest size: no box.)

Per contender and frame: HV mean and 95% CI (Student t), IQM, mean rank per seed
among the contenders (1 = largest HV; a failed run ranks last), mean front size
and mean run wall time (the search, imports not counted). Then ``per_run``
against ``per_trial`` for NNI and AutoKeras: the probability that a ``per_run``
run ends with the larger HV with the two-sided Mann-Whitney p
(:func:`unified_nas.benchmark.stats.prob_improvement`), and paired by seed (a
seed's two runs start alike: the same start point, for NNI the same random
population) the wins and the Wilcoxon signed-rank p: the measurement behind the
default draw (``scalarise.DEFAULT_DRAW``).

Runs go through ``run_recipe`` into a temporary store, ``--jobs`` processes at
once (warm processes, one pool per backend), one framework thread each. A run
that fails is reported (its error), not fatal. Budget: the recipe's trials for a
table recipe, ``--trained-trials`` (default 20) for a recipe that trains;
``--trials`` overrides both, ``--autokeras-trials`` AutoKeras's alone. ``--save``
keeps every run's trial vectors and front in a JSON file; ``--load`` summarises
such a file again without running anything.

Run:
    python benchmarks/multiobjective.py [--seeds 10] [--jobs 2] [--trials N] [--trained-trials 20]
        [--autokeras-trials N] [--contenders KEY,...] [--recipes PATH,...] [--save FILE | --load FILE]
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import gc
import json
import math
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RECIPES = (ROOT / "recipes" / "nb201_cifar10_params.yaml", ROOT / "recipes" / "breast_cancer_mlp.yaml")

# key: (backend, strategy, scalarisation or None for a natively multi-objective strategy)
CONTENDERS: dict[str, tuple[str, str, dict[str, Any] | None]] = {
    "optuna-nsga2": ("optuna", "nsga2", None),
    "optuna-tpe": ("optuna", "tpe", None),
    "optuna-random": ("optuna", "random", None),
    "nni-evolution-per_run": ("nni", "evolution", {"method": "chebyshev", "weights": "per_run"}),
    "nni-evolution-per_trial": ("nni", "evolution", {"method": "chebyshev", "weights": "per_trial"}),
    "nni-evolution-wsum": ("nni", "evolution", {"method": "weighted_sum", "weights": [0.5, 0.5]}),
    "autokeras-greedy-per_run": ("autokeras", "greedy", {"method": "chebyshev", "weights": "per_run"}),
    "autokeras-greedy-per_trial": ("autokeras", "greedy", {"method": "chebyshev", "weights": "per_trial"}),
}
# per_run against per_trial, compared per backend
DRAW_PAIRS = (
    ("nni-evolution-per_run", "nni-evolution-per_trial"),
    ("autokeras-greedy-per_run", "autokeras-greedy-per_trial"),
)


def _init_worker() -> None:
    """One framework thread per process, set before any toolkit is imported."""
    from unified_nas.runs.threads import set_thread_environment

    set_thread_environment(1)


def run_one(job: dict[str, Any]) -> dict[str, Any]:
    """One run in a pool process; returns its complete trials' vectors and its front, or its error."""
    from unified_nas.recipe import load_recipe
    from unified_nas.report.records import pareto_front
    from unified_nas.report.store import ResultsStore
    from unified_nas.runs.runner import run_recipe

    out: dict[str, Any] = {"key": job["key"], "seed": job["seed"], "status": "failed", "error": None}
    store = ResultsStore(job["store"])
    t0 = time.perf_counter()
    try:
        recipe = load_recipe(job["recipe"])
        extra = {"strategy_args": {"scalarisation": job["scalarisation"]}} if job["scalarisation"] else None
        report = run_recipe(
            recipe,
            job["backend"],
            strategy=job["strategy"],
            trials=job["trials"],
            seed=job["seed"],
            store=store,
            runs_dir=job["runs_dir"],
            progress=False,
            extra_options=extra,
            run_id=job["run_id"],
            threads=1,
            jobs=job["jobs"],
        )
        report = store.load_run(report.run_id)  # with every stored trial
        done = [t for t in report.trials if t.status == "complete" and t.objectives is not None]
        front = set(pareto_front(report.trials, report.directions))
        out.update(
            status="complete",
            wall_s=time.perf_counter() - t0,
            search_s=float(report.budget_spent.get("wall_s") or 0.0),
            trials=len(report.trials),
            complete=len(done),
            vectors=[list(t.objectives) for t in done if t.objectives is not None],
            true=[t.true_accuracy for t in done],
            front=[i for i, t in enumerate(done) if t.index in front],
            scalarisation=report.options.get("strategy_args", {}).get("scalarisation"),
        )
    except BaseException as e:  # noqa: BLE001  (reported by the parent, the other runs go on)
        text = str(e).strip()
        out.update(
            error=f"{type(e).__name__}: {text.splitlines()[-1] if text else ''}",
            trace=traceback.format_exc()[-3000:],
            wall_s=time.perf_counter() - t0,
        )
    finally:
        store.close()
        keras = sys.modules.get("keras")
        if keras is not None:  # a warm process: drop the layers Keras keeps in its global session
            keras.backend.clear_session()
        gc.collect()
    return out


def run_all(
    recipe: Path, keys: list[str], seeds: int, trials: int | None, ak_trials: int | None, jobs: int, where: Path
) -> list[dict[str, Any]]:
    """Every (contender, seed) run of one recipe: one pool of ``jobs`` warm processes per backend."""
    results: list[dict[str, Any]] = []
    ctx = multiprocessing.get_context("spawn")  # fresh interpreters: no toolkit state from this one
    for backend in dict.fromkeys(CONTENDERS[k][0] for k in keys):
        mine = [k for k in keys if CONTENDERS[k][0] == backend]
        t0 = time.perf_counter()
        with cf.ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_init_worker) as pool:
            futures = {}
            for seed in range(seeds):  # seed-major: the contenders of one backend share the machine alike
                for k in mine:
                    _, strategy, scal = CONTENDERS[k]
                    job = {
                        "key": k,
                        "seed": seed,
                        "recipe": str(recipe),
                        "backend": backend,
                        "strategy": strategy,
                        "scalarisation": scal,
                        "trials": ak_trials if backend == "autokeras" and ak_trials is not None else trials,
                        "store": str(where / "store.sqlite"),
                        "runs_dir": str(where / "runs"),
                        "run_id": f"{recipe.stem}-{k}-s{seed}",
                        "jobs": jobs,
                    }
                    futures[pool.submit(run_one, job)] = job
            for f in cf.as_completed(futures):
                job = futures[f]
                try:
                    r = f.result()
                except Exception as e:  # noqa: BLE001  (a dead worker process: that run failed)
                    r = {"key": job["key"], "seed": job["seed"], "status": "failed", "error": repr(e)}
                if r["status"] != "complete":
                    print(f"  FAILED {r['key']} seed {r['seed']}: {r['error']}", file=sys.stderr)
                    if r.get("trace"):
                        print(r["trace"], file=sys.stderr)
                results.append(r)
        print(f"  {recipe.stem}: {backend} done in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return results


def _fmt(v: float | None, digits: int = 4) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"


def _ci(stats: dict[str, Any]) -> str:
    if stats["mean"] is None:
        return "-"
    return f"{stats['mean']:.4f} ± {stats['ci95']:.4f}" if stats["ci95"] is not None else f"{stats['mean']:.4f}"


def summarise(recipe: Path, keys: list[str], seeds: int, results: list[dict[str, Any]]) -> None:
    """Prints the frames, the Markdown tables of the contenders, and per_run against per_trial."""
    from scipy.stats import rankdata, wilcoxon

    from unified_nas.benchmark.stats import iqm, prob_improvement
    from unified_nas.benchmark.summary import REFERENCE_MARGIN, frame_hypervolume, hypervolume_frame, mean_ci
    from unified_nas.recipe import load_recipe

    rec = load_recipe(str(recipe))
    metrics = [o.metric for o in rec.objectives]
    directions = [o.direction for o in rec.objectives]
    ok = [r for r in results if r["status"] == "complete"]
    acc = metrics.index("val_accuracy") if "val_accuracy" in metrics else None

    def true_points(r: dict[str, Any], idx: list[int]) -> list[list[float]]:
        pts = []
        for i in idx:
            if r["true"][i] is not None and acc is not None:
                v = list(r["vectors"][i])
                v[acc] = r["true"][i]
                pts.append(v)
        return pts

    def observed(r: dict[str, Any], idx: list[int]) -> list[list[float]]:
        return [r["vectors"][i] for i in idx]

    views = [("observed", observed)]
    if any(t is not None for r in ok for t in r["true"]) and acc is not None:
        views.append(("true", true_points))
    # field -> (title, frame, points of a run's front); "all": the frame of every complete trial (the
    # benchmark's own); "front": over the points of all runs' fronts, which leaves out the far corner of
    # trials no run keeps (a tighter look at the region the fronts differ in).
    frames: dict[str, tuple[str, dict[str, Any], Any]] = {}
    for view, points in views:
        every = [p for r in ok for p in points(r, list(range(len(r["vectors"]))))]
        fronts = [p for r in ok for p in points(r, r["front"])]
        suffix = "" if view == "observed" else "_true"
        frames["hv" + suffix] = (f"{view}, all trials", hypervolume_frame(every, metrics, directions), points)
        frames["hv_front" + suffix] = (f"{view}, fronts", hypervolume_frame(fronts, metrics, directions), points)
    for r in ok:
        for field, (_, frame, points) in frames.items():
            r[field] = frame_hypervolume(frame, points(r, r["front"]))

    def ranks(field: str) -> dict[str, float]:
        per: dict[str, list[float]] = {k: [] for k in keys}
        for seed in range(seeds):
            row = []
            for k in keys:
                v = [r.get(field) for r in results if r["key"] == k and r["seed"] == seed]
                row.append(-math.inf if not v or v[0] is None else v[0])
            for k, rank in zip(keys, rankdata([-x for x in row], method="average"), strict=True):
                per[k].append(float(rank))
        return {k: statistics.fmean(v) for k, v in per.items()}

    rank = {f: ranks(f) for f in frames}
    objectives = ", ".join(f"{m} ({d})" for m, d in zip(metrics, directions, strict=True))
    print(f"\n## {rec.name}: {seeds} seeds, objectives {objectives}\n")
    for title, fr, _ in frames.values():
        print(
            f"- frame {title}: best {[round(x, 6) for x in fr['best']]}, worst {[round(x, 6) for x in fr['worst']]}, "
            f"reference {[round(x, 6) for x in fr['reference']]}"
        )
    print(f"- HV of the whole box from best to reference: {(1 + REFERENCE_MARGIN) ** len(metrics):.4f}")

    def table(fields: list[str], extra: bool) -> None:
        head = "| contender | trials | ok |"
        sep = "|---|---:|---:|"
        for f in fields:
            t = frames[f][0]
            head += f" HV ({t}) mean ± 95% CI | IQM | mean rank |"
            sep += "---|---:|---:|"
        if extra:
            head += " front pts | run wall s |"
            sep += "---:|---:|"
        print("\n" + head + "\n" + sep)
        for k in keys:
            mine = [r for r in results if r["key"] == k]
            good = [r for r in mine if r["status"] == "complete"]
            cells = [
                k,
                str(round(statistics.fmean(r["trials"] for r in good))) if good else "-",
                f"{len(good)}/{len(mine)}",
            ]
            for f in fields:
                v = [r[f] for r in good]
                cells += [_ci(mean_ci(v)), _fmt(iqm(v)), f"{rank[f][k]:.2f}"]
            if extra:
                cells += [
                    _fmt(statistics.fmean(len(r["front"]) for r in good) if good else None, 1),
                    _fmt(statistics.fmean(r["search_s"] for r in good) if good else None, 1),
                ]
            print("| " + " | ".join(cells) + " |")

    table([f for f in frames if not f.startswith("hv_front")], True)
    table([f for f in frames if f.startswith("hv_front")], False)
    print()
    for k in keys:  # what the runs recorded, defaults filled: the contender is what it says
        recorded = next((r["scalarisation"] for r in results if r["key"] == k and r["status"] == "complete"), None)
        print(f"- {k}: {CONTENDERS[k][0]} {CONTENDERS[k][1]}, scalarisation {recorded or 'none (native)'}")
    for r in results:
        if r["status"] != "complete":
            print(f"- FAILED {r['key']} seed {r['seed']}: {r['error']}")

    pairs = [(a, b) for a, b in DRAW_PAIRS if a in keys and b in keys]
    if not pairs:
        return
    print(
        f"\n### {rec.name}: per_run against per_trial\n\nP: the chance that a per_run run ends with the larger HV "
        "(Mann-Whitney p, two-sided); wins: seeds where per_run's HV is larger / smaller (Wilcoxon signed-rank p "
        "over the seeds, paired: a seed's two runs start alike)\n"
    )
    print(
        "| backend | frame | per_run mean | per_trial mean | per_run IQM | per_trial IQM | P(per_run > per_trial) "
        "| Mann-Whitney p | wins | Wilcoxon p |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for a, b in pairs:
        for f, (title, _, _) in frames.items():
            xa = [r[f] for r in results if r["key"] == a and r["status"] == "complete"]
            xb = [r[f] for r in results if r["key"] == b and r["status"] == "complete"]
            if not xa or not xb:
                continue
            pi = prob_improvement(xa, xb, 1)
            by_seed = {r["seed"]: r[f] for r in results if r["key"] == b and r["status"] == "complete"}
            paired = [
                (r[f], by_seed[r["seed"]])
                for r in results
                if r["key"] == a and r["status"] == "complete" and r["seed"] in by_seed
            ]
            diffs = [x - y for x, y in paired]
            wins = f"{sum(d > 0 for d in diffs)}/{sum(d < 0 for d in diffs)}"
            try:
                wp = float(wilcoxon(diffs).pvalue) if any(diffs) else 1.0
            except ValueError:
                wp = float("nan")
            print(
                f"| {CONTENDERS[a][0]} | {title} | {statistics.fmean(xa):.4f} | {statistics.fmean(xb):.4f} | "
                f"{_fmt(iqm(xa))} | {_fmt(iqm(xb))} | {pi['p']:.2f} | {pi['mannwhitney_p']:.3f} | {wins} | "
                f"{_fmt(wp, 3)} |"
            )


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--recipes", default=",".join(str(p.relative_to(ROOT)) for p in RECIPES))
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--trials", type=int, default=None, help="every recipe's trial budget (default: see below)")
    ap.add_argument(
        "--trained-trials", type=int, default=20, help="budget of a recipe that trains (table recipes: the recipe's)"
    )
    ap.add_argument("--autokeras-trials", type=int, default=None, help="AutoKeras's budget alone (default: the same)")
    ap.add_argument("--contenders", default=",".join(CONTENDERS), help=f"subset of {', '.join(CONTENDERS)}")
    ap.add_argument("--save", help="write every run's trial vectors and front to this JSON file")
    ap.add_argument("--load", help="no runs: summarise a file --save wrote")
    a = ap.parse_args()
    keys = a.contenders.split(",")
    unknown = [k for k in keys if k not in CONTENDERS]
    if unknown:
        sys.exit(f"unknown contender {unknown[0]} (contenders: {', '.join(CONTENDERS)})")
    if a.load:
        for entry in json.loads(Path(a.load).read_text()):
            summarise(Path(entry["recipe"]), entry["keys"], entry["seeds"], entry["results"])
            print(f"\n{Path(entry['recipe']).name}: {entry['wall_s']:.0f} s wall for {len(entry['results'])} runs")
        return
    from unified_nas.recipe import load_recipe

    t_all = time.perf_counter()
    print(
        f"{len(keys)} contenders x {a.seeds} seeds per recipe, --jobs {a.jobs}, 1 framework thread per process, "
        f"{os.cpu_count()} cores"
    )
    saved: list[dict[str, Any]] = []
    for text in a.recipes.split(","):
        recipe = (ROOT / text) if not Path(text).is_absolute() else Path(text)
        rec = load_recipe(str(recipe))
        trials = (
            a.trials if a.trials is not None else (rec.budget.trials if not rec.evaluation.trains else a.trained_trials)
        )
        ak = a.autokeras_trials
        print(
            f"\n{recipe.name}: {trials} trials per run" + (f" (autokeras {ak})" if ak is not None else ""),
            flush=True,
        )
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            results = run_all(recipe, keys, a.seeds, trials, ak, a.jobs, Path(tmp))
        wall = time.perf_counter() - t0
        if a.save:  # after each recipe: what ran survives a later failure
            saved.append({"recipe": str(recipe), "keys": keys, "seeds": a.seeds, "wall_s": wall, "results": results})
            Path(a.save).write_text(json.dumps(saved))
        summarise(recipe, keys, a.seeds, results)
        print(f"\n{recipe.name}: {wall:.0f} s wall for {len(results)} runs", flush=True)
    print(f"\nwhole benchmark: {time.perf_counter() - t_all:.0f} s wall")


if __name__ == "__main__":
    main()
