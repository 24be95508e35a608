"""Untrusted values in messages: shown bounded and escaped, file names without their folders' content.

Every one-line error that quotes what a user gave (a recipe value, a file
name) goes through here, so no message can carry a terminal escape, a
newline or a megabyte of data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def shown(value: Any, limit: int = 60) -> str:
    """A value as it may appear in a one-line error message.

    Args:
        value: Anything taken from user input.
        limit: Strings longer than this are cut.

    Returns:
        ``repr(value)`` (newlines and control characters escaped), with long
        strings cut to ``limit`` characters and their length noted.
    """
    if isinstance(value, str) and len(value) > limit:
        return f"{value[:limit]!r}... ({len(value)} characters)"
    text = repr(value)
    return text if len(text) <= 4 * limit else text[: 4 * limit] + "..."


def file_label(path: Path | str) -> str:
    """A file name (or path) for a message: as is if printable and short, else :func:`shown`."""
    text = str(path)
    return text if text.isprintable() and len(text) <= 200 else shown(text, 200)
