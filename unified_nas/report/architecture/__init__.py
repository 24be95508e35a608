"""Pictures of architectures: a trial's canonical sample drawn as its cell graph or layer stack, in SVG or PNG.

One layout, two painters: :mod:`.layout` turns a sample, its search space and
its network plan into a :class:`~.geometry.Drawing` (boxes, edges, labels,
with coordinates; the small layered graph layout of cells is :mod:`.graph`);
:mod:`.svg` writes that drawing as SVG text and :mod:`.png` paints it with
Pillow. :mod:`.source` takes the inputs from a stored run, :mod:`.genotype`
gives the one-line text form for text reports. No layout library and no
system binary (Graphviz's ``dot``) is needed: see :mod:`.graph` for why.

:func:`write_picture` writes a drawing to a file (``unas show``), atomically.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from unified_nas.core.errors import UserError
from unified_nas.report.architecture.genotype import genotype_text
from unified_nas.report.architecture.geometry import Box, Drawing, Edge, Label, Text
from unified_nas.report.architecture.layout import draw_architecture
from unified_nas.report.architecture.png import render_png
from unified_nas.report.architecture.source import data_shapes, draw_trial, recipe_space
from unified_nas.report.architecture.svg import render_svg

__all__ = [
    "PICTURE_SUFFIXES",
    "Box",
    "Drawing",
    "Edge",
    "Label",
    "Text",
    "check_picture_path",
    "data_shapes",
    "draw_architecture",
    "draw_trial",
    "genotype_text",
    "recipe_space",
    "render_png",
    "render_svg",
    "write_picture",
]

PICTURE_SUFFIXES = (".svg", ".png")


def check_picture_path(path: Path) -> str:
    """The format a picture file's name asks for, checked before any work.

    Args:
        path: Where the picture goes.

    Returns:
        ``svg`` or ``png``.

    Raises:
        UserError: Another suffix (or none), or a folder that does not exist.
    """
    suffix = path.suffix.lower()
    if suffix not in PICTURE_SUFFIXES:
        raise UserError(f"--output: {path.name[:80]!r} must end in .svg or .png")
    if not path.parent.is_dir():
        raise UserError(f"--output: folder {str(path.parent)[:200]!r} does not exist")
    return suffix[1:]


def write_picture(drawing: Drawing, path: Path) -> str:
    """Writes ``drawing`` to ``path`` as SVG or PNG (by its suffix), all or nothing.

    The picture goes to a temporary file beside ``path`` first and is renamed
    over it only once complete, so a failure (a full disk, an interrupt)
    leaves neither a half-written picture nor a temporary file behind.

    Args:
        drawing: What to draw.
        path: The file; its suffix picks the format.

    Returns:
        The format written, ``svg`` or ``png``.

    Raises:
        UserError: A suffix other than ``.svg``/``.png``, a PNG over the pixel cap, or a file that cannot
            be written.
    """
    fmt = check_picture_path(path)
    try:
        data = render_svg(drawing).encode() if fmt == "svg" else render_png(drawing)
    except ValueError as e:  # a PNG over the pixel cap
        raise UserError(f"--output: {e}") from None
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:40]}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a picture is as readable as any other output
        os.replace(tmp, path)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise UserError(f"--output: cannot write {str(path)[:200]}: {e.strerror or e}") from None
        raise
    return fmt
