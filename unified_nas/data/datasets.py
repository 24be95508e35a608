"""Data sets and the one seeded train/val/test split every backend shares.

Bundled (real, shipped with scikit-learn, no download): ``digits`` (1797 8x8
grey images, 10 classes, as ``(N, 8, 8, 1)`` channels-last in [0, 1]),
``iris``, ``wine``, ``breast_cancer`` (tabular, standardised with the training
split's mean and std). Installed by a package manager
(:mod:`unified_nas.data.builtin`): ``fashion_mnist`` and ``mnist``, 28x28 grey
images with their official test split. User data: ``.npz`` with arrays ``x``
and ``y`` (images as ``(N, H, W[, C])``, channels last; uint8 is scaled to
[0, 1]), ``.csv`` with a header and a ``target`` column, a folder of class
folders of PNG/JPEG images, or a folder of IDX files.

User files are checked before use (:mod:`unified_nas.data.files`), each
problem a one-line RecipeError naming ``data.path`` or ``data.target``.

Arrays are float32 features and int64 labels ``0..K-1``, channels last; each
framework converts layout itself. How the source's raw values became these
features (scaling of pixels, standardisation of tabular columns) is the
data set's :class:`InputTransform`: an exported model carries it, so it takes
input as the data source holds it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from unified_nas.core.errors import RecipeError, UserError
from unified_nas.data.builtin import IMAGE_SETS
from unified_nas.data.files import check_arrays, checked_folder, read_user_data, resolve_data_path
from unified_nas.data.idx import read_idx_folder
from unified_nas.data.images import read_image_folder, resize_array
from unified_nas.recipe.sections import DataSpec

if TYPE_CHECKING:
    pass


@dataclass(frozen=True)
class InputTransform:
    """How raw input (values as the data source holds them) becomes the network's input.

    ``(raw - shift) / scale``, element-wise over the last axis (a tabular
    feature, an image channel). Training standardises tabular features with the
    training split's mean and std, and scales pixels (uint8 by 255, the 8x8
    digits by 16): a model trained on those features needs the same transform
    in front of it to predict on raw input, which is what ``unas export`` writes.
    """

    shift: tuple[float, ...]
    scale: tuple[float, ...]

    @classmethod
    def identity(cls, channels: int) -> InputTransform:
        """No change: the features are the raw values."""
        return cls((0.0,) * channels, (1.0,) * channels)

    def apply(self, raw: np.ndarray) -> np.ndarray:
        """Raw values -> network input (float32).

        Args:
            raw: Input as the data source holds it, channels (features) last.

        Returns:
            What the network was trained on.
        """
        shift, scale = np.asarray(self.shift, np.float32), np.asarray(self.scale, np.float32)
        return ((np.asarray(raw, np.float32) - shift) / scale).astype(np.float32)

    def invert(self, x: np.ndarray) -> np.ndarray:
        """Network input -> raw values (float32): the inverse of :meth:`apply`, e.g. to feed an exported model.

        Args:
            x: Features as the data set holds them.

        Returns:
            The raw values they came from.
        """
        shift, scale = np.asarray(self.shift, np.float32), np.asarray(self.scale, np.float32)
        return (np.asarray(x, np.float32) * scale + shift).astype(np.float32)

    def describe(self) -> dict[str, Any]:
        """JSON-ready, for ``sample.json``."""
        return {
            "formula": "(x - shift) / scale over the last axis",
            "shift": list(self.shift),
            "scale": list(self.scale),
        }


@dataclass(frozen=True)
class SplitInfo:
    """Enough to tell whether two reports used the same split."""

    seed: int
    val: float
    test: float | None  # None: the data set's official test split
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
    content_sha256: str = ""  # of the features and labels as loaded, before the split
    input_transform: InputTransform | None = None  # None: identity (a table's stand-in has no real inputs)
    class_names: tuple[str, ...] | None = None  # by label index, where the source names its classes
    examples: int = 0  # in the source, before any subsample
    subsample: int | None = None  # examples kept by data.subsample (stratified, seeded by the split seed)

    @property
    def digests(self) -> dict[str, str]:
        """Which data this is: the split digest (which rows went where) and the content digest (the values)."""
        return {"split_sha256": self.split.sha256, "content_sha256": self.content_sha256}

    @property
    def transform(self) -> InputTransform:
        """Raw values -> features (:class:`InputTransform`), identity where none was applied."""
        return self.input_transform or InputTransform.identity(self.input_shape[-1])

    def describe(self) -> dict[str, Any]:
        """JSON-ready summary for reports."""
        return {
            "name": self.name,
            "kind": self.kind,
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "split": asdict(self.split),
            "content_sha256": self.content_sha256,
            "examples": self.examples or sum(self.split.sizes.values()),
            "subsample": self.subsample,
            "classes": list(self.class_names) if self.class_names is not None else None,
        }


@dataclass(frozen=True)
class _Raw:
    """A data set as read, before subsampling and the split."""

    name: str
    x: np.ndarray  # float32 features, channels last (uint8 pixels already divided by ``divisor``)
    y: np.ndarray  # raw labels
    divisor: float  # raw value -> feature
    classes: tuple[str, ...] | None = None  # names by label index, where the source names them
    n_train: int | None = None  # rows from this index on are the official test split; None: no such split


def _idx_raw(name: str, folder: Path, classes: tuple[str, ...] | None, size: tuple[int, int] | None) -> _Raw:
    x, y, n_train = read_idx_folder(folder)
    images = x[..., None]
    if size is not None:
        images = resize_array(images, size)
    checked = check_arrays(images, y, name, "data.path", "data.path", lambda i: f"{name} image {i}")
    if classes is not None and int(y.max()) >= len(classes):
        raise RecipeError("data.path", f"{name}: a label is {int(y.max())}, but there are {len(classes)} classes")
    return _Raw(name, checked, y, 255.0, classes, n_train)


def _load_raw(spec: DataSpec, base_dir: Path) -> _Raw:
    path = None if spec.name is not None else resolve_data_path(cast(str, spec.path), base_dir)  # one of the two
    if spec.channels is not None and not _is_image_folder(spec, path):
        # Only decoded images can be converted; other sources have the channels they hold.
        raise RecipeError("data.channels", "applies to a folder of images only (other data keep their channels)")
    if spec.name in IMAGE_SETS:
        image_set = IMAGE_SETS[spec.name]
        return _idx_raw(
            spec.name, checked_folder(image_set.folder(spec.name), "idx"), image_set.classes, spec.image_size
        )
    if spec.name is not None:
        from sklearn import datasets  # deferred: keeps `import unified_nas` light

        if spec.name == "digits":
            d = datasets.load_digits()
            x, y, divisor = (d.images / 16.0)[..., None].astype(np.float32), d.target, 16.0
            if spec.image_size is not None:
                x = resize_array(x, spec.image_size)
        else:
            if spec.image_size is not None:
                raise RecipeError("data.image_size", f"{spec.name} holds features, not images")
            d = getattr(datasets, f"load_{spec.name}")()  # one of TABULAR_SETS
            x, y, divisor = d.data.astype(np.float32), d.target, 1.0
        checked = check_arrays(x, y, spec.name, "data.name", "data.name", lambda i: f"{spec.name} row {i}")
        return _Raw(spec.name, checked, y, divisor)
    assert path is not None  # resolved above
    if spec.format == "idx" or _is_image_folder(spec, path):
        folder = checked_folder(path, spec.format)
        if spec.format == "idx":
            return _idx_raw(folder.name, folder, None, spec.image_size)
        images, labels, classes = read_image_folder(folder, spec.image_size, spec.channels)
        checked = check_arrays(images, labels, folder.name, "data.path", "data.path", lambda i: f"image {i}")
        return _Raw(folder.name, checked, labels, 255.0, tuple(classes))
    name, x, y, divisor = read_user_data(path, spec.target, spec.format)
    if spec.image_size is not None:
        if x.ndim != 4:
            raise RecipeError("data.image_size", f"{name} holds features, not images")
        x = resize_array(x, spec.image_size)
    return _Raw(name, x, y, divisor)


def _is_image_folder(spec: DataSpec, path: Path | None) -> bool:
    """Whether ``data.path`` (resolved: ``path``) is read as a folder of class folders."""
    if path is None or spec.format == "idx":
        return False
    return spec.format == "folder" or (spec.format is None and path.suffix not in (".npz", ".csv") and path.is_dir())


def _subsample(raw: _Raw, n: int, seed: int) -> _Raw:
    """A stratified, seeded subset of ``n`` rows, taken from the training and test parts in proportion."""
    from sklearn.model_selection import train_test_split

    total = len(raw.y)
    if n >= total:
        raise RecipeError("data.subsample", f"{n} is not fewer than {raw.name}'s {total} examples")
    parts = [np.arange(total)] if raw.n_train is None else [np.arange(raw.n_train), np.arange(raw.n_train, total)]
    keep: list[np.ndarray] = []
    for part in parts:
        share = n - sum(len(k) for k in keep) if part is parts[-1] else round(n * len(part) / total)
        try:
            kept, _ = train_test_split(part, train_size=share, random_state=seed, stratify=raw.y[part])
        except ValueError as e:
            raise RecipeError("data.subsample", f"cannot take {n} of {raw.name}: {' '.join(str(e).split())}") from None
        keep.append(np.sort(kept))
    rows = np.concatenate(keep)
    n_train = None if raw.n_train is None else len(keep[0])
    return _Raw(raw.name, raw.x[rows], raw.y[rows], raw.divisor, raw.classes, n_train)


def load_dataset(spec: DataSpec, base_dir: Path | str = ".") -> Dataset:
    """Loads and splits a data set (stratified, seeded by ``spec.split_seed``).

    A data set with an official test split (``fashion_mnist``, ``mnist``, an IDX folder)
    keeps it as the test split, and validation is carved from its training part.

    Args:
        spec: The recipe's data section.
        base_dir: Directory that relative ``spec.path`` values are relative to.

    Returns:
        The split data set.

    Raises:
        RecipeError: Naming the ``data`` field, if the file is missing, not a
            regular file, too large (:data:`MAX_CSV_BYTES`, :data:`MAX_NPZ_BYTES`), corrupt,
            or its content is unusable: shapes or lengths that do not match, non-finite
            features, labels that are not whole numbers or names, fewer than two classes,
            or a class too small for the stratified split; an image folder or image that
            :mod:`unified_nas.data.images` refuses; an IDX file :mod:`unified_nas.data.idx` refuses.
        UserError: A built-in data set that is not installed (the message says how to install it).
    """
    from sklearn.model_selection import train_test_split

    raw = _load_raw(spec, Path(base_dir))
    examples = len(raw.y)
    if spec.subsample is not None:
        raw = _subsample(raw, spec.subsample, spec.split_seed)
    name, x, y_raw, divisor = raw.name, raw.x, raw.y, raw.divisor
    # The split digest covers which rows go where; this one the values themselves (a resume checks both).
    content = hashlib.sha256(np.ascontiguousarray(x, dtype=np.float32).tobytes())
    content.update(np.asarray(y_raw).astype(str).tobytes())
    classes, y = np.unique(y_raw, return_inverse=True)
    idx = np.arange(len(y))
    try:
        if raw.n_train is None:
            rest, test = train_test_split(
                idx, test_size=cast(float, spec.test), random_state=spec.split_seed, stratify=y
            )
            val_share = spec.val / (1 - cast(float, spec.test))
        else:
            rest, test, val_share = idx[: raw.n_train], idx[raw.n_train :], spec.val
        train, val = train_test_split(rest, test_size=val_share, random_state=spec.split_seed, stratify=y[rest])
    except ValueError as e:
        raise RecipeError("data", f"cannot split {name}: {' '.join(str(e).split())}") from None
    kind = "image" if x.ndim == 4 else "tabular"
    channels = x.shape[-1]
    transform = InputTransform((0.0,) * channels, (divisor,) * channels)
    if kind == "tabular":
        # Standardise with training statistics only, so val/test stay unseen.
        with np.errstate(over="ignore", invalid="ignore"):  # overflow is refused just below, without warning lines
            mu, sd = x[train].mean(0), x[train].std(0)
        if not (np.isfinite(mu).all() and np.isfinite(sd).all()):  # float32 overflows near 1.8e19 when squaring
            raise RecipeError(
                "data.path", f"{name}: feature values are too large to standardise in float32; rescale them"
            )
        sd = np.where(sd > 0, sd, 1.0)
        x = (x - mu) / sd
        # Composed with the source's divisor: features = (raw / divisor - mu) / sd = (raw - mu*d) / (sd*d).
        transform = InputTransform(
            tuple(float(v) * divisor for v in mu.tolist()), tuple(float(v) * divisor for v in sd.tolist())
        )
    digest = hashlib.sha256(json.dumps([train.tolist(), val.tolist(), test.tolist()]).encode()).hexdigest()
    info = SplitInfo(
        spec.split_seed,
        spec.val,
        spec.test if raw.n_train is None else None,
        {"train": len(train), "val": len(val), "test": len(test)},
        digest[:16],
    )
    x = np.asarray(x, np.float32)
    y = y.astype(np.int64)
    if raw.classes is not None:
        names: tuple[str, ...] | None = tuple(raw.classes[int(c)] for c in classes)
    else:
        names = tuple(str(c) for c in classes) if classes.dtype.kind in "US" else None
    return Dataset(
        name,
        kind,
        tuple(x.shape[1:]),
        len(classes),
        x[train],
        y[train],
        x[val],
        y[val],
        x[test],
        y[test],
        info,
        content.hexdigest()[:16],
        transform,
        names,
        examples,
        spec.subsample,
    )


Digests = dict[str, str]  # {"split_sha256": ..., "content_sha256": ...}: which data a run used


def recorded_digests(described: Mapping[str, Any]) -> Digests:
    """The digests a stored run recorded (its report's ``data``, :meth:`Dataset.describe` when it started).

    Args:
        described: The report's ``data`` section.

    Returns:
        As :meth:`Dataset.digests`; ``content_sha256`` is empty in reports from before content digests existed.
    """
    split = described.get("split") or {}
    return {
        "split_sha256": str(split.get("sha256") or ""),
        "content_sha256": str(described.get("content_sha256") or ""),
    }


def same_data(a: Mapping[str, str], b: Mapping[str, str]) -> bool:
    """Whether two digest records name the same data: the one comparison behind every data check.

    The split digests must be equal; the content digests too, unless one is empty
    (a report from before content digests existed is judged on its split).

    Args:
        a, b: Digest records (:meth:`Dataset.digests`, :func:`recorded_digests`).

    Returns:
        True for the same data.
    """
    if a.get("split_sha256") != b.get("split_sha256"):
        return False
    ca, cb = a.get("content_sha256") or "", b.get("content_sha256") or ""
    return not (ca and cb) or ca == cb


def shown_digests(d: Mapping[str, str]) -> str:
    """A digest record in a message: ``split/content`` (``-`` for a missing content digest)."""
    return f"{d.get('split_sha256') or '-'}/{d.get('content_sha256') or '-'}"


def check_same_data(expected: Mapping[str, str], data: Dataset, message: str) -> None:
    """Refuses data that differs from what a run or benchmark used: another file, other content or another split.

    A run's numbers only mean something on its own data: resume, export, a
    benchmark's runs and its retraining all check here.

    Args:
        expected: The digests the data must have (:func:`recorded_digests` of a stored run, a benchmark's).
        data: The data loaded now.
        message: What is wrong and what to do, for the one-line error (the digests are appended).

    Raises:
        UserError: The split or content digest differs.
    """
    if not same_data(expected, data.digests):
        raise UserError(f"{message} (data digests {shown_digests(data.digests)}, expected {shown_digests(expected)})")
