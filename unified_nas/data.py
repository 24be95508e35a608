"""Data sets and the one seeded train/val/test split every backend shares.

Bundled (real, shipped with scikit-learn, no download): ``digits`` (1797 8x8
grey images, 10 classes, as ``(N, 8, 8, 1)`` channels-last in [0, 1]),
``iris``, ``wine``, ``breast_cancer`` (tabular, standardised with the training
split's mean and std). User data: ``.npz`` with arrays ``x`` and ``y`` (images
as ``(N, H, W[, C])``, channels last; uint8 is scaled to [0, 1]) or ``.csv``
with a header and a ``target`` column.

Arrays are float32 features and int64 labels ``0..K-1``, channels last; each
framework converts layout itself.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from unified_nas.errors import RecipeError

BUILTIN = ("digits", "iris", "wine", "breast_cancer")


@dataclass(frozen=True)
class DataSpec:
    """Where the data comes from and how it is split (the recipe's ``data``)."""

    name: str | None = None
    path: str | None = None
    target: str = "target"
    val: float = 0.2
    test: float = 0.2
    split_seed: int = 0


@dataclass(frozen=True)
class SplitInfo:
    """Enough to tell whether two reports used the same split."""

    seed: int
    val: float
    test: float
    sizes: dict[str, int]
    sha256: str


@dataclass(frozen=True)
class Dataset:
    """A split data set, identical for every backend given the same spec."""

    name: str
    kind: str  # "image" or "tabular"
    input_shape: tuple[int, ...]
    num_classes: int
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    split: SplitInfo

    def describe(self) -> dict[str, Any]:
        """JSON-ready summary for reports."""
        return {"name": self.name, "kind": self.kind, "input_shape": list(self.input_shape),
                "num_classes": self.num_classes, "split": asdict(self.split)}


def _load_raw(spec: DataSpec, base_dir: Path) -> tuple[str, np.ndarray, np.ndarray]:
    if spec.name is not None:
        from sklearn import datasets  # deferred: keeps `import unified_nas` light

        if spec.name == "digits":
            d = datasets.load_digits()
            return "digits", (d.images / 16.0)[..., None].astype(np.float32), d.target
        loader = {"iris": datasets.load_iris, "wine": datasets.load_wine,
                  "breast_cancer": datasets.load_breast_cancer}[spec.name]
        d = loader()
        return spec.name, d.data.astype(np.float32), d.target
    path = Path(spec.path) if Path(spec.path).is_absolute() else base_dir / spec.path
    if not path.exists():
        raise RecipeError("data.path", f"{path} does not exist")
    if path.suffix == ".npz":
        with np.load(path) as z:
            if "x" not in z or "y" not in z:
                raise RecipeError("data.path", f"{path} needs arrays 'x' and 'y' (has {', '.join(z.files)})")
            x, y = z["x"], z["y"]
        if x.dtype == np.uint8:
            x = x / 255.0
        if x.ndim == 3:
            x = x[..., None]
        return path.stem, x.astype(np.float32), y
    if path.suffix == ".csv":
        import csv

        with open(path, newline="") as f:
            rows = list(csv.reader(f))
        header, body = rows[0], rows[1:]
        if spec.target not in header:
            raise RecipeError("data.target", f"column {spec.target!r} not in {path.name} (columns: {', '.join(header)})")
        t = header.index(spec.target)
        try:
            x = np.array([[float(v) for i, v in enumerate(r) if i != t] for r in body], dtype=np.float32)
        except ValueError as e:
            raise RecipeError("data.path", f"{path.name}: non-numeric feature ({e})") from None
        return path.stem, x, np.array([r[t] for r in body])
    raise RecipeError("data.path", f"{path.suffix or path.name!r} is not a supported format (.npz, .csv)")


def load_dataset(spec: DataSpec, base_dir: Path | str = ".") -> Dataset:
    """Loads and splits a data set (stratified, seeded by ``spec.split_seed``).

    Args:
        spec: The recipe's data section.
        base_dir: Directory that relative ``spec.path`` values are relative to.

    Returns:
        The split data set.

    Raises:
        RecipeError: If the file is missing or malformed (field ``data.*``).
    """
    from sklearn.model_selection import train_test_split

    name, x, y_raw = _load_raw(spec, Path(base_dir))
    classes, y = np.unique(y_raw, return_inverse=True)
    idx = np.arange(len(y))
    try:
        rest, test = train_test_split(idx, test_size=spec.test, random_state=spec.split_seed, stratify=y)
        train, val = train_test_split(rest, test_size=spec.val / (1 - spec.test),
                                      random_state=spec.split_seed, stratify=y[rest])
    except ValueError as e:
        raise RecipeError("data", f"cannot split {name}: {e}") from None
    kind = "image" if x.ndim == 4 else "tabular"
    if kind == "tabular":
        # Standardise with training statistics only, so val/test stay unseen.
        mu, sd = x[train].mean(0), x[train].std(0)
        x = (x - mu) / np.where(sd > 0, sd, 1.0)
    digest = hashlib.sha256(json.dumps([train.tolist(), val.tolist(), test.tolist()]).encode()).hexdigest()
    info = SplitInfo(spec.split_seed, spec.val, spec.test,
                     {"train": len(train), "val": len(val), "test": len(test)}, digest[:16])
    x = x.astype(np.float32)
    y = y.astype(np.int64)
    return Dataset(name, kind, tuple(x.shape[1:]), len(classes),
                   x[train], y[train], x[val], y[val], x[test], y[test], info)
