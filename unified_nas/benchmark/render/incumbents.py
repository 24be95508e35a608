"""The benchmark report's incumbents: for each backend, the architecture of its best seed's answer.

Each backend is shown by one run: the seed whose incumbent is best on the
first objective, the validation score every incumbent was chosen on (ties:
the lowest seed), never on test or true accuracy, which would pick with data
the search must not see. The picture is drawn from the benchmark's recipe copy
and the data shapes its runs recorded (:mod:`unified_nas.report.architecture`),
so the report needs nothing from the runs' folders.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from unified_nas.core.errors import UserError
from unified_nas.report.architecture import (
    Drawing,
    data_shapes,
    draw_architecture,
    genotype_text,
    recipe_space,
)
from unified_nas.space.spaces import SearchSpace


@dataclass(frozen=True)
class Incumbent:
    """One backend's shown incumbent.

    Attributes:
        backend: The backend.
        seed: The seed of the run it comes from.
        seeds: How many of the backend's runs had an incumbent to choose from.
        run_id: That run.
        trial: The incumbent's trial index.
        objective: Its first objective (validation).
        sample: Its canonical sample.
    """

    backend: str
    seed: int
    seeds: int
    run_id: str
    trial: int
    objective: float
    sample: dict[str, Any]


def best_incumbents(d: dict[str, Any]) -> list[Incumbent]:
    """Each backend's best seed's incumbent, in the benchmark's backend order (backends without one left out).

    Args:
        d: Output of ``bench_data``.

    Returns:
        One entry per backend that has a run with an incumbent.
    """
    sign = 1 if d["directions"][0] == "maximize" else -1
    out = []
    for backend in d["config"]["backends"]:
        # An incumbent without its sample (a report from before samples were summarised) cannot be drawn.
        runs = [
            r
            for r in d["runs"]
            if r["backend"] == backend
            and r.get("incumbent")
            and "sample" in r["incumbent"]
            and "index" in r["incumbent"]
        ]
        if not runs:
            continue
        best = max(runs, key=lambda r: (sign * r["incumbent"]["objectives"][0], -r["seed"]))
        inc = best["incumbent"]
        out.append(
            Incumbent(
                backend, best["seed"], len(runs), best["run_id"], inc["index"], inc["objectives"][0], inc["sample"]
            )
        )
    return out


def bench_space(d: dict[str, Any]) -> SearchSpace | None:
    """The benchmark's search space, from the recipe copy its runs kept (None if it cannot be read)."""
    try:
        return recipe_space(d["recipe"], f"benchmark {d['bench_id']}")
    except UserError:
        return None


def caption(inc: Incumbent, d: dict[str, Any]) -> str:
    """What a picture shows: which seed and trial, and why that seed."""
    chosen = (
        f"the best of {inc.seeds} seeds' incumbents on {d['metric']} (validation)" if inc.seeds > 1 else "its only seed"
    )
    return f"{inc.backend}: seed {inc.seed}, trial {inc.trial} ({d['metric']} {inc.objective:.4g}), {chosen}"


def incumbent_drawings(d: dict[str, Any]) -> list[tuple[Incumbent, Drawing | None, str]]:
    """Each backend's shown incumbent with its drawing and its one-line genotype.

    Args:
        d: Output of ``bench_data``.

    Returns:
        ``(incumbent, drawing, genotype)`` per backend; the drawing is None and the genotype says why where the
        recipe copy or the sample cannot be read.
    """
    space = bench_space(d)
    shape, classes = data_shapes(d.get("data") or {})
    out: list[tuple[Incumbent, Drawing | None, str]] = []
    for inc in best_incumbents(d):
        if space is None:
            out.append((inc, None, "(the benchmark keeps no readable recipe to draw from)"))
            continue
        title = f"{inc.backend}: seed {inc.seed}'s incumbent, trial {inc.trial}"
        try:
            drawing = draw_architecture(space, inc.sample, shape, classes, title, f"run {inc.run_id}")
            out.append((inc, drawing, genotype_text(space, inc.sample)))
        except (UserError, KeyError, ValueError) as e:  # a store edited by hand: the rest of the report stands
            out.append((inc, None, f"(cannot draw this sample: {e})"))
    return out
