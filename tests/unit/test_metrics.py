"""The metric registry: one definition per metric, agreeing with what computes it."""

from __future__ import annotations

import math

import pytest

from unified_nas.core.metrics import COSTS, METRICS, PRE_TRAINING, Bound, finite, violations


def test_every_proxy_is_registered_and_every_registered_proxy_exists():
    from unified_nas.evaluation.proxies import PROXIES

    assert {n for n, m in METRICS.items() if m.cost == "zero_cost"} == set(PROXIES)


def test_registry_entries_are_well_formed():
    for m in METRICS.values():
        assert m.direction in ("maximize", "minimize") and m.cost in COSTS and m.how
    assert "val_accuracy" not in PRE_TRAINING and {"params", "flops", "latency_ms", "synflow"} <= set(PRE_TRAINING)
    assert METRICS["val_accuracy"].worst("maximize") == 0.0 and METRICS["val_accuracy"].worst("minimize") == 1.0


def test_bounds_follow_optunas_sign_convention():
    b = Bound("params", max=100.0)
    assert b.violation(90) == -10 and b.violation(130) == 30 and b.violation(math.nan) == 1.0
    both = Bound("latency_ms", min=1.0, max=2.0)
    assert both.violation(1.5) == -0.5 and both.violation(0.5) == 0.5
    assert violations([b, both], {"params": 130, "latency_ms": 0.5}) == [
        "params 130 > max 100",
        "latency_ms 0.5 < min 1",
    ]
    assert violations([b], {"params": 100}) == []  # bounds are inclusive


def test_infinite_values_keep_their_order_and_stay_json():
    assert finite(-math.inf) < -1e300 < finite(1.0) < 1e300 < finite(math.inf)
    assert math.isnan(finite(math.nan))


def test_unas_metrics_lists_the_registry(capsys):
    from unified_nas.cli import main

    assert main(["metrics"]) == 0
    out = capsys.readouterr().out
    for name in METRICS:
        assert name in out
    with pytest.raises(SystemExit):
        main(["metrics", "--format", "xml"])
