"""Failed trials on NNI (headless): the cause is in the record, not on stdout (see tests/backends/faults.py).

A patched ``MacroLayer`` refuses to build 32-wide layers, which fails an NNI
trial while NNI builds the network, before our evaluator function runs.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.backends.faults import check_training_failure_is_recorded_with_its_cause_and_not_printed, diverging_recipe
from tests.conftest import run_on

pytestmark = pytest.mark.slow


def test_training_failure_is_recorded_with_its_cause_and_not_printed(store, tmp_path, capfd):
    check_training_failure_is_recorded_with_its_cause_and_not_printed("nni", store, tmp_path, capfd)


def test_nni_failure_while_nni_builds_the_network_is_recorded(store, tmp_path, capfd, monkeypatch):
    import unified_nas.backends.nni.space as nni_space

    class UnbuildableAt32(nni_space.MacroLayer):
        """Fails like an allocation error would, for 32-wide layers only (NNI builds its space with 16)."""

        def __init__(self, cfg: Any, *args: Any, **kwargs: Any) -> None:
            if cfg.width == 32:
                raise RuntimeError("provoked: cannot build a 32-wide layer")
            super().__init__(cfg, *args, **kwargs)

    monkeypatch.setattr(nni_space, "MacroLayer", UnbuildableAt32)
    report = run_on("nni", diverging_recipe(), store, tmp_path, strategy="grid", trials=4)
    by_width: dict[int, list[Any]] = {}
    for t in store.load_run(report.run_id).trials:
        by_width.setdefault(t.sample["layer0/width"], []).append(t)
    assert sorted(t.status for t in by_width[16]) == ["complete", "failed"]
    assert [t.status for t in by_width[32]] == ["failed", "failed"]
    for t in by_width[32]:
        assert t.error.splitlines()[-1] == "RuntimeError: provoked: cannot build a 32-wide layer"
        assert "without a result" not in t.error
    shown = "".join(capfd.readouterr())
    assert "Traceback" not in shown and "provoked" not in shown, shown[-2000:]
