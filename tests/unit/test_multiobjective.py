"""Scalarisations (ParEGO's augmented Chebyshev, weighted sum) and the hypervolume of a front."""

from __future__ import annotations

import itertools
import random

import pytest

from unified_nas.core.multiobjective import (
    augmented_chebyshev,
    hypervolume,
    simplex_weights,
    unit_minimisation,
    weighted_sum,
)


def test_unit_minimisation_puts_the_best_end_at_zero():
    assert unit_minimisation([0.9, 1000], ["maximize", "minimize"], [0.5, 0], [1.0, 2000]) == pytest.approx([0.2, 0.5])
    assert unit_minimisation([3.0], ["minimize"], [3.0], [3.0]) == [0.0]  # a range of zero width
    with pytest.raises(ValueError, match="direction"):
        unit_minimisation([1.0], ["up"], [0.0], [1.0])


def test_chebyshev_values_and_the_augmentation():
    assert augmented_chebyshev([0.2, 0.6], [0.5, 0.5]) == pytest.approx(0.3 + 0.05 * 0.4)
    # Weakly dominated: the same max term, a worse sum; the augmentation ranks it below.
    assert augmented_chebyshev([0.5, 0.1], [0.5, 0.5]) < augmented_chebyshev([0.5, 0.4], [0.5, 0.5])
    assert weighted_sum([0.2, 0.6], [0.25, 0.75]) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="non-negative"):
        augmented_chebyshev([0.1, 0.2], [1.0, -0.1])


def test_a_dominated_point_never_scores_better_under_any_weights():
    rng = random.Random(0)
    for _ in range(500):
        a = [rng.random() for _ in range(3)]
        b = [x + rng.random() * 0.3 for x in a]  # b is dominated by a
        w = simplex_weights(rng, 3)
        assert augmented_chebyshev(a, w) <= augmented_chebyshev(b, w)
        assert weighted_sum(a, w) <= weighted_sum(b, w)


def test_simplex_weights_are_positive_sum_to_one_and_uniform():
    rng = random.Random(1)
    draws = [simplex_weights(rng, 3) for _ in range(4000)]
    assert all(abs(sum(w) - 1) < 1e-12 and min(w) >= 0 for w in draws)
    for i in range(3):  # Dirichlet(1, 1, 1): each weight's mean is 1/3
        assert sum(w[i] for w in draws) / len(draws) == pytest.approx(1 / 3, abs=0.02)


def _sweep_2d(points, ref):
    """The textbook 2-D hypervolume (a sweep along the first objective), as an independent check."""
    pts = sorted({(x, y) for x, y in points if x < ref[0] and y < ref[1]})
    area, y_bound = 0.0, ref[1]
    for x, y in pts:
        if y < y_bound:
            area += (ref[0] - x) * (y_bound - y)
            y_bound = y
    return area


def test_hypervolume_matches_the_2d_sweep_and_cubes():
    rng = random.Random(2)
    for _ in range(50):
        pts = [(rng.random(), rng.random()) for _ in range(rng.randint(1, 12))]
        assert hypervolume(pts, (1.1, 1.1)) == pytest.approx(_sweep_2d(pts, (1.1, 1.1)))
    assert hypervolume([(0, 0, 0)], (1, 2, 3)) == pytest.approx(6)
    # Two boxes [0.5,1]x[0,1]x[0,1] and [0,1]x[0.5,1]x[0,1] overlap in a quarter: 0.5 + 0.5 - 0.25.
    assert hypervolume([(0.5, 0, 0), (0, 0.5, 0)], (1, 1, 1)) == pytest.approx(0.75)
    assert hypervolume([], (1, 1)) == 0.0
    assert hypervolume([(0.5, 0.5)], (1, 1)) == pytest.approx(0.25)
    assert hypervolume([(0.2, 0.8), (0.8, 0.2), (0.9, 0.9)], (1, 1)) == pytest.approx(0.8 * 0.2 + 0.2 * 0.6)
    assert hypervolume([(2, 0)], (1, 1)) == 0.0  # outside the reference box


def test_hypervolume_in_3d_matches_counting_a_grid():
    rng = random.Random(3)
    pts = [tuple(rng.randrange(8) / 8 for _ in range(3)) for _ in range(7)]
    n = 8
    cells = sum(
        any(all(p[d] <= c[d] / n for d in range(3)) for p in pts) for c in itertools.product(range(n), repeat=3)
    )
    assert hypervolume(pts, (1, 1, 1)) == pytest.approx(cells / n**3)


def test_dominated_points_add_nothing():
    front = [(0.1, 0.9), (0.5, 0.5), (0.9, 0.1)]
    assert hypervolume([*front, (0.6, 0.6), (0.95, 0.95)], (1, 1)) == pytest.approx(hypervolume(front, (1, 1)))
