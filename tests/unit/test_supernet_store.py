"""A stored supernet read back: every malformed, damaged, foreign or hostile file is refused with one line.

The files are those a real run writes (``SupernetScore.prepare`` into a
folder), then changed the way a crash, a disk error, a second recipe or a
hostile hand would. Each case must be refused by ``restore`` (what resume and
``unas tabulate`` call first) with one line naming the file and the cause, and
the stored files must be left as they were; none of them may be executed.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from unified_nas.core.errors import UserError
from unified_nas.data import load_dataset
from unified_nas.evaluation.supernet.evaluator import SupernetScore
from unified_nas.evaluation.supernet.store import MAX_RECORD_BYTES, RECORD, WEIGHTS
from unified_nas.recipe import load_recipe_text

RECIPE = """
name: tiny_supernet
data: {name: digits}
space:
  type: dense_cell
  ops: [none, skip_connect, conv_3x3]
  nodes: 3
  cells_per_stage: 1
  channels: 4
  skeleton: nasbench201
training: {epochs: 1, batch_size: 128}
evaluation: {supernet: {epochs: 1}}
"""


def scorer(text: str = RECIPE, seed: int = 0) -> SupernetScore:
    recipe = load_recipe_text(text, ".", "tiny", "test")
    assert recipe.evaluation.supernet is not None and recipe.data is not None
    return SupernetScore(recipe.evaluation.supernet, recipe.space, load_dataset(recipe.data), seed)


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("good")
    s = scorer()
    cost = s.prepare(folder)
    assert cost is not None and not cost.get("reloaded")
    return folder


@pytest.fixture
def folder(good, tmp_path) -> Path:
    d = tmp_path / "run"
    shutil.copytree(good, d)
    return d


def test_the_stored_supernet_reloads_to_the_same_values(folder):
    s = scorer()
    s.restore(folder)
    assert s.supernet is not None and s.cost is not None and s.cost["reloaded"]
    assert s.supernet.digest() == s.cost["bank_sha256"]
    assert s.prepare(folder) is s.cost  # nothing trained again


def _record(folder: Path) -> dict:
    return json.loads((folder / RECORD).read_text())


def _set(field: str, value: object) -> Callable[[Path], None]:
    def change(folder: Path) -> None:
        r = _record(folder)
        r[field] = value
        (folder / RECORD).write_text(json.dumps(r))

    return change


def _flip_bit(folder: Path) -> None:
    data = bytearray((folder / WEIGHTS).read_bytes())
    data[len(data) // 2] ^= 1
    (folder / WEIGHTS).write_bytes(bytes(data))


def _replace(name: str, how: str) -> Callable[[Path], None]:
    def change(folder: Path) -> None:
        path = folder / name
        path.unlink()
        if how == "dir":
            path.mkdir()
        elif how == "link":
            path.symlink_to("/dev/zero")
        elif how == "fifo":
            os.mkfifo(path)

    return change


CASES = {
    "weights-bit-flipped": (_flip_bit, "supernet.pt is damaged"),
    "weights-missing": (lambda f: (f / WEIGHTS).unlink(), "supernet.pt is missing"),
    "weights-truncated": (
        lambda f: (f / WEIGHTS).write_bytes((f / WEIGHTS).read_bytes()[:-10]),
        "bytes, the record says",
    ),
    "weights-a-folder": (_replace(WEIGHTS, "dir"), "supernet.pt is not a regular file"),
    "weights-a-link-to-dev-zero": (_replace(WEIGHTS, "link"), "supernet.pt is not a regular file"),
    "record-a-folder": (_replace(RECORD, "dir"), "supernet.json is not a regular file"),
    "record-a-fifo": (_replace(RECORD, "fifo"), "supernet.json is not a regular file"),
    "record-a-link": (_replace(RECORD, "link"), "supernet.json is not a regular file"),
    "record-too-large": (
        lambda f: (f / RECORD).write_text(" " * (MAX_RECORD_BYTES + 1)),
        f"larger than {MAX_RECORD_BYTES} bytes",
    ),
    "record-not-json": (lambda f: (f / RECORD).write_text("{oops"), "supernet.json is not JSON"),
    "record-nan": (lambda f: (f / RECORD).write_text('{"supernet_wall_s": NaN}'), "not strict JSON (NaN)"),
    "record-a-list": (lambda f: (f / RECORD).write_text("[]"), "not a supernet record"),
    "record-bytes-as-text": (_set("bytes", "442557"), "field 'bytes'"),
    "record-sha-as-list": (_set("sha256", ["a"]), "field 'sha256'"),
    "record-seed-a-bool": (_set("seed", False), "field 'seed'"),
    "record-huge-device": (_set("device", "x" * 60_000), "field 'device'"),
    "record-unknown-field": (_set("code", "import os"), "unknown field 'code'"),
    "record-missing-field": (lambda f: (f / RECORD).write_text(json.dumps({"kind": "supernet"})), "has no field"),
    "record-other-spec": (_set("spec", {"epochs": 9}), "trained with another spec"),
    "record-other-fingerprint": (_set("fingerprint", "0" * 64), "trained with another fingerprint"),
    "record-other-seed": (_set("seed", 7), "trained with another seed"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_bad_stored_supernet_is_refused_with_one_line_and_left_alone(case, folder):
    change, message = CASES[case]
    change(folder)
    before = sorted(p.name for p in folder.iterdir())
    with pytest.raises(UserError) as e:
        scorer().restore(folder)
    text = str(e.value)
    assert message in text and "\n" not in text and len(text) < 400, text
    assert text.startswith(f"supernet of run directory {folder}: ") and text.endswith("start a new run")
    assert sorted(p.name for p in folder.iterdir()) == before


def test_a_supernet_of_another_space_is_never_reused(folder):
    other = RECIPE.replace("channels: 4", "channels: 6")  # same settings and seed, another space
    with pytest.raises(UserError, match="trained with another fingerprint"):
        scorer(other).restore(folder)


def test_no_record_means_nothing_stored(tmp_path):
    s = scorer()
    s.restore(tmp_path)  # a run killed before its supernet was stored: nothing to reload, nothing refused
    assert s.supernet is None and s.cost is None
