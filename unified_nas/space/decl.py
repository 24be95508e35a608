"""Flat parameter declarations: the form every backend translates from.

A search space, whatever its structure (layer sequence, cell DAG, training
hyperparameters), flattens into an ordered tuple of :class:`ParamDecl`. Each
declaration has a canonical label, a distribution and conditions on labels
declared before it. This is exactly the shape of keras-tuner's
``conditional_scope``, Optuna's define-by-run suggestions and NNI's labelled
mutables, so translators never need to know the structure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from unified_nas.space.params import Distribution, Scalar, distribution_from_dict


@dataclass(frozen=True)
class Condition:
    """Active iff the sample's value for ``label`` is one of ``values``."""

    label: str
    values: tuple[Scalar, ...]

    def holds(self, sample: Mapping[str, Any]) -> bool:
        return self.label in sample and sample[self.label] in self.values

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "values": list(self.values)}


@dataclass(frozen=True)
class ParamDecl:
    """One searchable parameter.

    Attributes:
        label: Canonical label, e.g. ``layer1/width``; also the key in samples.
        dist: Its distribution.
        conditions: All must hold (on labels declared earlier) for the
            parameter to be active; an inactive parameter is absent from the
            canonical sample.
    """

    label: str
    dist: Distribution
    conditions: tuple[Condition, ...] = ()

    def active(self, sample: Mapping[str, Any]) -> bool:
        """Whether this parameter is active given the earlier labels of ``sample``."""
        return all(c.holds(sample) for c in self.conditions)

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, **self.dist.to_dict(), "conditions": [c.to_dict() for c in self.conditions]}

    @staticmethod
    def from_dict(d: dict[str, Any]) -> ParamDecl:
        conds = tuple(Condition(c["label"], tuple(c["values"])) for c in d.get("conditions", ()))
        return ParamDecl(d["label"], distribution_from_dict(d), conds)
