"""Several objectives for a strategy that optimises one number: the ``scalarisation`` strategy argument.

NNI's evolution, AutoKeras's greedy oracle and the other single-objective
strategies rank trials by one score. With two or more objectives, the adapter
hands them a scalarised score instead of the first objective
(:class:`Scalariser`), and the core computes the Pareto front from every
complete trial, as for every backend.

The method is a strategy argument, declared and recorded with the run
(``backends.<name>.strategy_args.scalarisation``)::

    scalarisation: {method: chebyshev, weights: per_trial, ranges: observed, rho: 0.05}
    scalarisation: {method: weighted_sum, weights: [0.7, 0.3]}

:func:`resolve` checks what a recipe or CLI gave and fills the defaults, so a
run report always holds the full description, defaults included.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from typing import Any

from unified_nas.core.errors import RecipeError
from unified_nas.core.metrics import METRICS
from unified_nas.core.multiobjective import (
    RHO,
    SCALARISATIONS,
    augmented_chebyshev,
    measured,
    run_weights,
    simplex_weights,
    unit_minimisation,
    weighted_sum,
)

#: When random Chebyshev weights are drawn: once per run, or anew for every trial (ParEGO's way).
DRAWS = ("per_run", "per_trial")
RANGES = ("observed", "known")
#: The default draw, chosen by measurement (benchmarks/multiobjective.py, 10 seeds; docs/multiobjective.md):
#: with re-scoring, per-trial weights beat per-run ones for NNI's evolution on NAS-Bench-201 on 10 of 10
#: seeds (Wilcoxon p 0.002) and leaned the same way for AutoKeras's greedy on breast_cancer; never worse.
DEFAULT_DRAW = "per_trial"
#: A score worse than any feasible trial's: normalised values lie in [0, 1], so a feasible score is at most 1 + rho * k.
_INFEASIBLE = 10.0


def resolve(raw: Any, metrics: Sequence[str], path: str) -> dict[str, Any]:
    """The full scalarisation a run records: ``raw`` checked, every default filled.

    Args:
        raw: What the recipe or CLI gave (None: the defaults).
        metrics: The recipe's objective metrics, in order.
        path: Where ``raw`` came from, for messages (``backends.nni.strategy_args.scalarisation``).

    Returns:
        ``{method, weights, ranges}`` plus ``rho`` for Chebyshev; ``weights`` is a draw (``per_run``,
        ``per_trial``) or, for a weighted sum, one non-negative number per objective (as given; they are
        divided by their sum where used, so resolving a resolved spec changes nothing).

    Raises:
        RecipeError: Naming ``path`` (and the field) and what is allowed.
    """
    spec = {} if raw is None else raw
    if isinstance(spec, str):  # shorthand: the method alone
        spec = {"method": spec}
    if not isinstance(spec, Mapping):
        raise RecipeError(path, f"expected a mapping such as {{method: chebyshev}}, got {type(raw).__name__}")
    allowed = {"method", "weights", "ranges", "rho"}
    unknown = sorted(map(str, set(spec) - allowed))
    if unknown:
        raise RecipeError(f"{path}.{unknown[0]}", f"unknown field (fields: {', '.join(sorted(allowed))})")
    method = spec.get("method", "chebyshev")
    if method not in SCALARISATIONS:
        raise RecipeError(f"{path}.method", f"{method!r} is not one of {', '.join(SCALARISATIONS)}")
    ranges = spec.get("ranges", "observed")
    if ranges not in RANGES:
        raise RecipeError(f"{path}.ranges", f"{ranges!r} is not one of {', '.join(RANGES)}")
    out: dict[str, Any] = {"method": method}
    if method == "chebyshev":
        weights = spec.get("weights", DEFAULT_DRAW)
        if weights not in DRAWS:
            raise RecipeError(f"{path}.weights", f"{weights!r} is not one of {', '.join(DRAWS)} (drawn at random)")
        rho = spec.get("rho", RHO)
        if isinstance(rho, bool) or not isinstance(rho, (int, float)) or not 0 <= rho <= 1:
            raise RecipeError(f"{path}.rho", f"{rho!r} is not a number in 0..1")
        out.update(weights=weights, rho=float(rho))
    else:
        if "rho" in spec:
            raise RecipeError(f"{path}.rho", "only the chebyshev method has rho")
        weights = spec.get("weights")
        if not isinstance(weights, list) or len(weights) != len(metrics):
            raise RecipeError(
                f"{path}.weights", f"a weighted sum needs a list of {len(metrics)} weights, one per objective"
            )
        if any(
            isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w) or w < 0 for w in weights
        ):
            raise RecipeError(f"{path}.weights", "every weight must be a finite number >= 0")
        if float(sum(weights)) <= 0:
            raise RecipeError(f"{path}.weights", "at least one weight must be above 0")
        out["weights"] = [float(w) for w in weights]  # as given: normalised where used (run_weights)
    out["ranges"] = ranges
    return out


class Scalariser:
    """Turns each trial's objective vector into the one score a single-objective strategy sees.

    Call it once per evaluated trial, in the order the strategy sees them: it
    keeps the vectors seen so far (observed ranges) and counts trials (weights
    drawn per trial come from the run seed and the trial's position). A
    resumed run replays its stored trials in the same order, so it scores them
    as the first attempt did.

    The score is to be **minimised** (0 best); :meth:`maximised` gives the
    negated score for toolkits that maximise.
    """

    def __init__(self, spec: Mapping[str, Any], metrics: Sequence[str], directions: Sequence[str], seed: int) -> None:
        """
        Args:
            spec: From :func:`resolve`.
            metrics: The objective metrics, in order.
            directions: Their directions.
            seed: The run seed.
        """
        self.spec = dict(spec)
        self.metrics = list(metrics)
        self.directions = list(directions)
        self.seed = seed
        self.weights = run_weights(spec, seed, len(metrics))
        self.seen: list[list[float]] = []
        self.calls = 0
        # The weights of the latest trial (per run: always the run's), which rescore() applies too.
        self.current: list[float] = self.weights or [1.0 / len(metrics)] * len(metrics)
        known = [METRICS.get(m) for m in metrics]
        self.known = (
            [(k.low, k.high) if k is not None and k.low is not None and k.high is not None else None for k in known]
            if spec["ranges"] == "known"
            else [None] * len(metrics)
        )
        # The ranges every score is normalised by: the known bounds, else the seen values' (kept up to
        # date as trials join, so that re-scoring a whole population does not recompute them each time).
        self.lows = [b[0] if b is not None else 0.0 for b in self.known]
        self.highs = [b[1] if b is not None else 0.0 for b in self.known]
        self._observed = [False] * len(metrics)  # whether an objective's observed range has a value yet

    def __call__(self, values: Sequence[float], feasible: bool = True) -> float:
        """The trial's score, to be minimised; the trial joins the observed ranges.

        Args:
            values: Its objective values, in recipe order.
            feasible: False for a trial that broke a constraint (not trained): it scores worse than
                any feasible trial and does not widen the observed ranges.

        Returns:
            The scalarised score.
        """
        n = self.calls
        self.calls += 1
        self.current = self.weights or simplex_weights(
            random.Random(f"unas-scalarisation:{self.seed}:{n}"), len(values)
        )
        if not feasible or any(math.isnan(v) for v in values):
            return _INFEASIBLE
        self.seen.append([float(v) for v in values])
        for i, v in enumerate(values):
            # Infinities (and their stored stand-ins) take no part in the ranges; they clamp to an end.
            if self.known[i] is None and measured(v):
                seen = self._observed[i]
                self.lows[i] = min(self.lows[i], v) if seen else v
                self.highs[i] = max(self.highs[i], v) if seen else v
                self._observed[i] = True
        return self.rescore(values)

    def rescore(self, values: Sequence[float], feasible: bool = True) -> float:
        """An earlier trial's score now: against the ranges seen so far and the latest trial's weights.

        Scores kept from when a trial was evaluated compare badly with later ones: the ranges have
        grown since (a trial that was the best so far in every objective scored 0 for good, and a
        greedy oracle clung to it). ParEGO re-scalarises every point under the current weights and
        ranges before each step; adapters whose strategy keeps scores where they can be updated
        (keras-tuner's trials, NNI's evolution population) do the same with this after each trial.

        Args:
            values: The trial's objective values.
            feasible: As for :meth:`__call__`.

        Returns:
            The score, to be minimised (:meth:`__call__` of the same vector, as things stand now).
        """
        if not feasible or any(math.isnan(v) for v in values):
            return _INFEASIBLE
        # An objective whose observed range is still a point says nothing yet: the middle, not the best
        # end (else the first trial would score 0, the best possible, before anything compares with it).
        unit = [
            0.5 if hi <= lo else min(1.0, max(0.0, u))
            for u, lo, hi in zip(
                unit_minimisation(values, self.directions, self.lows, self.highs), self.lows, self.highs, strict=True
            )
        ]
        if self.spec["method"] == "chebyshev":
            return augmented_chebyshev(unit, self.current, self.spec["rho"])
        return weighted_sum(unit, self.current)

    def maximised(self, values: Sequence[float], feasible: bool = True) -> float:
        """The negated score of :meth:`__call__`, for a strategy that maximises (NNI's)."""
        return -self(values, feasible)
