"""``unas export``: a trial's architecture retrained and written as a model file (torch, Keras or ONNX) with its canonical sample."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from unified_nas.cli.common import EXIT_OK, Subparsers, existing_store
from unified_nas.commands.export import export_trial
from unified_nas.report.store import DEFAULT_STORE

if TYPE_CHECKING:
    from unified_nas.report.records import TrialRecord


def add_parser(sub: Subparsers) -> argparse.ArgumentParser:
    """Adds ``unas export`` and its arguments to ``sub``; returns its parser."""
    ex = sub.add_parser("export", help="write a trial's architecture as a trained model file + its canonical sample")
    ex.add_argument("run_id", help="run id, a unique prefix, or 'latest'")
    ex.add_argument("--trial", default="best", help="'best' (the incumbent, chosen on validation) or a trial index")
    ex.add_argument("--format", required=True, choices=("torch", "keras", "onnx"))
    ex.add_argument("--output", "-o", help="output folder (default: <run_dir>/export-<trial>-<format>)")
    ex.add_argument("--store", default=DEFAULT_STORE)
    return ex


def handle(a: argparse.Namespace) -> int:
    report = existing_store(a.store).load_run(a.run_id)
    out = Path(a.output) if a.output else Path(report.run_dir) / f"export-{a.trial}-{a.format}"

    def announce(trial: TrialRecord) -> None:
        print(
            f"retraining trial {trial.index} of {report.run_id} ({report.backend['name']}) for {a.format} ...",
            file=sys.stderr,
        )

    info = export_trial(report, a.trial, a.format, out, on_start=announce)
    m = info["exported_metrics"]
    print(
        f"wrote {out / info['file']} and {out / 'sample.json'}: trial {info['trial']}, val_accuracy "
        f"{m['val_accuracy']:.4g} (trial: {info['trial_metrics']['val_accuracy']:.4g}), test_accuracy {m['test_accuracy']:.4g}"
    )
    return EXIT_OK
