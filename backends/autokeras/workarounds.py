"""Small, named workarounds for AutoKeras 3.0.0 (and its stack); each names its version.

Remove a workaround when the package moves past the version in its name and
its test (tests/backends/autokeras/test_autokeras.py) passes without it.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from typing import Any

# On Keras's torch backend TensorFlow is still imported when installed:
# autokeras/utils/utils.py (autokeras==3.0.0) imports it to list its
# out-of-memory exception, and keras's serialization_lib (keras 3.12) checks
# `tf.available` when AutoKeras saves its graph. +3 s and hundreds of MB per
# run, for nothing. Both treat ImportError as "TF absent".
TF_ON_TORCH_AK300_KERAS312 = "autokeras==3.0.0, keras==3.12"


def hide_tensorflow() -> None:
    """Makes ``import tensorflow`` raise ImportError in this process (TF_ON_TORCH_AK300_KERAS312).

    Only for a Keras bound to the torch backend (Keras fixes its backend per
    process, so TensorFlow has no use here afterwards). No effect if TF is
    already loaded.
    """
    if "tensorflow" not in sys.modules:
        sys.modules["tensorflow"] = None  # type: ignore[assignment]


# AutoTuner._build_and_fit_model (autokeras==3.0.0) replaces keras-tuner's
# version without its `build_config.json` write, so Hyperband's promoted
# trials (and keras-tuner's load_model on a multi-backend Keras) fail with
# FileNotFoundError on every trial that continues an earlier one.
HYPERBAND_BUILD_CONFIG_AK300 = "autokeras==3.0.0"


def save_build_config(tuner: Any, trial_id: str, model: Any) -> None:
    """Writes the file keras-tuner's Hyperband loads for promoted trials (HYPERBAND_BUILD_CONFIG_AK300)."""
    path = tuner._get_build_config_fname(trial_id)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(model.get_build_config(), f)


# AutoTuner.search (autokeras==3.0.0) builds the default architecture once to
# register the space, through keras-tuner's size-checked _try_build: when that
# one model is over max_model_size, the whole search dies before trial 1
# instead of recording the trial as failed. The registration build skips the check.
INITIAL_BUILD_SIZE_CHECK_AK300 = "autokeras==3.0.0"


@contextlib.contextmanager
def unchecked_model_size(tuner: Any) -> Iterator[None]:
    """No max_model_size check while AutoKeras registers the space (INITIAL_BUILD_SIZE_CHECK_AK300)."""
    saved, tuner.max_model_size = tuner.max_model_size, None
    try:
        yield
    finally:
        tuner.max_model_size = saved


# keras-tuner's random oracles give up once `_max_collisions` (20) draws in a
# row were samples already tried, and AutoKeras's GreedyOracle.populate_space
# once 20 of its stages did (keras-tuner==1.4.8, autokeras==3.0.0; greedy.py,
# populate_space). Either returns STOPPED and the search ends quietly short of
# max_trials while untried samples remain: recipes/nb201_cifar10.yaml, greedy,
# 100 trials, seeds 0-7: six stopped after 56-98 trials in 15,625
# architectures (seed 3 after 58), the incumbent's neighbourhood used up. Asked again, the oracle goes on with its
# own procedure from where its random streams stand, as if its draws (random)
# or stages (greedy) before giving up were ORACLE_ROUNDS + 1 times as many:
# what it proposed before the first give-up is unchanged. A space whose every
# sample has been tried is not asked again.
ORACLE_GIVES_UP_AK300 = "autokeras==3.0.0, keras-tuner==1.4.8"
ORACLE_ROUNDS = 20  # populate_space calls after the first give-up, each its own 20 stages or 21 draws


def give_up_reason(oracle: Any, rounds: int) -> str:
    """One line naming why the oracle stopped proposing (ORACLE_GIVES_UP_AK300)."""
    from autokeras.tuners.greedy import GreedyOracle  # deferred: Keras fixes its backend when first imported

    limit = oracle._max_collisions
    if isinstance(oracle, GreedyOracle):
        return (
            f"AutoKeras's greedy oracle drew only tried samples in {rounds + 1} x {limit} stages "
            f"of {limit + 1} draws (keras-tuner's collision limit is {limit})"
        )
    return f"keras-tuner's {type(oracle).__name__} drew only tried samples in {rounds + 1} x {limit + 1} draws"


def ask_again_when_oracle_gives_up(
    oracle: Any, enumerated: Callable[[], str | None], stop_early: Callable[[str], None]
) -> None:
    """Asks a random or greedy oracle again when it gives up early (ORACLE_GIVES_UP_AK300); says why it stops.

    Other oracles (grid, Hyperband) stop for their own reasons: only the reason is recorded.

    Args:
        oracle: The tuner's oracle, before the search starts.
        enumerated: Why the oracle cannot propose more when every sample of the space has been tried
            (None while some remain, or the space is continuous).
        stop_early: Called with one line when the oracle stops proposing (``RunContext.stop_early``).
    """
    import keras_tuner  # deferred, as AutoKeras: Keras fixes its backend when first imported (__init__.prepare)
    from autokeras.tuners.greedy import GreedyOracle

    populate = oracle.populate_space
    stopped = keras_tuner.engine.trial.TrialStatus.STOPPED
    retried = isinstance(
        oracle, (GreedyOracle, keras_tuner.oracles.RandomSearchOracle, keras_tuner.oracles.BayesianOptimizationOracle)
    )

    def populate_space(trial_id: str) -> dict[str, Any]:
        response = populate(trial_id)
        rounds = ORACLE_ROUNDS if retried else 0
        done = 0
        while response["status"] == stopped and done < rounds and enumerated() is None:
            response, done = populate(trial_id), done + 1
        if response["status"] == stopped:
            why = enumerated()
            if why is None:
                why = give_up_reason(oracle, done) if retried else f"keras-tuner's {type(oracle).__name__} stopped"
            stop_early(why)
        return response

    oracle.populate_space = populate_space


@contextlib.contextmanager
def frozen_heap() -> Iterator[None]:
    """Moves every live object out of the collector's reach for the duration.

    keras-tuner calls ``gc.collect()`` before every model build (autokeras==3.0.0,
    keras-tuner==1.4.8), twice per trial; on the heap the TF/torch imports
    leave behind each full collection costs ~0.4 s. Frozen objects are not
    traversed, so those collections only see the trial's own garbage.
    Garbage is collected first, so nothing unreachable is frozen.
    """
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


# TensorFlow 2.21 prints three lines through absl while it is imported (a
# oneDNN notice and two "All log messages before absl::InitializeLog()"
# warnings), before it reads TF_CPP_MIN_LOG_LEVEL: no setting silences them,
# and TF_ENABLE_ONEDNN_OPTS=0 would change the numerics. They turned every
# one-line error of an AutoKeras run into four lines.
TF_IMPORT_LOG_TF221 = "tensorflow-cpu==2.21.0"


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Captures what native code writes to file descriptor 2 inside the block (TF_IMPORT_LOG_TF221).

    Shown after all if the block raises, so a failing import still explains itself.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            captured.seek(0)
            sys.stderr.write(captured.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
