"""The benchmark report's text, shared by its HTML and Markdown forms: number formats, the tables' rows, the sentences.

Each row builder turns ``bench_data``'s output into a header and rows of
plain strings (``summary_rows``, ``pair_rows``, ``rank_rows``, ``run_rows``,
``stopped_rows``);
each ``*_text`` function and :data:`EXPLAIN` gives a sentence. Nothing here
escapes: :mod:`~unified_nas.benchmark.render.html` and
:mod:`~unified_nas.benchmark.render.markdown` escape every cell and sentence
for their format.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from unified_nas.benchmark.stats import ALPHA
from unified_nas.benchmark.summary import REFERENCE_MARGIN as HV_MARGIN


def fmt_num(v: Any, digits: int = 4) -> str:
    """A float to ``digits`` significant digits, None as "-", anything else as ``str``."""
    if v is None:
        return "-"
    return f"{v:.{digits}g}" if isinstance(v, float) else str(v)


def _pm(s: dict[str, Any] | None) -> str:
    if not s or s.get("mean") is None:
        return "-"
    return f"{s['mean']:.4g}" + (f" ± {s['ci95']:.2g}" if s.get("ci95") is not None else "")


def fmt_std(s: dict[str, Any] | None) -> str:
    """Mean ± sample standard deviation, as NAS-Bench-201's tables show a searcher's result ("-" for none).

    Args:
        s: A dict with ``mean`` and ``std`` (:func:`~unified_nas.benchmark.summary.mean_ci`).

    Returns:
        "mean ± std" (the mean alone for one value).
    """
    if not s or s.get("mean") is None:
        return "-"
    return f"{s['mean']:.4g}" + (f" ± {s['std']:.2g}" if s.get("std") is not None else "")


def fmt_mean_interval(s: dict[str, Any] | None) -> str:
    """The 95% confidence interval of the mean as "[low, high]" ("-" without one: fewer than 2 values)."""
    if not s or s.get("mean") is None or s.get("ci95") is None:
        return "-"
    return fmt_ci([s["mean"] - s["ci95"], s["mean"] + s["ci95"]]).strip()


def fmt_ci(ci: Sequence[float] | None) -> str:
    """The interval as ' [low, high]', or '' for none (it follows the value it belongs to)."""
    return "" if ci is None else f" [{ci[0]:.4g}, {ci[1]:.4g}]"


def fmt_iqm(s: dict[str, Any] | None) -> str:
    """An IQM with its bootstrap interval ("-" for none, e.g. a report written before IQMs were).

    Args:
        s: A dict with ``iqm`` and ``iqm_ci95`` (:func:`~unified_nas.benchmark.summary.score_stats`).

    Returns:
        "iqm [low, high]".
    """
    if not s or s.get("iqm") is None:
        return "-"
    return f"{s['iqm']:.4g}" + fmt_ci(s.get("iqm_ci95"))


# One sentence per statistic, under its table or figure: what the reader sees and how to read it.
EXPLAIN = {
    "iqm": (
        "IQM: interquartile mean of the runs' final scores over seeds (the mean of the middle 50%, robust to one "
        "lucky or failed seed; the mean below 4 seeds), with its 95% percentile-bootstrap interval in brackets."
    ),
    "pairs": (
        "P(A > B): probability that a run of A ends better than a run of B (0.5 = no difference), with its 95% "
        "bootstrap interval (few seeds make it look narrower than it is); p: two-sided Mann-Whitney U test, "
        "Holm-adjusted over all pairs; significant: adjusted p < {alpha}."
    ),
    "no_pairs": "Fewer than two backends have final scores: nothing to compare.",
    "rank": (
        "Average rank of each backend's best-so-far at each trial over seeds (1 = best, ties share a rank, "
        "a run with no result yet ranks last): the backend with the smallest rank leads at that point of the search."
    ),
}


def headline_key(d: dict[str, Any]) -> str:
    """The final score the report leads with: ``true`` (a table's true accuracy of the answer) or ``objective``.

    Args:
        d: Output of ``bench_data`` (one from before headlines existed leads with its objective).

    Returns:
        The key of ``d["backends"][b]`` holding the headline's statistics.
    """
    return (d.get("headline") or {}).get("key", "objective")


def transfer_names(d: dict[str, Any]) -> dict[str, str]:
    """The table's other data sets the answers were looked up on: ``{data set: the table's name of it}`` (may be empty)."""
    return (d.get("transfer") or {}).get("datasets") or {}


def _transfer_cells(d: dict[str, Any], s: dict[str, Any]) -> list[str]:
    """One backend's answers on each transfer data set, mean ± std over seeds."""
    return [fmt_std((s.get("transfer") or {}).get(ds)) for ds in transfer_names(d)]


def _budget_cells(s: dict[str, Any]) -> list[str]:
    """The columns every summary ends with: time to target, trial counts, wall time, overhead."""
    return [
        f"{fmt_num(s['time_to_target_s']['median'], 3)} ({s['reached_target']} reached)",
        "/".join(str(s["trials"].get(k, 0)) for k in ("complete", "pruned", "failed", "infeasible")),
        f"{s['wall_s']:.1f}",
        fmt_num(s["overhead_s"]["median"], 3),
    ]


_BUDGET_HEAD = [
    "time to target s (median)",
    "complete/pruned/failed/infeasible",
    "wall s (total)",
    "overhead s/trial (median)",
]


def summary_rows(d: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """One row per backend: its final scores over seeds, then its budget.

    A benchmark whose headline is the true accuracy (:func:`headline_key`) leads with it (mean ±
    std, the 95% interval of the mean, the IQM), then the answers on the table's other data sets,
    then the observed score; any other leads with its objective.

    Args:
        d: Output of ``bench_data``.

    Returns:
        The header and one row per backend.
    """
    if headline_key(d) == "true":
        return _true_summary_rows(d)
    table = is_table(d)
    head = [
        "backend",
        "version",
        "strategy",
        "runs ok",
        f"best {d['metric']}",
        "mean ± 95% CI",
        "median",
        "IQM [95% CI]",
        "true acc mean ± CI" if table else "test acc mean ± CI",
        "true acc IQM [95% CI]" if table else "test acc IQM [95% CI]",
        *[f"{name} true acc mean ± std" for name in transfer_names(d).values()],
        "retrained test",
        *_BUDGET_HEAD,
    ]
    rows = []
    for b, s in d["backends"].items():
        rows.append(
            [
                b,
                fmt_num(s["version"]),
                strategy_text(s),
                f"{s['runs_complete']}/{s['runs']}",
                fmt_num(s["objective"]["max"] if d["directions"][0] == "maximize" else s["objective"]["min"]),
                _pm(s["objective"]),
                fmt_num(s["objective"]["median"]),
                fmt_iqm(s["objective"]),
                _pm(s["true" if table else "test"]),
                fmt_iqm(s["true" if table else "test"]),
                *_transfer_cells(d, s),
                _pm(s["retrain_test"]),
                *_budget_cells(s),
            ]
        )
    return head, rows


def _true_summary_rows(d: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """:func:`summary_rows` of a benchmark whose headline is the true accuracy of each run's answer."""
    metric = d["metric"]
    head = [
        "backend",
        "version",
        "strategy",
        "runs ok",
        "true acc mean ± std",
        "true acc 95% CI",
        "true acc IQM [95% CI]",
        *[f"{name} true acc mean ± std" for name in transfer_names(d).values()],
        f"observed {metric} mean ± 95% CI",
        f"best observed {metric}",
        *_BUDGET_HEAD,
    ]
    rows = [
        [
            b,
            fmt_num(s["version"]),
            strategy_text(s),
            f"{s['runs_complete']}/{s['runs']}",
            fmt_std(s["true"]),
            fmt_mean_interval(s["true"]),
            fmt_iqm(s["true"]),
            *_transfer_cells(d, s),
            _pm(s["objective"]),
            fmt_num(s["objective"]["max"]),  # the headline is true accuracy only where the objective is maximised
            *_budget_cells(s),
        ]
        for b, s in d["backends"].items()
    ]
    return head, rows


def headline_text(d: dict[str, Any]) -> str:
    """What the per-backend table leads with, and why ("" when it is the objective, as the columns say).

    Args:
        d: Output of ``bench_data``.

    Returns:
        A few sentences.
    """
    if headline_key(d) != "true":
        return ""
    names = list(transfer_names(d).values())
    transfer = (
        f" Transfer: the same answers looked up on the table's {', '.join(names)} (as NAS-Bench-201's Table 5), "
        "mean ± std over seeds."
        if names
        else ""
    )
    return (
        "Headline: the true accuracy of each run's answer, i.e. the table's mean validation accuracy over its "
        "recorded training seeds of the architecture the search chose on the observed score; mean ± std, the 95% "
        "confidence interval of the mean and the IQM over seeds. The pairwise tests and average ranks use it. "
        f"Observed {d['metric']}: the answer's score as the search saw it, one recorded training seed, which a "
        "strategy that proposes an architecture again can profit from by seed noise; NAS-Bench-201's paper "
        "reports the true accuracy." + transfer
    )


def is_table(d: dict[str, Any]) -> bool:
    """Whether the recipe is evaluated by a table (true accuracy and simulated time, not test accuracy and epochs)."""
    return (d.get("evaluation") or {}).get("mode") == "table"


def pair_rows(d: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Every pair of backends on each compared score (``bench_data``'s ``comparisons``).

    Args:
        d: Output of ``bench_data``.

    Returns:
        The header and one row per pair and score (none with fewer than 2 backends with scores).
    """
    head = ["A", "B", "final score", "P(A > B) [95% CI]", "Mann-Whitney p", "Holm p", "significant", "runs A/B"]
    observed = f"observed {d['metric']}" if headline_key(d) == "true" else d["metric"]
    names = {
        "objective": observed,
        "true": "true accuracy",
        "test": "test accuracy",
        "hypervolume": "hypervolume",
        "hypervolume_true": "hypervolume (true accuracies)",
    }
    rows = [
        [
            c["a"],
            c["b"],
            names.get(what, what),
            f"{c['p']:.3g}{fmt_ci(c['ci95'])}",
            f"{c['mannwhitney_p']:.3g}",
            f"{c['holm_p']:.3g}",
            "yes" if c["significant"] else "no",
            f"{c['n_x']}/{c['n_y']}",
        ]
        for what, pairs in (d.get("comparisons") or {}).items()
        for c in pairs
    ]
    return head, rows


def strategy_text(s: dict[str, Any]) -> str:
    """A backend's strategy, and how it combined several objectives if it did (a scalarised score).

    Args:
        s: One backend's entry of ``bench_data``'s ``backends``.
    """
    spec = s.get("scalarisation")
    if not spec:
        return fmt_num(s.get("strategy"))
    try:
        if spec["method"] == "chebyshev":
            how = f"augmented Chebyshev, weights {spec['weights'].replace('_', ' ')}"
        else:
            total = sum(spec["weights"])
            how = "weighted sum " + "/".join(f"{w / total:.2g}" for w in spec["weights"])
    except (KeyError, TypeError, AttributeError, ZeroDivisionError):  # a stored spec this version cannot read
        how = str(spec)[:120]
    return f"{s.get('strategy')} (scalarised: {how})"


def multiobjective(d: dict[str, Any]) -> bool:
    """The benchmark has several objectives (then the report compares fronts by hypervolume)."""
    return bool(d.get("hypervolume_frames"))


def front_rows(d: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Backends ranked by the hypervolume of their runs' Pareto fronts (best mean rank first).

    Args:
        d: Output of ``bench_data`` with several objectives.

    Returns:
        The header and one row per backend: strategy (and scalarisation), hypervolume mean ± 95% CI,
        IQM, mean rank over seeds; on a table also the same at the true accuracies.
    """
    true = "true" in d["hypervolume_frames"]
    head = ["rank", "backend", "strategy", "hypervolume mean ± 95% CI", "IQM [95% CI]", "mean rank over seeds"]
    if true:
        head += ["true: hypervolume mean ± 95% CI", "true: mean rank"]
    mean_rank = {b: d["backends"][b].get("hypervolume_rank") or float("inf") for b in d["backends"]}
    order = sorted(d["backends"], key=lambda b: (mean_rank[b], b))
    rows = []
    for b in order:
        s = d["backends"][b]
        place = 1 + sum(mean_rank[o] < mean_rank[b] for o in order)  # equal mean ranks share a place
        row = [
            str(place),
            b,
            strategy_text(s),
            _pm(s["hypervolume"]),
            fmt_iqm(s["hypervolume"]),
            fmt_num(s.get("hypervolume_rank"), 3),
        ]
        if true:
            row += [_pm(s.get("hypervolume_true")), fmt_num(s.get("hypervolume_true_rank"), 3)]
        rows.append(row)
    return head, rows


def front_text(d: dict[str, Any]) -> str:
    """How the hypervolumes were measured: the one normalisation and reference point of every run."""
    frame = d["hypervolume_frames"]["observed"]
    parts = [
        f"{m} from {fmt_num(b)} (0) to {fmt_num(w)} (1), reference {fmt_num(r)}"
        for m, b, w, r in zip(frame["metrics"], frame["best"], frame["worst"], frame["reference"], strict=True)
    ]
    box = (1 + HV_MARGIN) ** len(frame["metrics"])
    return (
        "Hypervolume: the volume each run's Pareto front (its complete trials that no other of its trials "
        "dominates, computed the same way for every backend) dominates up to one reference point shared by all "
        "runs, each objective normalised between the best value any run reached and the worst value on any run's "
        f"front: {'; '.join(parts)}. "
        f"Larger is better; the largest possible is {box:.3g}. Ranks: per seed, 1 = the largest hypervolume."
        + (
            " On a table, the same fronts are also measured at the table's true accuracies."
            if "true" in d["hypervolume_frames"]
            else ""
        )
    )


def ranked(d: dict[str, Any]) -> bool:
    """The report has average ranks worth showing: 2 or more backends (one alone is always first)."""
    ranks = d.get("average_rank") or {}
    return len(ranks.get("by_backend", {})) >= 2 and ranks.get("trials", 0) > 0


def rank_rows(d: dict[str, Any], points: int = 5) -> tuple[list[str], list[list[str]]]:
    """Each backend's average rank (``bench_data``'s ``average_rank``) at a few trials, first and last included.

    Args:
        d: Output of ``bench_data``.
        points: Trials shown (fewer if the curves are shorter).

    Returns:
        The header (``backend`` and ``trial N`` per trial shown) and one row per backend.
    """
    ranks = d.get("average_rank") or {"trials": 0, "by_backend": {}}
    n = ranks["trials"]
    at = sorted({round(1 + i * (n - 1) / max(points - 1, 1)) for i in range(points)}) if n else []
    head = ["backend"] + [f"trial {t}" for t in at]
    return head, [[b] + [f"{curve[t - 1]:.2f}" for t in at] for b, curve in ranks["by_backend"].items()]


def rank_text(d: dict[str, Any]) -> str:
    """How to read the average ranks: of the observed best-so-far, or of the true accuracy of the answer so far."""
    if (d.get("average_rank") or {}).get("of") != "true_so_far":
        return EXPLAIN["rank"]
    return (
        "Average rank of the true accuracy of each backend's answer so far (the incumbent chosen on the observed "
        "score up to that trial) at each trial over seeds (1 = best, ties share a rank, a run with no result yet "
        "ranks last): the backend with the smallest rank leads at that point of the search."
    )


def run_rows(d: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """One row per run: its budget asked and spent, whether it stopped early and why, its answer's scores.

    Args:
        d: Output of ``bench_data``.

    Returns:
        The header and one row per run.
    """
    table = is_table(d)
    names = transfer_names(d)
    head = [
        "backend",
        "seed",
        "run",
        "status",
        "budget asked",
        "trials spent",
        "stopped early",
        "simulated s" if table else "epochs",
        "wall s",
        f"incumbent {d['metric']}",
        "true acc" if table else "test acc",
        *[f"{name} true acc" for name in names.values()],
        "hypervolume",
    ]
    rows = []
    for r in d["runs"]:
        inc, sp = r["incumbent"] or {}, r.get("budget_spent") or {}
        asked = r.get("budget_asked") or {}
        limits = f"trials={asked.get('trials')}, time={asked.get('time_s')}"
        if asked.get("simulated_s") is not None:
            limits += f", simulated={asked['simulated_s']}"
        rows.append(
            [
                r["backend"],
                str(r["seed"]),
                r["run_id"],
                r["status"],
                limits,
                fmt_num(sp.get("trials")),
                r.get("stopped_early") or "no",
                fmt_num(sp.get("simulated_s" if table else "epochs")),
                fmt_num(sp.get("wall_s"), 3),
                fmt_num(inc.get("objectives", [None])[0]),
                fmt_num(inc.get("true_accuracy" if table else "test_accuracy")),
                *[fmt_num((r.get("transfer") or {}).get(ds)) for ds in names],
                fmt_num(r.get("hypervolume")),
            ]
        )
    return head, rows


def stopped_early(d: dict[str, Any]) -> bool:
    """Whether some run ended on its own short of its trial budget (then the report has :func:`stopped_rows`)."""
    return any(r.get("stopped_early") for r in d["runs"])


def stopped_rows(d: dict[str, Any], shown: int = 5) -> tuple[list[str], list[list[str]]]:
    """Per backend: how many of its runs stopped early, short of their trial budget, and why.

    Args:
        d: Output of ``bench_data``.
        shown: Reasons quoted per backend.

    Returns:
        The header and one row per backend with such a run.
    """
    head = ["backend", "runs stopped early", "why"]
    rows = []
    for b, s in d["backends"].items():
        short = [r for r in d["runs"] if r["backend"] == b and r.get("stopped_early")]
        if short:
            # A few reasons in full; every run's is in the runs' table.
            reasons = "; ".join(f"seed {r['seed']}: {r['stopped_early']}" for r in short[:shown])
            more = f"; and {len(short) - shown} more (see the runs)" if len(short) > shown else ""
            rows.append([b, f"{len(short)}/{s['runs']}", reasons + more])
    return head, rows


def reference_text(d: dict[str, Any]) -> str:
    """One sentence on the table's reference lines ("" unless the recipe is evaluated by a table)."""
    ref = d.get("reference")
    if not ref:
        return ""
    n = ref["trials"]
    return (
        f"Table {ref['table']} ({ref['dataset']}): optimum {ref['optimum']:.4f} (best mean accuracy of the "
        f"table); uniform random search after {n} trials: mean of {ref['seeds']} runs expected in "
        f"[{ref['random_lower'][-1]:.4f}, {ref['random_upper'][-1]:.4f}] (95%), mean {ref['random_mean'][-1]:.4f}"
        + (
            f"; the true accuracy of its answer: mean of {ref['seeds']} runs expected in "
            f"[{ref['answer_lower']:.4f}, {ref['answer_upper']:.4f}] (95%), mean {ref['answer_mean']:.4f}. "
            if "answer_mean" in ref  # (a report stored before the answer's band existed has none)
            else ". "
        )
        + "True accuracy: the table's mean over its recorded training seeds of each incumbent."
    )


def explain_pairs(d: dict[str, Any]) -> str:
    """How to read the pairwise table, and, with too few seeds, that no difference can be significant."""
    return " ".join([EXPLAIN["pairs"].format(alpha=d.get("alpha", ALPHA)), *d.get("power_note", [])])


def start_text(d: dict[str, Any]) -> str:
    """Where the runs start: the recipe's start point, and which runs evaluated it first.

    Read from each run's options, not the benchmark's flag: a recipe may turn
    ``default_first`` on under one backend only, which the reader must see.

    Args:
        d: Output of ``bench_data``.

    Returns:
        One sentence.
    """
    on = sorted({r["backend"] for r in d["runs"] if r.get("default_first")})
    off = sorted({r["backend"] for r in d["runs"] if not r.get("default_first")})
    if on and not off:
        first = "every run evaluated it as trial 0 (default_first)"
    elif not on:
        first = "default_first was off: only strategies that start from their defaults begin there"
    else:
        first = (
            f"UNEQUAL START: runs of {', '.join(on)} evaluated it as trial 0 (default_first), "
            f"runs of {', '.join(off)} did not"
        )
    return f"Start point (each parameter's default:, else its neutral value): {json.dumps(d['start'])}; {first}."
