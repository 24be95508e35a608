"""MkDocs hook: the package's Sphinx cross-reference roles, made into links in the API pages.

The package's docstrings are Google style, with Sphinx roles
(``:func:`~unified_nas.api.run```) that mkdocstrings leaves as text. In each rendered
API page (a page with a ``::: module`` line) a role becomes its code (``~`` shows the
last name only, as in Sphinx), linked to the object's entry when the API reference has
one: a dotted ``unified_nas.`` name as written, a bare one looked up in the page's
module. The links are optional autorefs, so a name the reference does not show stays
plain code, without a warning.
"""

from __future__ import annotations

import re
from typing import Any

ROLE = re.compile(r":(?:func|class|meth|mod|data|attr|exc|obj):<code>(~?)([\w.]+)</code>")
MODULE = re.compile(r"^::: ([\w.]+)", re.MULTILINE)


def on_page_content(html: str, page: Any, **kwargs: Any) -> str:
    found = MODULE.search(page.markdown or "")
    if found is None:
        return html
    module = found.group(1)

    def link(m: re.Match[str]) -> str:
        short, name = m.group(1), m.group(2)
        shown = name.rsplit(".", 1)[-1] if short else name
        target = name if name.startswith("unified_nas.") else f"{module}.{name}"
        return f'<autoref identifier="{target}" optional><code>{shown}</code></autoref>'

    return ROLE.sub(link, html)
