"""Several objectives, one number: scalarisations for single-objective strategies, and a front's hypervolume.

A toolkit strategy that optimises one number (NNI's evolution, AutoKeras's
greedy oracle) can search several objectives if each trial's objective vector
is turned into one score. Two methods:

* ``chebyshev``: ParEGO's augmented Chebyshev function (Knowles, "ParEGO: a
  hybrid algorithm with on-line landscape approximation for expensive
  multiobjective optimization problems", IEEE TEVC 2006): objectives are
  normalised to [0, 1] (0 best) by known or observed ranges, then
  ``max_i(w_i f_i) + rho * sum_i(w_i f_i)`` with ``rho = 0.05``. With weights
  drawn anew (per trial or per run), its minimisers cover the whole Pareto
  front, concave parts included.
* ``weighted_sum``: ``sum_i(w_i f_i)`` with weights the recipe gives. It only
  reaches the convex hull of the front.

Both are to be minimised. :func:`hypervolume` measures a front (minimisation,
any number of objectives) against one reference point, so that fronts of
different backends compare as single numbers.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from typing import Any

SCALARISATIONS = ("chebyshev", "weighted_sum")
#: The strategy argument that says how a run combined several objectives (``unified_nas.runs.scalarise``);
#: not the toolkit's, so it is left out of what the toolkit's strategy gets (``Options.toolkit_args``).
SCALARISATION_KEY = "scalarisation"
#: ParEGO's augmentation: a small multiple of the weighted sum breaks the Chebyshev function's ties,
#: so that weakly dominated points score worse than the points that dominate them.
RHO = 0.05


#: Beyond this magnitude a value is a stand-in, not a measurement: an infinite proxy is stored as the
#: largest finite float of its sign (and an infeasible trial's unbounded metric as 1e9 is still below it).
#: Ranges and reference points leave such values out, so one of them cannot squash every other value.
STAND_IN = 1e300


def measured(value: float) -> bool:
    """Whether ``value`` is a finite measurement, not an infinity or its stored stand-in (:data:`STAND_IN`)."""
    return math.isfinite(value) and abs(value) < STAND_IN


def unit_minimisation(
    values: Sequence[float], directions: Sequence[str], lows: Sequence[float], highs: Sequence[float]
) -> list[float]:
    """``values`` mapped to [0, 1] per objective, 0 the best end of its range, whatever its direction.

    A value outside its range maps outside [0, 1] (ranges observed so far may be exceeded); a range of
    zero width maps every value to 0.

    Args:
        values: One objective vector.
        directions: ``maximize`` or ``minimize`` per objective.
        lows, highs: The range of each objective.

    Returns:
        The normalised vector.

    Raises:
        ValueError: Vectors of different lengths, or an unknown direction.
    """
    if not len(values) == len(directions) == len(lows) == len(highs):
        raise ValueError("values, directions and ranges differ in length")
    out = []
    for v, d, lo, hi in zip(values, directions, lows, highs, strict=True):
        if d not in ("maximize", "minimize"):
            raise ValueError(f"direction {d!r} is not maximize or minimize")
        span = hi - lo
        if span <= 0:
            out.append(0.0)
        else:
            out.append((hi - v) / span if d == "maximize" else (v - lo) / span)
    return out


def augmented_chebyshev(normalised: Sequence[float], weights: Sequence[float], rho: float = RHO) -> float:
    """ParEGO's scalarisation of a normalised vector (:func:`unit_minimisation`): to be minimised.

    Args:
        normalised: The vector, 0 best per objective.
        weights: Non-negative weights, one per objective.
        rho: The augmentation.

    Returns:
        ``max_i(w_i f_i) + rho * sum_i(w_i f_i)``.

    Raises:
        ValueError: Lengths differ, or a weight is negative or not finite.
    """
    terms = _weighted(normalised, weights)
    return max(terms) + rho * sum(terms)


def weighted_sum(normalised: Sequence[float], weights: Sequence[float]) -> float:
    """The weighted sum of a normalised vector: to be minimised.

    Raises:
        ValueError: Lengths differ, or a weight is negative or not finite.
    """
    return sum(_weighted(normalised, weights))


def _weighted(normalised: Sequence[float], weights: Sequence[float]) -> list[float]:
    if len(normalised) != len(weights) or not normalised:
        raise ValueError("one weight per objective is needed")
    if any(not math.isfinite(w) or w < 0 for w in weights):
        raise ValueError("weights must be finite and non-negative")
    return [w * f for w, f in zip(weights, normalised, strict=True)]


def simplex_weights(rng: random.Random, k: int) -> list[float]:
    """Weights drawn uniformly from the simplex (k non-negative numbers summing to 1).

    ParEGO draws from a lattice of ``s + k - 1 choose k - 1`` vectors; a uniform draw (normalised
    exponentials, i.e. Dirichlet(1, ..., 1)) covers the same simplex without a lattice size to choose.

    Args:
        rng: The draws' source (seeded by the run).
        k: Objectives.

    Returns:
        The weights.

    Raises:
        ValueError: ``k`` below 1.
    """
    if k < 1:
        raise ValueError("at least one objective")
    draws = [-math.log(1.0 - rng.random()) for _ in range(k)]  # 1 - u: never log(0)
    total = sum(draws)
    return [d / total for d in draws]


def hypervolume(points: Sequence[Sequence[float]], ref: Sequence[float]) -> float:
    """The volume dominated by ``points`` (every objective minimised) and bounded by ``ref``.

    Exact, by slicing along the last objective (the HSO algorithm, While et al. 2006): fine for the
    fronts of NAS runs (tens of points, two to four objectives). Points not strictly better than
    ``ref`` in every objective add nothing.

    Args:
        points: Objective vectors.
        ref: The reference point (worse than every point that should count).

    Returns:
        The hypervolume (0 for no point).

    Raises:
        ValueError: A point of another dimension than ``ref``.
    """
    k = len(ref)
    if any(len(p) != k for p in points):
        raise ValueError("every point needs one value per objective of the reference point")
    inside = [tuple(p) for p in points if all(v < r for v, r in zip(p, ref, strict=True))]
    return _hso(sorted(set(inside), key=lambda p: p[-1]), tuple(ref))


def _hso(points: list[tuple[float, ...]], ref: tuple[float, ...]) -> float:
    if not points:
        return 0.0
    if len(ref) == 1:
        return ref[0] - min(p[0] for p in points)
    volume = 0.0
    # Sorted by the last objective: between consecutive last values, the slice is the front of the
    # points seen so far, in one dimension fewer.
    for i, p in enumerate(points):
        upper = points[i + 1][-1] if i + 1 < len(points) else ref[-1]
        depth = upper - p[-1]
        if depth > 0:
            volume += depth * _hso(sorted({q[:-1] for q in points[: i + 1]}, key=lambda q: q[-1]), ref[:-1])
    return volume


def run_weights(spec: Mapping[str, Any], seed: int, k: int) -> list[float] | None:
    """The weights every trial of a run uses, or None when they are drawn per trial.

    Args:
        spec: A resolved scalarisation (``unified_nas.runs.scalarise.resolve``).
        seed: The run seed (a per-run draw depends on it alone).
        k: Objectives.
    """
    if spec["method"] == "weighted_sum":
        # Normalised here, not when the recipe is read: a resumed run resolves its stored arguments
        # again, and dividing twice would change the weights in their last bits (and its scores).
        total = float(sum(spec["weights"]))
        return [float(w) / total for w in spec["weights"]]
    if spec["weights"] == "per_run":
        return simplex_weights(random.Random(f"unas-scalarisation:{seed}"), k)
    return None


def describe_scalarisation(spec: Mapping[str, Any], seed: int, metrics: Sequence[str]) -> str:
    """One line for reports: how the run's objectives became one score.

    Args:
        spec: A resolved scalarisation (``unified_nas.runs.scalarise.resolve``), as stored.
        seed: The run seed.
        metrics: The objective metrics, in order.

    Returns:
        The line; a stored spec this version cannot read is shown as it is (a report still renders).
    """
    try:
        return _described(spec, seed, metrics)
    except (KeyError, TypeError, ValueError, ZeroDivisionError, AttributeError):
        return f"a scalarisation this version cannot read: {str(dict(spec))[:200]}"


def _described(spec: Mapping[str, Any], seed: int, metrics: Sequence[str]) -> str:
    weights = run_weights(spec, seed, len(metrics))
    shown = (
        "drawn anew for every trial"
        if weights is None
        else ", ".join(f"{m} {w:.2f}" for m, w in zip(metrics, weights, strict=True))
        + (" (drawn once per run)" if spec["method"] == "chebyshev" else "")
    )
    name = f"augmented Chebyshev (ParEGO, rho {spec['rho']:g})" if spec["method"] == "chebyshev" else "weighted sum"
    return f"{name}; weights {shown}; {spec['ranges']} ranges"
