"""Recipe validation: every broken recipe gives its one-line error naming the path."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import ALL_RECIPES
from unified_nas.core.errors import RecipeError
from unified_nas.recipe import load_recipe

BROKEN = sorted((Path(__file__).parent.parent / "data" / "broken_recipes").glob("*.yaml"))


def _expected(path: Path) -> str:
    first = path.read_text().splitlines()[0]
    assert first.startswith("# expect: "), f"{path.name} lacks its '# expect:' line"
    return first[len("# expect: ") :]


@pytest.mark.parametrize("path", BROKEN, ids=lambda p: p.stem)
def test_broken_recipe_message(path):
    with pytest.raises(RecipeError) as info:
        load_recipe(path)
    assert str(info.value) == _expected(path)
    assert "\n" not in str(info.value)


def test_corpus_is_not_empty():
    assert len(BROKEN) >= 20


@pytest.mark.parametrize("path", ALL_RECIPES, ids=lambda p: p.stem)
def test_shipped_recipes_validate(path):
    r = load_recipe(path)
    assert r.name == path.stem
    assert len(r.content_hash) == 16


def test_yaml_float_without_dot_is_accepted(tmp_path):
    # PyYAML reads 1e-4 as a string; the recipe loader must still take it as a number.
    p = tmp_path / "r.yaml"
    p.write_text(
        "data: {name: iris}\nspace: {layer: {op: linear, width: 8}}\ntraining: {lr: {low: 1e-4, high: 1e-1, log: true}}\n"
    )
    r = load_recipe(p)
    assert r.space.training.lr.low == pytest.approx(1e-4)


def test_unsafe_yaml_tags_are_refused(tmp_path):
    p = tmp_path / "r.yaml"
    p.write_text("data: !!python/object/apply:os.system ['echo hacked']\nspace: {}\n")
    with pytest.raises(RecipeError, match="not valid YAML"):
        load_recipe(p)
