"""Failed trials on AutoKeras: the cause is in the record, not on stderr (see tests/backends/faults.py)."""

from __future__ import annotations

import pytest

from tests.backends.faults import diverging_recipe
from tests.conftest import run_on

pytestmark = pytest.mark.slow


def test_autokeras_failed_trials_are_recorded_and_not_printed(store, tmp_path, capfd):
    """keras-tuner prints each failed trial's traceback unless its DEBUG is off (run.no_trial_tracebacks)."""
    pytest.importorskip("autokeras")
    report = run_on(
        "autokeras", diverging_recipe(), store, tmp_path, trials=2, extra_options={"max_model_size": 1}
    )  # every model is larger than 1 parameter: each trial fails in keras-tuner's own check
    trials = store.load_run(report.run_id).trials
    assert [t.status for t in trials] == ["failed", "failed"] and all("Oversized" in (t.error or "") for t in trials)
    shown = "".join(capfd.readouterr())
    assert "Traceback" not in shown, shown[-2000:]
