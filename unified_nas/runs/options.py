"""Backend options as data: what a backend accepts, checked the same way from a recipe and from the CLI.

A backend declares its own options (``Backend.option_specs``) next to its
strategies and capabilities; the core declares the ones every backend has
(:data:`COMMON_OPTIONS`). A recipe's ``backends: {NAME: {KEY: VALUE}}`` and
the CLI's ``--option KEY=VALUE`` are both checked against the declaration,
each problem a one-line error naming the option's path and what is allowed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from unified_nas.core.errors import RecipeError
from unified_nas.core.multiobjective import SCALARISATION_KEY

KINDS = ("str", "int", "float", "bool", "mapping")


def _shown(v: Any) -> str:
    return repr(v) if isinstance(v, str) else str(v)


@dataclass(frozen=True)
class OptionSpec:
    """One option a backend accepts.

    Attributes:
        name: The key (``engine``, ``keras_backend``, ...).
        kind: ``str``, ``int``, ``float``, ``bool`` or ``mapping``.
        default: The value when the option is not given (None: the backend decides).
        help: One line for ``unas backends``.
        choices: The allowed values, if the option is a choice.
        low, high: Inclusive bounds of a number.
    """

    name: str
    kind: str
    default: Any = None
    help: str = ""
    choices: tuple[Any, ...] | None = None
    low: float | None = None
    high: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"option {self.name}: kind {self.kind!r} is not one of {', '.join(KINDS)}")

    def check(self, value: Any, path: str) -> Any:
        """The value if it is allowed.

        Args:
            value: From a recipe (YAML types) or :meth:`from_text`.
            path: Where it came from, for the message (``backends.nni.engine``, ``--option engine``).

        Returns:
            The value (an int given for a float option becomes a float).

        Raises:
            RecipeError: Naming ``path`` and what is allowed.
        """
        if self.kind == "mapping":
            if not isinstance(value, Mapping):
                raise RecipeError(path, "expected a mapping")
            return dict(value)
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise RecipeError(path, f"{_shown(value)} is not true or false")
            return value
        if self.kind == "str" and not isinstance(value, str):
            raise RecipeError(path, f"{_shown(value)} is not a string")
        if self.kind in ("int", "float"):
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or (self.kind == "int" and not isinstance(value, int))
            ):
                raise RecipeError(path, f"{_shown(value)} is not {'an integer' if self.kind == 'int' else 'a number'}")
            if not math.isfinite(value):
                raise RecipeError(path, f"{value} is not a finite number")
            if (self.low is not None and value < self.low) or (self.high is not None and value > self.high):
                raise RecipeError(path, f"{value} is not in {_bound(self.low)}..{_bound(self.high)}")
            value = float(value) if self.kind == "float" else value
        if self.choices is not None and value not in self.choices:
            raise RecipeError(path, f"{_shown(value)} is not one of {', '.join(map(str, self.choices))}")
        return value

    def from_text(self, text: str, path: str) -> Any:
        """A CLI value (``--option KEY=TEXT``) as this option's type, then :meth:`check` ed.

        Raises:
            RecipeError: Naming ``path`` if the text is not of the option's type or not allowed.
        """
        value: Any = text
        try:
            if self.kind == "int":
                value = int(text)
            elif self.kind == "float":
                value = float(text)
        except ValueError:
            raise RecipeError(path, f"{text!r} is not {'an integer' if self.kind == 'int' else 'a number'}") from None
        if self.kind == "bool":
            lowered = text.lower()
            if lowered not in ("true", "false"):
                raise RecipeError(path, f"{text!r} is not true or false")
            value = lowered == "true"
        if self.kind == "mapping":
            raise RecipeError(path, "a mapping is given in the recipe (backends: {NAME: {KEY: {...}}}), not on the CLI")
        return self.check(value, path)

    def describe(self) -> dict[str, Any]:
        """JSON-ready, for ``unas backends``."""
        d: dict[str, Any] = {"name": self.name, "type": self.kind, "default": self.default, "help": self.help}
        if self.choices is not None:
            d["choices"] = list(self.choices)
        if self.low is not None or self.high is not None:
            d["range"] = [self.low, self.high]
        return d


def _bound(v: float | None) -> str:
    return "" if v is None else f"{v:g}"


#: Options every backend has; ``pruner``'s choices are each backend's own (its capabilities).
COMMON_OPTIONS: tuple[OptionSpec, ...] = (
    OptionSpec("strategy", "str", help="unified strategy name (see the backend's strategies)"),
    OptionSpec("strategy_args", "mapping", default={}, help="keyword arguments of the toolkit's strategy"),
    OptionSpec("pruner", "str", default="none", help="early stopping of bad trials"),
    OptionSpec(
        "default_first",
        "bool",
        default=False,
        help="evaluate the start point (each parameter's default, else its neutral middle) as trial 0",
    ),
)


def parse_assignments(items: list[str], flag: str = "--option") -> dict[str, str]:
    """``KEY=VALUE`` strings (a repeatable CLI flag) as a dict of texts.

    Raises:
        RecipeError: On an item without ``=`` or with an empty key, or a key given twice.
    """
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise RecipeError(flag, f"expected KEY=VALUE, got {item!r}")
        if key in out:
            raise RecipeError(f"{flag} {key}", "given twice")
        out[key] = value
    return out


@dataclass
class Options:
    """Resolved per-run options: recipe ``backends.<name>`` overlaid with CLI flags."""

    strategy: str
    strategy_args: dict[str, Any] = field(default_factory=dict)
    pruner: str = "none"
    default_first: bool = False  # trial 0 is the recipe's start point (space.start_sample)
    extra: dict[str, Any] = field(default_factory=dict)
    resume: bool = False  # set by the runner when it continues a stored run (not a user option)

    @property
    def toolkit_args(self) -> dict[str, Any]:
        """``strategy_args`` as the toolkit's strategy takes them: without ``scalarisation``, which is ours."""
        return {k: v for k, v in self.strategy_args.items() if k != SCALARISATION_KEY}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, as run reports store them (a backend's own options flat beside the common ones)."""
        return {
            "strategy": self.strategy,
            "strategy_args": self.strategy_args,
            "pruner": self.pruner,
            "default_first": self.default_first,
            **self.extra,
        }
