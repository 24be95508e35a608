"""Reading a recipe file safely: bounded size, UTF-8 only, and YAML with limits.

A recipe is a small hand-written file, so anything far outside that shape is
refused before it can cost memory or time: files that are not regular files
(``/dev/zero``, FIFOs, directories), files above :data:`MAX_RECIPE_BYTES`,
bytes that are not UTF-8, nesting deeper than :data:`MAX_DEPTH`, and documents
whose aliases expand to more than :data:`MAX_VALUES` values ("billion laughs"),
or refer to themselves. Only PyYAML's safe loader is used (no Python tags).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, SequenceNode

from unified_nas.core.errors import RecipeError
from unified_nas.core.text import file_label

MAX_RECIPE_BYTES = 1 << 20  # 1 MiB: real recipes are a few hundred bytes
MAX_DEPTH = 50  # real recipes nest about 6 levels; PyYAML's composer recurses per level
MAX_VALUES = 100_000  # scalars + lists + mappings, counting each alias use as a full copy


class _LimitExceeded(Exception):
    """A YAML document goes past a limit; ``mark`` is where, if known."""

    def __init__(self, message: str, mark: Any = None) -> None:
        super().__init__(message)
        self.mark = mark


class LimitedSafeLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses deep nesting and alias bombs.

    Depth is counted while composing, because PyYAML's composer recurses once
    per level and would otherwise end in RecursionError. The size after alias
    expansion is measured on the composed node graph, before any Python
    object is built: aliases share one node, so the graph stays small even
    when its expansion (what ``str()`` or ``json.dumps`` would produce) is not.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._composed = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node:  # noqa: D102 (PyYAML hook)
        if self.check_event(yaml.AliasEvent):
            return super().compose_node(parent, index)
        self._composed += 1
        if self._composed > MAX_VALUES:
            raise _LimitExceeded(f"has more than {MAX_VALUES} values", self.peek_event().start_mark)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _LimitExceeded(f"nests deeper than {MAX_DEPTH} levels", self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_object(self, node: Node, deep: bool = False) -> Any:  # noqa: D102 (PyYAML hook)
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError) as e:
            # e.g. an integer of 5000 digits or the date 2001-13-45: PyYAML lets these escape raw.
            why = str(e).split(";")[0]
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read this value ({why})", node.start_mark
            ) from None

    def get_single_data(self) -> Any:  # noqa: D102 (PyYAML hook)
        node = self.get_single_node()
        if node is None:
            return None
        _check_expansion(node)
        return self.construct_document(node)


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _check_expansion(root: Node) -> None:
    """Refuses a node graph whose alias expansion is too large, too deep or infinite.

    Iterative post-order walk with memoised size and depth per node, so shared
    (aliased) nodes are measured once however often they are used.
    """
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    open_nodes: set[int] = set()  # entered, not finished: the current path from the root
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            open_nodes.discard(key)
            kids = _children(node)
            size[key] = 1 + sum(size[id(k)] for k in kids)
            depth[key] = 1 + max((depth[id(k)] for k in kids), default=0)
            if size[key] > MAX_VALUES:
                raise _LimitExceeded(f"expands to more than {MAX_VALUES} values through aliases", node.start_mark)
            if depth[key] > MAX_DEPTH:
                raise _LimitExceeded(f"nests deeper than {MAX_DEPTH} levels through aliases", node.start_mark)
            continue
        if key in size:
            continue
        if key in open_nodes:
            raise _LimitExceeded("has an alias inside its own anchor (an infinite value)", node.start_mark)
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend((k, False) for k in _children(node) if id(k) not in size)


def read_recipe_text(path: Path) -> str:
    """Reads a recipe file: a regular file of at most :data:`MAX_RECIPE_BYTES` of UTF-8.

    Args:
        path: The recipe file.

    Returns:
        Its text.

    Raises:
        RecipeError: If it cannot be read, is not a regular file, is too large
            or is not UTF-8.
    """
    label = file_label(path)
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; regular files ignore it.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as e:
        raise RecipeError("", f"cannot read recipe {label}: {e.strerror}") from None
    except ValueError:  # a NUL byte in the path
        raise RecipeError("recipe", f"{label} is not a valid file name") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):  # before fdopen, which refuses directories with its own error
        os.close(fd)
        raise RecipeError("recipe", f"{label} is not a regular file")
    with os.fdopen(fd, "rb") as f:
        try:
            data = f.read(MAX_RECIPE_BYTES + 1)  # never more, whatever stat said
        except OSError as e:
            raise RecipeError("", f"cannot read recipe {label}: {e.strerror}") from None
    if len(data) > MAX_RECIPE_BYTES:
        raise RecipeError("recipe", f"{label} is larger than {MAX_RECIPE_BYTES >> 20} MiB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise RecipeError(
            "recipe", f"{label} is not UTF-8 text (byte {data[e.start]:#04x} at offset {e.start})"
        ) from None


def parse_recipe_yaml(text: str, name: str) -> Any:
    """Parses recipe text with :class:`LimitedSafeLoader`.

    Args:
        text: The YAML text.
        name: The file name, for messages.

    Returns:
        The parsed document (None if empty).

    Raises:
        RecipeError: If the text is not valid YAML or goes past a limit.
    """
    label = file_label(name)
    loader = LimitedSafeLoader(text)
    try:
        return loader.get_single_data()
    except _LimitExceeded as e:
        where = f" (at line {e.mark.line + 1}, column {e.mark.column + 1})" if e.mark else ""
        raise RecipeError("recipe", f"{label} {e}{where}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = " ".join(str(getattr(e, "problem", None) or e).split())  # one line
        raise RecipeError("", f"{label} is not valid YAML{where}: {problem}") from None
    finally:
        loader.dispose()
