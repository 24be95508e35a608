"""Lazy backend registry: every backend, built-in or third-party, is an entry point.

``import unified_nas`` imports no toolkit. Backends register under the
entry-point group ``unified_nas.backends`` (``name = "pkg.module:Backend"``;
unified-nas's own are declared the same way in its ``pyproject.toml``), so
no core module names a backend. What a backend needs (``requires``, the pip
``extra``) is declared by the backend class itself; a missing toolkit raises
an error naming the pip command.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import TYPE_CHECKING

from unified_nas.core.errors import BackendNotFound, BackendUnavailable

if TYPE_CHECKING:
    from unified_nas.backends.base import Backend

GROUP = "unified_nas.backends"


@dataclass(frozen=True)
class BackendEntry:
    """Where a backend lives.

    Attributes:
        name: Backend name (``--backend``).
        target: ``"package.module:Class"``.
        distribution: The installed distribution that registered it (for the install hint).
    """

    name: str
    target: str
    distribution: str | None = None

    def backend_class(self) -> type[Backend]:
        """Imports the backend class (a backend module imports its toolkit only where it must).

        Raises:
            BackendUnavailable: Its module or one of its declared ``requires`` cannot be imported.
        """
        module, _, attr = self.target.partition(":")
        try:
            cls = getattr(importlib.import_module(module), attr)
        except ImportError as e:  # the module imports its toolkit at import time (NNI)
            raise BackendUnavailable(f"backend {self.name!r} needs {e.name or e}: {self.install_hint()}") from None
        missing = [m for m in cls.requires if importlib.util.find_spec(m) is None]
        if missing:
            raise BackendUnavailable(
                f"backend {self.name!r} needs {', '.join(missing)}: {self.install_hint(cls.extra)}"
            )
        return cls

    def install_hint(self, extra: str | None = None) -> str:
        """The pip command that installs the backend's toolkit."""
        if self.distribution in (None, "unified-nas", "unified_nas"):
            return f"pip install 'unified-nas[{extra or self.name}]'"
        return f"pip install {self.distribution}"

    def installed(self) -> bool:
        """Whether the backend can run here (its module and declared requirements import)."""
        try:
            self.backend_class()
        except BackendUnavailable:
            return False
        return True


def entries() -> dict[str, BackendEntry]:
    """Every registered backend, by name."""
    out: dict[str, BackendEntry] = {}
    for ep in entry_points(group=GROUP):
        dist = ep.dist.name if ep.dist is not None else None
        out.setdefault(ep.name, BackendEntry(ep.name, ep.value, dist))
    return out


def default_bench_backends() -> list[str]:
    """The backends ``unas bench`` compares when none are named: every installed one that benchmarks by default.

    A backend opts out with ``Backend.in_default_bench = False`` (e.g. a
    reference implementation that checks the contract rather than searches).
    """
    out = []
    for name, entry in sorted(entries().items()):
        try:
            if entry.backend_class().in_default_bench:
                out.append(name)
        except BackendUnavailable:
            continue
    return out


def get_backend(name: str) -> Backend:
    """Imports and instantiates a backend by name.

    Raises:
        BackendNotFound: If no backend has that name (the message lists them).
        BackendUnavailable: If its toolkit is not installed (the message names the pip command).
    """
    all_entries = entries()
    entry = all_entries.get(name)
    if entry is None:
        raise BackendNotFound(f"unknown backend {name!r}; known: {', '.join(sorted(all_entries))}")
    return entry.backend_class()()
