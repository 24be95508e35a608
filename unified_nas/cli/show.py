"""``unas show``: a stored trial's architecture drawn as a picture (SVG or PNG), its cell graph or layer stack."""

from __future__ import annotations

import argparse
from pathlib import Path

from unified_nas.cli.common import EXIT_OK, Subparsers, existing_store
from unified_nas.core.errors import UserError
from unified_nas.report.architecture import check_picture_path, draw_trial, write_picture
from unified_nas.report.store import DEFAULT_STORE


def add_parser(sub: Subparsers) -> argparse.ArgumentParser:
    """Adds ``unas show`` and its arguments to ``sub``; returns its parser."""
    sh = sub.add_parser("show", help="draw a trial's architecture (cell graph or layer stack) as SVG or PNG")
    sh.add_argument("run_id", nargs="?", default="latest", help="run id, a unique prefix, or 'latest'")
    sh.add_argument("--trial", default="best", help="'best' (the incumbent, chosen on validation) or a trial index")
    sh.add_argument("--output", "-o", required=True, help="the picture: FILE.svg or FILE.png (the suffix picks)")
    sh.add_argument("--store", default=DEFAULT_STORE)
    return sh


def handle(a: argparse.Namespace) -> int:
    out = Path(a.output)
    check_picture_path(out)  # before opening the store: a wrong suffix is refused without any work
    store = existing_store(a.store)
    # A benchmark or a suite has several runs: say which command lists them rather than "no run".
    if a.run_id.startswith(("bench-", "suite-")) or (
        a.run_id != "latest" and (store.is_bench(a.run_id) or store.is_suite(a.run_id))
    ):
        raise UserError(f"{a.run_id[:80]!r} is a benchmark or suite, not a run: show one of its runs (unas runs)")
    report = store.load_run(a.run_id)
    record, drawing = draw_trial(report, a.trial)
    fmt = write_picture(drawing, out)
    print(
        f"wrote {out}: trial {record.index} of {report.run_id} ({report.backend['name']}, {drawing.kind} space, {fmt})"
    )
    return EXIT_OK
