"""A suite report: several benchmarks (one per recipe) compared together.

Each recipe's benchmark gives every backend one score: the interquartile mean over seeds of its
runs' final incumbent score on the recipe's headline (first) objective. Each recipe then ranks
the backends in its own objective's direction, and the suite compares the average ranks with
Friedman's test and the Nemenyi critical difference (Demšar 2006, JMLR 7:1-30), drawn as a
critical-difference diagram. Renderers: self-contained HTML (inline SVG), Markdown, JSON, with the
conventions and escaping of :mod:`unified_nas.benchmark.render`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any

from unified_nas.benchmark.render import CSS, fmt_iqm, html_table, md_table, md_text, write_rendered
from unified_nas.benchmark.stats import ALPHA, friedman_nemenyi
from unified_nas.benchmark.summary import bench_data
from unified_nas.benchmark.svg import PALETTE, cd_diagram
from unified_nas.core.errors import UserError
from unified_nas.report.store import ResultsStore

SCORE = (
    "the interquartile mean (IQM) over seeds of each run's final incumbent score on the recipe's headline "
    "(first) objective, ranked in that objective's direction"
)

SCORES_EXPLAINED = (
    "Each cell: the backend's IQM over seeds [95% bootstrap interval] and its rank on that recipe "
    "(1 = best, ties share a rank); the last row averages the ranks over recipes, the suite's summary."
)


def _common_backends(configs: Sequence[tuple[str, dict[str, Any]]]) -> list[str]:
    """Backends in every benchmark, in the first benchmark's order.

    Raises:
        UserError: There is none.
    """
    common = [b for b in configs[0][1]["backends"] if all(b in cfg["backends"] for _, cfg in configs[1:])]
    if not common:
        listed = "; ".join(f"{bid}: {', '.join(cfg['backends'])}" for bid, cfg in configs)
        raise UserError(f"no backend is in every benchmark of the suite ({listed})")
    return common


def _recipe_row(d: dict[str, Any], backends: Sequence[str]) -> dict[str, Any]:
    """One benchmark's part of the suite: the recipe, its headline and each backend's score on it.

    A benchmark's headline is what its own report ranks by: the objective, or for a table recipe the
    true accuracy of each run's answer (``bench_data``'s ``headline``). The suite ranks by the same.

    Args:
        d: The benchmark's ``bench_data``.
        backends: The backends the suite compares.

    Returns:
        ``bench_id``, ``recipe``, ``metric``, ``direction``, ``seeds`` (count), ``trials``,
        ``scores`` (per backend: ``iqm``, ``iqm_ci95``, ``n``) and the benchmark's ``warnings``.
    """
    headline = d.get("headline") or {"key": "objective", "direction": d["directions"][0]}
    key = headline["key"]
    return {
        "bench_id": d["bench_id"],
        "recipe": d["recipe"]["name"],
        "metric": d["metric"] if key == "objective" else headline.get("label", key),
        "direction": headline.get("direction", d["directions"][0]),
        "seeds": len(d["config"]["seeds"]),
        "trials": d["config"]["trials"],
        # The IQM and its interval as bench_data computed them; ``n``: runs with a final score.
        "scores": {b: {k: d["backends"][b][key].get(k) for k in ("iqm", "iqm_ci95", "n")} for b in backends},
        "warnings": d["warnings"],
    }


def _warnings(rows: Sequence[dict[str, Any]], dropped: Sequence[str]) -> list[str]:
    """What the reader should know before trusting the ranks.

    Args:
        rows: The recipes' rows (:func:`_recipe_row`).
        dropped: Backends left out for not being in every benchmark.

    Returns:
        One sentence per problem.
    """
    out = [f"backend {b} is not in every benchmark: left out of the suite" for b in dropped]
    recipes = [r["recipe"] for r in rows]
    out += [
        f"recipe {name} has {recipes.count(name)} benchmarks: each counts as a recipe of its own"
        for name in sorted(set(recipes))
        if recipes.count(name) > 1
    ]
    for r in rows:
        out += [
            f"{b} has no final score on {r['recipe']}: ranked last there" for b, s in r["scores"].items() if not s["n"]
        ]
        if r["warnings"]:
            out.append(
                f"{r['bench_id']}: {len(r['warnings'])} warning(s) (runs on different data, failed runs or "
                "unequal budgets), see its report"
            )
    return out


def suite_data(
    store: ResultsStore,
    bench_ids: Sequence[str],
    created_at: float | None = None,
    benches: Mapping[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Everything the suite report shows, as one JSON-ready dict.

    A backend's score on a recipe is the IQM over seeds of its runs' final incumbent score on
    that recipe's headline objective (``bench_data``'s ``backends[b]["objective"]["iqm"]``);
    recipes may differ in direction, each ranks in its own. Only the backends of every benchmark
    are compared; one with no final score on a recipe ranks last there.

    Args:
        store: The results store holding the benchmarks.
        bench_ids: One benchmark per recipe (full ids, ``latest`` or unique prefixes).
        created_at: When the suite was created (the stored suite's ``created_at``), so a
            stored suite renders the same every time. None: now (a suite being written).
        benches: Each benchmark's ``bench_data`` by full id, if computed already (the
            bootstraps make it slow); the others are computed here.

    Returns:
        ``kind`` (``suite``), ``created_at``, ``alpha``, ``score`` (what the score is, in words), ``backends`` (compared),
        ``recipes`` (per benchmark: ``bench_id``, ``recipe``, ``metric``, ``direction``, ``seeds``,
        ``trials``, ``scores`` per backend with ``iqm``/``iqm_ci95``/``n``, ``ranks`` per backend),
        ``average_ranks`` per backend, ``friedman`` (``chi2``, ``p``, ``reason``, ``significant``),
        ``nemenyi`` (``q_alpha``, ``cd``, ``groups`` of backend names), ``warnings``.

    Raises:
        UserError: Fewer than 2 benchmarks, one given twice, or no backend common to all.
        StoreError: A benchmark is not in the store or has no stored run.
    """
    if len(bench_ids) < 2:
        raise UserError(f"a suite compares 2 or more benchmarks, got {len(bench_ids)}")
    configs = [store.bench(b)[:2] for b in bench_ids]
    ids = [bid for bid, _ in configs]
    again = next((bid for i, bid in enumerate(ids) if bid in ids[:i]), None)
    if again is not None:
        raise UserError(f"benchmark {again} is given twice")
    backends = _common_backends(configs)
    known = benches or {}
    rows = [_recipe_row(known[bid] if bid in known else bench_data(store, bid), backends) for bid in ids]
    ranked = friedman_nemenyi(
        [[r["scores"][b]["iqm"] for b in backends] for r in rows],
        [1 if r["direction"] == "maximize" else -1 for r in rows],
        ALPHA,
    )
    for r, ranks in zip(rows, ranked["ranks"]):
        r["ranks"] = dict(zip(backends, ranks))
    dropped = sorted({b for _, cfg in configs for b in cfg["backends"]} - set(backends))
    p = ranked["friedman_p"]
    return {
        "kind": "suite",
        "created_at": time.time() if created_at is None else created_at,
        "alpha": ALPHA,
        "score": SCORE,
        "backends": backends,
        "recipes": rows,
        "average_ranks": dict(zip(backends, ranked["average_ranks"])),
        "friedman": {
            "chi2": ranked["friedman_chi2"],
            "p": p,
            "reason": ranked["friedman_reason"],
            "significant": p is not None and p < ALPHA,
        },
        "nemenyi": {
            "q_alpha": ranked["q_alpha"],
            "cd": ranked["cd"],
            "groups": [[backends[i] for i in g] for g in ranked["groups"]],
        },
        "warnings": _warnings(rows, dropped),
    }


def score_rows(d: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """One row per recipe: each backend's score with its interval and rank there; last, the average ranks.

    Args:
        d: Output of :func:`suite_data`.

    Returns:
        The header and the rows.
    """
    head = ["recipe", "benchmark", "score of", "seeds", *d["backends"]]
    rows = [
        [
            r["recipe"],
            r["bench_id"],
            f"{r['metric']} ({r['direction']})",
            str(r["seeds"]),
            *[f"{fmt_iqm(r['scores'][b])} (rank {r['ranks'][b]:g})" for b in d["backends"]],
        ]
        for r in d["recipes"]
    ]
    rows.append(["average rank", "", "", "", *[f"{d['average_ranks'][b]:.2f}" for b in d["backends"]]])
    return head, rows


def friedman_text(d: dict[str, Any]) -> str:
    """One sentence: Friedman's test and what it allows the reader to conclude.

    Args:
        d: Output of :func:`suite_data`.

    Returns:
        The sentence (plain text, not escaped).
    """
    f, n, k = d["friedman"], len(d["recipes"]), len(d["backends"])
    if f["p"] is None:
        return (
            f"Friedman test not computed: {f['reason']}; the average ranks and the diagram describe, they do not test."
        )
    head = f"Friedman test over {n} recipes and {k} backends: chi2 = {f['chi2']:.3g}, p = {f['p']:.3g}: "
    if f["significant"]:
        return head + f"the backends' average ranks differ (p < {d['alpha']}); the diagram shows which ones do."
    return head + (
        f"no evidence that the average ranks differ (p >= {d['alpha']}); Demšar (2006) reads the Nemenyi test "
        "only after Friedman's rejects, so take the diagram as a description."
    )


def cd_text(d: dict[str, Any]) -> str:
    """One sentence on how to read the critical-difference diagram.

    Args:
        d: Output of :func:`suite_data`.

    Returns:
        The sentence (plain text, not escaped).
    """
    cd = d["nemenyi"]["cd"]
    if cd is None:
        return "One backend: no critical difference."
    return (
        f"Each backend sits at its average rank over {len(d['recipes'])} recipes (1 = best, left); backends joined "
        f"by a thick bar are not significantly different (Nemenyi test, alpha {d['alpha']}): their average ranks "
        f"differ by less than the critical difference CD = {cd:.3g} (the bar at the top; Demšar 2006)."
    )


def suite_svg(d: dict[str, Any]) -> str:
    """The suite's critical-difference diagram.

    Args:
        d: Output of :func:`suite_data`.

    Returns:
        An inline ``<svg>`` element (:func:`~unified_nas.benchmark.svg.cd_diagram`).
    """
    names = d["backends"]
    groups = [[names.index(b) for b in g] for g in d["nemenyi"]["groups"]]
    return cd_diagram(
        names,
        [d["average_ranks"][b] for b in names],
        d["nemenyi"]["cd"],
        groups,
        f"Critical-difference diagram: average rank over {len(d['recipes'])} recipes",
        PALETTE,
    )


def render_suite_html(d: dict[str, Any]) -> str:
    """A self-contained page: inline CSS and SVG only (no scripts, no external resources).

    Args:
        d: Output of :func:`suite_data`.

    Returns:
        The HTML document; every stored text is escaped.
    """
    warn = "".join(f"<div class='warn'>&#9888; {escape(w)}</div>" for w in d["warnings"])
    recipes = ", ".join(r["recipe"] for r in d["recipes"])
    return f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>unified-nas suite of {len(d["recipes"])} benchmarks</title><style>{CSS}</style></head><body>
<h1>Suite of {len(d["recipes"])} benchmarks</h1>
<p>Recipes {escape(recipes)}; backends compared {escape(", ".join(d["backends"]))}. Score of a backend on a
recipe: {escape(d["score"])}. Created {time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(d["created_at"]))}.</p>
{warn}
<h2>Scores and ranks per recipe</h2>{html_table(*score_rows(d))}
<p>{escape(SCORES_EXPLAINED)}</p>
<h2>Average rank across recipes</h2>
<p>{escape(friedman_text(d))}</p>
<figure>{suite_svg(d)}</figure>
<p>{escape(cd_text(d))}</p>
</body></html>
"""


def render_suite_md(d: dict[str, Any]) -> str:
    """The suite report as GitHub-flavoured Markdown (the diagram is in report.html).

    Args:
        d: Output of :func:`suite_data`.

    Returns:
        The Markdown document; every stored text goes through :func:`~unified_nas.benchmark.render.md_text`.
    """
    lines = [
        f"# Suite of {len(d['recipes'])} benchmarks",
        "",
        md_text(f"Backends compared {', '.join(d['backends'])}. Score of a backend on a recipe: {d['score']}.")
        + " Critical-difference diagram: report.html.",
        "",
        *[f"> **Warning:** {md_text(w)}" for w in d["warnings"]],
        "",
        "## Scores and ranks per recipe",
        "",
        md_table(*score_rows(d)),
        "",
        md_text(SCORES_EXPLAINED),
        "",
        "## Average rank across recipes",
        "",
        md_table(["backend", "average rank"], [[b, f"{r:.2f}"] for b, r in d["average_ranks"].items()]),
        "",
        md_text(friedman_text(d)),
        "",
        md_text(cd_text(d)),
        "",
        md_text(
            "Not significantly different (Nemenyi): "
            + ("; ".join(", ".join(g) for g in d["nemenyi"]["groups"]) or "no group")
        ),
        "",
    ]
    return "\n".join(lines)


def render_suite_json(d: dict[str, Any]) -> str:
    """The suite's data as indented JSON.

    Args:
        d: Output of :func:`suite_data`.

    Returns:
        The JSON text.
    """
    return json.dumps(d, indent=1)


SUITE_RENDERERS = {"html": render_suite_html, "md": render_suite_md, "json": render_suite_json}


def write_suite_reports(
    store: ResultsStore,
    bench_ids: Sequence[str],
    out_dir: Path,
    created_at: float | None = None,
    benches: Mapping[str, dict[str, Any]] | None = None,
) -> list[str]:
    """Writes report.html, report.md and report.json of a suite into ``out_dir``.

    Args:
        store: The results store holding the benchmarks.
        bench_ids: One benchmark per recipe (at least 2).
        out_dir: The folder (created).
        created_at: When the suite was created; see :func:`suite_data`.
        benches: Each benchmark's ``bench_data`` by full id, if computed already; see :func:`suite_data`.

    Returns:
        The paths written.

    Raises:
        UserError: See :func:`suite_data`.
        StoreError: A benchmark is not in the store or has no stored run.
    """
    return write_rendered(suite_data(store, bench_ids, created_at, benches), SUITE_RENDERERS, out_dir)
