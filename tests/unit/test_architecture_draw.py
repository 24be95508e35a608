"""Pictures of architectures: the layout of each space kind, the SVG and PNG painters, writing a file all or nothing."""

from __future__ import annotations

import dataclasses
import io
import itertools
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import ALL_RECIPES
from unified_nas.core.errors import SampleError, UserError
from unified_nas.network import compile_plan
from unified_nas.recipe import load_recipe
from unified_nas.report.architecture import (
    Box,
    Drawing,
    Edge,
    Label,
    Text,
    draw_architecture,
    genotype_text,
    render_png,
    render_svg,
    write_picture,
)
from unified_nas.report.architecture.geometry import text_width
from unified_nas.space import CellSpace, DenseCellSpace, LayerSpace, MacroSpace, SearchSpace, start_sample
from unified_nas.space.params import Categorical

SVG = "{http://www.w3.org/2000/svg}"
DARTS_OPS = ("none", "skip_connect", "max_pool_3x3", "sep_conv_3x3", "dil_conv_3x3")


def _texts(svg: str) -> list[str]:
    return [t.text or "" for t in ET.fromstring(svg).iter(f"{SVG}text")]


def _no_overlaps(d: Drawing) -> None:
    """No two boxes overlap, no label covers a box, everything lies inside the picture."""
    for a, b in itertools.combinations(d.boxes, 2):
        assert not (a.x < b.x + b.w and b.x < a.x + a.w and a.y < b.y + b.h and b.y < a.y + a.h), (a.key, b.key)
    for e in d.edges:
        assert all(0 <= x <= d.width and 0 <= y <= d.height for x, y in e.points), e
        if e.label is not None:
            assert not any(e.label.overlaps(b, pad=0) for b in d.boxes), (e.label.text, e.source, e.target)
    for b in d.boxes:
        assert 0 <= b.x and b.x + b.w <= d.width and 0 <= b.y and b.y + b.h <= d.height
        assert all(text_width(line) <= b.w for line in b.lines)  # the estimate fits each line into its box
    for t in d.texts:
        assert t.x + text_width(t.text, t.size) <= d.width


def test_a_nb201_sample_draws_its_six_edges_each_named_by_its_op():
    space = SearchSpace(DenseCellSpace(channels=8, cells_per_stage=1))
    ops = ["conv_3x3", "skip_connect", "none", "avg_pool_3x3", "conv_1x1", "conv_3x3"]
    sample = dict(zip(["cell/op_1_0", "cell/op_2_0", "cell/op_2_1", "cell/op_3_0", "cell/op_3_1", "cell/op_3_2"], ops))
    d = draw_architecture(space, sample, (8, 8, 1), 10, "nb201")
    assert d.kind == "dense_cell" and sorted(b.key for b in d.boxes) == ["0", "1", "2", "3"]
    by_edge = {(e.source, e.target): e for e in d.edges}
    assert sorted(by_edge) == [("0", "1"), ("0", "2"), ("0", "3"), ("1", "2"), ("1", "3"), ("2", "3")]
    assert [by_edge[(str(j), str(i))].label.text for i in (1, 2, 3) for j in range(i)] == ops  # type: ignore[union-attr]
    assert [k for k, e in by_edge.items() if e.faint] == [("1", "2")]  # the none edge, grey and dashed
    texts = _texts(render_svg(d))
    assert all(op in texts for op in ops)
    assert any("none (the edge carries nothing)" in t for t in texts)
    assert "|conv_3x3~0|+|skip_connect~0|none~1|+|avg_pool_3x3~0|conv_1x1~1|conv_3x3~2|" in texts
    plan = compile_plan(space.resolve(sample), (8, 8, 1), 10)
    assert (d.params, d.flops) == (plan.params, plan.flops)
    _no_overlaps(d)


def _cell_sample(nodes: int = 3) -> dict[str, object]:
    """A DARTS cell sample whose inputs and ops differ between edges and between the two cells."""
    sample: dict[str, object] = {}
    for kind, shift in (("normal", 0), ("reduce", 2)):
        for j in range(nodes):
            for k in range(2):
                sample[f"{kind}/input_{j + 2}_{k}"] = (j + k + shift) % (j + 2)
                sample[f"{kind}/op_{j + 2}_{k}"] = DARTS_OPS[(2 * j + k + shift) % len(DARTS_OPS)]
    return sample


def test_a_darts_cell_sample_draws_both_cells_with_their_edges():
    space = SearchSpace(CellSpace(ops=DARTS_OPS, nodes=3, cells=3, reductions=(1, 2), channels=8))
    sample = _cell_sample()
    d = draw_architecture(space, sample, (8, 8, 1), 10, "darts")
    assert d.kind == "cell"
    names = ["c_{k-2}", "c_{k-1}", "0", "1", "2"]
    for kind in ("normal", "reduce"):
        expected = {
            (
                f"{kind}/{names[int(sample[f'{kind}/input_{j + 2}_{k}'])]}",
                f"{kind}/{j}",
                sample[f"{kind}/op_{j + 2}_{k}"],
            )  # type: ignore[call-overload]
            for j in range(3)
            for k in range(2)
        }
        edges = [e for e in d.edges if e.target.startswith(f"{kind}/") and e.label is not None]
        assert {(e.source, e.target, e.label.text) for e in edges if e.label} == expected
        # Every intermediate node feeds the output c_{k}, which concatenates them.
        assert {e.source for e in d.edges if e.target == f"{kind}/c_{{k}}"} == {f"{kind}/{j}" for j in range(3)}
        assert [b.lines[0] for b in d.boxes if b.key.startswith(f"{kind}/")] == [*names, "c_{k}"]
        # DARTS's plots: inputs on the left, the output on the right, each node right of what it reads.
        box = {b.key: b for b in d.boxes}
        for e in d.edges:
            assert box[e.source].x + box[e.source].w < box[e.target].x
    assert all(e.faint == (e.label is not None and e.label.text == "none") for e in d.edges)
    texts = _texts(render_svg(d))
    assert any(t.startswith("normal cell (cells 0)") for t in texts)
    assert any(t.startswith("reduction cell (cells 1, 2)") for t in texts)
    _no_overlaps(d)


def test_a_macro_sample_gives_one_box_per_layer_and_the_plans_params_and_flops():
    layer = LayerSpace(
        op=Categorical(("conv", "max_pool")),
        kernel=Categorical((3, 5)),
        width=Categorical((8, 16)),
        pool=Categorical(("none", "max")),
        skip=Categorical((False, True)),
        batchnorm=True,
    )
    space = SearchSpace(MacroSpace(depth=Categorical((1, 2, 3)), layers=(layer, layer, layer)))
    sample = {
        "depth": 3,
        **{"layer0/op": "conv", "layer0/kernel": 5, "layer0/width": 8, "layer0/pool": "none", "layer0/skip": True},
        **{"layer1/op": "max_pool", "layer1/pool": "none", "layer1/skip": False},
        **{"layer2/op": "conv", "layer2/kernel": 3, "layer2/width": 16, "layer2/pool": "max", "layer2/skip": True},
    }
    d = draw_architecture(space, sample, (8, 8, 1), 10, "macro")
    layers = [b for b in d.boxes if b.kind == "layer"]
    assert [b.lines[0] for b in layers] == ["layer 0: conv_5x5", "layer 1: max_pool_3x3", "layer 2: conv_3x3"]
    assert (
        layers[0].lines[1] == "width 8, relu, batchnorm"
        and layers[2].lines[1] == "width 16, relu, batchnorm, max pool 2x2"
    )
    plan = compile_plan(space.resolve(sample), (8, 8, 1), 10)
    assert (d.params, d.flops) == (plan.params, plan.flops)
    for i, b in enumerate(layers):  # each box's params are its block's in the plan
        assert b.lines[-1].endswith(f"params {plan.body.node(f'layer{i}').op.params():,}")
    skips = [e for e in d.edges if e.label is not None]
    assert [(e.source, e.target, e.label.text) for e in skips if e.label] == [
        ("input", "layer 0", "skip + projection"),  # 1 -> 8 channels: projected
        ("layer 1", "layer 2", "skip + projection"),
    ]
    assert any(t.text == f"whole network: params {plan.params:,}, FLOPs {plan.flops:,} per example" for t in d.texts)
    assert genotype_text(space, sample) == "conv_5x5 w8 relu bn skip | max_pool_3x3 | conv_3x3 w16 relu bn maxpool skip"
    _no_overlaps(d)


def test_a_sample_outside_its_space_is_refused():
    space = SearchSpace(DenseCellSpace())
    with pytest.raises(SampleError):
        draw_architecture(space, {"cell/op_1_0": "conv_3x3"}, (8, 8, 1), 10, "x")


@pytest.mark.parametrize("path", ALL_RECIPES, ids=lambda p: p.stem)
def test_every_bundled_recipes_start_sample_draws(path):
    """Every recipe's space kind draws, with or without the data's shapes (sizes are then left out)."""
    space = load_recipe(path).space
    sample = start_sample(space.decls())
    d = draw_architecture(space, sample, None, None, path.stem)
    assert d.kind == space.kind and d.params is None
    _no_overlaps(d)
    assert render_svg(d).startswith("<svg") and render_png(d)[:8] == b"\x89PNG\r\n\x1a\n"


HOSTILE = "<script>alert('x')</script> & \"quoted\" ]]> \x01\x1b"


def test_hostile_labels_are_escaped_in_the_svg():
    d = Drawing(
        width=400,
        height=200,
        title=HOSTILE,
        kind=HOSTILE,
        boxes=(Box(HOSTILE, "node", 10, 10, 100, 40, (HOSTILE, "</svg>")),),
        edges=(Edge(HOSTILE, HOSTILE, ((0, 0), (50, 50)), Label(HOSTILE, 30, 30, 60, 14), faint=True),),
        texts=(Text(HOSTILE, 10, 190, role=HOSTILE),),
    )
    svg = render_svg(d)
    root = ET.fromstring(svg)  # well-formed XML: no label ended an element or the document
    assert "<script" not in svg and "</svg>" not in svg[:-6] and "\x01" not in svg and "\x1b" not in svg
    shown = HOSTILE.replace("\x01", "\ufffd").replace("\x1b", "\ufffd")
    assert root.get("aria-label") == shown and root.find(f"{SVG}title").text == shown  # type: ignore[union-attr]
    assert _texts(svg).count(shown) == 3  # the box's line, the edge's label, the free text
    assert not list(root.iter(f"{SVG}script"))
    with Image.open(io.BytesIO(render_png(d))) as img:  # the PNG painter draws the same texts without failing
        assert img.format == "PNG"


def test_png_is_a_valid_image_of_the_same_drawing():
    space = SearchSpace(CellSpace(ops=DARTS_OPS, nodes=3, cells=3, reductions=(1, 2), channels=8))
    d = draw_architecture(space, _cell_sample(), (8, 8, 1), 10, "darts")
    data = render_png(d)
    with Image.open(io.BytesIO(data)) as img:
        img.verify()
    with Image.open(io.BytesIO(data)) as img:
        assert img.format == "PNG" and img.size == (2 * d.width, 2 * d.height)
        # Something is drawn inside each box: it is not left white.
        rgb = img.convert("RGB")
        for b in d.boxes:
            assert rgb.getpixel((int(2 * b.x + 4), int(2 * b.cy))) != (255, 255, 255)


def test_write_picture_writes_svg_or_png_by_suffix_and_nothing_else(tmp_path):
    space = SearchSpace(DenseCellSpace(channels=8, cells_per_stage=1))
    d = draw_architecture(space, start_sample(space.decls()), (8, 8, 1), 10, "nb201")
    assert write_picture(d, tmp_path / "a.svg") == "svg"
    assert write_picture(d, tmp_path / "a.PNG") == "png"
    ET.fromstring((tmp_path / "a.svg").read_text())
    with Image.open(tmp_path / "a.PNG") as img:
        assert img.format == "PNG"
    for bad in ("a.pdf", "a", "a.svg.txt"):
        with pytest.raises(UserError, match="must end in .svg or .png"):
            write_picture(d, tmp_path / bad)
    with pytest.raises(UserError, match="does not exist"):
        write_picture(d, tmp_path / "no" / "a.svg")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.PNG", "a.svg"]  # no temporary file left


def test_a_failed_write_leaves_neither_the_file_nor_a_temporary_one(tmp_path, monkeypatch):
    space = SearchSpace(DenseCellSpace(channels=8, cells_per_stage=1))
    d = draw_architecture(space, start_sample(space.decls()), (8, 8, 1), 10, "nb201")

    def fail(src: str, dst: Path) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("unified_nas.report.architecture.os.replace", fail)
    with pytest.raises(UserError, match="No space left on device"):
        write_picture(d, tmp_path / "a.svg")
    assert list(tmp_path.iterdir()) == []


def test_a_huge_stored_title_is_clipped_and_an_oversized_png_refused(tmp_path):
    """A recipe name of 20,000 characters made a 730 MB PNG; titles come from stored files."""
    space = SearchSpace(DenseCellSpace(channels=8, cells_per_stage=1))
    d = draw_architecture(space, start_sample(space.decls()), (8, 8, 1), 10, "x" * 20_000, "y" * 20_000)
    assert d.width < 2000 and d.title.endswith("...")
    big = dataclasses.replace(d, width=20_000, height=20_000)  # whatever else could make one that large
    with pytest.raises(UserError, match="too large to paint"):
        write_picture(big, tmp_path / "a.png")
    assert list(tmp_path.iterdir()) == []
