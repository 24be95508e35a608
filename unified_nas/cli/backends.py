"""``unas backends``: lists the registered backends, installed or not, with their strategies, capabilities and options."""

from __future__ import annotations

import argparse
import json

from unified_nas.cli.common import EXIT_OK, Subparsers
from unified_nas.core.errors import BackendUnavailable
from unified_nas.runs.registry import entries


def add_parser(sub: Subparsers) -> argparse.ArgumentParser:
    """Adds ``unas backends`` and its arguments to ``sub``; returns its parser."""
    b = sub.add_parser("backends", help="list backends, their strategies and capabilities")
    b.add_argument("--format", choices=("table", "json"), default="table")
    return b


def handle(a: argparse.Namespace) -> int:
    rows = []
    for name, entry in sorted(entries().items()):
        try:
            rows.append({"installed": True, **entry.backend_class().describe()})
        except BackendUnavailable as e:
            rows.append({"name": name, "installed": False, "reason": str(e)})
    if a.format == "json":
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    for row in rows:
        if not row["installed"]:
            print(f"{row['name']}: not installed ({row['reason']})")
            continue
        print(
            f"{row['name']} {row['version']}: strategies {', '.join(row['strategies'])} (default {row['default_strategy']});"
            f" multi-objective {', '.join(row['multi_objective']) or '-'}; scalarised {', '.join(row['scalarised']) or '-'}; one-shot {', '.join(row['one_shot']) or '-'};"
            f" spaces {', '.join(row['space_kinds'])};"
            f" pruners {', '.join(row['pruners'])}"
        )
        for o in row["options"]:
            allowed = (
                f" one of {', '.join(map(str, o['choices']))}"
                if "choices" in o
                else f" in {o['range'][0] if o['range'][0] is not None else ''}..{o['range'][1] if o['range'][1] is not None else ''}"
                if "range" in o
                else ""
            )
            default = "" if o["default"] is None else f", default {o['default']}"
            print(f"    --option {o['name']}=<{o['type']}>{allowed}{default}: {o['help']}")
    return EXIT_OK
