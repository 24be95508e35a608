"""``unas report``: a stored run, benchmark or suite rendered in the format asked, to stdout or a file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from unified_nas.cli.common import EXIT_OK, Subparsers, existing_store
from unified_nas.core.errors import UserError
from unified_nas.report.render import RENDERERS
from unified_nas.report.store import DEFAULT_STORE
from unified_nas.runs.lifecycle import shown_status


def add_parser(sub: Subparsers) -> argparse.ArgumentParser:
    """Adds ``unas report`` and its arguments to ``sub``; returns its parser."""
    rep = sub.add_parser("report", help="show a stored run, or write a benchmark's or a suite's report")
    rep.add_argument(
        "run_id", nargs="?", default="latest", help="run, benchmark or suite id, a unique prefix, or 'latest'"
    )
    rep.add_argument(
        "--format",
        choices=("table", "json", "csv", "html", "md"),
        default=None,
        help="runs: table (default), json, csv; benchmarks and suites: html (default), md, json",
    )
    rep.add_argument("--store", default=DEFAULT_STORE)
    rep.add_argument("--output", "-o", help="write to this file instead of stdout")
    return rep


def handle(a: argparse.Namespace) -> int:
    store = existing_store(a.store)
    if a.run_id.startswith("suite-") or (a.run_id != "latest" and store.is_suite(a.run_id)):
        from unified_nas.benchmark.suite import SUITE_RENDERERS, suite_data  # deferred: imports scipy

        fmt = a.format or "html"
        if fmt not in SUITE_RENDERERS:
            raise UserError(f"--format {fmt} is for runs; a suite report is html, md or json")
        suite = store.suite(a.run_id)
        text = SUITE_RENDERERS[fmt](suite_data(store, suite["bench_ids"], created_at=suite["created_at"]))
    elif a.run_id.startswith("bench-") or (a.run_id != "latest" and store.is_bench(a.run_id)):
        from unified_nas.benchmark.render import BENCH_RENDERERS  # deferred: imports scipy
        from unified_nas.benchmark.summary import bench_data  # deferred: imports scipy

        fmt = a.format or "html"
        if fmt not in BENCH_RENDERERS:
            raise UserError(f"--format {fmt} is for runs; a benchmark report is html, md or json")
        text = BENCH_RENDERERS[fmt](bench_data(store, a.run_id))
    else:
        fmt = a.format or "table"
        if fmt not in RENDERERS:
            raise UserError(f"--format {fmt} is for benchmarks; a run report is table, json or csv")
        report = store.load_run(a.run_id)
        report.status = shown_status(report.status, report.process)
        text = RENDERERS[fmt](report)
    text = text.rstrip("\n") + "\n"
    if a.output:
        try:
            Path(a.output).write_text(text)
        except OSError as e:
            raise UserError(f"--output: cannot write {a.output}: {e.strerror or e}") from None
        print(f"wrote {a.output}")
    else:
        sys.stdout.write(text)
    return EXIT_OK
