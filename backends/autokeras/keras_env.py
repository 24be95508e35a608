"""Chooses Keras's compute backend before Keras is imported.

Keras reads ``KERAS_BACKEND`` once, at import. The AutoKeras backend runs on
TensorFlow by default; ``keras_backend: torch`` runs the same search on
PyTorch without importing TensorFlow (to compare strategies on one framework).
"""
from __future__ import annotations

import os
import sys

from unified_nas.errors import RecipeError

KERAS_BACKENDS = ("tensorflow", "torch")


def select_keras_backend(name: str) -> None:
    """Sets ``KERAS_BACKEND`` (and quiets TensorFlow's C++ log) unless Keras is already loaded.

    Raises:
        RecipeError: If Keras is already loaded in this process with another backend.
    """
    if "keras" in sys.modules:
        import keras

        current = keras.backend.backend()
        if current != name:
            raise RecipeError("backends.autokeras.keras_backend",
                              f"Keras is already loaded with the {current} backend in this process; "
                              f"{name} needs a fresh process")
        return
    os.environ["KERAS_BACKEND"] = name
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TF's start-up banner is not our output
