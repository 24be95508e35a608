"""A benchmark's runs -> the numbers of its report (JSON-ready, framework-free).

Per run: incumbent (chosen on validation) and its test accuracy (its
table's true accuracy on a table recipe, and on the table's other data sets:
:func:`transfer_accuracies`), retrained test accuracy if asked,
best-so-far curves by trial, by wall time and (table recipes) by simulated
training time, time to the target, budget asked and spent, overhead per
trial, hypervolume (two objectives). Per backend: those over seeds with a 95%
confidence band (Student t), counts of complete/pruned/failed trials; for the
final scores also the interquartile mean with a bootstrap interval. Per pair of
backends: the probability that a run of one ends better than a run of the
other, with a rank test (:func:`comparisons`). Per trial: each backend's
average rank (:func:`rank_curves`). For a table recipe, the reference lines of
:func:`table_reference`. The statistics themselves are in :mod:`unified_nas.benchmark.stats`.

Which final score is the headline (:func:`headline`): a run's incumbent objective, except on a
table recipe that maximises ``val_accuracy``, where it is the incumbent's true accuracy (the
table's mean over its recorded training seeds). The incumbent is still chosen by the observed
score, as in NAS-Bench-201's paper; but an observed score is one recorded seed, and a strategy
that proposes an architecture again profits from that seed noise, so the paper reports (and the
pairwise tests and average ranks here compare) the true accuracy of the answer.

Warnings say why the comparison may not be like for like: runs made on different
data (:func:`unified_nas.benchmark.digests.data_warnings`), failed runs, unequal budgets,
runs whose strategy stopped before their trial budget was spent.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, cast

from unified_nas.benchmark.digests import data_warnings
from unified_nas.benchmark.stats import ALPHA, average_rank_curves, bootstrap_ci, holm, iqm, iqm_along, prob_improvement
from unified_nas.core.errors import SampleError, StoreError, UserError
from unified_nas.core.multiobjective import SCALARISATION_KEY, hypervolume, measured, unit_minimisation
from unified_nas.recipe.sections import SUPERNET_KIND, EvaluationSpec
from unified_nas.recipe.tables import table_info
from unified_nas.report.records import STATUSES, RunReport, TrialRecord
from unified_nas.report.store import ResultsStore
from unified_nas.tables import open_table, random_search_mean_band, transfer_datasets, true_accuracies_on


def mean_ci(values: Sequence[float]) -> dict[str, Any]:
    """Mean, median, min, max and the 95% confidence half-width of the mean (Student t).

    Args:
        values: The values (None entries are left out).

    Returns:
        ``n``, ``mean``, ``median``, ``min``, ``max``, ``ci95`` (the half-width: the two-sided 95%
        Student t quantile with n - 1 degrees of freedom times the standard error; None for fewer
        than 2 values) and ``std`` (sample standard deviation; None for fewer than 2); all None
        but ``n`` for no value.
    """
    v = [x for x in values if x is not None]
    if not v:
        return {"n": 0, "mean": None, "median": None, "min": None, "max": None, "ci95": None, "std": None}
    std = statistics.stdev(v) if len(v) > 1 else None
    half = None
    if std is not None:
        from scipy.stats import t  # here, not at import: importing unified_nas must not import scipy

        half = float(t.ppf(0.975, len(v) - 1)) * std / math.sqrt(len(v))
    return {
        "n": len(v),
        "mean": statistics.fmean(v),
        "median": statistics.median(v),
        "min": min(v),
        "max": max(v),
        "ci95": half,
        "std": std,
    }


def score_stats(values: Sequence[float | None]) -> dict[str, Any]:
    """:func:`mean_ci` plus the interquartile mean and its 95% percentile-bootstrap interval (seeded).

    Args:
        values: One final score per run (None: the run has none; left out).

    Returns:
        The keys of :func:`mean_ci`, ``iqm`` (None for no value) and ``iqm_ci95`` ([low, high];
        None for fewer than 2 values).
    """
    v = [x for x in values if x is not None]
    ci = bootstrap_ci(v, iqm_along)
    return {**mean_ci(v), "iqm": iqm(v), "iqm_ci95": None if ci is None else list(ci)}


def final_score(run: dict[str, Any], what: str) -> float | None:
    """A run's final score: its incumbent's first objective, its ``test``/``true`` accuracy, or its front's hypervolume.

    Args:
        run: A run summary (:func:`run_summary`).
        what: ``objective``, ``test``, ``true``, ``hypervolume`` or ``hypervolume_true``.

    Returns:
        The value, or None (no incumbent, or no such accuracy).
    """
    if what.startswith("hypervolume"):
        return run.get(what)
    inc = run["incumbent"]
    if inc is None:
        return None
    return inc["objectives"][0] if what == "objective" else inc.get(f"{what}_accuracy")


def _or(value: float | None, default: float) -> float:
    return default if value is None else value


def comparisons(runs: Sequence[dict[str, Any]], backends: Sequence[str], what: str, sign: int) -> list[dict[str, Any]]:
    """Every pair of backends compared on their runs' final score (:func:`final_score`).

    For A before B in ``backends``: P(A > B), the probability that a run of A ends better than a
    run of B, with its bootstrap interval and the two-sided Mann-Whitney p
    (:func:`~unified_nas.benchmark.stats.prob_improvement`); the p-values of all pairs are
    Holm-adjusted as one family, and a pair is ``significant`` when its adjusted p is below
    :data:`~unified_nas.benchmark.stats.ALPHA`. A run that ended without a score (no trial completed,
    crashed) counts as the worst possible result, as in the rank curves: a backend whose search
    fails on some seeds must not be compared on its successes only.

    Args:
        runs: Run summaries.
        backends: Backend names, in report order.
        what: ``objective``, ``test`` or ``true``.
        sign: 1 if higher scores are better, -1 if lower are (accuracies: 1).

    Returns:
        One dict per pair: ``a``, ``b``, the keys of ``prob_improvement``, ``holm_p``, ``significant``.
    """
    worst = -sign * math.inf  # below every score in the comparison's direction
    finals = {b: [_or(final_score(r, what), worst) for r in runs if r["backend"] == b] for b in backends}
    pairs = [(a, b) for i, a in enumerate(backends) for b in backends[i + 1 :] if finals[a] and finals[b]]
    out = [{"a": a, "b": b, **prob_improvement(finals[a], finals[b], sign)} for a, b in pairs]
    for o, adjusted in zip(out, holm([o["mannwhitney_p"] for o in out])):
        o["holm_p"], o["significant"] = adjusted, adjusted < ALPHA
    return out


def rank_curves(
    runs: Sequence[dict[str, Any]],
    backends: Sequence[str],
    seeds: Sequence[int],
    sign: int,
    curve: str = "best_so_far",
) -> dict[str, Any]:
    """Average rank of each backend's best-so-far at each trial over seeds (1 = best).

    Args:
        runs: Run summaries.
        backends: Backend names.
        seeds: The benchmark's seeds (a seed some backend has no run of ranks that backend last).
        sign: 1 if higher scores are better, -1 if lower are.
        curve: The run summaries' curve to rank: ``best_so_far`` (the observed first objective) or
            ``true_so_far`` (the true accuracy of the incumbent so far, table recipes).

    Returns:
        ``seeds`` (count), ``trials`` (curve length), ``by_backend`` (``{backend: [rank per trial]}``)
        and ``of`` (the curve ranked).
    """
    curves = {(r["backend"], r["seed"]): r.get(curve) or [] for r in runs}
    avg = average_rank_curves({b: [curves.get((b, s), []) for s in seeds] for b in backends}, sign)
    return {
        "seeds": len(seeds),
        "trials": max((len(c) for c in avg.values()), default=0),
        "by_backend": avg,
        "of": curve,
    }


def best_so_far(values: Sequence[float | None], sign: int) -> list[float | None]:
    """Running best (None until the first value)."""
    out, best = [], None
    for v in values:
        if v is not None and (best is None or sign * v > sign * best):
            best = v
        out.append(best)
    return out


def true_so_far(trials: Sequence[TrialRecord], sign: int) -> list[float | None]:
    """The true accuracy of the incumbent so far, after each trial: what a search would answer if stopped there.

    The incumbent is chosen as :func:`~unified_nas.report.records.incumbent` chooses it: the best
    first objective of the complete trials so far, ties to the trial of lower index; so the last
    value is the run's ``incumbent["true_accuracy"]``.

    Args:
        trials: The run's trials in the order they ran.
        sign: 1 if the first objective is maximised, -1 if minimised.

    Returns:
        One value per trial (None until the first complete trial, or where the incumbent has no
        true accuracy).
    """
    out: list[float | None] = []
    best: TrialRecord | None = None
    for t in trials:
        if t.status == "complete" and t.objectives:
            if best is None or _better(t, best, sign):
                best = t
        out.append(None if best is None else best.true_accuracy)
    return out


def _better(t: TrialRecord, best: TrialRecord, sign: int) -> bool:
    """Whether ``t`` replaces ``best`` as the incumbent: a better first objective, or as good and an earlier index."""
    v, b = sign * cast("list[float]", t.objectives)[0], sign * cast("list[float]", best.objectives)[0]
    return v > b or (v == b and t.index < best.index)


#: Where the reference point lies in the normalised space (0 best seen, 1 worst seen per objective): a
#: little beyond the worst, so that a front's extreme points add volume too (a common choice; e.g. pymoo's
#: and BoTorch's examples put it at the nadir plus a margin).
REFERENCE_MARGIN = 0.1


def hypervolume_frame(
    vectors: Sequence[Sequence[float]], metrics: Sequence[str], directions: Sequence[str]
) -> dict[str, Any]:
    """One normalisation and reference point for every run of a benchmark.

    Each objective is mapped to [0, 1] between the best and the worst of ``vectors``
    (0 best), and the reference point is
    ``1 + REFERENCE_MARGIN`` in each: fixed once, recorded in raw units, the same for all runs.

    Args:
        vectors: The objective vectors that span it (:func:`hypervolume_frames`: the runs' fronts).
        metrics: The objective metrics, in order.
        directions: Their directions.

    Returns:
        ``metrics``, ``directions``, ``best``, ``worst`` (per objective) and ``reference`` (raw units).
    """
    k = len(directions)
    best, worst = [], []
    for i, d in enumerate(directions):
        # Infinities and their stored stand-ins set no bound: one of them would squash every other value.
        column = [v[i] for v in vectors if measured(v[i])] or [0.0]
        lo, hi = min(column), max(column)
        best.append(hi if d == "maximize" else lo)
        worst.append(lo if d == "maximize" else hi)
    reference = [w + REFERENCE_MARGIN * (w - b) for b, w in zip(best, worst, strict=True)]
    return {
        "metrics": list(metrics),
        "directions": list(directions),
        "best": best,
        "worst": worst,
        "reference": reference,
        "objectives": k,
    }


def frame_hypervolume(frame: dict[str, Any], points: Sequence[Sequence[float]]) -> float:
    """The hypervolume of ``points`` (raw objective vectors) in ``frame`` (:func:`hypervolume_frame`).

    Returns:
        The volume in the normalised space, where the whole box from the best values seen to the
        reference point is ``(1 + REFERENCE_MARGIN) ** k``.
    """
    lows = [min(b, w) for b, w in zip(frame["best"], frame["worst"], strict=True)]
    highs = [max(b, w) for b, w in zip(frame["best"], frame["worst"], strict=True)]
    # An objective every trial tied on (zero range) maps to 0: it neither adds nor removes volume. A value
    # beyond the best end (an infinity the frame left out) counts as the best end, not beyond it.
    unit = [[max(0.0, u) for u in unit_minimisation(p, frame["directions"], lows, highs)] for p in points]
    return hypervolume(unit, [1.0 + REFERENCE_MARGIN] * frame["objectives"])


def true_vector(t: TrialRecord, metrics: Sequence[str]) -> list[float] | None:
    """A table trial's objectives with its observed accuracy replaced by the table's true accuracy (None: none)."""
    if t.objectives is None or t.true_accuracy is None:
        return None
    return [t.true_accuracy if m == "val_accuracy" else v for m, v in zip(metrics, t.objectives, strict=True)]


def _front_vectors(rep: RunReport, true: bool) -> list[list[float]]:
    """The run's observed Pareto front (the core's, from every complete trial), observed or true values."""
    front = set(rep.pareto_front)  # computed once, when the report was loaded (RunReport.summarize)
    metrics = [o["metric"] for o in rep.objectives]
    out = []
    for t in rep.trials:
        if t.index in front:
            v = true_vector(t, metrics) if true else t.objectives
            if v is not None:
                out.append(list(v))
    return out


def hypervolume_frames(reports: Sequence[RunReport]) -> dict[str, Any] | None:
    """The benchmark's hypervolume frames: ``observed`` and, for table recipes, ``true`` (None: one objective).

    The frame spans the points of the runs' fronts: from the best value any run reached to
    the worst value on any run's front (the nadir of their union). The worst trials of a
    search (an untrainable network at 10% accuracy) would otherwise stretch the frame until
    every front filled nearly all of it (measured on NAS-Bench-201: every strategy's mean
    hypervolume between 1.184 and 1.188 of 1.21, against 0.909 to 0.953 with this frame).
    """
    first = reports[0]
    if len(first.objectives) < 2:
        return None
    metrics = [o["metric"] for o in first.objectives]
    observed = [v for r in reports for v in _front_vectors(r, true=False)]
    frames = {"observed": hypervolume_frame(observed, metrics, first.directions)}
    true = [v for r in reports for v in _front_vectors(r, true=True)]
    if first.by_table and true and "val_accuracy" in metrics:
        frames["true"] = hypervolume_frame(true, metrics, first.directions)
    return frames


def hypervolume_ranks(
    runs: Sequence[dict[str, Any]], backends: Sequence[str], key: str = "hypervolume"
) -> dict[str, float | None]:
    """Each backend's mean rank by hypervolume over the seeds (1 = largest; ties share; no run or value: last).

    Args:
        runs: Run summaries.
        backends: Backend names.
        key: ``hypervolume`` or ``hypervolume_true``.

    Returns:
        ``{backend: mean rank}`` (None for a backend with no run at all).
    """
    from scipy.stats import rankdata  # here, not at import: importing unified_nas must not import scipy

    by_seed: dict[Any, dict[str, float]] = {}
    for r in runs:
        v = r.get(key)
        by_seed.setdefault(r["seed"], {})[r["backend"]] = -math.inf if v is None else v
    ranks: dict[str, list[float]] = {b: [] for b in backends}
    for values in by_seed.values():
        row = [values.get(b, -math.inf) for b in backends]
        for b, rank in zip(backends, rankdata([-v for v in row], method="average"), strict=True):
            ranks[b].append(float(rank))
    has_runs = {r["backend"] for r in runs}
    return {b: (statistics.fmean(v) if v and b in has_runs else None) for b, v in ranks.items()}


def run_summary(
    attempt: dict[str, Any], rep: RunReport | None, target: float | None, frames: dict[str, Any] | None
) -> dict[str, Any]:
    """One run of a benchmark as its report shows it.

    Args:
        attempt: The benchmark's latest attempt of this (backend, seed) (``ResultsStore.latest_bench_runs``).
        rep: The run's stored report (None: its worker died before the run was stored).
        target: The level of the first objective for "time to target" (None: none).
        frames: The benchmark's hypervolume frames (:func:`hypervolume_frames`; None: one objective).

    Returns:
        The attempt's ``backend``, ``seed``, ``run_id``, ``status``, ``error``, ``retrain``; with a
        report also its strategy, budgets, ``stopped_early``, incumbent, curves and trials.
    """
    base = {
        "backend": attempt["backend"],
        "seed": attempt["seed"],
        "run_id": attempt["run_id"],
        "status": attempt["status"],
        "error": attempt["error"],
        "retrain": attempt["extra"].get("retrain"),
    }
    if rep is None:
        return {**base, "trials": [], "incumbent": None, "stopped_early": None}
    sign = 1 if rep.directions[0] == "maximize" else -1
    trials = sorted(rep.trials, key=lambda t: t.start_time)
    first = [t.objectives[0] if t.status == "complete" and t.objectives else None for t in trials]
    bsf = best_so_far(first, sign)
    ends = [t.start_time + t.duration_s - rep.started_at for t in trials]
    simulated = None
    if any(t.simulated_s is not None for t in trials):
        simulated, total = [], 0.0
        for t in trials:
            total += t.simulated_s or 0.0
            simulated.append(total)
    reached = next(
        (e for e, b in zip(ends, bsf) if b is not None and target is not None and sign * b >= sign * target), None
    )
    hv = hv_true = None
    if frames is not None:
        hv = frame_hypervolume(frames["observed"], _front_vectors(rep, true=False))
        if "true" in frames:
            hv_true = frame_hypervolume(frames["true"], _front_vectors(rep, true=True))
    return {
        **base,
        "strategy": rep.strategy,
        "default_first": bool(rep.options.get("default_first")),
        "version": rep.backend.get("version"),
        "run_status": rep.status,
        "budget_asked": rep.budget_asked,
        "budget_spent": rep.budget_spent,
        # Why the run ended short of its trial budget on its own (None: it did not).
        "stopped_early": rep.stopped_early,
        "incumbent": rep.incumbent,
        "search_cost": rep.search_cost,
        "pareto_front": rep.pareto_front,
        "hypervolume": hv,
        # Table recipes: the observed front's points at the table's true accuracies, in the true frame.
        "hypervolume_true": hv_true,
        "scalarisation": (rep.options.get("strategy_args") or {}).get(SCALARISATION_KEY),
        "time_to_target_s": reached,
        "best_so_far": bsf,
        # The answer's true accuracy as the search went (table recipes; what the average ranks rank there).
        "true_so_far": true_so_far(trials, sign) if rep.by_table else None,
        "best_so_far_time": ends,
        "best_so_far_simulated_time": simulated,
        "trials": [
            {
                "index": t.index,
                "status": t.status,
                "objectives": t.objectives,
                "val_accuracy": t.metrics.get("val_accuracy"),
                "params": t.params,
                "flops": t.flops,
                "start_s": t.start_time - rep.started_at,
                "duration_s": t.duration_s,
                "train_s": t.train_s,
                "overhead_s": t.overhead_s,
                "error": (t.error or "").strip().splitlines()[-1:] or None,
            }
            for t in trials
        ],
    }


def seed_warnings(backends: dict[str, Any], key: str = "objective") -> list[str]:
    """Says so when too few runs per backend make every pairwise test unable to reject.

    With n and m runs, the smallest two-sided p a rank test can reach is 2 / C(n + m, n)
    (all of one above all of the other): 0.33 for 2 against 2, 0.1 for 3 against 3.

    Args:
        backends: The per-backend summaries of :func:`bench_data` (``<key>.n`` runs with a result).
        key: The score whose runs count (the headline's, :func:`headline`).

    Returns:
        One warning, or none.
    """
    counts = sorted(b[key]["n"] for b in backends.values())
    if len(counts) < 2 or not counts[0]:
        return []
    n, m = counts[0], counts[1]
    smallest = 2 / math.comb(n + m, n)
    if smallest < ALPHA:
        return []
    return [
        f"with {n} and {m} runs the smallest attainable p of a pairwise test is {smallest:.2g}: no difference "
        f"can be significant at {ALPHA:g}; run more seeds (--seeds) to test differences"
    ]


def budget_warnings(runs: Sequence[dict[str, Any]], table: bool = False) -> list[str]:
    """Why the comparison may not be like for like (unequal budgets, failed runs).

    Args:
        runs: Per-run summaries (:func:`run_summary`).
        table: The recipe is evaluated by a table: no epochs are spent.

    Returns:
        One sentence per problem.
    """
    out = []
    for r in runs:
        if r["status"] != "complete":
            out.append(
                f"{r['backend']} seed {r['seed']}: run {r['status']}" + (f" ({r['error']})" if r["error"] else "")
            )
    done = [r for r in runs if r.get("budget_spent")]
    asked = {str(r["budget_asked"]) for r in done}
    if len(asked) > 1:
        out.append("budgets asked differ between runs: " + "; ".join(sorted(asked)))
    # A table spends no epochs; its simulated time differs between runs by nature (each architecture's own).
    for key in ("trials",) if table else ("trials", "epochs"):
        spent = {(r["backend"], r["seed"]): r["budget_spent"].get(key) for r in done}
        if len(set(spent.values())) > 1:
            out.append(f"{key} spent differ: " + ", ".join(f"{b} s{s}={v}" for (b, s), v in sorted(spent.items())))
    out += stopped_early_warnings(runs)
    supernet: dict[str, list[float]] = {}
    banks: dict[int, dict[str, set[str]]] = {}  # seed -> bank digest -> backends
    for r in done:
        if (r.get("search_cost") or {}).get("kind") == SUPERNET_KIND:
            supernet.setdefault(r["backend"], []).append(float(r["search_cost"].get("supernet_wall_s", 0)))
            digest = str(r["search_cost"].get("bank_sha256"))
            banks.setdefault(r["seed"], {}).setdefault(digest, set()).add(r["backend"])
        elif r.get("search_cost"):
            out.append(
                f"{r['backend']} seed {r['seed']}: one-shot search, supernet cost "
                f"{r['search_cost'].get('supernet_wall_s', 0):.1f}s outside the trial records"
            )
    if supernet:  # the protocol of the whole benchmark, said once: each run trained its own supernet first
        out.append(
            "trials scored by a supernet each run trained before its search (in the runs' wall time), mean: "
            + ", ".join(f"{b} {sum(v) / len(v):.1f}s over {len(v)} run(s)" for b, v in supernet.items())
        )
    # One seed trains one supernet on every backend, bit for bit on a CPU; otherwise (a GPU's nondeterministic
    # kernels, other thread counts) the backends' trials were scored by different supernets.
    for seed, by_digest in sorted(banks.items()):
        if len(by_digest) > 1:
            groups = "; ".join(", ".join(sorted(b)) for b in sorted(by_digest.values(), key=sorted))
            out.append(
                f"seed {seed}: the backends trained different supernets ({groups}): their scores differ by the "
                "supernet as well as by the search"
            )
    return out


def stopped_early_warnings(runs: Sequence[dict[str, Any]], shown: int = 3) -> list[str]:
    """One sentence per backend some of whose runs ended on their own short of their trial budget.

    A search whose strategy stops proposing (a finished grid, an oracle that finds no new sample)
    spent less than the runs it is compared with; the reader must see that beside the scores.

    Args:
        runs: Per-run summaries (:func:`run_summary`).
        shown: Reasons quoted per backend (the rest are counted).

    Returns:
        ``"B: k of n runs stopped early: seed s: reason; ..."``, in the runs' backend order.
    """
    out = []
    for b in dict.fromkeys(r["backend"] for r in runs):
        mine = [r for r in runs if r["backend"] == b]
        short = [r for r in mine if r.get("stopped_early")]
        if not short:
            continue
        why = "; ".join(f"seed {r['seed']}: {r['stopped_early']}" for r in short[:shown])
        more = f"; and {len(short) - shown} more" if len(short) > shown else ""
        out.append(f"{b}: {len(short)} of {len(mine)} runs stopped early, short of their trial budget ({why}{more})")
    return out


def stopped_early_counts(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """How many of one backend's runs stopped early, and why.

    Args:
        runs: That backend's run summaries.

    Returns:
        ``runs`` (how many stopped early) and ``reasons`` (their distinct reasons, sorted).
    """
    reasons = [r["stopped_early"] for r in runs if r.get("stopped_early")]
    return {"runs": len(reasons), "reasons": sorted(set(reasons))}


def headline(by_table: bool, metric: str, direction: str) -> dict[str, str]:
    """Which final score of a run the benchmark leads with, compares pair by pair and ranks.

    On a table recipe that maximises ``val_accuracy`` it is the incumbent's true accuracy (the
    table's mean over its recorded training seeds), as NAS-Bench-201's paper reports: the observed
    score is one recorded seed, which a strategy that proposes an architecture again can pick the
    luckiest of. Anywhere else the observed objective is all there is (a trained run's test
    accuracy is shown beside it but compared on its own), and on a table recipe led by ``params``
    or ``flops`` the true accuracy is not what the search was asked for.

    Args:
        by_table: Whether the recipe's trials are looked up in a table.
        metric: The first objective's metric.
        direction: The first objective's direction.

    Returns:
        ``key`` (``true`` or ``objective``: the key of the per-backend statistics and of
        :func:`final_score`), ``label`` (for the reader) and ``direction`` (of that score).
    """
    if by_table and metric == "val_accuracy" and direction == "maximize":
        return {"key": "true", "label": "true accuracy", "direction": "maximize"}
    return {"key": "objective", "label": metric, "direction": direction}


def transfer_accuracies(evaluation: dict[str, Any], runs: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """Each run's answer looked up on the table's other data sets, as in NAS-Bench-201's Table 5.

    Computed when the report is made, from the stored incumbent samples: the runs themselves look
    up their own data set only.

    Args:
        evaluation: The runs' ``evaluation`` section.
        runs: Run summaries (:func:`run_summary`), in report order.

    Returns:
        None unless the recipe is evaluated by a table we ship whose package is installed here (a
        report must not fail for want of columns); else ``datasets`` (``{data set: the table's
        name of it}``) and ``by_run`` (``{data set: [the answer's true accuracy there, or None for
        a run without one, per run]}``).
    """
    if evaluation.get("mode") != "table" or evaluation.get("own"):
        return None
    spec = EvaluationSpec(evaluation["table"], evaluation["dataset"])
    try:
        names = {d: table_info(replace(spec, dataset=d)).datasets[d].name for d in transfer_datasets(spec)}
        by_run = {d: [_looked_up(spec, d, r["incumbent"]) for r in runs] for d in names}
    except UserError:  # the table's package is not installed (or this version lacks the table): no columns
        return None
    return {"datasets": names, "by_run": by_run} if names else None


def _looked_up(spec: EvaluationSpec, dataset: str, incumbent: dict[str, Any] | None) -> float | None:
    """One incumbent's true accuracy on ``dataset`` (None for no incumbent, or a sample not of the table's cell).

    Raises:
        UserError: The table's package is not installed.
    """
    if incumbent is None:
        return None
    try:
        return true_accuracies_on(spec, dataset, [incumbent["sample"]])[0]
    except SampleError:  # a stored sample the table cannot read (a report of another encoding): no value
        return None


def bench_data(store: ResultsStore, bench_id: str, target: float | None = None) -> dict[str, Any]:
    """Everything the benchmark report shows, as one JSON-ready dict.

    Args:
        store: The results store.
        bench_id: Benchmark id (``latest`` or a unique prefix).
        target: Level of the first objective for "time to target"; default:
            the weakest final best among the runs (a level every run reached).

    Returns:
        The benchmark's settings, ``runs`` (:func:`run_summary`, each with ``transfer``),
        ``backends`` (statistics over seeds of each final score, ``transfer`` and
        ``stopped_early``), ``headline`` (:func:`headline`), ``transfer`` (the data sets looked up,
        or None), ``reference``, ``warnings``, ``comparisons`` (the headline's first) and
        ``average_rank`` (of the headline).

    Raises:
        StoreError: The benchmark has no stored run yet.
    """
    bid, config, created = store.bench(bench_id)
    order = {b: i for i, b in enumerate(config["backends"])}
    attempts = sorted(store.latest_bench_runs(bid).values(), key=lambda a: (order.get(a["backend"], 99), a["seed"]))
    reports: dict[str, RunReport] = {}
    for a in attempts:
        try:
            reports[a["run_id"]] = store.load_run(a["run_id"])
        except StoreError:
            pass  # the worker died before its run was stored
    reps = list(reports.values())
    if not reps:
        raise StoreError(f"benchmark {bid} has no stored runs yet")
    directions, metric = reps[0].directions, reps[0].objectives[0]["metric"]
    sign = 1 if directions[0] == "maximize" else -1
    finals = [r.incumbent["objectives"][0] for r in reps if r.incumbent]
    if target is None and finals:
        target = min(finals, key=lambda v: sign * v)
    frames = hypervolume_frames(reps)
    runs = [run_summary(a, reports.get(a["run_id"]), target, frames) for a in attempts]
    first = reps[0]
    lead = headline(first.by_table, metric, directions[0])
    transfer = transfer_accuracies(first.evaluation, runs)
    for i, r in enumerate(runs):
        r["transfer"] = None if transfer is None else {d: v[i] for d, v in transfer["by_run"].items()}
    backends = {}
    for name in config["backends"]:
        mine = [r for r in runs if r["backend"] == name and r["incumbent"] is not None]
        reported = [r for r in runs if r["backend"] == name and "run_status" in r]
        trials = [t for r in runs if r["backend"] == name for t in r["trials"]]
        backends[name] = {
            "version": next((r["version"] for r in mine), None),
            "strategy": next((r["strategy"] for r in mine), None),
            "runs": sum(r["backend"] == name for r in runs),
            "runs_complete": sum(r["status"] == "complete" for r in runs if r["backend"] == name),
            "val": mean_ci([r["incumbent"]["val_accuracy"] for r in mine]),
            "objective": score_stats([final_score(r, "objective") for r in mine]),
            "test": score_stats([final_score(r, "test") for r in mine]),
            "true": score_stats([final_score(r, "true") for r in mine]),
            "retrain_test": mean_ci([r["retrain"]["mean"] for r in mine if r.get("retrain")]),
            "time_to_target_s": mean_ci([r["time_to_target_s"] for r in mine]),
            "reached_target": sum(r["time_to_target_s"] is not None for r in mine),
            "trials": {s: sum(t["status"] == s for t in trials) for s in STATUSES},
            "wall_s": sum(r["budget_spent"].get("wall_s", 0) for r in mine),
            "overhead_s": mean_ci([t["overhead_s"] for t in trials]),
            # Several objectives: hypervolume over seeds (observed; on a table also at the true accuracies).
            # Every run with a report counts: one with no complete trial has an empty front (0), as in
            # the ranks and pairwise tests, so a backend that failed on a seed is not shown by its successes.
            "hypervolume": score_stats([r.get("hypervolume") for r in reported]) if frames else None,
            "hypervolume_true": score_stats([r.get("hypervolume_true") for r in reported])
            if frames and "true" in frames
            else None,
            "scalarisation": next((r["scalarisation"] for r in mine if r["scalarisation"]), None),
            # The answers on the table's other data sets (mean ± std over seeds; None: no such columns).
            "transfer": None
            if transfer is None
            else {d: mean_ci([r["transfer"][d] for r in mine]) for d in transfer["datasets"]},
            "stopped_early": stopped_early_counts([r for r in runs if r["backend"] == name]),
        }
    lead_sign = 1 if lead["direction"] == "maximize" else -1
    # The headline first, then the other score the report shows (the observed one when the headline is true accuracy).
    compared = [(lead["key"], lead_sign)]
    compared += [(k, s) for k, s in (("objective", sign), (accuracy_key(first.by_table), 1)) if k != lead["key"]]
    if frames is not None:  # fronts compared like single scores: larger hypervolume is better
        hv_keys = ["hypervolume"] + (["hypervolume_true"] if "true" in frames else [])
        compared += [(k, 1) for k in hv_keys]
        for key in hv_keys:
            for b, rank in hypervolume_ranks(runs, config["backends"], key).items():
                backends[b][f"{key}_rank"] = rank
    return {
        "bench_id": bid,
        "created_at": created,
        "config": config,
        "metric": metric,
        "directions": directions,
        "objectives": first.objectives,
        "target": target,
        # Several objectives: the normalisation and reference point every run's hypervolume used.
        "hypervolume_frames": frames,
        "recipe": first.recipe,
        "data": first.data,
        "evaluation": first.evaluation,
        "environment": first.environment,
        # Where start-point strategies begin (reports from before start points existed have none).
        "start": first.space.get("start"),
        "backends": backends,
        "runs": runs,
        "headline": lead,
        "transfer": None if transfer is None else {"datasets": transfer["datasets"]},
        "reference": reference_for(first, runs, config["backends"]),
        # Runs on different data first: then no number of the report compares like with like.
        "warnings": [
            *data_warnings(
                [
                    (f"{a['backend']} seed {a['seed']}", reports[a["run_id"]].data)
                    for a in attempts
                    if a["run_id"] in reports
                ],
                config.get("data"),
            ),
            *budget_warnings(runs, first.by_table),
        ],
        "power_note": seed_warnings(backends, lead["key"]),  # beside the pairwise tests it is about
        "alpha": ALPHA,
        # Final scores compared pair by pair: the headline, and the other score the report shows.
        "comparisons": {what: comparisons(runs, config["backends"], what, s) for what, s in compared},
        # Ranked on the headline: on a table, the true accuracy of each run's answer so far.
        "average_rank": rank_curves(
            runs,
            config["backends"],
            config["seeds"],
            lead_sign,
            "true_so_far" if lead["key"] == "true" else "best_so_far",
        ),
    }


def reference_for(first: RunReport, runs: Sequence[dict[str, Any]], backends: Sequence[str]) -> dict[str, Any] | None:
    """The table's reference lines for a benchmark's report (:func:`table_reference`), where they apply.

    Args:
        first: One of the benchmark's run reports (they share recipe and evaluation).
        runs: Run summaries (:func:`run_summary`).
        backends: The benchmark's backends.

    Returns:
        The reference, or None: not a table we ship, not maximising ``val_accuracy``, no curve, or
        the table's package is not installed here (a report must not fail for want of a band).
    """
    # The band is for the mean over the runs that have curves, up to the trial count every one of them reached
    # (a simulated-time budget ends runs at different trials); it is uniform random search maximising accuracy.
    curves = [r for r in runs if r.get("best_so_far")]
    trials_run = min((len(r["best_so_far"]) for r in curves), default=0)
    per_backend = [sum(r["backend"] == b for r in curves) for b in backends]
    if (
        not first.by_table
        # (The band needs a table we ship: a table file of `unas tabulate` has one training per architecture.)
        or first.evaluation.get("own")
        or first.objectives[0]["metric"] != "val_accuracy"
        or first.directions[0] != "maximize"
        or not trials_run
    ):
        return None
    try:
        return table_reference(first.evaluation, trials_run, max(1, min(per_backend, default=1)))
    except UserError:  # the table's package is not installed
        return None


def accuracy_key(by_table: bool) -> str:
    """The accuracy a benchmark reports for incumbents.

    Args:
        by_table: Whether the recipe's trials are evaluated by a table.

    Returns:
        ``true`` (the table's mean accuracy over its recorded seeds) for a table recipe, else
        ``test``: the prefix of the incumbent's accuracy keys (``true_accuracy``, ``test_accuracy``).
    """
    return "true" if by_table else "test"


def table_reference(evaluation: dict[str, Any], trials: int, seeds: int, replicates: int = 1000) -> dict[str, Any]:
    """What a table says any search should be compared with: its optimum and uniform random search.

    The band is that of the MEAN best-so-far over ``seeds`` runs of uniform
    random search (with replacement), by simulation from the table's recorded
    seeds, as each trial of a table recipe observes one recorded seed: a
    backend's mean best-so-far curve of a ``random`` strategy lies inside it at
    a given trial with probability 0.95. Other strategies are judged against it.

    Args:
        evaluation: A report's ``evaluation`` section (``table``, ``dataset``).
        trials: Trial count the curves cover (1..trials).
        seeds: Runs averaged per backend.
        replicates: Simulated k-run means behind each percentile.

    Returns:
        ``optimum`` (best mean accuracy in the table), ``trials``, ``seeds``, and
        ``random_mean``/``random_lower``/``random_upper`` lists per trial (best observed), and
        ``answer_mean``/``answer_lower``/``answer_upper``: the same band at the last trial for the true
        accuracy of the answer (the architecture with the best observed score), the headline's reference.
    """

    table = open_table(EvaluationSpec(evaluation["table"], evaluation["dataset"]))
    bands = random_search_mean_band(table, k=max(1, seeds), trials=trials, runs=replicates, seed=0)
    band, answer = bands.observed, bands.incumbent
    return {
        "table": evaluation["table"],
        "dataset": evaluation["dataset"],
        "optimum": table.optimum(),
        "trials": trials,
        "seeds": seeds,
        "level": 0.95,
        "random_mean": band.mean.tolist(),
        "random_lower": band.lower.tolist(),
        "random_upper": band.upper.tolist(),
        # The headline's reference: the true accuracy of uniform random search's answer after all the trials.
        "answer_mean": float(answer.mean[-1]),
        "answer_lower": float(answer.lower[-1]),
        "answer_upper": float(answer.upper[-1]),
    }
