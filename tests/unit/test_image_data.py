"""Image data: the IDX, image-folder and npz readers on small generated files, the built-in image
sets, subsampling, and hostile image input (each refusal one line naming the file)."""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import require_image_set, unas
from unified_nas.core.errors import RecipeError, UserError
from unified_nas.data import images as images_mod
from unified_nas.data import load_dataset
from unified_nas.data.builtin import IMAGE_SETS
from unified_nas.recipe.parse import _parse_data


def spec(**raw):
    return _parse_data(raw)


def write_idx(path: Path, arr: np.ndarray, compress: bool = False) -> None:
    head = bytes([0, 0, 0x08, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    data = head + arr.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if compress else data)


def idx_folder(root: Path, n_train: int = 60, n_test: int = 20, side: int = 6, compress: bool = False) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    sfx = ".gz" if compress else ""
    for part, n in (("train", n_train), ("t10k", n_test)):
        write_idx(root / f"{part}-images-idx3-ubyte{sfx}", rng.integers(0, 256, (n, side, side)), compress)
        write_idx(root / f"{part}-labels-idx1-ubyte{sfx}", np.arange(n) % 3, compress)
    return root


def image_folder(root: Path, classes=("cat", "dog"), per_class: int = 10, size=(5, 7), mode: str = "L") -> Path:
    rng = np.random.default_rng(1)
    for c in classes:
        (root / c).mkdir(parents=True)
        for i in range(per_class):
            shape = (size[0], size[1]) if mode == "L" else (size[0], size[1], 3)
            Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(
                root / c / f"{i}.{'png' if i % 2 else 'jpg'}"
            )
    return root


# ---------------------------------------------------------------- IDX


@pytest.mark.parametrize("compress", [False, True])
def test_idx_folder_keeps_its_official_test_split(tmp_path, compress):
    idx_folder(tmp_path / "d", compress=compress)
    d = load_dataset(spec(path="d", format="idx"), tmp_path)
    assert d.kind == "image" and d.input_shape == (6, 6, 1) and d.num_classes == 3
    assert d.split.sizes == {"train": 48, "val": 12, "test": 20} and d.split.test is None
    raw_test = np.frombuffer(
        (tmp_path / "d" / f"t10k-images-idx3-ubyte{'.gz' if compress else ''}").read_bytes(), np.uint8
    )
    if not compress:  # the test split is the t10k file, row for row, scaled to [0, 1]
        assert np.array_equal(np.round(d.x_test[..., 0] * 255).astype(np.uint8).reshape(-1), raw_test[16:])
    assert d.transform.scale == (255.0,)
    # Validation is carved from the training part with the split seed.
    assert load_dataset(spec(path="d", format="idx", split_seed=1), tmp_path).split.sha256 != d.split.sha256


def test_idx_resized_to_the_stated_size(tmp_path):
    idx_folder(tmp_path / "d")
    d = load_dataset(spec(path="d", format="idx", image_size=[4, 3]), tmp_path)
    assert d.input_shape == (4, 3, 1)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda b: b[:-5], "train-images-idx3-ubyte is truncated"),
        (lambda b: b + b"xx", "train-images-idx3-ubyte has bytes after the"),
        (lambda b: b"\x01\x02" + b[2:], "train-images-idx3-ubyte is not an IDX file"),
        (lambda b: b[:2] + b"\x0d" + b[3:], "IDX type 0x0d with 3 dimensions; expected unsigned bytes"),
        (lambda b: b[:4] + struct.pack(">I", 1 << 31) + b[8:], "its header declares"),
        (lambda b: b[:6], "train-images-idx3-ubyte is truncated (in its header)"),
    ],
)
def test_idx_refusals_name_the_file(tmp_path, damage, message):
    idx_folder(tmp_path / "d")
    f = tmp_path / "d" / "train-images-idx3-ubyte"
    f.write_bytes(damage(f.read_bytes()))
    with pytest.raises(RecipeError, match="^data.path: .*" + message.replace("(", r"\(").replace(")", r"\)")):
        load_dataset(spec(path="d", format="idx"), tmp_path)


def test_idx_corrupt_gzip_and_gzip_bomb(tmp_path, monkeypatch):
    idx_folder(tmp_path / "d", compress=True)
    f = tmp_path / "d" / "train-images-idx3-ubyte.gz"
    good = f.read_bytes()
    for bad in (good[:-12], good[:-8] + bytes(8)):  # cut short; a wrong CRC and length
        f.write_bytes(bad)
        with pytest.raises(
            RecipeError, match=r"^data.path: cannot read train-images-idx3-ubyte.gz: corrupt gzip stream$"
        ):
            load_dataset(spec(path="d", format="idx"), tmp_path)
    # A small file that expands past the bound is refused from its header, before any allocation.
    head = bytes([0, 0, 8, 3]) + struct.pack(">3I", 100_000, 100, 100)
    f.write_bytes(gzip.compress(head + bytes(1 << 20)))
    monkeypatch.setattr("unified_nas.data.idx.MAX_IDX_BYTES", 1 << 20)
    with pytest.raises(RecipeError, match="declares 1000000000 values, more than 1048576"):
        load_dataset(spec(path="d", format="idx"), tmp_path)


def test_idx_labels_must_match_images_and_files_must_exist(tmp_path):
    idx_folder(tmp_path / "d")
    write_idx(tmp_path / "d" / "t10k-labels-idx1-ubyte", np.zeros(7))
    with pytest.raises(RecipeError, match="t10k-labels-idx1-ubyte has 7 labels for 20 images"):
        load_dataset(spec(path="d", format="idx"), tmp_path)
    (tmp_path / "d" / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(RecipeError, match="d has no t10k-labels-idx1-ubyte"):
        load_dataset(spec(path="d", format="idx"), tmp_path)


def test_idx_link_out_of_the_folder_is_refused(tmp_path):
    idx_folder(tmp_path / "d")
    outside = tmp_path / "outside"
    (tmp_path / "d" / "train-labels-idx1-ubyte").rename(outside)
    os.symlink(outside, tmp_path / "d" / "train-labels-idx1-ubyte")
    with pytest.raises(RecipeError, match="^data.path: train-labels-idx1-ubyte is a link out of the data folder$"):
        load_dataset(spec(path="d", format="idx"), tmp_path)


# ---------------------------------------------------------------- image folders


def test_image_folder_classes_sizes_and_modes(tmp_path):
    image_folder(tmp_path / "imgs", classes=("b_dog", "a_cat", "c_bird"))
    (tmp_path / "imgs" / "README.txt").write_text("not a class")
    (tmp_path / "imgs" / "a_cat" / "notes.txt").write_text("skipped, as ImageFolder does")
    d = load_dataset(spec(path="imgs"), tmp_path)
    assert d.class_names == ("a_cat", "b_dog", "c_bird")  # sorted, as torchvision and Keras order them
    assert d.input_shape == (5, 7, 1) and d.examples == 30 and d.kind == "image"
    assert d.describe()["classes"] == ["a_cat", "b_dog", "c_bird"]
    assert load_dataset(spec(path="imgs", channels=3), tmp_path).input_shape == (5, 7, 3)
    assert load_dataset(spec(path="imgs", image_size=4), tmp_path).input_shape == (4, 4, 1)


def test_image_folder_with_colour_is_rgb_and_sizes_must_agree(tmp_path):
    root = image_folder(tmp_path / "imgs")
    Image.fromarray(np.zeros((5, 7, 3), np.uint8), "RGB").save(root / "cat" / "colour.png")
    assert load_dataset(spec(path="imgs"), tmp_path).input_shape == (5, 7, 3)
    Image.fromarray(np.zeros((9, 9), np.uint8), "L").save(root / "dog" / "big.png")
    with pytest.raises(RecipeError, match=r"^data.path: dog/big.png is 9x9, the first image 7x5; set data.image_size"):
        load_dataset(spec(path="imgs"), tmp_path)
    assert load_dataset(spec(path="imgs", image_size=[6, 6]), tmp_path).input_shape == (6, 6, 3)


def test_image_folder_pixels_match_what_pillow_decodes(tmp_path):
    root = image_folder(tmp_path / "imgs", per_class=6)
    d = load_dataset(spec(path="imgs"), tmp_path)
    raw = np.concatenate([d.x_train, d.x_val, d.x_test])
    pngs = sorted(p for p in root.rglob("*.png"))
    expected = {np.asarray(Image.open(p)).tobytes() for p in pngs}
    got = {np.round(r[..., 0] * 255).astype(np.uint8).tobytes() for r in raw}
    assert expected <= got


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda r: (r / "cat" / "0.jpg").write_bytes(b"not an image"),
            r"cat/0.jpg is not a readable PNG or JPEG image",
        ),
        (
            lambda r: (r / "cat" / "1.png").write_bytes((r / "cat" / "1.png").read_bytes()[:30]),
            r"cat/1.png is not a readable",
        ),
        (
            lambda r: Image.new("L", (4, 4)).save(r / "cat" / "x.png", format="GIF"),
            r"cat/x.png is not a readable PNG or JPEG",
        ),
        (lambda r: os.mkfifo(r / "cat" / "pipe.png"), r"cat/pipe.png is not a regular file"),
        (lambda r: (r / "empty").mkdir(), r"class folder empty has no .png/.jpg/.jpeg images"),
        (lambda r: os.symlink("/etc", r / "etc"), r"etc is a link out of the data folder"),
        (lambda r: os.symlink("/etc/hostname", r / "cat" / "h.png"), r"cat/h.png is a link out of the data folder"),
    ],
    ids=["not_image", "truncated_png", "gif_named_png", "fifo", "empty_class", "dir_link_out", "file_link_out"],
)
def test_hostile_image_folders_are_refused_naming_the_file(tmp_path, make, message):
    root = image_folder(tmp_path / "imgs")
    make(root)
    with pytest.raises(RecipeError) as e:
        load_dataset(spec(path="imgs"), tmp_path)
    assert str(e.value).startswith("data.path: ") and "\n" not in str(e.value)
    assert pytest.importorskip("re").search(message, str(e.value)), str(e.value)


def test_a_link_inside_the_folder_is_followed(tmp_path):
    root = image_folder(tmp_path / "imgs")
    os.symlink(root / "cat" / "1.png", root / "dog" / "linked.png")
    assert load_dataset(spec(path="imgs"), tmp_path).examples == 21


def _png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height pixels (a decompression bomb's shape)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def test_decompression_bombs_and_pixel_limits(tmp_path, monkeypatch):
    root = image_folder(tmp_path / "imgs")
    (root / "cat" / "bomb.png").write_bytes(_png_claiming(40_000, 40_000))  # over twice Pillow's limit
    with pytest.raises(
        RecipeError, match=r"^data.path: cat/bomb.png is a decompression bomb \(over Pillow's pixel limit\)$"
    ):
        load_dataset(spec(path="imgs"), tmp_path)
    (root / "cat" / "bomb.png").write_bytes(_png_claiming(10_000, 10_000))  # over Pillow's limit, under twice
    with pytest.raises(RecipeError, match="cat/bomb.png is a decompression bomb"):
        load_dataset(spec(path="imgs"), tmp_path)
    (root / "cat" / "bomb.png").write_bytes(_png_claiming(5_000, 5_000))  # under Pillow's, over ours
    with pytest.raises(RecipeError, match="cat/bomb.png has 5000x5000 pixels, more than 16777216"):
        load_dataset(spec(path="imgs"), tmp_path)
    (root / "cat" / "bomb.png").unlink()
    monkeypatch.setattr(images_mod, "MAX_IMAGE_FILES", 15)
    with pytest.raises(RecipeError, match="^data.path: imgs holds more than 15 images$"):
        load_dataset(spec(path="imgs"), tmp_path)
    monkeypatch.setattr(images_mod, "MAX_IMAGE_FILES", 1000)
    monkeypatch.setattr(images_mod, "MAX_IMAGE_BYTES", 500)
    with pytest.raises(RecipeError, match=r"20 images of 5x7x1 are more than 0 MiB of pixels"):
        load_dataset(spec(path="imgs"), tmp_path)


def test_a_bomb_refusal_through_the_cli_is_one_line_exit_2_and_writes_nothing(tmp_path):
    root = image_folder(tmp_path / "imgs")
    (root / "dog" / "bomb.png").write_bytes(_png_claiming(40_000, 40_000))
    (tmp_path / "r.yaml").write_text(
        "data: {path: imgs}\nspace: {layer: {op: conv, kernel: 3, width: 4}}\ntraining: {epochs: 1}\nbudget: {trials: 1}\n"
    )
    before = set(tmp_path.iterdir())
    p = unas("run", "r.yaml", "--backend", "reference", cwd=tmp_path)
    assert p.returncode == 2
    assert p.stderr.strip().splitlines() == [
        "unas: error: data.path: dog/bomb.png is a decompression bomb (over Pillow's pixel limit)"
    ], p.stderr
    assert set(tmp_path.iterdir()) == before


# ---------------------------------------------------------------- npz, subsample, built-in sets


def test_npz_of_grey_images_and_resizing(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "x.npz", x=rng.integers(0, 256, (40, 10, 12), dtype=np.uint8), y=np.arange(40) % 2)
    d = load_dataset(spec(path="x.npz"), tmp_path)
    assert d.input_shape == (10, 12, 1) and d.transform.scale == (255.0,)
    assert load_dataset(spec(path="x.npz", image_size=[5, 6]), tmp_path).input_shape == (5, 6, 1)
    np.savez(tmp_path / "t.npz", x=rng.normal(size=(40, 3)), y=np.arange(40) % 2)
    with pytest.raises(RecipeError, match="^data.image_size: t holds features, not images$"):
        load_dataset(spec(path="t.npz", image_size=5), tmp_path)


def test_subsample_is_stratified_seeded_and_recorded(tmp_path):
    idx_folder(tmp_path / "d", n_train=300, n_test=60)
    a = load_dataset(spec(path="d", format="idx", subsample=90), tmp_path)
    assert sum(a.split.sizes.values()) == 90 and a.split.sizes["test"] == 15  # in proportion: 300:60
    assert a.describe()["subsample"] == 90 and a.describe()["examples"] == 360
    for part in (a.y_train, a.y_test):
        assert np.unique(part, return_counts=True)[1].tolist() in (
            [len(part) // 3] * 3,
            sorted(np.unique(part, return_counts=True)[1].tolist()),
        )
    assert np.ptp(np.unique(np.concatenate([a.y_train, a.y_val]), return_counts=True)[1]) <= 1  # stratified
    b = load_dataset(spec(path="d", format="idx", subsample=90), tmp_path)
    assert a.digests == b.digests
    c = load_dataset(spec(path="d", format="idx", subsample=90, split_seed=3), tmp_path)
    assert c.digests["content_sha256"] != a.digests["content_sha256"]
    with pytest.raises(RecipeError, match="^data.subsample: 360 is not fewer than d's 360 examples$"):
        load_dataset(spec(path="d", format="idx", subsample=360), tmp_path)


def test_a_missing_builtin_set_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(IMAGE_SETS, "fashion_mnist", replace(IMAGE_SETS["fashion_mnist"], folders=("/nonexistent/fm",)))
    with pytest.raises(
        UserError, match="install the Debian package dataset-fashion-mnist with `apt-get install dataset-fashion-mnist`"
    ):
        load_dataset(spec(name="fashion_mnist"))


def test_missing_builtin_set_through_the_cli_writes_nothing(tmp_path):
    (tmp_path / "r.yaml").write_text(
        "data: {name: fashion_mnist}\nspace: {layer: {op: conv, kernel: 3, width: 4}}\nbudget: {trials: 1}\n"
    )
    prelude = (
        "import dataclasses, unified_nas.data.builtin as b; "
        "b.IMAGE_SETS['fashion_mnist'] = dataclasses.replace(b.IMAGE_SETS['fashion_mnist'], folders=('/nonexistent/fm',))"
    )
    p = unas("run", "r.yaml", "--backend", "reference", cwd=tmp_path, prelude=prelude)
    assert p.returncode == 2, p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "apt-get install dataset-fashion-mnist" in lines[0], p.stderr
    assert sorted(x.name for x in tmp_path.iterdir()) == ["r.yaml"]


@pytest.mark.parametrize("name", sorted(IMAGE_SETS))
def test_builtin_image_sets_are_whole_and_named(name):
    require_image_set(name)
    d = load_dataset(spec(name=name))
    assert d.input_shape == (28, 28, 1) and d.num_classes == 10 and d.examples == 70_000
    assert d.split.sizes == {"train": 48_000, "val": 12_000, "test": 10_000}
    assert d.class_names == IMAGE_SETS[name].classes
    if name == "fashion_mnist":
        assert np.bincount(d.y_test).tolist() == [1000] * 10  # the official test split, 1000 per class
    s = load_dataset(spec(name=name, subsample=7000))
    assert s.split.sizes == {"train": 4800, "val": 1200, "test": 1000}
    # Stratified: each class keeps its share of the training part, to within one image.
    share = np.bincount(np.concatenate([d.y_train, d.y_val])) / 60_000
    assert np.abs(np.bincount(np.concatenate([s.y_train, s.y_val])) - share * 6000).max() <= 1


def test_the_run_summary_names_the_classes_and_escapes_hostile_names(tmp_path, store):
    from tests.conftest import run_on
    from unified_nas.recipe import load_recipe
    from unified_nas.report.render import render_table

    image_folder(tmp_path / "imgs", classes=("ok", "bad\x1b[31mred"), per_class=10)
    (tmp_path / "r.yaml").write_text(
        "data: {path: imgs, subsample: 16}\nspace: {layer: {op: conv, kernel: 3, width: 4}}\n"
        "training: {epochs: 1}\nbudget: {trials: 1}\n"
    )
    report = run_on("reference", load_recipe(tmp_path / "r.yaml"), store, tmp_path)
    assert report.data["classes"] == ["bad\x1b[31mred", "ok"] and report.data["examples"] == 20
    line = next(x for x in render_table(report).splitlines() if x.startswith("data "))
    assert line == (
        "data imgs: 20 examples, subsample 16 -> train 9 / val 3 / test 4; 2 classes: 'bad\\x1b[31mred', ok"
    ), line


def test_image_options_on_data_that_are_not_images_are_refused(tmp_path):
    idx_folder(tmp_path / "d")
    with pytest.raises(RecipeError, match="^data.channels: applies to a folder of images only"):
        load_dataset(spec(path="d", format="idx", channels=3), tmp_path)
    with pytest.raises(RecipeError, match="^data.channels: applies to a folder of images only"):
        load_dataset(spec(name="digits", channels=1))
    with pytest.raises(RecipeError, match="^data.image_size: iris holds features, not images$"):
        load_dataset(spec(name="iris", image_size=8))
