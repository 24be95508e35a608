"""Reading a folder of images, one subfolder per class, as torchvision's ImageFolder and Keras read it.

``DIR/<class name>/<image>.png|.jpg|.jpeg``: classes are the subfolders in
sorted order, images the files with an image suffix in each (other files and
hidden entries are skipped, as both toolkits do). Every image is decoded by
Pillow, restricted to the PNG and JPEG decoders, converted to one colour mode
and, where the recipe asks, resized.

The folder is untrusted input. Bounds, each refusal a one-line
:class:`~unified_nas.core.errors.RecipeError` naming the file:

* at most :data:`MAX_IMAGE_FILES` images and :data:`MAX_IMAGE_BYTES` of decoded pixels in all;
* at most :data:`MAX_PIXELS_EACH` pixels per image, read from the header before decoding,
  and Pillow's own decompression-bomb limit kept (its warning is an error here);
* a symbolic link is followed only if it stays inside the folder;
* only regular files are opened.
"""

from __future__ import annotations

import contextlib
import os
import stat
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from unified_nas.core.errors import RecipeError
from unified_nas.core.text import file_label
from unified_nas.data.files import inside

MAX_IMAGE_FILES = 200_000
MAX_PIXELS_EACH = 1 << 24  # 16.8 million: a 4096x4096 photo; far above any NAS data set's images
MAX_IMAGE_BYTES = 1 << 30  # decoded (and resized) pixels of all images, as uint8
SUFFIXES = (".png", ".jpg", ".jpeg")
FORMATS = ("PNG", "JPEG")
GREY_MODES = ("1", "L", "LA", "I", "I;16", "F")


def _entries(folder: Path, root: Path, field: str) -> list[tuple[str, Path]]:
    """Visible entries of ``folder`` as (name, resolved path), sorted by name, links checked."""
    try:
        names = sorted(n for n in os.listdir(folder) if not n.startswith("."))
    except OSError as e:
        raise RecipeError(field, f"cannot list {file_label(folder.name)}: {e.strerror or 'read error'}") from None
    return [(n, inside(root, folder / n, field)) for n in names]


def list_image_folder(root: Path, field: str = "data.path") -> tuple[list[tuple[str, Path]], list[int], list[str]]:
    """The images of a class-per-subfolder folder, in a fixed order.

    Args:
        root: The resolved folder.
        field: The recipe field errors name.

    Returns:
        (images as (``class/file`` name, resolved path), their class indices, class names).

    Raises:
        RecipeError: No class folders, a class without images, more than :data:`MAX_IMAGE_FILES`
            images, a link out of the folder, an image that is not a regular file.
    """
    files: list[tuple[str, Path]] = []
    labels: list[int] = []
    classes: list[str] = []
    for name, sub in _entries(root, root, field):
        if not sub.is_dir():
            continue  # a file beside the class folders (a README, a licence) is no class
        found = 0
        for fname, f in _entries(sub, root, field):
            if Path(fname).suffix.lower() not in SUFFIXES:
                continue
            if not stat.S_ISREG(f.stat().st_mode):
                raise RecipeError(field, f"{file_label(name + '/' + fname)} is not a regular file")
            if len(files) >= MAX_IMAGE_FILES:
                raise RecipeError(field, f"{file_label(root.name)} holds more than {MAX_IMAGE_FILES} images")
            files.append((file_label(f"{name}/{fname}"), f))
            labels.append(len(classes))
            found += 1
        if found == 0:
            raise RecipeError(field, f"class folder {file_label(name)} has no .png/.jpg/.jpeg images")
        classes.append(name)
    if len(classes) < 2:
        raise RecipeError(
            field,
            f"{file_label(root.name)} has {len(classes)} class folder(s); it needs one subfolder per class, at least 2",
        )
    return files, labels, classes


@contextlib.contextmanager
def _opened(path: Path) -> Iterator[Any]:
    """The image, opened lazily (header only) by the PNG/JPEG decoders, with bomb warnings as errors."""
    from PIL import Image  # deferred: only image folders need Pillow

    with warnings.catch_warnings():
        # Pillow warns above its MAX_IMAGE_PIXELS and raises above twice that: refuse both.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with Image.open(path, formats=FORMATS) as im:
            yield im


def _decode(path: Path, shown_name: str, size: tuple[int, int] | None, grey: bool, field: str) -> np.ndarray:
    from PIL import Image

    try:
        with _opened(path) as im:
            w, h = im.size
            if w * h > MAX_PIXELS_EACH:
                raise RecipeError(field, f"{shown_name} has {w}x{h} pixels, more than {MAX_PIXELS_EACH}")
            pixels = im.convert("L" if grey else "RGB")  # decodes; also drops alpha and expands palettes
            if size is not None and pixels.size != (size[1], size[0]):
                pixels = pixels.resize((size[1], size[0]), Image.Resampling.BILINEAR)
            return np.asarray(pixels, dtype=np.uint8)
    except RecipeError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise RecipeError(field, f"{shown_name} is a decompression bomb (over Pillow's pixel limit)") from None
    except (OSError, ValueError, SyntaxError, Image.UnidentifiedImageError):
        # Pillow's messages may quote the file's bytes; say what is wrong without them.
        raise RecipeError(field, f"{shown_name} is not a readable PNG or JPEG image") from None


def _is_grey(path: Path) -> bool:
    """Whether the image's mode is grey, from its header (no decoding)."""
    try:
        with _opened(path) as im:
            return bool(im.mode in GREY_MODES)
    except Exception:  # the decoding pass names the file and the cause
        return True


def read_image_folder(
    root: Path, size: Sequence[int] | None, channels: int | None, field: str = "data.path"
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Decodes a class-per-subfolder image folder into one uint8 array.

    Args:
        root: The resolved folder.
        size: ``(height, width)`` to resize every image to; None: all images must share the first one's size.
        channels: 1 (grey) or 3 (RGB); None: 1 if every image is grey, else 3.
        field: The recipe field errors name.

    Returns:
        (images ``(N, H, W, C)`` uint8, class indices ``(N,)``, class names).

    Raises:
        RecipeError: As :func:`list_image_folder`; an image that is not a readable PNG/JPEG, over the
            pixel limits, a decompression bomb, of another size than the first (without ``size``), or
            more than :data:`MAX_IMAGE_BYTES` of pixels in all.
    """
    files, labels, classes = list_image_folder(root, field)
    grey = channels == 1 if channels is not None else all(_is_grey(f) for _, f in files)
    c = 1 if grey else 3
    out: np.ndarray | None = None
    target = (int(size[0]), int(size[1])) if size is not None else None
    for i, (shown_name, f) in enumerate(files):
        img = _decode(f, shown_name, target, grey, field)
        if out is None:
            if len(files) * img.shape[0] * img.shape[1] * c > MAX_IMAGE_BYTES:
                raise RecipeError(
                    field,
                    f"{len(files)} images of {img.shape[0]}x{img.shape[1]}x{c} are more than {MAX_IMAGE_BYTES >> 20} MiB "
                    "of pixels; set data.image_size smaller or use fewer images",
                )
            out = np.empty((len(files), img.shape[0], img.shape[1], c), np.uint8)
        if img.shape[:2] != out.shape[1:3]:
            raise RecipeError(
                field,
                f"{shown_name} is {img.shape[1]}x{img.shape[0]}, the first image {out.shape[2]}x{out.shape[1]}; "
                "set data.image_size to resize them all",
            )
        out[i] = img.reshape(out.shape[1:])
    assert out is not None  # list_image_folder found at least 2 images
    return out, np.asarray(labels, np.int64), classes


def resize_array(x: np.ndarray, size: Sequence[int]) -> np.ndarray:
    """Resizes images ``(N, H, W, C)`` (bilinear, as the folder reader) to ``size = (height, width)``.

    Args:
        x: Images, uint8 or float.
        size: The target size.

    Returns:
        The resized images, of ``x``'s dtype class (uint8 stays uint8, others become float32).
    """
    from PIL import Image

    h, w = int(size[0]), int(size[1])
    if x.shape[1:3] == (h, w):
        return x
    u8 = x.dtype == np.uint8
    out = np.empty((len(x), h, w, x.shape[3]), np.uint8 if u8 else np.float32)
    for i in range(len(x)):
        for ch in range(x.shape[3]):
            plane = x[i, :, :, ch] if u8 else x[i, :, :, ch].astype(np.float32)
            out[i, :, :, ch] = np.asarray(Image.fromarray(plane).resize((w, h), Image.Resampling.BILINEAR))
    return out
