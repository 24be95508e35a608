"""Renderers of a RunReport: a terminal table, JSON, CSV."""

from __future__ import annotations

import csv
import io
import json
import time
from typing import cast

from unified_nas.report.records import RunReport


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "-" if v is None else str(v)


def render_json(report: RunReport) -> str:
    return json.dumps(report.to_dict(), indent=2, sort_keys=False)


def render_csv(report: RunReport) -> str:
    """One row per trial; sample labels as ``sample.<label>`` columns."""
    labels = sorted({k for t in report.trials for k in t.sample})
    objs = [o["metric"] for o in report.objectives]
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
        f"  trials {spent.get('trials', 0)}/{r.budget_asked.get('trials') or '-'} (complete {spent.get('complete', 0)},"
        f" pruned {spent.get('pruned', 0)}, failed {spent.get('failed', 0)})",
    ]
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
    if r.search_cost:
        lines.append(
            f"one-shot search cost: supernet {r.search_cost['supernet_wall_s']:.1f}s over"
            f" {r.search_cost['supernet_epochs']} epochs ({r.search_cost['strategy']}); the record below is"
            " the exported architecture trained under the standard protocol"
        )
    table = r.by_table
    if table:
        lines.append(
            f"evaluated by table {r.evaluation['table']} ({r.evaluation['dataset']}): simulated training "
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
    if r.pareto_front:
        lines.append(f"pareto front (trials): {r.pareto_front}")
    objs = [o["metric"] for o in r.objectives]
    # A table run has no losses and no training time; its simulated training time instead.
    head = ["#", "status", *objs, "sim_s" if table else "val_loss", "params", "flops", "dur_s", "train_s", "ovh_s"]
    rows = [
        [
            str(t.index),
            t.status,
            *[_fmt(v) for v in (t.objectives or cast("list[float | None]", [None] * len(objs)))],
            _fmt(t.simulated_s if table else t.metrics.get("val_loss")),
            _fmt(t.params),
            _fmt(t.flops),
            f"{t.duration_s:.2f}",
            f"{t.train_s:.2f}",
            f"{t.overhead_s:.3f}",
        ]
        for t in r.trials
    ]
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(head)]
    lines.append("")
    lines.append("  ".join(h.rjust(w) for h, w in zip(head, widths)))
    for row, t in zip(rows, r.trials):
        lines.append(
            "  ".join(c.rjust(w) for c, w in zip(row, widths))
            + (f"  {t.error.splitlines()[-1][:80]}" if t.error else "")
        )
    return "\n".join(lines)


RENDERERS = {"table": render_table, "json": render_json, "csv": render_csv}
