"""Lazy backend registry: names -> dotted paths, imported on first use.

``import unified_nas`` imports no toolkit. A built-in map plus the entry-point
group ``unified_nas.backends`` (third parties: ``name = "pkg.module:Backend"``)
name the backends; a missing toolkit raises an error naming the pip extra.
"""
from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import TYPE_CHECKING

from unified_nas.errors import BackendNotFound, BackendUnavailable

if TYPE_CHECKING:
    from unified_nas.backends.base import Backend


@dataclass(frozen=True)
class BackendEntry:
    """Where a backend lives and what it needs.

    Attributes:
        name: Backend name (``--backend``).
        target: ``"package.module:Class"``.
        requires: Top-level modules that must be importable.
        extra: The pip extra that installs them.
    """

    name: str
    target: str
    requires: tuple[str, ...]
    extra: str

    def installed(self) -> bool:
        return all(importlib.util.find_spec(m) is not None for m in self.requires)


BUILTIN = {
    "optuna": BackendEntry("optuna", "unified_nas.backends.optuna:Backend", ("optuna", "torch"), "optuna"),
    "nni": BackendEntry("nni", "unified_nas.backends.nni:Backend", ("nni", "torch", "pytorch_lightning"), "nni"),
    "autokeras": BackendEntry("autokeras", "unified_nas.backends.autokeras:Backend", ("autokeras", "keras"), "autokeras"),
}


def entries() -> dict[str, BackendEntry]:
    """Built-in backends plus those registered through entry points."""
    out = dict(BUILTIN)
    for ep in entry_points(group="unified_nas.backends"):
        out.setdefault(ep.name, BackendEntry(ep.name, ep.value, (), ep.name))
    return out


def get_backend(name: str) -> "Backend":
    """Imports and instantiates a backend by name.

    Raises:
        BackendNotFound: If no backend has that name (the message lists them).
        BackendUnavailable: If its toolkit is not installed (the message names the extra).
    """
    all_entries = entries()
    entry = all_entries.get(name)
    if entry is None:
        raise BackendNotFound(f"unknown backend {name!r}; known: {', '.join(sorted(all_entries))}")
    if not entry.installed():
        missing = [m for m in entry.requires if importlib.util.find_spec(m) is None]
        raise BackendUnavailable(f"backend {name!r} needs {', '.join(missing)}: pip install 'unified-nas[{entry.extra}]'")
    module, _, attr = entry.target.partition(":")
    return getattr(importlib.import_module(module), attr)()
