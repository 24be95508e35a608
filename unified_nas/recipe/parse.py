"""Recipe: a YAML file with data, search space, training protocol, objectives, budget.

Loaded with a bounded safe YAML loader only (:mod:`unified_nas.recipe.text`).
Every validation error names the path of the offending field
(``space.layers[2].kernel: 4 is not one of 3, 5, 7``). Beyond field checks:
the name must be safe in a path (:data:`NAME_RE`), seeds fit in 32 bits, and no
number anywhere in the recipe is NaN or infinite.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from unified_nas.core.errors import RecipeError, UserError
from unified_nas.core.limits import MAX_EPOCHS, MAX_IMAGE_SIDE, MAX_SEED, MAX_SUBSAMPLE
from unified_nas.core.metrics import METRICS, Bound
from unified_nas.core.text import shown
from unified_nas.recipe.sections import (
    BUILTIN,
    DATA_FORMATS,
    OFFICIAL_TEST,
    PRECISIONS,
    SCHEDULES,
    SPEC_RE,
    SPEC_RULE,
    SUPERNET_SAMPLINGS,
    Budget,
    DataSpec,
    EvaluationSpec,
    Objective,
    Protocol,
    Recipe,
    SupernetSpec,
)
from unified_nas.recipe.tables import TABLES, check_table_space, table_info
from unified_nas.recipe.text import parse_recipe_yaml, read_recipe_text
from unified_nas.space.fields import as_mapping, as_number, is_int, is_number, reject_unknown, shown_value
from unified_nas.space.parse import TRAINING_HPARAMS, parse_space

TOP_FIELDS = (
    "name",
    "description",
    "data",
    "space",
    "training",
    "objectives",
    "budget",
    "seed",
    "backends",
    "evaluation",
    "constraints",
    "device",
)
# The name becomes part of a run-directory path and of store keys: no separators,
# no "..", no control characters, bounded length.
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
NAME_RULE = "1-64 characters of letters, digits, '.', '_', '-', starting with a letter or digit"


def _check_seed(path: str, seed: Any) -> None:
    why = is_int(0)(seed)
    if why:
        raise RecipeError(path, why)
    if seed > MAX_SEED:
        raise RecipeError(path, f"{shown_value(seed)} is above {MAX_SEED} (seeds must fit in 32 bits)")


def check_name(raw: Mapping[str, Any], default_name: str) -> str:
    """The ``name:`` of a recipe or suite file, or ``default_name`` (the file stem) if it has none.

    Args:
        raw: The file's parsed YAML.
        default_name: The name to use when there is no ``name:`` field.

    Returns:
        The name.

    Raises:
        RecipeError: The name is not a non-empty string, or it (or, with no ``name:``, the file
            stem) breaks :data:`NAME_RULE`.
    """
    if "name" not in raw:
        if not NAME_RE.fullmatch(default_name):
            raise RecipeError(
                "name",
                f"missing, and the file name {shown(default_name)} is not a usable name "
                f"({NAME_RULE}); add a name: field",
            )
        return default_name
    name = raw["name"]
    if not isinstance(name, str) or not name:
        raise RecipeError("name", "must be a non-empty string")
    if not NAME_RE.fullmatch(name):
        raise RecipeError("name", f"{shown(name)} must be {NAME_RULE}")
    return name


def _reject_non_finite(raw: Any) -> None:
    """Refuses NaN and infinities anywhere in the parsed YAML, naming their dotted path.

    One walk over the whole tree covers every numeric field, including the free-form
    ``backends.*`` options, which no other check looks at. Iterative, so a deep
    structure handed to :func:`parse_recipe` directly cannot overflow the stack.
    """
    stack: list[tuple[str, Any]] = [("", raw)]
    while stack:
        path, v = stack.pop()
        if isinstance(v, float) and not math.isfinite(v):
            raise RecipeError(path, f"{v} is not a finite number")
        if isinstance(v, Mapping):
            stack.extend((f"{path}.{shown_value(k)}" if path else shown_value(k), x) for k, x in v.items())
        elif isinstance(v, list):
            stack.extend((f"{path}[{i}]", x) for i, x in enumerate(v))


def _parse_data(raw: Any) -> DataSpec:
    raw = as_mapping("data", raw)
    reject_unknown(
        "data",
        raw,
        ("name", "path", "format", "image_size", "channels", "subsample", "target", "val", "test", "split_seed"),
    )
    if ("name" in raw) == ("path" in raw):
        raise RecipeError("data", "give exactly one of name (" + ", ".join(BUILTIN) + ") or path (a file or folder)")
    if "name" in raw and raw["name"] not in BUILTIN:
        raise RecipeError("data.name", f"{shown(raw['name'])} is not one of {', '.join(BUILTIN)}")
    if "format" in raw and "path" not in raw:
        raise RecipeError("data.format", "applies to data.path only (a built-in data set has its own)")
    if raw.get("format", "npz") not in DATA_FORMATS:
        raise RecipeError("data.format", f"{shown(raw['format'])} is not one of {', '.join(DATA_FORMATS)}")
    official = raw.get("name") in OFFICIAL_TEST or raw.get("format") == "idx"
    if official and "test" in raw:
        where = raw.get("name") or "an IDX folder"
        raise RecipeError(
            "data.test", f"{where} has an official test split, which stays the test split; remove data.test"
        )
    for k in ("val", "test"):
        why = is_number(0, 1, low_open=True, high_open=True)(raw.get(k, 0.2))
        if why:
            raise RecipeError(f"data.{k}", why)
    if raw.get("val", 0.2) + (0 if official else raw.get("test", 0.2)) >= 1:
        raise RecipeError("data", "val + test must leave something to train on")
    _check_seed("data.split_seed", raw.get("split_seed", 0))
    if "path" in raw and (not isinstance(raw["path"], str) or not raw["path"] or "\0" in raw["path"]):
        raise RecipeError("data.path", f"{shown(raw['path'])} is not a file path")
    target = raw.get("target", "target")
    if isinstance(target, bool) or not isinstance(target, (str, int)) or target == "":
        raise RecipeError("data.target", f"{shown(target)} is not a column name")
    size = raw.get("image_size")
    if size is not None:
        side = [size, size] if not isinstance(size, list) else size
        if len(side) != 2 or any(is_int(1, MAX_IMAGE_SIDE)(v) for v in side):
            raise RecipeError(
                "data.image_size",
                f"{shown_value(size)} is not a size: one side or [height, width], 1..{MAX_IMAGE_SIDE}",
            )
        size = (int(side[0]), int(side[1]))
    if raw.get("channels") not in (None, 1, 3) or isinstance(raw.get("channels"), bool):
        raise RecipeError("data.channels", f"{shown_value(raw['channels'])} is not 1 (grey) or 3 (RGB)")
    if raw.get("subsample") is not None:
        why = is_int(2, MAX_SUBSAMPLE)(raw["subsample"])
        if why:
            raise RecipeError("data.subsample", why)
    return DataSpec(
        name=raw.get("name"),
        path=raw.get("path"),
        target=str(target),
        val=float(raw.get("val", 0.2)),
        test=None if official else float(raw.get("test", 0.2)),
        split_seed=raw.get("split_seed", 0),
        format=raw.get("format"),
        image_size=size,
        channels=raw.get("channels"),
        subsample=raw.get("subsample"),
    )


def _parse_protocol(raw: Mapping[str, Any]) -> Protocol:
    reject_unknown("training", raw, ("epochs", "schedule", "patience", "loss", "precision") + TRAINING_HPARAMS)
    for key, low in (("epochs", 1), ("patience", 1)):
        if key in raw and raw[key] is not None:
            why = is_int(low, MAX_EPOCHS)(raw[key])
            if why:
                raise RecipeError(f"training.{key}", why)
    if raw.get("schedule", "constant") not in SCHEDULES:
        raise RecipeError("training.schedule", f"{shown(raw['schedule'])} is not one of {', '.join(SCHEDULES)}")
    if raw.get("loss", "cross_entropy") != "cross_entropy":
        raise RecipeError("training.loss", f"{shown(raw['loss'])} is not one of cross_entropy")
    if raw.get("precision", "fp32") not in PRECISIONS:
        raise RecipeError("training.precision", f"{shown(raw['precision'])} is not one of {', '.join(PRECISIONS)}")
    return Protocol(
        epochs=raw.get("epochs", 10),
        schedule=raw.get("schedule", "constant"),
        patience=raw.get("patience"),
        precision=raw.get("precision", "fp32"),
    )


def _parse_objectives(raw: Any, evaluation: EvaluationSpec) -> tuple[Objective, ...]:
    if raw is None:
        return (
            (Objective(evaluation.proxy, "maximize"),) if evaluation.proxy else (Objective("val_accuracy", "maximize"),)
        )
    items = raw if isinstance(raw, list) else [raw]
    out = []
    for i, item in enumerate(items):
        p = f"objectives[{i}]"
        if isinstance(item, str):
            item = {"metric": item}
        item = as_mapping(p, item)
        reject_unknown(p, item, ("metric", "direction"))
        metric = _check_metric(f"{p}.metric", item.get("metric"), evaluation)
        direction = item.get("direction", METRICS[metric].direction)
        if direction not in ("maximize", "minimize"):
            raise RecipeError(f"{p}.direction", f"{shown(direction)} is not one of maximize, minimize")
        out.append(Objective(metric, direction))
    if not out:
        raise RecipeError("objectives", "needs at least one objective")
    if len({o.metric for o in out}) != len(out):
        raise RecipeError("objectives", "a metric is listed twice")
    return tuple(out)


def _check_metric(path: str, name: Any, evaluation: EvaluationSpec) -> str:
    """Refuses a metric that is not registered, or that the recipe's evaluation cannot give.

    Returns:
        The metric's name.

    Raises:
        RecipeError: Naming ``path``.
    """
    if not isinstance(name, str) or name not in METRICS:
        raise RecipeError(path, f"{shown(name)} is not one of {', '.join(METRICS)}")
    why = evaluation.unavailable(METRICS[name])
    if why:
        raise RecipeError(path, why)
    return name


def _parse_constraints(raw: Any, evaluation: EvaluationSpec) -> tuple[Bound, ...]:
    """``{metric: {max: x, min: y}}``: bounds on metrics known before training (checked before any training)."""
    raw = as_mapping("constraints", raw if raw is not None else {})
    out = []
    for name, bound in raw.items():
        p = f"constraints.{shown_value(name)}"
        _check_metric(p, name, evaluation)
        if METRICS[name].cost == "trained":
            raise RecipeError(
                p,
                f"{name} is known only after training; constraints are checked before training, on "
                "params, flops, latency_ms or a zero-cost proxy",
            )
        bound = as_mapping(p, bound)
        reject_unknown(p, bound, ("min", "max"))
        if not bound:
            raise RecipeError(p, "needs min or max")
        low, high = (None if k not in bound else float(as_number(f"{p}.{k}", bound[k])) for k in ("min", "max"))
        if low is not None and high is not None and low > high:
            raise RecipeError(p, f"min {low:g} is above max {high:g}")
        out.append(Bound(name, low, high))
    return tuple(out)


def _parse_budget(raw: Any, evaluation: EvaluationSpec) -> Budget:
    raw = as_mapping("budget", raw if raw is not None else {})
    reject_unknown("budget", raw, ("trials", "time_s", "simulated_s"))
    time_s, sim_s = raw.get("time_s"), raw.get("simulated_s")
    # 10 trials unless the budget is given otherwise: a time budget alone is a time budget.
    trials = raw.get("trials", 10 if time_s is None and sim_s is None else None)
    if trials is not None and is_int(1)(trials):
        raise RecipeError("budget.trials", cast(str, is_int(1)(trials)))  # the failed check's message
    for key, v in (("time_s", time_s), ("simulated_s", sim_s)):
        if v is not None and is_number(0, None, low_open=True)(v):
            raise RecipeError(f"budget.{key}", cast(str, is_number(0, None, low_open=True)(v)))
    if sim_s is not None and evaluation.table is None:
        raise RecipeError("budget.simulated_s", "only a table recipe (evaluation: {table: ...}) has simulated time")
    if trials is None and time_s is None and sim_s is None:
        raise RecipeError("budget", "needs trials, time_s or simulated_s")
    return Budget(trials, float(time_s) if time_s is not None else None, float(sim_s) if sim_s is not None else None)


def _parse_supernet(raw: Any) -> SupernetSpec:
    """``evaluation.supernet``: a mapping of :class:`SupernetSpec`'s fields (``{}`` or null: the defaults)."""
    raw = {} if raw is None else as_mapping("evaluation.supernet", raw)
    reject_unknown("evaluation.supernet", raw, ("epochs", "sampling", "recalibration_batches", "finetune_epochs"))
    # BatchNorm statistics belong to each subnet, not to the shared weights: without recalibration they would
    # be whatever this process last trained or built, and a score would depend on the trial order.
    for key, low in (("epochs", 1), ("recalibration_batches", 1), ("finetune_epochs", 0)):
        if key in raw:
            why = is_int(low, MAX_EPOCHS)(raw[key])
            if why:
                raise RecipeError(f"evaluation.supernet.{key}", why)
    sampling = raw.get("sampling", "uniform")
    if sampling not in SUPERNET_SAMPLINGS:
        raise RecipeError(
            "evaluation.supernet.sampling", f"{shown(sampling)} is not one of {', '.join(SUPERNET_SAMPLINGS)}"
        )
    defaults = SupernetSpec()
    return SupernetSpec(
        epochs=raw.get("epochs", defaults.epochs),
        sampling=sampling,
        recalibration_batches=raw.get("recalibration_batches", defaults.recalibration_batches),
        finetune_epochs=raw.get("finetune_epochs", defaults.finetune_epochs),
    )


def _parse_evaluation(raw: Any) -> EvaluationSpec:
    """``train`` (the default), ``{proxy: NAME}``, ``{supernet: {...}}`` or ``{table: NAME, dataset: NAME}``.

    A table is checked later (against the space).
    """
    if raw is None or raw == "train":
        return EvaluationSpec()
    if isinstance(raw, str):
        raise RecipeError(
            "evaluation",
            f"{shown(raw)} is not train or a mapping {{table: ..., dataset: ...}}, {{proxy: ...}} or {{supernet: ...}}",
        )
    raw = as_mapping("evaluation", raw)
    if "supernet" in raw:
        reject_unknown("evaluation", raw, ("supernet",))
        return EvaluationSpec(supernet=_parse_supernet(raw["supernet"]))
    if "proxy" in raw:
        reject_unknown("evaluation", raw, ("proxy",))
        proxy = raw["proxy"]
        proxies = [n for n, m in METRICS.items() if m.cost == "zero_cost"]
        if proxy not in proxies:
            raise RecipeError("evaluation.proxy", f"{shown(proxy)} is not one of {', '.join(proxies)}")
        return EvaluationSpec(proxy=proxy)
    reject_unknown("evaluation", raw, ("table", "dataset", "proxy", "supernet"))

    table = raw.get("table")
    # A table file of `unas tabulate` is named by its path: a name with a '/' or a '.'; bare names are tables we ship.
    if isinstance(table, str) and table not in TABLES and ("/" in table or "." in table):
        if "dataset" in raw:
            raise RecipeError("evaluation.dataset", f"table file {shown(table)} records its own data; drop dataset")
        if "\0" in table:
            raise RecipeError("evaluation.table", f"{shown(table)} is not a file path")
        return EvaluationSpec(table=table)
    for key in ("table", "dataset"):
        if not isinstance(raw.get(key), str):
            raise RecipeError(f"evaluation.{key}", "missing" if key not in raw else f"{shown(raw[key])} is not a name")

    spec = EvaluationSpec(raw["table"], raw["dataset"])
    table_info(spec)  # unknown table or data set: named now
    return spec


def parse_recipe(raw: Any, source: str = "", base_dir: str = ".", default_name: str = "recipe") -> Recipe:
    """Validates a recipe mapping.

    Args:
        raw: The parsed YAML.
        source: The YAML text (kept in reports and hashed).
        base_dir: Directory relative data paths refer to.
        default_name: Name used when the recipe has none.

    Returns:
        The validated recipe.

    Raises:
        RecipeError: Naming the path of the first offending field.
    """
    raw = as_mapping("recipe", raw)
    reject_unknown("", raw, TOP_FIELDS)
    _reject_non_finite(raw)
    evaluation = _parse_evaluation(raw.get("evaluation"))
    if "space" not in raw:
        raise RecipeError("space", "missing")
    if evaluation.has_data and "data" not in raw:
        raise RecipeError("data", "missing")
    if evaluation.own_table and "data" in raw:
        raise RecipeError("data", f"table file {evaluation.table} records its own data; drop data:")
    if not evaluation.has_data and "data" in raw:
        raise RecipeError(
            "data",
            f"a table recipe has no data of its own: table {evaluation.table} was recorded on {evaluation.dataset}",
        )
    name = check_name(raw, default_name)
    training = as_mapping("training", raw.get("training") or {})
    seed = raw.get("seed", 0)
    _check_seed("seed", seed)
    backends = as_mapping("backends", raw.get("backends") or {})
    for backend, opts in backends.items():
        as_mapping(f"backends.{shown_value(backend)}", opts if opts is not None else {})
    space = parse_space(raw["space"], training)
    objectives = _parse_objectives(raw.get("objectives"), evaluation)
    constraints = _parse_constraints(raw.get("constraints"), evaluation)
    if evaluation.table is not None and not evaluation.own_table:  # a table file is checked when it is opened
        check_table_space(evaluation, space)
    device = raw.get("device")
    if device is not None and not (isinstance(device, str) and SPEC_RE.fullmatch(device)):
        raise RecipeError("device", f"{shown(device)} is not one of {SPEC_RULE}")
    return Recipe(
        name=name,
        device=device,
        description=str(raw.get("description", "")),
        data=_parse_data(raw["data"]) if evaluation.has_data else None,
        space=space,
        protocol=_parse_protocol(training),
        objectives=objectives,
        budget=_parse_budget(raw.get("budget"), evaluation),
        seed=seed,
        backends=backends,
        evaluation=evaluation,
        constraints=constraints,
        source=source,
        base_dir=base_dir,
    )


def load_recipe(path: str | Path) -> Recipe:
    """Reads and validates a recipe file (bounded, UTF-8, safe YAML loading only).

    Args:
        path: The recipe file. Its stem is the recipe's name unless it has a ``name``.

    Returns:
        The validated recipe.

    Raises:
        RecipeError: If the file is missing, not a regular file, larger than
            1 MiB, not UTF-8, not YAML, past a YAML limit (nesting, aliases), or invalid.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise RecipeError("", f"expected a recipe file path, got {type(path).__name__}")
    p = Path(path)
    return load_recipe_text(read_recipe_text(p), str(p.parent.resolve()), p.stem, p.name)


def check_unaltered(recipe: Recipe, caller: str) -> None:
    """Refuses a Recipe object that is not what its own YAML text says.

    A run stores the recipe's text, and resume, export and worker processes
    rebuild the recipe from it; a Recipe altered after parsing
    (``dataclasses.replace``) would run one thing and store another, and it
    skips the parser's checks (a negative budget, 10**9 epochs). So an object is
    accepted only if parsing its text gives it back: one check for runs and
    benchmarks alike.

    Args:
        recipe: The object a caller passed.
        caller: Who asks (``run``, ``bench``), for the message.

    Raises:
        UserError: It was altered after parsing, or built without its text.
    """
    if not isinstance(recipe, Recipe):
        raise UserError(f"{caller}: expected a Recipe, got {type(recipe).__name__}")
    try:
        again = load_recipe_text(recipe.source, recipe.base_dir, recipe.name, f"recipe {recipe.name}")
    except RecipeError:
        again = None
    if again != recipe:
        raise UserError(
            f"{caller}: recipe {recipe.name} is not what its YAML text says (changed after parsing, or "
            "built without parse_recipe(..., source=text)); change the text and parse it again, or pass the recipe's file path"
        )


def load_recipe_text(text: str, base_dir: str, default_name: str, label: str) -> Recipe:
    """Validates recipe text: a file's, or the copy a stored run keeps (resume, export, NNI trial processes).

    Args:
        text: The YAML text.
        base_dir: Directory that relative data paths refer to.
        default_name: The name when the recipe has no ``name``.
        label: What to call the text in messages (a file name, ``run <id>``).

    Returns:
        The validated recipe.

    Raises:
        RecipeError: As :func:`load_recipe`, for everything after reading.
    """
    return parse_recipe(parse_recipe_yaml(text, label), source=text, base_dir=base_dir, default_name=default_name)
