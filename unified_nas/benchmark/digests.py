"""A benchmark's data digests: which data its runs were made on, so that no report compares runs on different data.

A benchmark records the digests of its recipe's data when it is created (in its
stored header, ``config["data"]``): the split digest (which rows went where)
and the content digest (the values themselves), as :class:`~unified_nas.data.Dataset`
has them; for a table recipe the stand-in data set carries the table's digest.
Every run of the benchmark refuses other data (``run_recipe(expect_data=...)``),
``--resume`` refuses a recipe whose data changed since the benchmark started
(:func:`check_same_bench_data`), and the report warns when the runs it shows
were made on different data (:func:`data_warnings`; runs stored by versions
that did not check).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from unified_nas.core.errors import StoreError, UserError
from unified_nas.data import Digests, recorded_digests, same_data, shown_digests
from unified_nas.tables.recipes import load_recipe_data

if TYPE_CHECKING:
    from unified_nas.recipe import Recipe
    from unified_nas.report.store import ResultsStore


def recipe_digests(recipe: Recipe) -> Digests:
    """The digests of a recipe's data as it loads now (its data file read again, or its table opened).

    Args:
        recipe: The recipe.

    Returns:
        As :attr:`~unified_nas.data.Dataset.digests`.

    Raises:
        RecipeError, UserError: The data cannot be loaded (as :func:`~unified_nas.data.load_recipe_data`).
    """

    return load_recipe_data(recipe).digests


def data_source(recipe: Recipe) -> str:
    """What a recipe's data is, for a message: ``data``, or ``table PATH`` for a recipe evaluated by a table."""
    return "data" if recipe.data is not None else f"table {recipe.evaluation.table}"


def check_same_bench_data(
    store: ResultsStore, bench_id: str, recipe: Recipe, recorded: Mapping[str, str] | None, now: Mapping[str, str]
) -> None:
    """Refuses to continue a benchmark whose recipe's data changed since it started.

    Args:
        store: The results store.
        bench_id: The benchmark to continue.
        recipe: Its recipe, as loaded now.
        recorded: The digests in the benchmark's header; None for a benchmark stored before
            headers held them: then its finished runs' reports are the reference (they are kept).
        now: The digests of the recipe's data as it loads now.

    Raises:
        UserError: Naming the recipe, the benchmark and that its data or table changed.
    """
    if recorded is not None:
        kept = [recorded]
    else:
        kept = []
        for row in store.latest_bench_runs(bench_id).values():
            if row["status"] != "complete":
                continue  # it is run again: its data does not matter
            try:
                kept.append(recorded_digests(store.load_run(row["run_id"]).data))
            except StoreError:
                continue  # no report stored: nothing it could be compared on
    if any(not same_data(k, now) for k in kept):
        raise UserError(
            f"--resume: the {data_source(recipe)} of recipe {recipe.name} changed since benchmark {bench_id} started "
            f"(data digests {shown_digests(now)}, the benchmark's {shown_digests(kept[0])}); its runs would be compared with runs on "
            "other data: restore it, or start a new benchmark (without --resume)"
        )


def data_warnings(runs: Sequence[tuple[str, Mapping[str, Any]]], recorded: Mapping[str, str] | None) -> list[str]:
    """Says so when a benchmark's runs were made on different data (their scores are not comparable).

    Args:
        runs: ``(label, report data section)`` per run with a stored report, e.g.
            ``("optuna seed 0", report.data)``.
        recorded: The benchmark's digests from its header (None for a benchmark stored before
            headers held them).

    Returns:
        One warning listing the runs per data set, or none.
    """
    digests = [(label, recorded_digests(data)) for label, data in runs]
    if not digests:
        return []
    # Reports from before content digests existed only have a split digest: then all are grouped by their split.
    by_split = any(not d["content_sha256"] for _, d in digests) or (
        recorded is not None and not recorded.get("content_sha256")
    )

    def key(d: Mapping[str, str]) -> str:
        return d["split_sha256"] if by_split else shown_digests(d)

    groups: dict[str, list[str]] = {}
    if recorded is not None:
        groups[key(recorded)] = []  # the benchmark's own data first, even if no run used it
    for label, d in digests:
        groups.setdefault(key(d), []).append(label)
    if len(groups) == 1:
        return []
    ours = key(recorded) if recorded is not None else None
    mark = " (the benchmark's own)"
    parts = [f"{k}{mark if k == ours else ''}: {', '.join(labels) or 'no run'}" for k, labels in groups.items()]
    kind = "split" if by_split else "split/content"
    return [
        f"runs were made on different data (data digests {kind}: {'; '.join(parts)}): their scores are not "
        "comparable; rerun the runs on other data in a new benchmark"
    ]
