"""How well each zero-cost proxy, a supernet's score (and params, FLOPs) rank a table's architectures by trained accuracy.

A proxy is worth its cost only if it ranks architectures better than their size
does, so :func:`proxy_correlations` reports the baselines ``params`` and
``flops`` beside every proxy, each as Spearman's rho and Kendall's tau-b
against the trained validation accuracy of the table's complete architectures.

Non-finite proxy values: ``±inf`` is a real, extreme score (naswot's log det of
a singular kernel is ``-inf``), so it is ranked as the lowest or highest value;
an undefined value (NaN, stored as NULL) is dropped for that metric alone, and
each row reports how many architectures it was computed on.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

from unified_nas.core.metrics import METRICS, SUPERNET_SCORE
from unified_nas.tables.own import OwnTable

__all__ = ["correlations_markdown", "correlations_text", "proxy_correlations", "rank_correlations"]

BASELINE_METRICS = ("params", "flops")
TARGET = "val_accuracy"


def rank_correlations(x: list[float], y: list[float]) -> tuple[float | None, float | None]:
    """(Spearman rho, Kendall tau-b) of two equally long lists; None where undefined (n < 3, a constant)."""
    if len(x) < 3:
        return None, None
    from scipy.stats import kendalltau, rankdata, spearmanr  # lazily: scipy is heavy

    # Ranking first makes ±inf ordinary extremes (both statistics depend on ranks alone).
    rx, ry = rankdata(x), rankdata(y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a constant input warns and returns nan: reported as None
        rho = float(spearmanr(rx, ry)[0])
        tau = float(kendalltau(rx, ry)[0])
    return (rho if math.isfinite(rho) else None), (tau if math.isfinite(tau) else None)


def proxy_correlations(table: OwnTable) -> list[dict[str, Any]]:
    """Rank correlation of every stored proxy and of params/FLOPs with trained validation accuracy.

    Args:
        table: An open table.

    Returns:
        One dict per metric, proxies in registry order (then the supernet score, if the table has one),
        then ``params``, ``flops``: ``metric``, ``kind`` ("proxy", "supernet" or "baseline"), ``n`` (complete architectures with a defined value),
        ``undefined`` (complete architectures whose value is NaN), ``infinite`` (of ``n``, how many
        are ±inf), ``spearman`` and ``kendall`` (None if fewer than 3 values or one is constant).
        Strict-JSON ready.
    """
    rows = [(r, r.val_accuracy) for r in table.rows(complete_only=True) if r.val_accuracy is not None]
    out = []
    stored = [(p, "supernet" if p == SUPERNET_SCORE else "proxy") for p in table.meta.proxies]
    for metric, kind in stored + [(b, "baseline") for b in BASELINE_METRICS]:
        pairs = []
        for r, acc in rows:
            v = getattr(r, metric) if kind == "baseline" else r.proxies.get(metric)
            if v is not None and not math.isnan(v):
                pairs.append((float(v), acc))
        rho, tau = rank_correlations([p[0] for p in pairs], [p[1] for p in pairs])
        out.append(
            {
                "metric": metric,
                "kind": kind,
                "n": len(pairs),
                "undefined": len(rows) - len(pairs),
                "infinite": sum(math.isinf(p[0]) for p in pairs),
                "spearman": rho,
                "kendall": tau,
            }
        )
    return out


def _num(v: float | None) -> str:
    return "-" if v is None else f"{v:+.3f}"


def _header(table: OwnTable) -> list[str]:
    m = table.meta
    counts = table.counts()
    size = "infinite" if not math.isfinite(m.space_size) else str(int(m.space_size))
    return [
        f"table {table.path}: recipe {m.recipe_name}, {counts.get('complete', 0)} complete and "
        f"{counts.get('failed', 0)} failed architectures of a space of {size}",
        f"data {m.data.get('name')}, {m.epochs} epochs, seed {m.seed}; target: trained {TARGET}",
    ]


def correlations_text(table: OwnTable, rows: list[dict[str, Any]]) -> str:
    """The correlations as a plain-text table for the terminal.

    Args:
        table: The table they were computed on (for the header).
        rows: :func:`proxy_correlations` of it.

    Returns:
        Text ending in a newline.
    """
    lines = [*_header(table), ""]
    lines.append(f"{'metric':<12} {'kind':<9} {'n':>5} {'spearman':>9} {'kendall':>9}  notes")
    for r in rows:
        notes = []
        if r["undefined"]:
            notes.append(f"{r['undefined']} undefined (dropped)")
        if r["infinite"]:
            notes.append(f"{r['infinite']} infinite (ranked as extremes)")
        lines.append(
            f"{r['metric']:<12} {r['kind']:<9} {r['n']:>5} {_num(r['spearman']):>9} {_num(r['kendall']):>9}  "
            + "; ".join(notes)
        )
    return "\n".join(lines).rstrip() + "\n"


def correlations_markdown(table: OwnTable, rows: list[dict[str, Any]]) -> str:
    """The correlations as a markdown report.

    Args:
        table: The table they were computed on.
        rows: :func:`proxy_correlations` of it.

    Returns:
        Markdown text ending in a newline.
    """
    head = _header(table)
    lines = [
        f"# Proxies vs trained accuracy: {table.meta.recipe_name}",
        "",
        *(f"{h}  " for h in head),
        "",
        "Rank correlation with trained validation accuracy over complete architectures; "
        "params and FLOPs are the baselines a proxy has to beat. ±inf values rank as extremes, "
        "undefined (NaN) values are dropped per metric.",
        "",
        "| metric | kind | n | Spearman | Kendall | notes |",
        "|---|---|---:|---:|---:|---|",
    ]
    for r in rows:
        notes = []
        if r["undefined"]:
            notes.append(f"{r['undefined']} undefined")
        if r["infinite"]:
            notes.append(f"{r['infinite']} infinite")
        if r["kind"] == "proxy" and r["metric"] in METRICS:
            notes.append(METRICS[r["metric"]].how.replace("|", "\\|"))
        if r["kind"] == "supernet":
            notes.append("val_accuracy with weights inherited from one supernet trained for the table")
        lines.append(
            f"| {r['metric']} | {r['kind']} | {r['n']} | {_num(r['spearman'])} | {_num(r['kendall'])} | "
            + "; ".join(notes)
            + " |"
        )
    return "\n".join(lines) + "\n"
