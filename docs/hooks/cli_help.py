"""MkDocs hook: the CLI reference shows each command's ``--help`` as the parser prints it.

A page line ``<!-- unas-help: COMMAND -->`` becomes a text block with the help of
``unas COMMAND`` (``<!-- unas-help: -->``: the top-level help), taken from
``unified_nas.cli.build_parser()`` at build time, so the reference cannot drift from
the code. A command the parser does not have fails the build.
"""

from __future__ import annotations

import argparse
import os
import re
from typing import Any

MARKER = re.compile(r"^<!-- unas-help:\s*([a-z_-]*)\s*-->$", re.MULTILINE)
WIDTH = "100"  # argparse wraps at $COLUMNS; fixed, so the page does not depend on the terminal


def _help(command: str) -> str:
    from unified_nas.cli import build_parser

    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = WIDTH
    try:
        parser = build_parser()
        if not command:
            return parser.format_help()
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction) and command in action.choices:
                return action.choices[command].format_help()
        raise ValueError(f"docs: `unas {command}` is not a command of unified_nas.cli.build_parser()")
    finally:
        if old is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = old


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    return MARKER.sub(lambda m: "```text\n" + _help(m.group(1)).rstrip() + "\n```", markdown)
