"""``unas metrics``: lists the metrics recipes may use as objectives and constraints, and what each costs."""

from __future__ import annotations

import argparse
import json

from unified_nas.cli.common import EXIT_OK, Subparsers
from unified_nas.core.metrics import METRICS


def add_parser(sub: Subparsers) -> argparse.ArgumentParser:
    """Adds ``unas metrics`` and its arguments to ``sub``; returns its parser."""
    m = sub.add_parser("metrics", help="list the metrics recipes may use as objectives and constraints")
    m.add_argument("--format", choices=("table", "json"), default="table")
    return m


def handle(a: argparse.Namespace) -> int:
    from dataclasses import asdict

    if a.format == "json":
        print(json.dumps([asdict(m) for m in METRICS.values()], indent=2))
        return EXIT_OK
    width = max(map(len, METRICS))
    print(f"{'metric'.ljust(width)}  {'direction':9}  {'cost':9}  how it is computed")
    for m in METRICS.values():
        print(f"{m.name.ljust(width)}  {m.direction:9}  {m.cost:9}  {m.how}")
    print("constraints: any metric whose cost is not 'trained' (checked before a sample is trained)")
    return EXIT_OK
