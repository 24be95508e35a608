"""Hostile and broken input that cannot be a small static corpus file.

Every case must end in one one-line RecipeError (exit 2 from the CLI) before
anything is written. Cases that could exhaust memory or block run in a
subprocess with an address-space limit and a timeout, so a regression fails the
test instead of taking the machine down.
"""

from __future__ import annotations

import os
import resource
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import unas
from unified_nas.core.errors import RecipeError
from unified_nas.data import load_dataset
from unified_nas.recipe import load_recipe, parse_recipe
from unified_nas.recipe.text import MAX_DEPTH, MAX_RECIPE_BYTES

OK = "data: {name: iris}\nspace: {layer: {op: linear, width: 8}}\n"
MEMORY_LIMIT = 2 << 30  # bytes of address space for the subprocess


def _error(path: Path) -> str:
    with pytest.raises(RecipeError) as info:
        r = load_recipe(path)
        load_dataset(r.data, r.base_dir)
    msg = str(info.value)
    assert "\n" not in msg and "\r" not in msg and len(msg) < 500, msg
    return msg


def test_recipe_size_limit(tmp_path):
    # Exactly the limit is read; one byte more is refused without reading the rest.
    p = tmp_path / "r.yaml"
    p.write_text(OK + "#" * (MAX_RECIPE_BYTES - len(OK) - 1) + "\n")
    assert p.stat().st_size == MAX_RECIPE_BYTES
    assert load_recipe(p).name == "r"
    with open(p, "a") as f:
        f.write("#")
    assert _error(p) == f"recipe: {p} is larger than 1 MiB"
    big = tmp_path / "big.yaml"
    with open(big, "wb") as f:  # 50 MB, sparse: cheap to make
        f.write(OK.encode())
        f.truncate(50 * 10**6)
    assert _error(big) == f"recipe: {big} is larger than 1 MiB"


def test_not_a_regular_file(tmp_path):
    assert _error(Path("/dev/zero")) == "recipe: /dev/zero is not a regular file"
    assert _error(tmp_path) == f"recipe: {tmp_path} is not a regular file"


def test_binary_recipe(tmp_path):
    p = tmp_path / "bin.yaml"
    p.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    assert _error(p) == f"recipe: {p} is not UTF-8 text (byte 0x89 at offset 0)"
    p.write_bytes(OK.encode() + b"description: caf\xe9\n")  # Latin-1, not UTF-8
    assert _error(p) == f"recipe: {p} is not UTF-8 text (byte 0xe9 at offset {len(OK) + 16})"


@pytest.mark.parametrize("style", ["flow", "block"])
def test_deep_nesting(tmp_path, style):
    p = tmp_path / "deep.yaml"
    if style == "flow":
        p.write_text(OK + "description: " + "[" * 20000 + "]" * 20000 + "\n")
    else:
        # Block nesting costs indentation: 200 levels is already 40 kB.
        p.write_text(OK + "description:\n" + "".join(" " * i + "- \n" for i in range(0, 2 * 200, 2)))
    assert _error(p).startswith(f"recipe: deep.yaml nests deeper than {MAX_DEPTH} levels (at line ")


def test_nesting_at_the_limit_is_fine(tmp_path):
    # The top mapping is level 1 and the outermost bracket level 2: MAX_DEPTH - 1 brackets fit.
    p = tmp_path / "r.yaml"
    n = MAX_DEPTH - 1
    p.write_text(OK + "description: " + "[" * n + "]" * n + "\n")
    assert load_recipe(p).description.startswith("[[")
    p.write_text(OK + "description: " + "[" * (n + 1) + "]" * (n + 1) + "\n")
    assert "nests deeper" in _error(p)


def test_shared_anchors_are_fine(tmp_path):
    # Aliases themselves are allowed: only their expansion is bounded.
    p = tmp_path / "r.yaml"
    p.write_text("data: {name: iris}\nspace: {depth: 2, layers: [&l {op: linear, width: 8}, *l]}\n")
    assert load_recipe(p).space.network.layers[0] == load_recipe(p).space.network.layers[1]


def test_huge_integer(tmp_path):
    # Python 3.11+ refuses int("9" * 5000) while parsing; 3.10 parses it and the seed check refuses it.
    p = tmp_path / "r.yaml"
    p.write_text(OK + "seed: " + "9" * 5000 + "\n")
    msg = _error(p)
    assert msg.startswith(("r.yaml is not valid YAML at line 3, column 7: cannot read this value", "seed: "))


def test_unsafe_file_stem_needs_a_name(tmp_path):
    # The stem is the default name; a stem that is not a safe name is an error, not silently changed.
    p = tmp_path / "my recipe.yaml"
    p.write_text(OK)
    assert _error(p) == (
        "name: missing, and the file name 'my recipe' is not a usable name (1-64 characters of "
        "letters, digits, '.', '_', '-', starting with a letter or digit); add a name: field"
    )
    p.write_text(OK + "name: my-recipe\n")
    assert load_recipe(p).name == "my-recipe"


@pytest.mark.parametrize(
    "name,ok",
    [
        ("a", True),
        ("A-1_b.c", True),
        ("9" * 64, True),
        ("a" * 65, False),
        ("-a", False),
        (".a", False),
        ("a b", False),
        ("a/b", False),
        ("é", False),
    ],
)
def test_name_rule(name, ok):
    raw = {"name": name, "data": {"name": "iris"}, "space": {"layer": {"op": "linear", "width": 8}}}
    if ok:
        assert parse_recipe(raw).name == name
    else:
        with pytest.raises(RecipeError, match=r"^name: .* must be 1-64 characters"):
            parse_recipe(raw)


def test_seed_bounds():
    raw = {
        "data": {"name": "iris", "split_seed": 2**32 - 1},
        "space": {"layer": {"op": "linear", "width": 8}},
        "seed": 2**32 - 1,
    }
    assert parse_recipe(raw).seed == 2**32 - 1
    load_dataset(parse_recipe(raw).data)  # the largest seed really works with numpy/sklearn


def _recipe_for(tmp_path: Path, data_path: str) -> Path:
    p = tmp_path / "r.yaml"
    p.write_text(f"data: {{path: '{data_path}'}}\nspace: {{layer: {{op: linear, width: 8}}}}\n")
    return p


def test_corrupt_npz(tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / "x.npz").write_bytes(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
    assert (
        _error(_recipe_for(tmp_path, "x.npz"))
        == "data.path: x.npz is not a valid .npz file (corrupt or truncated zip archive)"
    )
    np.savez_compressed(tmp_path / "ok.npz", x=rng.normal(size=(40, 3)), y=np.arange(40) % 2)
    data = bytearray((tmp_path / "ok.npz").read_bytes())
    for cut in (len(data) // 2, len(data) - 10):
        (tmp_path / "x.npz").write_bytes(bytes(data[:cut]))
        assert _error(_recipe_for(tmp_path, "x.npz")).startswith("data.path: x.npz is not a valid .npz file")
    data[60:80] = b"\xff" * 20  # flip compressed bytes of x.npy: bad CRC or bad deflate stream
    (tmp_path / "x.npz").write_bytes(bytes(data))
    assert _error(_recipe_for(tmp_path, "x.npz")).startswith("data.path: x.npz")


def test_npz_object_arrays_are_never_unpickled(tmp_path, monkeypatch):
    import pickle

    np.savez(tmp_path / "x.npz", x=np.array([object()] * 4, dtype=object), y=np.arange(4))
    monkeypatch.setattr(pickle, "load", lambda *a, **k: pytest.fail("pickle.load was called"))
    monkeypatch.setattr(pickle, "loads", lambda *a, **k: pytest.fail("pickle.loads was called"))
    assert _error(_recipe_for(tmp_path, "x.npz")) == (
        "data.path: x.npz: array x holds Python objects, which are never loaded (no pickle); save numbers or strings"
    )


def test_data_path_not_a_regular_file(tmp_path):
    (tmp_path / "x.npz").mkdir()
    assert _error(_recipe_for(tmp_path, "x.npz")) == f"data.path: {tmp_path / 'x.npz'} is not a regular file"
    (tmp_path / "z.csv").symlink_to("/dev/zero")
    assert _error(_recipe_for(tmp_path, "z.csv")) == f"data.path: {tmp_path / 'z.csv'} is not a regular file"
    os.mkfifo(tmp_path / "f.csv")  # stat only: never opened, so never blocks
    assert _error(_recipe_for(tmp_path, "f.csv")) == f"data.path: {tmp_path / 'f.csv'} is not a regular file"


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def _validate(tmp_path: Path, target: str | Path) -> subprocess.CompletedProcess:
    env = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}  # threads reserve address space
    return unas("validate", target, cwd=tmp_path, env=env, timeout=120, preexec_fn=_limit_memory)


def _bomb(aliases_in: str) -> str:
    levels = ["a: &a [" + ", ".join(["lol"] * 9) + "]"]
    levels += [f"{c}: &{c} [" + ", ".join([f"*{p}"] * 9) + "]" for p, c in zip("abcdefgh", "bcdefghi")]
    body = "\n".join("    " + line for line in levels)
    where = {"description": "description:\n", "strategy_args": "backends:\n  optuna:\n   strategy_args:\n"}
    return OK + where[aliases_in] + body + "\n"


@pytest.mark.parametrize("aliases_in", ["description", "strategy_args"])
def test_billion_laughs_is_refused_quickly(tmp_path, aliases_in):
    # 9**9 strings once expanded: str() or json.dumps of it would need tens of GB.
    p = tmp_path / "bomb.yaml"
    p.write_text(_bomb(aliases_in))
    assert p.stat().st_size < 1000
    proc = _validate(tmp_path, p)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.startswith("unas: error: recipe: bomb.yaml expands to more than 100000 values through aliases")


def _write(d: Path, files: dict[str, str | bytes]) -> None:
    for name, content in files.items():
        (d / name).write_bytes(content if isinstance(content, bytes) else content.encode())


DATA_RECIPE = "data: {path: x.csv}\nspace: {layer: {op: linear, width: 8}}\n"
# case -> (files to create in tmp_path, symlinks name -> target, fifos, the path given to `unas validate`)
CLI_CASES: dict[str, tuple[dict[str, str | bytes], dict[str, str], list[str], str]] = {
    "unsafe_name": ({"r.yaml": OK + "name: a/../../../../tmp/ESCAPED\n"}, {}, [], "r.yaml"),
    "dev_zero": ({}, {}, [], "/dev/zero"),
    "fifo": ({}, {}, ["p.yaml"], "p.yaml"),
    "binary": ({"b.yaml": bytes(range(256))}, {}, [], "b.yaml"),
    "deep": ({"d.yaml": "a: " + "[" * 20000 + "]" * 20000}, {}, [], "d.yaml"),
    "nan": ({"n.yaml": OK + "backends: {optuna: {strategy_args: {x: .nan}}}\n"}, {}, [], "n.yaml"),
    "passwd_as_data": ({"r.yaml": DATA_RECIPE}, {"x.csv": "/etc/passwd"}, [], "r.yaml"),
    "ragged_data": ({"r.yaml": DATA_RECIPE, "x.csv": "a,b,target\n1,2,0\n1,0\n"}, {}, [], "r.yaml"),
}


@pytest.mark.parametrize("case", CLI_CASES)
def test_cli_validate_exits_2_with_one_line(tmp_path, case):
    files, links, fifos, target = CLI_CASES[case]
    _write(tmp_path, files)
    for name, to in links.items():
        (tmp_path / name).symlink_to(to)
    for name in fifos:
        os.mkfifo(tmp_path / name)  # opening it for reading would block: the timeout turns that into a failure
    before = sorted(tmp_path.rglob("*"))
    proc = _validate(tmp_path, target)
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("unas: error: "), proc.stderr[-2000:]
    assert proc.stdout == ""
    assert "root:" not in proc.stderr
    assert sorted(tmp_path.rglob("*")) == before  # nothing written
