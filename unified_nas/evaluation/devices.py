"""Which device a run's torch training runs on: ``--device auto|cpu|cuda|cuda:N`` (recipe ``device:``).

The choice is made once per run, before anything is written
(:func:`resolve_device` refuses CUDA where there is none), and kept for the
process in the ``UNAS_DEVICE`` environment variable, so that every trainer
of the run, in this process or in a trial process NNI starts, reads the
same value with :func:`current_device`. The torch trainer moves the
network there once per trial and the data splits once per data set
(``trainer.split_tensors``), never per batch; NNI's one-shot trainer gets
the matching Lightning accelerator.

What runs on the CPU whatever the device: zero-cost proxies and measured
latency, so that those numbers mean the same on every machine that computes
them (a latency is a property of the device it was measured on; the report
says which).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from unified_nas.core.errors import UserError
from unified_nas.recipe.sections import SPEC_RE, SPEC_RULE

ENV = "UNAS_DEVICE"


def check_spec(spec: Any, what: str = "--device") -> str:
    """A device spec as given (not resolved).

    Args:
        spec: The flag's or the recipe's value.
        what: The flag or field to name in the error.

    Returns:
        The spec.

    Raises:
        UserError: Not one of :data:`SPEC_RULE`.
    """
    if not isinstance(spec, str) or not SPEC_RE.fullmatch(spec):
        raise UserError(f"{what}: {spec!r} is not one of {SPEC_RULE}")
    return spec


@dataclass(frozen=True)
class Device:
    """A resolved device.

    Attributes:
        requested: What the user asked for (``auto``, ``cuda:1``...).
        torch: The torch device string (``cpu``, ``cuda:0``).
        name: A human name (the GPU's, or ``cpu``).
    """

    requested: str
    torch: str
    name: str

    @property
    def is_cuda(self) -> bool:
        return self.torch.startswith("cuda")

    @property
    def index(self) -> int | None:
        """The CUDA device index, None on the CPU."""
        return int(self.torch.split(":")[1]) if self.is_cuda else None

    def describe(self) -> dict[str, Any]:
        """The report's ``environment.device``."""
        return {"requested": self.requested, "used": self.torch, "name": self.name}


def resolve_device(spec: str | None) -> Device:
    """Resolves a device spec on this machine (imports torch).

    Args:
        spec: ``auto`` (CUDA device 0 if there is one, else the CPU), ``cpu``, ``cuda``
            (device 0) or ``cuda:N``; None means ``cpu``, the default: results of the
            CPU are reproducible bit for bit, and a GPU is something a user asks for.

    Returns:
        The device.

    Raises:
        UserError: CUDA asked for and not available (no CUDA build of torch, no device,
            or no device N), or a malformed spec.
    """
    spec = check_spec("cpu" if spec is None else spec)
    if spec == "cpu":
        return Device(spec, "cpu", "cpu")
    import torch

    available = torch.cuda.is_available()
    if spec == "auto" and not available:
        return Device(spec, "cpu", "cpu")
    if not available:
        why = "this torch has no CUDA support" if torch.version.cuda is None else "no CUDA device is visible"
        raise UserError(f"--device {spec}: {why} (torch {torch.__version__}); use --device cpu or auto")
    index = int(spec.split(":")[1]) if ":" in spec else 0
    count = torch.cuda.device_count()
    if index >= count:
        raise UserError(f"--device {spec}: this machine has {count} CUDA device(s) (cuda:0..cuda:{count - 1})")
    return Device(spec, f"cuda:{index}", torch.cuda.get_device_name(index))


def use_device(device: Device) -> None:
    """Makes ``device`` the device of this process's training, and of the processes it starts."""
    os.environ[ENV] = device.torch


def current_device() -> str:
    """The torch device string trainers use (``cpu`` unless a run chose another)."""
    return os.environ.get(ENV) or "cpu"


def lightning_accelerator() -> dict[str, Any]:
    """Lightning's ``accelerator``/``devices`` arguments for :func:`current_device` (NNI's one-shot trainer)."""
    dev = current_device()
    if dev.startswith("cuda"):
        return {"accelerator": "gpu", "devices": [int(dev.split(":")[1]) if ":" in dev else 0]}
    return {"accelerator": "cpu", "devices": 1}
