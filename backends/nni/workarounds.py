"""Small, named workarounds for NNI 3.0 bugs; each names the version it is pinned to.

Remove a workaround when ``nni`` moves past the version in its name and its
test (tests/backends/nni/test_nni.py) passes without it.
"""

from __future__ import annotations

import importlib
import logging
import sys
from types import ModuleType
from typing import Any, cast

import nni
from nni.mutable import CategoricalMultiple

_logger = logging.getLogger(__name__)


def import_strategies() -> ModuleType:
    """``nni.nas.strategy`` without its eager tianshou import (nni==3.0).

    NNI 3.0's strategy package imports tianshou (for PolicyBasedRL) whenever
    it is installed; tianshou imports ``torch.utils.tensorboard``, which
    imports TensorFlow when that is installed: about +4 s and +480 MB in every
    NNI process, whatever the strategy. The package is imported here with
    tianshou hidden; :func:`policy_based_rl` loads the real RL module on demand.
    """
    if "nni.nas.strategy" in sys.modules:
        return sys.modules["nni.nas.strategy"]
    saved = sys.modules.get("tianshou")
    sys.modules["tianshou"] = None  # type: ignore[assignment]  # makes `import tianshou` raise ImportError
    try:
        return importlib.import_module("nni.nas.strategy")
    finally:
        if saved is None:
            del sys.modules["tianshou"]
        else:
            sys.modules["tianshou"] = saved


def policy_based_rl() -> type:
    """NNI's PolicyBasedRL with tianshou really imported (see :func:`import_strategies`)."""
    import_strategies()
    rl = sys.modules["nni.nas.strategy.rl"]
    if not rl.has_tianshou:
        rl = importlib.reload(rl)
    return rl.PolicyBasedRL


TPE = import_strategies().TPE


class TPE_NNI30(TPE):  # type: ignore[valid-type,misc]  # NNI's strategy class, loaded at runtime
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
        legacy = {
            label: (
                {"_type": "choice", "_value": list(space[label].values)} if label in wrapped else m.as_legacy_dict()
            )
            for label, m in space.items()
        }
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


class TaggedConcat:
    """Train batches tagged ``"train"`` then val batches tagged ``"val"``: ENAS's legacy input form."""

    def __init__(self, train: Any, val: Any) -> None:
        self.train, self.val = train, val

    def __iter__(self) -> Any:
        for batch in self.train:
            yield batch, "train"
        for batch in self.val:
            yield batch, "val"

    def __len__(self) -> int:
        return len(self.train) + len(self.val)


def enas() -> type:
    """NNI 3.0's ENAS, repaired for Lightning 2.x and for :func:`import_strategies` (nni==3.0).

    1. With Lightning >= 2 the fit loop unpacks NNI's ``ConcatLoader`` itself,
       so ENAS's ``training_step`` receives a bare ``(x, y)`` and reads it as
       ``(batch, mode)``. The subclass feeds explicitly tagged batches instead,
       the form ENAS's legacy branch reads correctly.
    2. ENAS checks ``has_tianshou`` in its module, which was imported with
       tianshou hidden; that module is reloaded with tianshou visible.
    """
    S = import_strategies()
    sampling = importlib.import_module("nni.nas.oneshot.pytorch.sampling")
    if not sampling.has_tianshou:
        importlib.reload(sampling)

    class ENAS_NNI30(S.ENAS):  # type: ignore[name-defined]  # NNI's strategy class, from a module object
        def train_dataloader(self, train_dataloader_fn: Any, val_dataloader_fn: Any) -> Any:
            return TaggedConcat(train_dataloader_fn(), val_dataloader_fn())

    return ENAS_NNI30
