"""``unas proxies``: how well each zero-cost proxy, params and FLOPs rank a table's architectures (Spearman, Kendall)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from unified_nas.cli.common import EXIT_OK, Subparsers
from unified_nas.core.errors import UserError
from unified_nas.core.jsontext import strict_json
from unified_nas.tables.correlation import correlations_markdown, correlations_text, proxy_correlations
from unified_nas.tables.own import OwnTable


def add_parser(sub: Subparsers) -> argparse.ArgumentParser:
    """Adds ``unas proxies`` and its arguments to ``sub``; returns its parser."""
    px = sub.add_parser(
        "proxies", help="Spearman and Kendall correlation of each proxy, params and FLOPs with trained accuracy"
    )
    px.add_argument("table", help="a table file written by `unas tabulate`")
    px.add_argument("--json", action="store_true", help="print strict JSON instead of a text table")
    px.add_argument("--out", help="also write the correlations as a markdown report to this file")
    return px


def handle(a: argparse.Namespace) -> int:
    if a.out == "":  # an empty name is a mistake, not "no report"
        raise UserError("--out: empty file name")
    with OwnTable.open(a.table) as table:
        if a.out is not None and table.same_file(a.out):  # the report would overwrite its own input
            raise UserError(f"--out: {a.out} is the table {a.table} itself; write the report to another file")
        rows = proxy_correlations(table)
        if a.json:
            text = strict_json({"table": str(table.path), **table.meta.to_dict(), "correlations": rows}, indent=2)
        else:
            text = correlations_text(table, rows)
        if a.out:  # written first: a bad --out fails before anything is printed
            try:
                Path(a.out).write_text(correlations_markdown(table, rows))
            except OSError as e:
                raise UserError(f"--out: cannot write {a.out}: {e.strerror or e}") from None
    sys.stdout.write(text.rstrip("\n") + "\n")
    if a.out:
        print(f"wrote {a.out}", file=sys.stderr)
    return EXIT_OK
