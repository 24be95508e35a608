"""What a report records about the machine and package versions."""
from __future__ import annotations

import os
import platform
import sys
from importlib.metadata import PackageNotFoundError, version
from typing import Any

PACKAGES = ("unified-nas", "numpy", "scikit-learn", "torch", "optuna", "nni", "pytorch-lightning",
            "autokeras", "keras", "keras-tuner", "tensorflow", "tensorflow-cpu")


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _gpu() -> str:
    # Only ask torch if it is already imported: never import a framework just to report.
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return "none"


def environment() -> dict[str, Any]:
    """Python, OS, CPU/GPU and the versions of installed relevant packages."""
    pkgs = {}
    for name in PACKAGES:
        try:
            pkgs[name] = version(name)
        except PackageNotFoundError:
            continue
    return {"python": platform.python_version(), "platform": platform.platform(), "cpu": _cpu_model(),
            "cpu_count": os.cpu_count(), "gpu": _gpu(), "packages": pkgs}
