"""IR -> an Optuna define-by-run suggestion function.

Each declaration becomes one ``trial.suggest_*`` call with the canonical label
as the parameter name; a conditional declaration is suggested only when its
conditions hold on the values suggested before it, so inactive labels never
reach Optuna's samplers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import optuna

from unified_nas.space import Categorical, FloatRange, IntRange, ParamDecl

Suggest = Callable[[optuna.Trial], dict[str, Any]]


def suggest_one(trial: optuna.Trial, decl: ParamDecl) -> Any:
    """One ``suggest_*`` call with the exact semantics of the IR distribution."""
    d = decl.dist
    if isinstance(d, Categorical):
        return trial.suggest_categorical(decl.label, list(d.choices))
    if isinstance(d, IntRange):  # Optuna's int bounds are inclusive too
        return trial.suggest_int(decl.label, d.low, d.high, step=d.step, log=d.log)
    if isinstance(d, FloatRange):
        return trial.suggest_float(decl.label, d.low, d.high, log=d.log)
    raise TypeError(f"unknown distribution {type(d).__name__}")


def make_suggest(decls: Sequence[ParamDecl]) -> Suggest:
    """Returns ``trial -> canonical sample`` for the declarations."""

    def suggest(trial: optuna.Trial) -> dict[str, Any]:
        sample: dict[str, Any] = {}
        for decl in decls:
            if decl.active(sample):
                sample[decl.label] = suggest_one(trial, decl)
        return sample

    return suggest
