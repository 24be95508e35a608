"""Reading a user's data file safely: ``.npz`` or ``.csv``, bounded, checked, never quoted; data folders' roots.

Every problem is a one-line RecipeError naming ``data.path`` or
``data.target`` and never quoting the file's content (a wrong path may point
at a private file): regular files only, at most :data:`MAX_CSV_BYTES` /
:data:`MAX_NPZ_BYTES`, no pickled arrays, finite features, one label per row,
labels that are whole numbers or non-empty class names, at least two classes
and two samples per class.
"""

from __future__ import annotations

import array
import math
import os
import re
import stat
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import cast

import numpy as np

from unified_nas.core.errors import RecipeError
from unified_nas.core.text import file_label, shown

# Bounds on user data files, so a wrong path (a device, a huge dump) fails fast
# instead of exhausting memory. CSV is parsed in Python, about 12 bytes of memory
# per value, hence the lower limit; bigger data belongs in .npz.
MAX_CSV_BYTES = 256 << 20
MAX_NPZ_BYTES = 1 << 30  # the file, and its arrays x and y uncompressed


def _size_text(n: int) -> str:
    if n % (1 << 30) == 0:
        return f"{n >> 30} GiB"
    return f"{n >> 20} MiB" if n % (1 << 20) == 0 else f"{n} bytes"


def resolve_data_path(path_text: str, base_dir: Path) -> Path:
    """The recipe's ``data.path`` as a path that exists (relative to the recipe's folder unless absolute).

    Raises:
        RecipeError: Naming ``data.path``: nothing is there, or it cannot be read.
    """
    path = Path(path_text) if Path(path_text).is_absolute() else base_dir / path_text
    label = file_label(path)
    try:
        path.stat()
    except FileNotFoundError:
        raise RecipeError("data.path", f"{label} does not exist") from None
    except (OSError, ValueError) as e:  # ValueError: a NUL byte in the path
        raise RecipeError(
            "data.path", f"cannot read {label}: {getattr(e, 'strerror', None) or 'invalid path'}"
        ) from None
    return path


def checked_folder(path: Path, data_format: str | None) -> Path:
    """A data folder (image class folders or IDX files), resolved: the root no entry may link out of.

    Raises:
        RecipeError: Naming ``data.path``: it is not a folder.
    """
    if not path.is_dir():
        raise RecipeError("data.path", f"{file_label(path)} is not a folder (format {data_format} reads a folder)")
    return Path(os.path.realpath(path))


def inside(root: Path, path: Path, field: str = "data.path") -> Path:
    """``path`` with links resolved, refused unless it stays inside ``root`` (itself resolved).

    Args:
        root: The resolved data folder.
        path: An entry found in it.
        field: The recipe field errors name.

    Returns:
        The resolved path.

    Raises:
        RecipeError: The path (through a symbolic link) leads out of the folder.
    """
    real = Path(os.path.realpath(path))
    if real != root and root not in real.parents:
        raise RecipeError(field, f"{file_label(path.relative_to(root))} is a link out of the data folder")
    return real


def _user_file(path: Path, data_format: str | None) -> tuple[Path, str]:
    """The data file and its format: an existing regular file of a supported format within the size limit."""
    label = file_label(path)
    suffix = f".{data_format}" if data_format in ("npz", "csv") else path.suffix
    if suffix not in (".npz", ".csv"):
        raise RecipeError(
            "data.path", f"{shown(path.suffix or path.name)} is not a supported format (.npz, .csv, or a folder)"
        )
    st = path.stat()
    if not stat.S_ISREG(st.st_mode):
        raise RecipeError("data.path", f"{label} is not a regular file")
    limit = MAX_NPZ_BYTES if suffix == ".npz" else MAX_CSV_BYTES
    if st.st_size > limit:
        raise RecipeError("data.path", f"{file_label(path.name)} is larger than {_size_text(limit)}")
    return path, suffix


def _read_npy(zf: zipfile.ZipFile, key: str, label: str) -> np.ndarray:
    """Reads array ``key`` of an npz without pickle, checking its header before allocating."""
    fmt = np.lib.format
    info = zf.getinfo(f"{key}.npy")
    with zf.open(info) as f:
        try:
            version = fmt.read_magic(f)
            if version not in ((1, 0), (2, 0)):
                raise ValueError("unsupported .npy version")
            read_header = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
            shape, fortran, dtype = read_header(f)
            if any(d < 0 for d in shape):
                raise ValueError("negative dimension")
        except ValueError:
            # numpy's messages quote the header bytes: say what is wrong without them.
            raise RecipeError("data.path", f"{label}: array {key} is not a valid .npy array") from None
        if dtype.hasobject:
            raise RecipeError(
                "data.path",
                f"{label}: array {key} holds Python objects, which are never loaded "
                "(no pickle); save numbers or strings",
            )
        nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
        if nbytes > info.file_size:  # a header claiming more data than the member holds
            raise RecipeError("data.path", f"{label}: array {key} is truncated")
        buf = bytearray(nbytes)
        # ZipFile.open is typed IO[bytes]; opened for reading it is a ZipExtFile (a BufferedIOBase).
        if cast("zipfile.ZipExtFile", f).readinto(buf) != nbytes:
            raise RecipeError("data.path", f"{label}: array {key} is truncated")
    return np.frombuffer(buf, dtype=dtype).reshape(shape, order="F" if fortran else "C")


def _load_npz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    label = file_label(path.name)
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            if "x.npy" not in names or "y.npy" not in names:
                arrays = [n[:-4] for n in names if n.endswith(".npy")]
                # Array names are metadata, but list them only if they look like names.
                has = (
                    ", ".join(arrays)
                    if len(arrays) <= 10 and all(re.fullmatch(r"[\w.-]{1,40}", a) for a in arrays)
                    else f"{len(arrays)} arrays"
                )
                raise RecipeError("data.path", f"{label} needs arrays 'x' and 'y' (has {has or 'none'})")
            if zf.getinfo("x.npy").file_size + zf.getinfo("y.npy").file_size > MAX_NPZ_BYTES:
                raise RecipeError(
                    "data.path", f"{label}: arrays x and y are larger than {_size_text(MAX_NPZ_BYTES)} uncompressed"
                )
            return _read_npy(zf, "x", label), _read_npy(zf, "y", label)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError):
        raise RecipeError("data.path", f"{label} is not a valid .npz file (corrupt or truncated zip archive)") from None
    except OSError as e:
        raise RecipeError("data.path", f"cannot read {label}: {e.strerror or 'read error'}") from None


def _load_csv(path: Path, target: str) -> tuple[np.ndarray, list[str], list[int]]:
    """Features, raw labels and the line number of each row of a CSV with a header.

    Parses row by row into a flat float64 buffer, so memory stays near 8 bytes per value.
    """
    import csv

    label = file_label(path.name)
    values = array.array("d")
    labels: list[str] = []
    lines: list[int] = []
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:  # -sig: spreadsheets write a BOM
            reader = csv.reader(f)
            header = next((r for r in reader if r), None)
            if header is None:
                raise RecipeError("data.path", f"{label} is empty (needs a header row and data rows)")
            names = [h.strip() for h in header]
            # Never quote the header: the file may not be a CSV at all (e.g. a symlink to /etc/passwd).
            if names.count(target) == 0:
                raise RecipeError("data.target", f"column {shown(target)} not in {label}")
            if names.count(target) > 1:
                raise RecipeError(
                    "data.target", f"column {shown(target)} appears {names.count(target)} times in {label}"
                )
            if len(names) < 2:
                raise RecipeError("data.path", f"{label} has no feature columns besides {shown(target)}")
            t = names.index(target)
            for row in reader:
                if not row:
                    continue  # blank line
                if len(row) != len(names):
                    raise RecipeError(
                        "data.path",
                        f"{label} line {reader.line_num} has {len(row)} fields, the header has {len(names)}",
                    )
                try:
                    values.extend([float(v) for j, v in enumerate(row) if j != t])
                except ValueError:
                    j = next(j for j, v in enumerate(row) if j != t and not _is_float(v))
                    raise RecipeError(
                        "data.path", f"{label} line {reader.line_num}, column {j + 1}: not a number"
                    ) from None
                labels.append(row[t])
                lines.append(reader.line_num)
    except UnicodeDecodeError:
        raise RecipeError("data.path", f"{label} is not UTF-8 text") from None
    except csv.Error as e:
        raise RecipeError("data.path", f"{label} line {reader.line_num}: malformed CSV ({e})") from None
    except OSError as e:
        raise RecipeError("data.path", f"cannot read {label}: {e.strerror or 'read error'}") from None
    if not labels:
        raise RecipeError("data.path", f"{label} has a header but no data rows")
    x = np.frombuffer(values, dtype=np.float64).reshape(len(labels), len(names) - 1)
    return x, labels, lines


def _is_float(v: str) -> bool:
    try:
        float(v)
    except ValueError:
        return False
    return True


def _labels(y: np.ndarray | list[str], field: str, where: Callable[[int], str]) -> np.ndarray:
    """Class labels: integers, whole-number floats, or non-empty strings (class names).

    A string that reads as a number is that number, so ``1`` and ``1.0`` are one
    class and ``nan`` is refused rather than becoming a class of its own.
    Label values are never quoted in messages (they are file contents).
    """
    if isinstance(y, np.ndarray) and y.dtype.kind in "biu":
        return y
    if isinstance(y, np.ndarray) and y.dtype.kind == "f":
        bad = np.flatnonzero(~np.isfinite(y) | (y != np.round(y)))
        if len(bad):
            i = int(bad[0])
            raise RecipeError(
                field,
                f"{where(i)}: the label is not {'finite' if not np.isfinite(y[i]) else 'a whole number'}"
                " (labels are class indices or class names)",
            )
        return y
    if isinstance(y, np.ndarray) and y.dtype.kind not in "US":
        raise RecipeError(field, f"{where(0)}: labels of dtype {y.dtype} are neither numbers nor strings")
    keys: list[float | str] = []
    for i, v in enumerate(y.tolist() if isinstance(y, np.ndarray) else y):
        if isinstance(v, bytes):
            try:
                v = v.decode("utf-8")
            except UnicodeDecodeError:
                raise RecipeError(field, f"{where(i)}: the label is not UTF-8 text") from None
        v = v.strip()
        if not v:
            raise RecipeError(field, f"{where(i)}: the label is empty")
        try:
            num = float(v)
        except ValueError:
            keys.append(v)
            continue
        if not math.isfinite(num) or not num.is_integer():
            raise RecipeError(
                field,
                f"{where(i)}: the label is not {'finite' if not math.isfinite(num) else 'a whole number'}"
                " (labels are class indices or class names)",
            )
        keys.append(num)
    if all(isinstance(k, float) for k in keys):
        return np.array(keys, dtype=np.float64)
    # Mixed names and numbers: one spelling per number, so "1" and "1.0" stay one class.
    return np.array([str(int(k)) if isinstance(k, float) else k for k in keys])


def check_arrays(
    x: np.ndarray, y: np.ndarray, label: str, x_field: str, y_field: str, where: Callable[[int], str]
) -> np.ndarray:
    """Checks features and labels fit together; returns x as float32 ``(N, F)`` or ``(N, H, W, C)``.

    Raises:
        RecipeError: For a shape, length, finiteness or class-count problem.
    """
    if x.dtype.kind not in "biuf":
        raise RecipeError(x_field, f"{label}: features of dtype {x.dtype} are not numbers")
    if x.ndim < 2 or x.ndim > 4:
        raise RecipeError(
            x_field, f"{label}: x has shape {x.shape}; it needs shape (N, features) or images (N, H, W[, C])"
        )
    if x.ndim == 3:
        x = x[..., None]
    if math.prod(x.shape[1:]) == 0:
        raise RecipeError(x_field, f"{label}: x has shape {x.shape}, no features")
    if y.ndim != 1:
        raise RecipeError(y_field, f"{label}: y has shape {y.shape}; it needs one class label per sample, shape (N,)")
    if len(x) != len(y):
        raise RecipeError(y_field, f"{label}: x has {len(x)} rows but y has {len(y)} labels")
    # uint8 images are scaled to [0, 1] (in float32 this is bit-identical to float64 then float32).
    with np.errstate(over="ignore"):  # values beyond float32 become inf, refused just below (no warning line)
        x = x.astype(np.float32) / np.float32(255) if x.dtype == np.uint8 else x.astype(np.float32)
    bad = ~np.isfinite(x.reshape(len(x), -1)).all(axis=1)
    if bad.any():  # also catches values beyond float32's range, which became inf above
        raise RecipeError(x_field, f"{where(int(np.flatnonzero(bad)[0]))}: a feature is not a finite float32 number")
    if len(y) == 0:
        raise RecipeError(y_field, f"{label} has no samples")
    _, counts = np.unique(y, return_counts=True)
    if len(counts) < 2:
        raise RecipeError(y_field, f"{label} has {len(counts)} class; classification needs at least 2")
    if counts.min() < 2:
        raise RecipeError(
            y_field,
            f"{label} has a class with only 1 sample; the stratified train/val/test split needs at least 2 per class",
        )
    return x


def read_user_data(
    data_path: Path, target: str, data_format: str | None = None
) -> tuple[str, np.ndarray, np.ndarray, float]:
    """Reads and checks a user's data file.

    Args:
        data_path: The file (:func:`resolve_data_path`).
        target: The label column of a CSV file.
        data_format: ``npz`` or ``csv``; None: from the file's suffix.

    Returns:
        The file's stem (the data set's name), features, labels, and the divisor that turned
        the file's values into the features (255 for uint8 images, else 1).

    Raises:
        RecipeError: Naming ``data.path`` or ``data.target`` and the cause.
    """
    path, suffix = _user_file(data_path, data_format)
    label = file_label(path.name)
    if suffix == ".npz":
        x, y = _load_npz(path)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]  # (N, 1) label columns, as Keras ships them
        if y.ndim == 1:
            y = _labels(y, "data.path", lambda i: f"{label}: y[{i}]")
        divisor = 255.0 if x.dtype == np.uint8 else 1.0  # check_arrays scales uint8 images to [0, 1]
        return path.stem, check_arrays(x, y, label, "data.path", "data.path", lambda i: f"{label}: x[{i}]"), y, divisor
    x, raw_labels, lines = _load_csv(path, target)
    y = _labels(raw_labels, "data.target", lambda i: f"{label} line {lines[i]}")
    checked = check_arrays(x, y, label, "data.path", "data.target", lambda i: f"{label} line {lines[i]}")
    return path.stem, checked, y, 1.0
