"""Stage 3, the recipe: bounded reading of untrusted YAML, the section types, and validation.

``text`` reads a recipe file safely, ``sections`` holds the types a validated
recipe is made of (every later stage reads them), ``tables`` the catalogue of
tables we ship (what a table recipe must say), and ``parse`` validates.
"""

from unified_nas.recipe.parse import (
    NAME_RE,
    NAME_RULE,
    check_name,
    check_unaltered,
    load_recipe,
    load_recipe_text,
    parse_recipe,
)
from unified_nas.recipe.sections import Budget, DataSpec, EvaluationSpec, Objective, Protocol, Recipe, SupernetSpec

__all__ = [
    "NAME_RE",
    "NAME_RULE",
    "Budget",
    "DataSpec",
    "EvaluationSpec",
    "Objective",
    "Protocol",
    "Recipe",
    "SupernetSpec",
    "check_name",
    "check_unaltered",
    "load_recipe",
    "load_recipe_text",
    "parse_recipe",
]
