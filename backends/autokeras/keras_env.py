"""Chooses Keras's compute backend before Keras is imported.

Keras reads ``KERAS_BACKEND`` once, at import. The AutoKeras backend runs on
TensorFlow by default; ``keras_backend: torch`` runs the same search on
PyTorch without importing TensorFlow (to compare strategies on one framework).
"""

from __future__ import annotations

import os
import sys

from unified_nas.core.errors import RecipeError
from unified_nas.evaluation.devices import current_device

KERAS_BACKENDS = ("tensorflow", "torch")


def select_keras_backend(name: str) -> None:
    """Sets ``KERAS_BACKEND`` (quiets TensorFlow's C++ log, keeps Keras off ~/.keras) unless Keras is already loaded.

    Raises:
        RecipeError: If Keras is already loaded in this process with another backend.
    """
    if "keras" in sys.modules:
        import keras

        current = keras.backend.backend()
        if current != name:
            raise RecipeError(
                "backends.autokeras.keras_backend",
                f"Keras is already loaded with the {current} backend in this process; {name} needs a fresh process",
            )
        return
    os.environ["KERAS_BACKEND"] = name
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TF's start-up banner is not our output
    # Keras reads ~/.keras/keras.json at import (floatx, epsilon, image data format: settings that would
    # change results behind the recipe's back) and writes it there if it is missing, a file outside the
    # run directory (the behaviour suite's writes_confined check). A "home" that is not a folder makes
    # Keras skip both, quietly (it ignores the OSError). A KERAS_HOME the user set is kept.
    os.environ.setdefault("KERAS_HOME", os.devnull)
    _match_device()


def _match_device() -> None:
    """Shows Keras only the run's device (``--device``, see ``unified_nas.evaluation.devices``), before TensorFlow loads.

    TensorFlow takes every visible GPU by default, and Keras's torch backend
    takes CUDA when it is there: a ``--device cpu`` run would train Keras on
    the GPU and torch on the CPU, and the comparison would measure the device.
    ``CUDA_VISIBLE_DEVICES`` is read by both at import: empty hides the GPUs;
    N shows GPU N alone (as the framework's device 0).
    """

    dev = current_device()
    if not dev.startswith("cuda"):
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
        return
    index = int(dev.split(":")[1])
    # torch's cuda:N counts the devices already visible to it: keep the user's numbering.
    shown = [d for d in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if d.strip()]
    os.environ["CUDA_VISIBLE_DEVICES"] = shown[index] if index < len(shown) else str(index)
