"""The random-search reference: what uniform random search reaches on a lookup table.

On a tabular benchmark such as NAS-Bench-201 (Dong & Yang, ICLR 2020) the
behaviour of uniform random search follows from the table alone, so a
backend's random strategy can be checked against theory and every other
strategy can be read against it. This module simulates many random-search runs
on the table (vectorized numpy, seeded) and summarises them per trial count.

Simulated run. Trial ``t`` draws an architecture uniformly from all 15,625,
either with replacement (``replace=True``, the default: what Optuna's
``RandomSampler`` does) or without (``replace=False``: NNI 3.0's ``Random``
strategy, whose ``dedup=True`` default never proposes a sample twice, and
keras-tuner's random oracle, which redraws up to 20 collisions). At 100 trials
the two hardly differ: a run of 100 draws with replacement repeats some
architecture with probability ~27%, which wastes one trial. The trial then
observes ONE recorded training seed of that architecture, uniformly (as
:meth:`NasBench201Table.observe` does by hashing), so observations are as
noisy as the recorded training runs.

Three best-so-far curves per run, all fractions:

* ``observed``: the best observed validation accuracy in trials 1..t (what a
  backend reports as its best value);
* ``true``: the best mean validation accuracy (over recorded seeds) among the
  architectures tried in trials 1..t;
* ``incumbent``: the mean validation accuracy of the architecture with the
  best observed value so far (first one on ties): what a search would return.
  Never above ``true``.

What the band means. For each trial count t, :class:`Band` gives the mean of a
statistic over ``runs`` simulated replicates and its empirical 2.5th and
97.5th percentiles (for ``level=0.95``). With ``k=1`` the statistic is one
run's best-so-far after t trials; with ``k>1`` it is the AVERAGE of the
best-so-far of k independent runs (the band to compare with a backend's mean
over k seeds, which is narrower than the one-run band by about sqrt(k)). So
``[lower[t-1], upper[t-1]]`` is a pointwise 95% prediction interval: a
backend that behaves exactly like uniform random search lands outside it at a
given t with probability about 5% (plus Monte Carlo error of the percentiles,
about +-1% at 2,000 replicates); it is not a confidence interval for the
expected value and not simultaneous over all t. A strategy that is better than
random search is expected ABOVE the band; below it means worse than random.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np


class RecordedTable(Protocol):
    """What the simulation needs from a table (e.g. :class:`NasBench201Table`)."""

    def recorded(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-seed accuracies (n_archs, max_seeds), NaN-padded, and seeds per architecture."""
        ...

    def all_means(self) -> np.ndarray:
        """Mean accuracy over recorded seeds per architecture."""
        ...


@dataclass(frozen=True)
class RandomSearchCurves:
    """Best-so-far curves of simulated random-search runs, shape (runs, trials).

    Attributes:
        observed: Best observed (one recorded seed) validation accuracy so far.
        true: Best mean validation accuracy among the architectures tried so far.
        incumbent: Mean validation accuracy of the best-observed architecture so far.
        archs: The architecture index drawn at each trial.
    """

    observed: np.ndarray
    true: np.ndarray
    incumbent: np.ndarray
    archs: np.ndarray


@dataclass(frozen=True)
class Band:
    """Per-trial mean and percentile band of a best-so-far statistic.

    Attributes:
        mean: Mean over replicates, shape (trials,); index ``t - 1`` is trial t.
        lower: Lower percentile (2.5th for a 95% band).
        upper: Upper percentile (97.5th for a 95% band).
    """

    mean: np.ndarray
    lower: np.ndarray
    upper: np.ndarray

    def at(self, trial: int) -> tuple[float, float, float]:
        """``(mean, lower, upper)`` after ``trial`` trials (1-based)."""
        if not 1 <= trial <= len(self.mean):
            raise IndexError(f"trial {trial} outside 1..{len(self.mean)}")
        return float(self.mean[trial - 1]), float(self.lower[trial - 1]), float(self.upper[trial - 1])

    def contains(self, trial: int, value: float) -> bool:
        """Whether ``value`` lies in the band after ``trial`` trials (bounds included)."""
        _, lo, hi = self.at(trial)
        return lo <= value <= hi


@dataclass(frozen=True)
class RandomSearchBand:
    """The random-search reference of one table (see the module docstring).

    Attributes:
        trials: Trial counts covered, 1..trials.
        runs: Simulated replicates behind each percentile.
        k: Runs averaged per replicate (1: one run's band).
        seed: Seed of the simulation.
        replace: Whether architectures were drawn with replacement.
        level: Coverage of the band, e.g. 0.95.
        observed: Band of the best observed validation accuracy.
        true: Band of the best true (mean-over-seeds) accuracy tried.
        incumbent: Band of the true accuracy of the best-observed architecture.
    """

    trials: int
    runs: int
    k: int
    seed: int
    replace: bool
    level: float
    observed: Band
    true: Band
    incumbent: Band


def _draw_distinct(rng: np.random.Generator, n: int, runs: int, trials: int) -> np.ndarray:
    """Uniform draws without replacement within each run, shape (runs, trials).

    Trial by trial, a draw that repeats an earlier one in its run is redrawn
    until new: conditionally uniform over the unused architectures, so each
    run is a uniform random ordered subset (the same law as NNI's dedup).
    """
    out = np.empty((runs, trials), dtype=np.int64)
    for t in range(trials):
        cand = rng.integers(0, n, size=runs)
        clash = (out[:, :t] == cand[:, None]).any(axis=1)
        while clash.any():  # rare when trials << n: ~t/n of the runs
            cand[clash] = rng.integers(0, n, size=int(clash.sum()))
            clash = (out[:, :t] == cand[:, None]).any(axis=1)
        out[:, t] = cand
    return out


def simulate_random_search(
    table: RecordedTable, trials: int, runs: int, seed: int, replace: bool = True
) -> RandomSearchCurves:
    """Simulates ``runs`` uniform random-search runs of ``trials`` trials on a table.

    Args:
        table: The lookup table.
        trials: Trials per run (>= 1).
        runs: Independent runs (>= 1).
        seed: Seed of numpy's default generator (PCG64); same seed, same curves.
        replace: Draw architectures with replacement (Optuna) or not (NNI, keras-tuner).

    Returns:
        The three best-so-far curves of every run.

    Raises:
        ValueError: If ``trials`` or ``runs`` is below 1, or ``replace=False``
            asks for more trials than architectures.
    """
    val, n_seeds = table.recorded()
    means = table.all_means()
    n = len(means)
    if trials < 1 or runs < 1:
        raise ValueError(f"trials and runs must be >= 1, got {trials} and {runs}")
    if not replace and trials > n:
        raise ValueError(f"{trials} trials without replacement exceed the {n} architectures")
    rng = np.random.default_rng(seed)
    archs = rng.integers(0, n, size=(runs, trials)) if replace else _draw_distinct(rng, n, runs, trials)
    # One recorded seed per trial, uniform over that architecture's seeds
    # (floor(u * n) < n, so the NaN padding is never picked).
    seeds = (rng.random((runs, trials)) * n_seeds[archs]).astype(np.int64)
    obs = val[archs, seeds]
    true = means[archs]
    best_obs = np.maximum.accumulate(obs, axis=1)
    # The incumbent changes only on a strict improvement of the observed best.
    prev = np.concatenate([np.full((runs, 1), -np.inf), best_obs[:, :-1]], axis=1)
    where = np.where(obs > prev, np.arange(trials)[None, :], 0)
    incumbent = np.take_along_axis(true, np.maximum.accumulate(where, axis=1), axis=1)
    return RandomSearchCurves(
        observed=best_obs, true=np.maximum.accumulate(true, axis=1), incumbent=incumbent, archs=archs
    )


def _band(curves: np.ndarray, runs: int, k: int, level: float) -> Band:
    """Averages groups of k runs, then takes mean and percentiles per trial."""
    stat = curves.reshape(runs, k, -1).mean(axis=1)
    q = 50.0 * (1.0 - level)
    lower, upper = np.percentile(stat, [q, 100.0 - q], axis=0)
    return Band(mean=stat.mean(axis=0), lower=lower, upper=upper)


def random_search_band(
    table: RecordedTable,
    trials: int = 100,
    runs: int = 2000,
    seed: int = 0,
    k: int = 1,
    replace: bool = True,
    level: float = 0.95,
) -> RandomSearchBand:
    """Mean and percentile band of random search's best-so-far, per trial count.

    Args:
        table: The lookup table.
        trials: Largest trial count T; the band covers 1..T.
        runs: Replicates behind each percentile (each one averages k runs).
        seed: Seed of the simulation.
        k: Runs averaged per replicate: 1 for a single run's band, k for the
            band of the mean of k runs (a backend's mean over k seeds).
        replace: Draw architectures with replacement (Optuna) or not (NNI).
        level: Coverage, in (0, 1): the band spans the (1-level)/2 and
            (1+level)/2 quantiles.

    Returns:
        The bands of the observed, true and incumbent best-so-far.

    Raises:
        ValueError: On a non-positive count or a level outside (0, 1).
    """
    if k < 1 or not 0.0 < level < 1.0:
        raise ValueError(f"need k >= 1 and 0 < level < 1, got k={k}, level={level}")
    c = simulate_random_search(table, trials, runs * k, seed, replace=replace)
    return RandomSearchBand(
        trials=trials,
        runs=runs,
        k=k,
        seed=seed,
        replace=replace,
        level=level,
        observed=_band(c.observed, runs, k, level),
        true=_band(c.true, runs, k, level),
        incumbent=_band(c.incumbent, runs, k, level),
    )


def random_search_mean_band(
    table: RecordedTable,
    k: int,
    trials: int = 100,
    runs: int = 2000,
    seed: int = 0,
    replace: bool = True,
    level: float = 0.95,
) -> RandomSearchBand:
    """The band of the MEAN best-so-far of k independent random-search runs.

    This is the reference for "a backend's mean best-so-far over k seeds":
    if the backend's random strategy is uniform random search, its k-seed mean
    at trial t falls in ``band.observed`` at t with probability ``level``.

    Args:
        table: The lookup table.
        k: Number of runs (seeds) averaged.
        trials: Largest trial count.
        runs: Replicates of the k-run mean behind each percentile.
        seed: Seed of the simulation.
        replace: Draw architectures with replacement (Optuna) or not (NNI).
        level: Coverage of the band.

    Returns:
        The bands, as :func:`random_search_band` with that ``k``.

    Raises:
        ValueError: On a non-positive count or a level outside (0, 1).
    """
    return random_search_band(table, trials=trials, runs=runs, seed=seed, k=k, replace=replace, level=level)


def expected_best(table: RecordedTable, trials: int, quantity: Literal["observed", "true"] = "observed") -> np.ndarray:
    """Exact expected best-so-far of random search WITH replacement, trials 1..T.

    Every trial is an independent draw from a discrete distribution, so with
    values sorted ascending and cumulative probabilities F_j,
    ``E[max of t draws] = sum_j v_j (F_j^t - F_{j-1}^t)``. For ``observed`` a
    draw is (architecture uniform, then recorded seed uniform), i.e. value
    ``val[a, s]`` with probability ``1 / (n_archs * n_seeds[a])``; so at t=1
    it is the mean of the per-architecture means, not of all recorded values.

    Args:
        table: The lookup table.
        trials: Largest trial count T.
        quantity: ``observed`` (one noisy seed per trial) or ``true`` (mean over seeds).

    Returns:
        Array of shape (T,): the expectation after 1..T trials (a fraction).

    Raises:
        ValueError: On an unknown ``quantity`` or ``trials`` below 1.
    """
    if trials < 1:
        raise ValueError(f"trials must be >= 1, got {trials}")
    val, n_seeds = table.recorded()
    n = len(n_seeds)
    if quantity == "observed":
        have = np.isfinite(val)
        values = val[have]
        probs = (1.0 / (n * np.broadcast_to(n_seeds[:, None], val.shape)))[have]
    elif quantity == "true":
        values = np.asarray(table.all_means())
        probs = np.full(n, 1.0 / n)
    else:
        raise ValueError(f"quantity must be 'observed' or 'true', got {quantity!r}")
    order = np.argsort(values, kind="stable")
    v = values[order]
    cdf = np.minimum(np.cumsum(probs[order]), 1.0)  # rounding could push the last past 1
    cdf[-1] = 1.0
    t = np.arange(1, trials + 1)[None, :]
    hi = cdf[:, None] ** t
    lo = np.concatenate([np.zeros((1, trials)), hi[:-1]], axis=0)
    return (v[:, None] * (hi - lo)).sum(axis=0)
