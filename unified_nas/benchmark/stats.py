"""Statistics of the benchmark and suite reports: robust centres, bootstrap intervals, rank tests.

Pure functions on plain sequences (numpy and scipy only, no store, no rendering).

* Over the seeds of one benchmark: the interquartile mean (IQM) with a
  percentile-bootstrap interval, and the probability of improvement between
  two backends, as recommended by Agarwal et al. 2021, "Deep Reinforcement
  Learning at the Edge of the Statistical Precipice" (NeurIPS; the rliable
  library), with a Mann-Whitney U test per pair and Holm's correction over
  the pairs.
* Over trials: the average rank of each backend's best-so-far curve.
* Over several benchmarks (recipes): Friedman's test on the ranks and the
  Nemenyi critical difference, as in Demšar 2006, "Statistical Comparisons of
  Classifiers over Multiple Data Sets" (JMLR 7:1-30).

Every random draw is seeded: a report rendered twice shows the same numbers.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from scipy import stats as st

Curve = Sequence[float | None]

ALPHA = 0.05
"""Significance level of every test in the reports (family-wise, after Holm's correction)."""


def _seeded(seed: int, fn: Any = None) -> dict[str, np.random.Generator]:
    """The keyword that seeds ``fn`` (``scipy.stats.bootstrap`` unless given; also ``permutation_test``).

    scipy 1.15 renamed ``random_state`` to ``rng`` (SPEC 7) and will deprecate the old name; the
    floor we declare (scipy 1.10) knows only ``random_state``.
    """
    name = "rng" if "rng" in inspect.signature(fn or st.bootstrap).parameters else "random_state"
    return {name: np.random.default_rng(seed)}


def iqm_along(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Interquartile mean along ``axis``: the vectorised form :func:`bootstrap_ci` resamples with.

    Args:
        x: Values (any shape).
        axis: The axis to reduce.

    Returns:
        ``scipy.stats.trim_mean(x, 0.25, axis)``.
    """
    return np.asarray(st.trim_mean(x, 0.25, axis=axis))


def iqm(values: Sequence[float]) -> float | None:
    """Interquartile mean: the mean of the middle 50% of the values.

    As in Agarwal et al. 2021 (rliable's ``aggregate_iqm``): ``scipy.stats.trim_mean(values, 0.25)``,
    which cuts ``floor(n / 4)`` values off each end. It is robust to one lucky or failed seed
    yet uses more of the data than the median; with fewer than 4 values nothing is cut and it
    is the mean.

    Args:
        values: Final scores, one per run.

    Returns:
        The IQM, or None for no values.
    """
    if len(values) == 0:
        return None
    return float(iqm_along(np.asarray(values, dtype=float)))


def bootstrap_ci(
    values: Sequence[float],
    statistic: Callable[..., Any],
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> tuple[float, float] | None:
    """Percentile-bootstrap confidence interval of ``statistic`` over ``values``.

    ``scipy.stats.bootstrap`` with ``method="percentile"`` (Efron & Tibshirani 1993, ch. 13), the
    interval rliable reports: BCa needs more values than a benchmark has seeds and fails on
    constant data, where the percentile interval is simply (v, v).

    Args:
        values: The sample (one value per run).
        statistic: A reduction called as ``statistic(batch, axis=-1)`` on all resamples at once
            (``np.mean``, ``np.median``, :func:`iqm_along`); one call per resample would cost
            scipy's ``trim_mean`` 0.4 s per interval.
        confidence: Coverage of the interval.
        n_resamples: Bootstrap resamples.
        seed: Seed of the resampling, so a report shows the same interval every time.

    Returns:
        (low, high), or None for fewer than 2 values (one value has no spread to resample).
    """
    if len(values) < 2:
        return None
    res = st.bootstrap(
        (np.asarray(values, dtype=float),),
        statistic,
        vectorized=True,
        method="percentile",
        confidence_level=confidence,
        n_resamples=n_resamples,
        **_seeded(seed),
    )
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def _prob_improvement(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    """P(X > Y) + 0.5 P(X = Y) over all pairs, vectorised along ``axis`` (as ``scipy.stats.bootstrap`` calls it)."""
    x, y = np.moveaxis(x, axis, -1), np.moveaxis(y, axis, -1)
    a, b = x[..., :, None], y[..., None, :]
    return np.mean((a > b) + 0.5 * (a == b), axis=(-2, -1))


PERMUTATIONS = 9999  # resamples of the rank test; every split is enumerated when there are fewer


def _rank_test_p(a: np.ndarray, b: np.ndarray, seed: int) -> float:
    """Two-sided permutation p-value of the Mann-Whitney statistic (ties handled exactly).

    Args:
        a, b: The two samples, sign-adjusted.
        seed: Seeds the resampling when the splits are too many to enumerate.

    Returns:
        The p-value (1.0 when either sample has a single value: the smallest p attainable with
        1 against n runs is 2/(n+1), which no usual level calls significant below n = 39).
    """
    if len(a) < 2 or len(b) < 2:
        return 1.0  # scipy refuses such samples; one run against n cannot reject at any usual level
    res = st.permutation_test(
        (a, b),
        _prob_improvement,
        permutation_type="independent",
        vectorized=True,
        n_resamples=PERMUTATIONS,
        alternative="two-sided",
        **_seeded(seed, st.permutation_test),
    )
    return float(min(1.0, res.pvalue))


def prob_improvement(
    x: Sequence[float], y: Sequence[float], sign: int, n_resamples: int = 2000, seed: int = 0
) -> dict[str, Any]:
    """Probability that a run of X ends better than a run of Y, with its interval and a rank test.

    The probability of improvement of rliable (Agarwal et al. 2021): the mean over all pairs
    (x_i, y_j) of 1[sign*x_i > sign*y_j] + 0.5 * 1[x_i == y_j]; 0.5 means no difference. Its 95%
    interval resamples X and Y independently (percentile bootstrap, seeded), as the runs of two
    backends are independent searches; for the same reason the test is the two-sided Mann-Whitney
    U test of independent samples, whose U statistic over n*m is this very probability. Its p-value
    comes from the permutation distribution of that statistic (``scipy.stats.permutation_test``,
    exact when there are at most ``PERMUTATIONS`` splits): ``mannwhitneyu``'s default switches to
    the normal approximation on ties, which are common here (a table repeats values) and then
    calls 3 runs against 3 "significant" (p 0.047) where no split of 3 and 3 can reach 0.1.

    Args:
        x: Final scores of the runs of X.
        y: Final scores of the runs of Y.
        sign: 1 if higher scores are better, -1 if lower are.
        n_resamples: Bootstrap resamples.
        seed: Seed of the resampling.

    Returns:
        ``p`` (the probability), ``ci95`` ([low, high], None unless both samples have 2 or more
        values), ``mannwhitney_p`` (two-sided) and ``n_x``, ``n_y``.

    Raises:
        ValueError: If either sample is empty.
    """
    if len(x) == 0 or len(y) == 0:
        raise ValueError("prob_improvement needs at least one value in each sample")
    a, b = sign * np.asarray(x, dtype=float), sign * np.asarray(y, dtype=float)
    ci = None
    if len(a) >= 2 and len(b) >= 2:
        res = st.bootstrap(
            (a, b),
            _prob_improvement,
            vectorized=True,
            paired=False,
            method="percentile",
            n_resamples=n_resamples,
            **_seeded(seed),
        )
        ci = [float(res.confidence_interval.low), float(res.confidence_interval.high)]
    return {
        "p": float(_prob_improvement(a, b)),
        "ci95": ci,
        "mannwhitney_p": _rank_test_p(a, b, seed),
        "n_x": len(a),
        "n_y": len(b),
    }


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (Holm 1979, Scand. J. Statist. 6:65-70).

    The i-th smallest of m p-values is multiplied by (m - i + 1), made non-decreasing along
    the sorted order and capped at 1; an adjusted p below alpha rejects at family-wise error
    rate alpha. scipy has no Holm correction (``scipy.stats.false_discovery_control`` controls
    the false discovery rate, a weaker guarantee), hence these few lines.

    Args:
        pvalues: Unadjusted p-values of one family of tests.

    Returns:
        The adjusted p-values, in the order given.
    """
    m = len(pvalues)
    out = [0.0] * m
    running = 0.0
    for i, j in enumerate(sorted(range(m), key=lambda j: pvalues[j])):
        running = max(running, min(1.0, (m - i) * pvalues[j]))
        out[j] = running
    return out


def rank_row(values: Sequence[float | None], sign: int) -> list[float]:
    """Ranks of competitors on one problem: 1 = best, ties share the average rank.

    A missing value (None: no result) ranks after every present one; several missing ones tie.

    Args:
        values: One value per competitor (None for none).
        sign: 1 if higher values are better, -1 if lower are.

    Returns:
        The ranks (``scipy.stats.rankdata``, method ``average``), in the order given.
    """
    keys = [math.inf if v is None else -sign * v for v in values]
    return [float(r) for r in st.rankdata(keys)]


def _carry(curve: Curve, length: int) -> list[float | None]:
    """``curve`` padded to ``length`` with its last value (a run that stopped keeps its best)."""
    last = curve[-1] if len(curve) else None
    return [*curve, *[last] * (length - len(curve))]


def average_rank_curves(curves_by_backend: Mapping[str, Sequence[Curve]], sign: int) -> dict[str, list[float]]:
    """Average rank of each backend's best-so-far at each trial, over seeds.

    At every trial index and for every seed the backends are ranked with :func:`rank_row`
    (1 = best, ties averaged); the ranks are then averaged over seeds. The i-th curve of every
    backend is taken to be of the same seed; a backend with fewer curves has none for the last
    seeds. Curves shorter than the longest carry their last value; a backend with no value at an
    index (before its first complete trial, or no run at all) ranks last there.

    Args:
        curves_by_backend: ``{backend: [best-so-far curve of seed 0, of seed 1, ...]}``.
        sign: 1 if higher values are better, -1 if lower are.

    Returns:
        ``{backend: [average rank at trial 1, 2, ...]}``, each as long as the longest curve.
    """
    names = list(curves_by_backend)
    seeds = max((len(c) for c in curves_by_backend.values()), default=0)
    length = max((len(c) for cs in curves_by_backend.values() for c in cs), default=0)
    if not names or not seeds or not length:
        return {b: [] for b in names}
    # padded[b, s, t]: backend b's best-so-far at trial t of seed s (None where there is none)
    padded = [[_carry(cs[s] if s < len(cs) else [], length) for s in range(seeds)] for cs in curves_by_backend.values()]
    ranks = np.array(
        [[rank_row([padded[b][s][t] for b in range(len(names))], sign) for t in range(length)] for s in range(seeds)]
    )  # seeds x trials x backends
    mean = ranks.mean(axis=0)
    return {b: [float(v) for v in mean[:, i]] for i, b in enumerate(names)}


def nemenyi_cd(k: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """Nemenyi's critical difference of average ranks (Demšar 2006, eq. after (2)).

    CD = q_alpha * sqrt(k(k+1) / (6N)), q_alpha the studentized range quantile for k groups and
    infinite degrees of freedom over sqrt(2) (Demšar's Table 5a: 2.569 for k=4 at alpha 0.05).

    Args:
        k: Competitors (at least 2).
        n: Problems ranked (at least 1).
        alpha: Significance level.

    Returns:
        (q_alpha, CD).

    Raises:
        ValueError: If k < 2 or n < 1.
    """
    if k < 2 or n < 1:
        raise ValueError(f"the Nemenyi critical difference needs k >= 2 and N >= 1, got k={k}, N={n}")
    q = float(st.studentized_range.ppf(1 - alpha, k, np.inf) / math.sqrt(2))
    return q, q * math.sqrt(k * (k + 1) / (6 * n))


def cd_groups(ranks: Sequence[float], cd: float) -> list[list[int]]:
    """Groups of competitors whose average ranks differ by less than ``cd``: the bars of a CD diagram.

    Along the ranks in increasing order, each competitor starts the run of those within ``cd``
    of it; runs inside an earlier one are dropped, leaving the maximal cliques (Demšar 2006,
    Fig. 1). Competitors in no group differ significantly from every other.

    Args:
        ranks: Average rank of each competitor.
        cd: The critical difference.

    Returns:
        Groups of 2 or more competitor indices, each sorted by rank, best group first.
    """
    order = sorted(range(len(ranks)), key=lambda i: ranks[i])
    groups: list[list[int]] = []
    reach = -1  # the furthest position (in ``order``) an earlier group covers
    for i in range(len(order)):
        j = i
        while j + 1 < len(order) and ranks[order[j + 1]] - ranks[order[i]] < cd:
            j += 1
        if j > i and j > reach:
            groups.append(order[i : j + 1])
            reach = j
    return groups


def friedman_nemenyi(
    scores: Sequence[Sequence[float | None]], sign: int | Sequence[int], alpha: float = 0.05
) -> dict[str, Any]:
    """Ranks k competitors over N problems; Friedman's test and Nemenyi's critical difference.

    Following Demšar 2006: each problem (row) ranks the competitors (columns) with
    :func:`rank_row`; Friedman's test (``scipy.stats.friedmanchisquare``, corrected for ties) asks
    whether the average ranks differ at all; the Nemenyi post-hoc test calls two competitors
    different when their average ranks differ by at least CD (:func:`nemenyi_cd`). Demšar reads
    the post-hoc test only when Friedman's test rejects.

    Args:
        scores: N x k matrix: ``scores[i][j]`` is competitor j's score on problem i (None: no
            result, ranked last).
        sign: 1 if higher scores are better, -1 if lower are; one per row when problems differ.
        alpha: Significance level of both tests.

    Returns:
        ``k``, ``n``, ``alpha``, ``ranks`` (N x k), ``average_ranks`` (k), ``friedman_chi2`` and
        ``friedman_p`` (None unless k >= 3 and N >= 2 and some problem does not tie every
        competitor; then ``friedman_reason`` says why), ``q_alpha`` and ``cd`` (None for k < 2),
        ``groups`` (:func:`cd_groups`, as column indices).

    Raises:
        ValueError: If the rows do not all have the same length, or there is no row.
    """
    n = len(scores)
    k = len(scores[0]) if n else 0
    if n == 0 or any(len(row) != k for row in scores):
        raise ValueError("friedman_nemenyi needs a non-empty matrix with rows of one length")
    signs = [sign] * n if isinstance(sign, int) else list(sign)
    ranks = [rank_row(row, s) for row, s in zip(scores, signs)]
    avg = [float(v) for v in np.mean(ranks, axis=0)] if k else []
    chi2 = p = reason = None
    if k < 3 or n < 2:
        reason = f"Friedman's test needs at least 3 backends and 2 problems (here {k} and {n})"
    elif all(len(set(r)) == 1 for r in ranks):
        reason = "every problem ties all backends"  # the tie correction would divide by zero
    else:
        # Ranks in, ranks out: friedmanchisquare ranks each row again, which leaves them as they are.
        res = st.friedmanchisquare(*np.asarray(ranks).T)
        chi2, p = float(res.statistic), float(res.pvalue)
    q = cd = None
    groups: list[list[int]] = []
    if k >= 2:
        q, cd = nemenyi_cd(k, n, alpha)
        groups = cd_groups(avg, cd)
    return {
        "k": k,
        "n": n,
        "alpha": alpha,
        "ranks": ranks,
        "average_ranks": avg,
        "friedman_chi2": chi2,
        "friedman_p": p,
        "friedman_reason": reason,
        "q_alpha": q,
        "cd": cd,
        "groups": groups,
    }
