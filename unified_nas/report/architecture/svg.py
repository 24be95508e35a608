"""The SVG painter: a :class:`~.geometry.Drawing` as one self-contained ``<svg>`` element, written as text.

No script, no external font or stylesheet: the picture renders offline and
inline in an HTML report. Every text on it comes from a recipe or a store
(op names, run ids, recipe names) and is XML-escaped, attribute and element
content alike, after characters XML 1.0 forbids (control characters) are
replaced, so no label can end an element or break the document.
"""

from __future__ import annotations

import re
from html import escape

from unified_nas.report.architecture.geometry import (
    FILLS,
    FONT_SIZE,
    LINE_HEIGHT,
    SMALL_FONT_SIZE,
    Drawing,
    Edge,
    Point,
    arrowhead,
)

#: Monospace first: text widths are estimated at 0.6 em, the advance of these fonts.
FONT_FAMILY = "DejaVu Sans Mono, Menlo, Consolas, Liberation Mono, monospace"
EDGE_COLOR, FAINT_COLOR = "#444", "#aaa"
# Characters XML 1.0 does not allow in a document at all, even escaped.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def xml_text(text: str) -> str:
    """``text`` safe as SVG element content or a quoted attribute value.

    Args:
        text: Any text (from a recipe, a store, a toolkit).

    Returns:
        The text with ``& < > " '`` escaped and characters XML forbids replaced by U+FFFD.
    """
    return escape(_NOT_XML.sub("\ufffd", text), quote=True)


def _points(points: tuple[Point, ...]) -> str:
    return " ".join(f"{x:.1f},{y:.1f}" for x, y in points)


def _edge(e: Edge) -> str:
    color = FAINT_COLOR if e.faint else EDGE_COLOR
    dash = ' stroke-dasharray="5 4"' if e.faint else ""
    head = _points(arrowhead(e.points))
    return (
        f'<g class="edge" data-source="{xml_text(e.source)}" data-target="{xml_text(e.target)}">'
        f'<polyline fill="none" stroke="{color}" stroke-width="1.4"{dash} points="{_points(e.points)}"/>'
        f'<polygon fill="{color}" points="{head}"/></g>'
    )


def _label(e: Edge) -> str:
    if e.label is None:
        return ""
    lb = e.label
    color = "#888" if e.faint else "#222"
    return (
        f'<rect x="{lb.x - lb.w / 2:.1f}" y="{lb.y - lb.h / 2:.1f}" width="{lb.w:.1f}" height="{lb.h:.1f}" '
        f'fill="#fff" fill-opacity="0.9"/>'
        f'<text class="op" x="{lb.x:.1f}" y="{lb.y + SMALL_FONT_SIZE * 0.35:.1f}" font-size="{SMALL_FONT_SIZE:g}" '
        f'text-anchor="middle" fill="{color}">{xml_text(lb.text)}</text>'
    )


def render_svg(d: Drawing) -> str:
    """The drawing as an ``<svg>`` element (class ``architecture``), ready to write or to inline in HTML.

    Args:
        d: The drawing (:func:`~.layout.draw_architecture`).

    Returns:
        The SVG text; its accessible name (``aria-label`` and ``<title>``) is the drawing's title.
    """
    w, h = d.width, d.height
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="architecture" data-kind="{xml_text(d.kind)}" '
        f'width="{w:g}" height="{h:g}" viewBox="0 0 {w:g} {h:g}" role="img" aria-label="{xml_text(d.title)}" '
        f'font-family="{FONT_FAMILY}">',
        f"<title>{xml_text(d.title)}</title>",
        f'<rect width="{w:g}" height="{h:g}" fill="#fff"/>',
    ]
    parts += [_edge(e) for e in d.edges]
    for b in d.boxes:
        parts.append(
            f'<g class="box" data-key="{xml_text(b.key)}"><rect x="{b.x:.1f}" y="{b.y:.1f}" width="{b.w:.1f}" '
            f'height="{b.h:.1f}" rx="5" fill="{FILLS.get(b.kind, "#fff")}" stroke="#555"/>'
        )
        top = b.cy - (len(b.lines) - 1) * FONT_SIZE * LINE_HEIGHT / 2
        for i, line in enumerate(b.lines):
            weight = ' font-weight="bold"' if i == 0 else ""
            parts.append(
                f'<text x="{b.cx:.1f}" y="{top + i * FONT_SIZE * LINE_HEIGHT + FONT_SIZE * 0.35:.1f}" '
                f'font-size="{FONT_SIZE:g}" text-anchor="middle"{weight}>{xml_text(line)}</text>'
            )
        parts.append("</g>")
    parts += [_label(e) for e in d.edges]
    for t in d.texts:
        weight = ' font-weight="bold"' if t.bold else ""
        role = f' class="{xml_text(t.role)}"' if t.role else ""
        parts.append(
            f'<text{role} x="{t.x:.1f}" y="{t.y:.1f}" font-size="{t.size:g}" text-anchor="{t.anchor}"{weight}>'
            f"{xml_text(t.text)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)
