"""Small, named workarounds for NNI 3.0 bugs; each names the version it is pinned to.

Remove a workaround when ``nni`` moves past the version in its name and its
test (tests/backends/test_nni.py) passes without it.
"""
from __future__ import annotations

import logging
from typing import Any, cast

import nni
from nni.mutable import CategoricalMultiple
from nni.nas.strategy import TPE

_logger = logging.getLogger(__name__)


class TPE_NNI30(TPE):
    """NNI 3.0's TPE strategy with two fixes (nni==3.0).

    1. Single-choice ``InputChoice`` (a ``CategoricalMultiple`` with
       ``n_chosen=1``, used by NNI's ``Cell``) has no legacy tuner form, so the
       stock TPE fails on any cell space. Here it is offered to the tuner as a
       plain choice among candidate indices, and wrapped back into ``[i]``.
    2. The stock loop sleeps 1 s after every submission, even with the
       sequential engine where every submission has already finished.
    """

    _wrapped: frozenset[str] = frozenset()

    def _run(self) -> None:
        space = self.model_space.simplify()
        wrapped = {label for label, m in space.items() if isinstance(m, CategoricalMultiple) and m.n_chosen == 1}
        self._wrapped = frozenset(wrapped)
        legacy = {label: ({"_type": "choice", "_value": list(space[label].values)} if label in wrapped
                          else m.as_legacy_dict()) for label, m in space.items()}
        with self._thread_lock:
            self.tuner.update_search_space(cast(Any, legacy))
        while self.engine.budget_available():
            if not self.engine.idle_worker_available():
                self.engine.wait_models()  # web engine: block until a worker frees up (no busy sleep)
                continue
            with self._thread_lock:
                try:
                    param = self.tuner.generate_parameters(self._model_count)
                except nni.NoMoreTrialError:
                    _logger.warning("TPE generated no more trials; stopping.")
                    break
                model = self.model_space.freeze({k: ([v] if k in wrapped else v) for k, v in param.items()})
                self._model_to_id[model] = self._model_count
                self._model_count += 1
            self.engine.submit_models(model)

    def on_metric(self, event: Any) -> None:
        # The tuner must see the same plain values it generated, not NNI's [i].
        with self._thread_lock:
            model_id = self._model_to_id[event.model]
            sample = {k: (v[0] if k in self._wrapped else v) for k, v in (event.model.sample or {}).items()}
            self.tuner.receive_trial_result(model_id, sample, event.metric)
