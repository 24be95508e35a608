"""`import unified_nas` imports no toolkit (the lazy-registry promise)."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("torch", "tensorflow", "keras", "nni", "optuna", "autokeras", "sklearn")


def test_import_is_toolkit_free():
    code = (
        "import sys, unified_nas, unified_nas.runs.registry, unified_nas.cli, unified_nas.space, unified_nas.recipe;"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""
