"""``unas``, the command line: one module per command, each holding its parser beside its handler.

``unas X`` is ``unified_nas/cli/X.py``: its ``add_parser(sub)`` declares the
command's arguments and its ``handle(args)`` runs it and returns the exit
status; :mod:`.common` holds what several commands share. This module puts
the parser together (:func:`build_parser`) and runs a command (:func:`main`),
turning errors into one line on stderr.

Exit status: 0 success, 2 bad input (recipe, flag, backend, run id), 1 runtime failure.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence
from typing import NoReturn

from unified_nas.cli import (
    backends,
    bench,
    export,
    metrics,
    proxies,
    report,
    run,
    runs,
    show,
    tabulate,
    validate,
    worker,
)
from unified_nas.cli.common import EXIT_OK, EXIT_RUNTIME, EXIT_USAGE
from unified_nas.core.errors import StoreError, UserError, one_line
from unified_nas.runs.lifecycle import ResumeDiverged, Terminated, handle_sigterm

__all__ = ["COMMANDS", "EXIT_OK", "EXIT_RUNTIME", "EXIT_USAGE", "build_parser", "main", "one_line"]

# Every command's module, by name, in the order `unas --help` lists them.
COMMANDS = {
    "run": run,
    "worker": worker,
    "bench": bench,
    "report": report,
    "export": export,
    "show": show,
    "validate": validate,
    "metrics": metrics,
    "backends": backends,
    "runs": runs,
    "tabulate": tabulate,
    "proxies": proxies,
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2 (argparse prints usage too)
        self.exit(EXIT_USAGE, f"unas: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """The ``unas`` parser: one subcommand per module of :data:`COMMANDS`."""
    p = _Parser(prog="unas", description="One NAS recipe, many toolkits (NNI, Optuna, AutoKeras).")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for command in COMMANDS.values():
        command.add_parser(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``unas``; returns the exit status."""
    args = build_parser().parse_args(argv)
    if getattr(args, "quiet", False):  # TensorFlow's C++ start-up lines, should anything import it
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    handle_sigterm()
    try:
        return COMMANDS[args.command].handle(args)
    except (UserError, StoreError) as e:
        print(f"unas: error: {one_line(e)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt as e:
        what = "terminated" if isinstance(e, Terminated) else "interrupted"
        run_id = getattr(e, "unas_run_id", None)  # set by the runner once the run was stored
        hint = f"; continue with `unas run --resume {run_id}`" if args.command == "run" and run_id else ""
        print(f"unas: {what}; finished trials are in the store{hint}", file=sys.stderr)
        return 128 + (signal.SIGTERM if isinstance(e, Terminated) else signal.SIGINT)
    except ResumeDiverged as e:
        print(f"unas: error: {one_line(e)}", file=sys.stderr)
        return EXIT_RUNTIME
    except Exception as e:  # a runtime failure: one line, the stored report keeps the rest
        print(f"unas: {args.command} failed: {type(e).__name__}: {one_line(e, 500)}", file=sys.stderr)
        return EXIT_RUNTIME
