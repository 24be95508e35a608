"""Reading IDX files (the MNIST format), raw or gzipped, bounded and checked before allocating.

IDX: two zero bytes, a type byte (``0x08``: unsigned byte, the only type
image data sets use), the number of dimensions, then one big-endian uint32
per dimension, then the values. Images are ``idx3`` (N, rows, columns),
labels ``idx1`` (N). A folder holds the four files of MNIST's layout::

    train-images-idx3-ubyte[.gz]  train-labels-idx1-ubyte[.gz]
    t10k-images-idx3-ubyte[.gz]   t10k-labels-idx1-ubyte[.gz]

The ``t10k`` pair is the official test split. Every problem is a one-line
:class:`~unified_nas.core.errors.RecipeError` naming the file.
"""

from __future__ import annotations

import gzip
import stat
import struct
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from unified_nas.core.errors import RecipeError
from unified_nas.core.text import file_label
from unified_nas.data.files import inside

# The decoded values of one file; Fashion-MNIST's training images are 47 MB. A gzip
# member can expand 1000-fold, so the bound is on what is read, not the file's size.
MAX_IDX_BYTES = 1 << 30
UBYTE = 0x08
PARTS = ("train", "t10k")  # the training part, then the official test part


def _open(path: Path) -> BinaryIO:
    with path.open("rb") as f:
        gzipped = f.read(2) == b"\x1f\x8b"  # gzip's magic; the name's suffix is not trusted
    return gzip.open(path, "rb") if gzipped else path.open("rb")  # type: ignore[return-value]


def read_idx(path: Path, dims: int, field: str = "data.path") -> np.ndarray:
    """Reads one IDX file of unsigned bytes with ``dims`` dimensions.

    Args:
        path: The file, raw or gzip-compressed.
        dims: 3 for images, 1 for labels.
        field: The recipe field errors name.

    Returns:
        A uint8 array of the header's shape.

    Raises:
        RecipeError: Not a regular file, a header of another type or rank, more than
            :data:`MAX_IDX_BYTES` of values, a truncated file or trailing bytes, a corrupt gzip stream.
    """
    label = file_label(path.name)
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            raise RecipeError(field, f"{label} is not a regular file")
        with _open(path) as f:
            head = f.read(4)
            if len(head) < 4 or head[:2] != b"\0\0":
                raise RecipeError(field, f"{label} is not an IDX file (bad magic number)")
            if head[2] != UBYTE or head[3] != dims:
                raise RecipeError(
                    field,
                    f"{label}: IDX type 0x{head[2]:02x} with {head[3]} dimensions; "
                    f"expected unsigned bytes (0x08) with {dims}",
                )
            sizes = f.read(4 * dims)
            if len(sizes) < 4 * dims:
                raise RecipeError(field, f"{label} is truncated (in its header)")
            shape = struct.unpack(f">{dims}I", sizes)
            n = int(np.prod(shape, dtype=object))
            if n > MAX_IDX_BYTES:
                raise RecipeError(field, f"{label}: its header declares {n} values, more than {MAX_IDX_BYTES}")
            buf = bytearray(n)
            got = f.readinto(buf)  # type: ignore[attr-defined]  # both stream kinds have it
            if got != n:
                raise RecipeError(field, f"{label} is truncated ({got} of {n} values)")
            if f.read(1):
                raise RecipeError(field, f"{label} has bytes after the {n} values its header declares")
    except FileNotFoundError:
        raise RecipeError(field, f"{label} does not exist") from None
    except (OSError, EOFError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
        why = "corrupt gzip stream" if isinstance(e, (EOFError, zlib.error, gzip.BadGzipFile)) else e.strerror
        raise RecipeError(field, f"cannot read {label}: {why or 'read error'}") from None
    return np.frombuffer(buf, dtype=np.uint8).reshape(shape)


def _find(folder: Path, part: str, kind: str, dims: int, field: str) -> Path:
    """The file of one part and kind, raw or gzipped, never through a link out of the folder."""
    for suffix in ("", ".gz"):
        p = folder / f"{part}-{kind}-idx{dims}-ubyte{suffix}"
        if p.exists() or p.is_symlink():
            inside(folder, p, field)
            return p
    raise RecipeError(field, f"{file_label(folder.name)} has no {part}-{kind}-idx{dims}-ubyte[.gz]")


def read_idx_folder(folder: Path, field: str = "data.path") -> tuple[np.ndarray, np.ndarray, int]:
    """Reads a folder in MNIST's layout: images and labels of the training and the official test part.

    Args:
        folder: The resolved folder (its files are named as in the module docstring).
        field: The recipe field errors name.

    Returns:
        (images ``(N, H, W)`` uint8, labels ``(N,)`` uint8, the number of training rows):
        rows from that index on are the official test split.

    Raises:
        RecipeError: A missing file, a file :func:`read_idx` refuses, labels that do not match
            the images in number, or test images of another size than the training images.
    """
    images: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    for part in PARTS:
        ip, lp = _find(folder, part, "images", 3, field), _find(folder, part, "labels", 1, field)
        x, y = read_idx(ip, 3, field), read_idx(lp, 1, field)
        if len(x) != len(y):
            raise RecipeError(field, f"{file_label(lp.name)} has {len(y)} labels for {len(x)} images")
        if images and x.shape[1:] != images[0].shape[1:]:
            raise RecipeError(
                field,
                f"{file_label(ip.name)} holds {x.shape[1]}x{x.shape[2]} images, the training part {images[0].shape[1]}x{images[0].shape[2]}",
            )
        images.append(x)
        labels.append(y)
    return np.concatenate(images), np.concatenate(labels), len(images[0])
