"""Generic algorithms over flat declarations: validate, activate, draw, count, enumerate.

They work for any space because they only read :class:`ParamDecl` tuples.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from unified_nas.core.errors import SampleError
from unified_nas.space.decl import ParamDecl

Sample = dict[str, Any]


def active_labels(decls: Sequence[ParamDecl], sample: Mapping[str, Any]) -> list[str]:
    """Labels active for ``sample``, in declaration order.

    Args:
        decls: The space's declarations.
        sample: A (possibly partial or over-full) sample.

    Returns:
        Labels whose conditions hold; a label whose parent is inactive is
        inactive too, because the parent is then absent.
    """
    seen: dict[str, Any] = {}
    out = []
    for d in decls:
        if d.active(seen):
            out.append(d.label)
            if d.label in sample:
                seen[d.label] = sample[d.label]
    return out


def canonicalize(decls: Sequence[ParamDecl], sample: Mapping[str, Any]) -> Sample:
    """Drops inactive and unknown labels (toolkits such as NNI sample them all)."""
    return {label: sample[label] for label in active_labels(decls, sample) if label in sample}


def validate_sample(decls: Sequence[ParamDecl], sample: Mapping[str, Any]) -> None:
    """Checks that ``sample`` is a canonical sample of the space.

    Raises:
        SampleError: On an unknown label, a missing active label, an inactive
            label that is present, or a value outside its distribution.
    """
    known = {d.label for d in decls}
    unknown = sorted(set(sample) - known)
    if unknown:
        raise SampleError(f"unknown label(s): {', '.join(unknown)}")
    active = active_labels(decls, sample)
    by_label = {d.label: d for d in decls}
    for label in active:
        if label not in sample:
            raise SampleError(f"{label}: missing (it is active for this sample)")
        why = by_label[label].dist.check(sample[label])
        if why:
            raise SampleError(f"{label}: {why}")
    extra = sorted(set(sample) - set(active))
    if extra:
        raise SampleError(f"{', '.join(extra)}: inactive for this sample but present")


def random_sample(decls: Sequence[ParamDecl], seed: int | random.Random) -> Sample:
    """Draws a canonical sample; the same seed gives the same sample."""
    rng = seed if isinstance(seed, random.Random) else random.Random(seed)
    sample: Sample = {}
    for d in decls:
        if d.active(sample):
            sample[d.label] = d.dist.draw(rng)
    return sample


def start_values(decls: Sequence[ParamDecl]) -> Sample:
    """Every label's start value (declared ``default:`` or neutral, see ``params``), inactive labels included.

    Toolkits that freeze every parameter, active or not, need the inactive
    ones too; the canonical start point is :func:`start_sample`.
    """
    return {d.label: d.dist.start() for d in decls}


def start_sample(decls: Sequence[ParamDecl]) -> Sample:
    """The start point: the canonical sample of :func:`start_values`, the same on every backend.

    Args:
        decls: The space's declarations.

    Returns:
        A canonical sample (labels inactive at the start point dropped).
    """
    return canonicalize(decls, start_values(decls))


def _parents(decls: Sequence[ParamDecl]) -> set[str]:
    return {c.label for d in decls for c in d.conditions}


def space_size(decls: Sequence[ParamDecl]) -> float:
    """Number of distinct canonical samples (``math.inf`` if a range is continuous).

    Only labels that other labels depend on are branched on; independent
    labels contribute a product, so large cell spaces are counted instantly.
    """
    parents = _parents(decls)

    def count(i: int, partial: Sample) -> float:
        total = 1.0
        for j in range(i, len(decls)):
            d = decls[j]
            if not d.active(partial):
                continue
            if d.label in parents:
                return total * sum(count(j + 1, {**partial, d.label: v}) for v in d.dist.values())
            total *= d.dist.size()
        return total

    n = count(0, {})
    return n if math.isinf(n) else int(n)


def enumerate_samples(decls: Sequence[ParamDecl]) -> Iterator[Sample]:
    """Yields every canonical sample once, in declaration-major order.

    Raises:
        ValueError: If a parameter is continuous.
    """

    def rec(i: int, partial: Sample) -> Iterator[Sample]:
        if i == len(decls):
            yield dict(partial)
            return
        d = decls[i]
        if not d.active(partial):
            yield from rec(i + 1, partial)
            return
        for v in d.dist.values():
            partial[d.label] = v
            yield from rec(i + 1, partial)
            del partial[d.label]

    yield from rec(0, {})
