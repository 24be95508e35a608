"""Renderers of a RunReport: a terminal table, JSON, CSV."""

from __future__ import annotations

import csv
import io
import json
import time
from typing import Any, cast

from unified_nas.core.errors import UserError
from unified_nas.core.metrics import METRICS
from unified_nas.core.multiobjective import SCALARISATION_KEY, describe_scalarisation
from unified_nas.core.text import file_label
from unified_nas.recipe.sections import SUPERNET_KIND
from unified_nas.report.architecture import genotype_text, recipe_space
from unified_nas.report.records import STATUSES, RunReport, TrialRecord


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "-" if v is None else str(v)


def render_json(report: RunReport) -> str:
    return json.dumps(report.to_dict(), indent=2, sort_keys=False)


def render_csv(report: RunReport) -> str:
    """One row per trial; further metrics as ``metric.<name>``, sample labels as ``sample.<label>`` columns."""
    labels = sorted({k for t in report.trials for k in t.sample})
    objs = [o["metric"] for o in report.objectives]
    # Every other metric the trials have (latency, proxies, train_loss), after the fixed columns.
    more = [m for m in metric_columns(report) if m not in ("val_accuracy", "val_loss")]
    head = [
        "index",
        "native_id",
        "status",
        *[f"objective.{m}" for m in objs],
        "val_accuracy",
        "val_loss",
        "params",
        "flops",
        "start_time",
        "duration_s",
        "train_s",
        "overhead_s",
        "epochs",
        "simulated_s",
        "true_accuracy",
        "error",
        "violations",
        *[f"metric.{m}" for m in more],
        *[f"sample.{label}" for label in labels],
    ]
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(head)
    for t in report.trials:
        w.writerow(
            [
                t.index,
                t.native_id,
                t.status,
                *(t.objectives or cast("list[float | None]", [None] * len(objs))),
                t.metrics.get("val_accuracy"),
                t.metrics.get("val_loss"),
                t.params,
                t.flops,
                t.start_time,
                round(t.duration_s, 4),
                round(t.train_s, 4),
                round(t.overhead_s, 4),
                len(t.history),
                t.simulated_s,
                t.true_accuracy,
                t.error,
                "; ".join(t.violations or []),
                *[t.metrics.get(m) for m in more],
                *[t.sample.get(label) for label in labels],
            ]
        )
    return out.getvalue()


def render_table(report: RunReport) -> str:
    """A human summary: the run, the budget, the incumbent, then one line per trial."""
    r = report
    spent = r.budget_spent
    lines = [
        f"run {r.run_id}  [{r.status}]",
        f"recipe {r.recipe['name']} ({r.recipe['hash']})  backend {r.backend['name']} {r.backend['version']}"
        f"  strategy {r.strategy}  seed {r.seed}",
        f"started {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(r.started_at))}  wall {spent.get('wall_s', 0):.1f}s"
        f"  trials {spent.get('trials', 0)}/{r.budget_asked.get('trials') or '-'} ({status_counts(spent)})",
    ]
    if r.stopped_early:  # beside the budget it explains: fewer trials spent than asked, and why
        lines.append(f"stopped early: {r.stopped_early}")
    scalarised = (r.options.get("strategy_args") or {}).get(SCALARISATION_KEY)
    if scalarised:  # several objectives, one number for the strategy: say how, beside the strategy
        metrics = [o["metric"] for o in r.objectives]
        lines.append(f"objectives combined for the strategy by {describe_scalarisation(scalarised, r.seed, metrics)}")
    data_line = _data_text(r.data) if not r.by_table else None
    if data_line:
        lines.append(data_line)
    if r.constraints:
        lines.append("constraints: " + ", ".join(_bound_text(b) for b in r.constraints))
    if r.error:
        lines.append(f"error: {r.error}")
    threads = r.environment.get("threads")
    if threads:  # reports from before threads were set have none
        frames = "".join(
            f", {name} {threads[name]['intra_op']}+{threads[name]['inter_op']}"
            for name in ("torch", "tensorflow")
            if name in threads
        )
        lines.append(f"threads {threads['threads']} ({threads['source']}; intra+inter-op{frames})")
    lat = r.environment.get("latency")
    if lat:
        lines.append(
            f"latency_ms: {lat['statistic']} of {lat['repeats']} forward passes after {lat['warmup']} warm-up,"
            f" {lat['runtime']} eager, batch {lat['batch_size']}, {lat['threads']} thread(s), on this run's machine"
        )
    if r.evaluation.get("mode") == "proxy":
        lines.append(f"evaluated by proxy {r.evaluation['proxy']}: no trial was trained")
    if r.evaluation.get("mode") == SUPERNET_KIND and r.search_cost:
        sn, cost = r.evaluation["supernet"], r.search_cost
        lines.append(
            f"evaluated by a supernet ({sn['sampling']} sampling, {sn['epochs']} epochs, torch on {cost.get('device', 'cpu')}):"
            f" trained once in {cost['supernet_wall_s']:.1f}s before the search"
            + (" (reloaded from the run directory)" if cost.get("reloaded") else "")
            + f"; each trial scored with inherited weights after recalibrating BatchNorm on"
            f" {sn['recalibration_batches']} batches"
            + (f" and finetuning {sn['finetune_epochs']} epoch(s)" if sn["finetune_epochs"] else "")
            + "; no trial trained a network of its own"
        )
    elif r.search_cost:
        lines.append(
            f"one-shot search cost: supernet {r.search_cost['supernet_wall_s']:.1f}s over"
            f" {r.search_cost['supernet_epochs']} epochs ({r.search_cost['strategy']}); the record below is"
            " the exported architecture trained under the standard protocol"
        )
    table = r.by_table
    if table:
        lines.append(
            f"evaluated by table {r.evaluation['table']} ({r.evaluation['dataset'] or r.data.get('name')}): simulated training "
            f"{spent.get('simulated_s', 0):.0f}s"
            + (f" of {r.budget_asked['simulated_s']:.0f}s" if r.budget_asked.get("simulated_s") else "")
        )
    if r.incumbent:
        inc = r.incumbent
        quality = (
            f"true_accuracy {_fmt(inc.get('true_accuracy'))}"
            if table
            else f"test_accuracy {_fmt(inc['test_accuracy'])}"
        )
        lines.append(
            f"incumbent: trial {inc['index']}  val_accuracy {_fmt(inc['val_accuracy'])}"
            f"  {quality}  params {inc['params']}  flops {inc['flops']}"
        )
        lines.append("  sample: " + json.dumps(inc["sample"]))
        arch = architecture_text(r, inc["sample"])
        if arch:
            lines.append(f"  architecture: {arch}")  # its picture: unas show
    objs = [o["metric"] for o in r.objectives]
    others = metric_columns(r)
    if r.pareto_front:
        lines += ["", f"pareto front ({len(r.pareto_front)} trials, {' vs '.join(objs)}):"]
        front = sorted((t for t in r.trials if t.index in r.pareto_front), key=lambda t: t.objectives or [])
        lines += _columns(
            ["#", *objs, *[m for m in others if m == "latency_ms"], "params", "flops"],
            [
                [str(t.index), *[_fmt(_metric(t, m)) for m in objs + [m for m in others if m == "latency_ms"]]]
                + [_fmt(t.params), _fmt(t.flops)]
                for t in front
            ],
        )
    # A table run has no training time: its simulated training time instead.
    head = [
        "#",
        "status",
        *objs,
        *others,
        *(["sim_s"] if table else []),
        "params",
        "flops",
        "dur_s",
        "train_s",
        "ovh_s",
    ]
    rows = [
        [
            str(t.index),
            t.status,
            *[_fmt(_metric(t, m)) for m in objs + others],
            *([_fmt(t.simulated_s)] if table else []),
            _fmt(t.params),
            _fmt(t.flops),
            f"{t.duration_s:.2f}",
            f"{t.train_s:.2f}",
            f"{t.overhead_s:.3f}",
        ]
        for t in r.trials
    ]
    lines.append("")
    notes = [
        f"  {t.error.splitlines()[-1][:80]}" if t.error else ("  " + "; ".join(t.violations) if t.violations else "")
        for t in r.trials
    ]
    lines += [row + note for row, note in zip(_columns(head, rows), ["", *notes])]
    return "\n".join(lines)


def architecture_text(report: RunReport, sample: dict[str, Any]) -> str | None:
    """A sample's network in one line (:func:`~unified_nas.report.architecture.genotype_text`), for text reports.

    Args:
        report: The run (its recipe copy gives the space).
        sample: A canonical sample of its space.

    Returns:
        The line, or None where the run's recipe copy or the sample cannot be read (an old or edited store):
        the rest of the report is still shown.
    """
    try:
        return genotype_text(recipe_space(report.recipe, f"run {report.run_id}"), sample)
    except (UserError, KeyError, ValueError):
        return None


def _data_text(data: dict[str, Any]) -> str | None:
    """The data line: examples, subsample, split sizes, classes (names where the source has them)."""
    sizes = (data.get("split") or {}).get("sizes")
    if not sizes:
        return None
    official = (data.get("split") or {}).get("test", 0) is None
    text = f"data {file_label(str(data.get('name')))}: {data.get('examples') or sum(sizes.values()):,} examples"
    if data.get("subsample"):
        text += f", subsample {data['subsample']:,}"
    text += " -> " + " / ".join(f"{k} {v:,}" for k, v in sizes.items())
    text += " (official test split)" if official else ""
    names = data.get("classes")
    text += f"; {data.get('num_classes')} classes"
    if names:
        shown_names = ", ".join(file_label(str(n)) for n in names[:10])
        text += f": {shown_names}{', ...' if len(names) > 10 else ''}"
    return text


def _columns(head: list[str], rows: list[list[str]]) -> list[str]:
    """Right-aligned text columns: the header line, then one line per row."""
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(head)]
    return ["  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in [head, *rows]]


def _metric(t: TrialRecord, name: str) -> float | int | None:
    """A trial's value of a metric: its metrics, or its counted size (an infeasible trial has no objectives)."""
    if name in ("params", "flops"):
        return cast("int | None", getattr(t, name))
    return t.metrics.get(name)


def _bound_text(b: dict[str, Any]) -> str:
    parts = ([f"{b['min']:g} <="] if b.get("min") is not None else []) + [b["metric"]]
    return " ".join(parts + ([f"<= {b['max']:g}"] if b.get("max") is not None else []))


def status_counts(spent: dict[str, Any], number_first: bool = False) -> str:
    """``complete 3, pruned 0, failed 0`` (and ``infeasible N`` when a run has infeasible trials).

    Args:
        spent: A report's ``budget_spent``.
        number_first: ``3 complete`` instead of ``complete 3``.

    Returns:
        The counts, comma-separated.
    """
    shown = [s for s in STATUSES if s != "infeasible" or spent.get(s)]
    return ", ".join(f"{spent.get(s, 0)} {s}" if number_first else f"{s} {spent.get(s, 0)}" for s in shown)


def metric_columns(report: RunReport) -> list[str]:
    """The metrics the run's trials have besides its objectives, in registry order (unknown names last).

    Args:
        report: The run.

    Returns:
        Metric names, e.g. ``["val_loss", "train_loss", "latency_ms"]``.
    """

    objs = {o["metric"] for o in report.objectives}
    present = {k for t in report.trials for k in t.metrics} - objs - {"params", "flops"}
    return [m for m in METRICS if m in present] + sorted(present - set(METRICS))


RENDERERS = {"table": render_table, "json": render_json, "csv": render_csv}
