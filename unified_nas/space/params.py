"""Parameter distributions of the IR: plain, frozen, toolkit-free data.

Semantics are explicit and shared by every backend:

* :class:`Categorical` -- one of ``choices`` (JSON scalars of one type).
* :class:`IntRange` -- integers ``low..high`` with BOTH bounds inclusive, on a
  grid of ``step`` starting at ``low``; ``log`` samples on a log scale.
* :class:`FloatRange` -- reals in ``[low, high]``; ``log`` samples on a log scale.

``log`` together with ``step > 1`` is rejected (Optuna and keras-tuner cannot
express it either).

Start points: strategies that start from one point (keras-tuner's greedy
oracle, ``default_first`` on every backend) start from :meth:`start` of each
distribution: the recipe's ``default:`` if it declares one, else a neutral
value that favours no end of the range, so no backend starts at a corner:

* a range: its middle, geometric (``sqrt(low * high)``) on a log scale, on the
  step grid for integers;
* a choice among numbers: the middle value in sorted order (the lower of the
  two middle ones for an even count);
* any other choice (strings, booleans): the first listed. Such choices have
  no order and no middle, and any rule we invented (say, the alphabetically
  first op) would be as arbitrary as the author's order while hiding it. The
  recipe's order is visible, every backend gets the same value, and a recipe
  changes it with ``default:``. (Cell spaces name their own start op and
  input, see ``spaces.neutral_op``: an unordered op list often begins with
  ``none``.)
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

Scalar = bool | int | float | str


def _numeric(values: tuple[Scalar, ...]) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def _check_default(dist: Any) -> None:
    """Refuses a declared default outside the distribution (raises ValueError with the reason)."""
    if dist.default is not None:
        why = dist.check(dist.default)
        if why:
            raise ValueError(f"default {why}")


def _fmt(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else str(value)


@dataclass(frozen=True)
class Categorical:
    """A choice among JSON scalars of one primitive type.

    Attributes:
        choices: The values, in declaration order (order matters for grids).
        default: The recipe's start value, None for the neutral one (see :meth:`start`).
    """

    choices: tuple[Scalar, ...]
    default: Scalar | None = None

    def __post_init__(self) -> None:
        if not self.choices:
            raise ValueError("needs at least one choice")
        kinds = {type(c) for c in self.choices}
        if len(kinds) > 1 and not kinds <= {int, float}:
            # keras-tuner and NNI need one primitive type per choice.
            raise ValueError("choices must all have one type, got " + ", ".join(sorted(k.__name__ for k in kinds)))
        if len(set(self.choices)) != len(self.choices):
            raise ValueError("choices must be distinct")
        _check_default(self)

    def check(self, value: Any) -> str | None:
        """Returns None if ``value`` belongs to the distribution, else why not."""
        for c in self.choices:
            # bool is an int subclass in Python: True must not match 1.
            same_kind = isinstance(value, bool) == isinstance(c, bool)
            if same_kind and type(value) in (bool, int, float, str) and value == c:
                return None
        return f"{_fmt(value)} is not one of {', '.join(_fmt(c) for c in self.choices)}"

    def draw(self, rng: random.Random) -> Scalar:
        return rng.choice(self.choices)

    def values(self) -> list[Scalar]:
        return list(self.choices)

    def size(self) -> float:
        return len(self.choices)

    def start(self) -> Scalar:
        """The declared default, else the middle of sorted numbers, else the first choice (module docstring)."""
        if self.default is not None:
            return self.default
        if _numeric(self.choices):
            return sorted(self.choices)[(len(self.choices) - 1) // 2]
        return self.choices[0]

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"type": "categorical", "choices": list(self.choices)}
        return d if self.default is None else {**d, "default": self.default}


@dataclass(frozen=True)
class IntRange:
    """Integers from ``low`` to ``high``, both inclusive, on a ``step`` grid (``default``: see :meth:`start`)."""

    low: int
    high: int
    step: int = 1
    log: bool = False
    default: int | None = None

    def __post_init__(self) -> None:
        if self.high < self.low:
            raise ValueError(f"high ({self.high}) is below low ({self.low})")
        if self.step < 1:
            raise ValueError("step must be >= 1")
        if self.log and self.step != 1:
            raise ValueError("log and step > 1 cannot be combined")
        if self.log and self.low < 1:
            raise ValueError("log needs low >= 1")
        _check_default(self)

    def check(self, value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int):
            return f"{_fmt(value)} is not an integer"
        if not self.low <= value <= self.high:
            return f"{value} is outside {self.low}..{self.high}"
        if (value - self.low) % self.step:
            return f"{value} is not on the grid {self.low}, {self.low + self.step}, ... (step {self.step})"
        return None

    def draw(self, rng: random.Random) -> int:
        if self.log:
            x = math.exp(rng.uniform(math.log(self.low - 0.5 if self.low > 1 else self.low), math.log(self.high + 0.5)))
            return min(self.high, max(self.low, int(round(x))))
        return self.low + self.step * rng.randrange((self.high - self.low) // self.step + 1)

    def values(self) -> list[int]:
        return list(range(self.low, self.high + 1, self.step))

    def size(self) -> float:
        return (self.high - self.low) // self.step + 1

    def start(self) -> int:
        """The declared default, else the middle: geometric on a log scale, on the grid (lower middle)."""
        if self.default is not None:
            return self.default
        if self.log:
            return min(self.high, max(self.low, int(round(math.sqrt(self.low * self.high)))))
        return self.low + self.step * (((self.high - self.low) // self.step) // 2)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"type": "int", "low": self.low, "high": self.high, "step": self.step, "log": self.log}
        return d if self.default is None else {**d, "default": self.default}


@dataclass(frozen=True)
class FloatRange:
    """Reals in ``[low, high]``; continuous, so not enumerable (``default``: see :meth:`start`)."""

    low: float
    high: float
    log: bool = False
    default: float | None = None

    def __post_init__(self) -> None:
        if self.high < self.low:
            raise ValueError(f"high ({self.high}) is below low ({self.low})")
        if self.log and self.low <= 0:
            raise ValueError("log needs low > 0")
        _check_default(self)

    def check(self, value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"{_fmt(value)} is not a number"
        if not self.low <= value <= self.high:
            return f"{value} is outside [{self.low}, {self.high}]"
        return None

    def draw(self, rng: random.Random) -> float:
        if self.log:
            return math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        return rng.uniform(self.low, self.high)

    def values(self) -> list[float]:
        raise ValueError("a continuous range has no finite list of values")

    def size(self) -> float:
        return math.inf if self.high > self.low else 1

    def start(self) -> float:
        """The declared default, else the middle: geometric (``sqrt(low * high)``) on a log scale."""
        if self.default is not None:
            return self.default
        return math.sqrt(self.low * self.high) if self.log else (self.low + self.high) / 2

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"type": "float", "low": self.low, "high": self.high, "log": self.log}
        return d if self.default is None else {**d, "default": self.default}


Distribution = Categorical | IntRange | FloatRange


def distribution_from_dict(d: dict[str, Any]) -> Distribution:
    """Inverse of ``to_dict`` of the three distributions."""
    kind, default = d["type"], d.get("default")
    if kind == "categorical":
        return Categorical(tuple(d["choices"]), default)
    if kind == "int":
        return IntRange(int(d["low"]), int(d["high"]), int(d.get("step", 1)), bool(d.get("log", False)), default)
    if kind == "float":
        return FloatRange(
            float(d["low"]), float(d["high"]), bool(d.get("log", False)), None if default is None else float(default)
        )
    raise ValueError(f"unknown distribution type {kind!r}")
