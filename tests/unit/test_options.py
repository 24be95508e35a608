"""Backend options as data: declared by each backend, checked alike from recipes and the CLI; a core that names no backend."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from tests.conftest import ROOT, tiny_recipe, unas
from unified_nas.core.errors import RecipeError
from unified_nas.runs.options import OptionSpec, parse_assignments
from unified_nas.runs.registry import entries, get_backend


def test_an_option_value_is_checked_against_its_declaration():
    port = OptionSpec("port", "int", None, low=1, high=65535)
    assert port.from_text("8080", "--option port") == 8080
    with pytest.raises(RecipeError, match=r"^--option port: 'x' is not an integer$"):
        port.from_text("x", "--option port")
    with pytest.raises(RecipeError, match=r"^backends.b.port: 70000 is not in 1..65535$"):
        port.check(70000, "backends.b.port")
    with pytest.raises(RecipeError, match=r"is not an integer"):
        port.check(True, "p")  # YAML's true is no port
    engine = OptionSpec("engine", "str", "a", choices=("a", "b"))
    with pytest.raises(RecipeError, match=r"^p: 'c' is not one of a, b$"):
        engine.check("c", "p")
    flag = OptionSpec("flag", "bool")
    assert flag.from_text("True", "p") is True
    with pytest.raises(RecipeError, match="is not true or false"):
        flag.from_text("yes", "p")
    assert parse_assignments(["a=1", "b=x=y"]) == {"a": "1", "b": "x=y"}
    with pytest.raises(RecipeError, match="expected KEY=VALUE"):
        parse_assignments(["a"])


def test_the_cli_refuses_a_bad_option_value_with_one_line_and_writes_nothing(tmp_path):
    out = unas(
        "run", str(ROOT / "recipes" / "digits_mlp.yaml"), "--backend", "nni", "--option", "engine=bogus", cwd=tmp_path
    )
    assert out.returncode == 2
    assert out.stderr == "unas: error: --option engine: 'bogus' is not one of headless, web\n"
    assert list(tmp_path.iterdir()) == []


def test_an_option_of_another_backend_is_unknown_and_named(tmp_path):
    out = unas(
        "run",
        str(ROOT / "recipes" / "digits_mlp.yaml"),
        "--backend",
        "optuna",
        "--option",
        "keras_backend=torch",
        cwd=tmp_path,
    )
    assert out.returncode == 2
    assert (
        "--option keras_backend: unknown option of optuna (options: strategy, strategy_args, pruner, default_first, storage)"
        in out.stderr
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", sorted(entries()))
def test_recipe_options_are_checked_against_each_backends_declaration(name):
    if not entries()[name].installed():
        pytest.skip(f"{name} not installed")
    backend = get_backend(name)
    recipe = tiny_recipe({"layer": {"op": "linear", "width": 8}}, backends={name: {"no_such_option": 1}})
    with pytest.raises(RecipeError, match=rf"^backends\.{name}\.no_such_option: unknown option of {name} "):
        backend.options(recipe, {})
    for spec in backend.option_specs:
        if spec.choices:
            bad = tiny_recipe({"layer": {"op": "linear", "width": 8}}, backends={name: {spec.name: "???"}})
            with pytest.raises(RecipeError, match=rf"^backends\.{name}\.{spec.name}: '\?\?\?' is not one of "):
                backend.options(bad, {})
    # Defaults apply when an option is not given.
    opts = backend.options(tiny_recipe({"layer": {"op": "linear", "width": 8}}), {})
    assert opts.extra == {o.name: o.default for o in backend.option_specs if o.default is not None}


def test_unas_backends_prints_each_backends_options(tmp_path):
    out = unas("backends", "--format", "json", cwd=tmp_path)
    rows = {r["name"]: r for r in json.loads(out.stdout)}
    for name, row in rows.items():
        if row["installed"]:
            assert [o["name"] for o in row["options"]] == [o.name for o in get_backend(name).option_specs]
    if rows.get("nni", {}).get("installed"):
        engine = next(o for o in rows["nni"]["options"] if o["name"] == "engine")
        assert engine["choices"] == ["headless", "web"] and engine["default"] == "headless"
    text = unas("backends", cwd=tmp_path).stdout
    if rows.get("nni", {}).get("installed"):
        assert "--option engine=<str> one of headless, web, default headless" in text


def _string_literals(path: Path) -> set[str]:
    return {
        n.value
        for n in ast.walk(ast.parse(path.read_text()))
        if isinstance(n, ast.Constant) and isinstance(n.value, str)
    }


def test_no_core_module_names_a_backend():
    """Backends are found through entry points; the core knows none by name (docstrings and help texts aside)."""
    # "reference" (the contract's reference backend) is also an ordinary word, e.g. the bench report's
    # reference lines of a table; every other backend name is a toolkit's and must not appear.
    names = set(entries()) - {"reference"}
    assert {"nni", "optuna", "autokeras"} <= names
    offenders = []
    for path in (ROOT / "unified_nas").rglob("*.py"):
        literals = _string_literals(path)
        offenders += [f"{path.relative_to(ROOT)}: {n!r}" for n in names if n in literals]
    assert offenders == []


def test_a_run_records_its_backends_own_packages(store, tmp_path):
    pytest.importorskip("optuna")
    from tests.conftest import run_on

    report = run_on("optuna", tiny_recipe({"layer": {"op": "linear", "width": 8}}), store, tmp_path, trials=1)
    pkgs = report.environment["packages"]
    assert {"optuna", "torch", "numpy"} <= set(pkgs)
    assert "nni" not in pkgs and "autokeras" not in pkgs  # another backend's stack is not this run's
