"""The backend contract: the half of a run that backends implement (:class:`Backend`).

A backend is a name, a capabilities record (data), the strategies it offers
under unified names, and three steps the runner calls: ``translate`` (IR ->
the toolkit's *native space*: a ModelSpace spec, an objective, a graph),
``run`` (the toolkit's search in that space under a budget and seed, handing
each finished *native trial* to the runner's ``report`` callback) and
``normalize`` (native trial -> TrialRecord, called by the runner on each
reported trial). "Native" always means the toolkit's own objects: the space
``translate`` makes and the trials ``run`` reports. :class:`Backend` is
generic over both types, so the type checker holds every backend to its own.

The other half is :class:`~unified_nas.runs.context.RunContext`, which the
runner gives: how a sample is scored is not the backend's. It asks
``ctx.evaluate(sample, on_epoch, own_training)``, passing its toolkit's own
training if it has one, and cannot tell whether the sample was trained, looked
up in a table or replayed from an earlier attempt. Before any work starts,
:meth:`Backend.check` lists every recipe feature the backend cannot serve, all
at once.

This module belongs to the ``runs`` stage (it is imported by the runner and
the registry); the toolkit folders beside it are the ``backends`` stage.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from unified_nas.core.errors import Gap, RecipeError, UnsupportedFeatures, UserError
from unified_nas.core.multiobjective import SCALARISATION_KEY
from unified_nas.core.vocabulary import UNIFIED_STRATEGIES
from unified_nas.runs.options import COMMON_OPTIONS, Options, OptionSpec
from unified_nas.runs.scalarise import resolve as resolve_scalarisation
from unified_nas.space import Categorical, FloatRange, space_size

if TYPE_CHECKING:
    from unified_nas.recipe import Budget, Recipe
    from unified_nas.report.records import TrialRecord
    from unified_nas.runs.context import RunContext

# Options with CLI flags of their own (--strategy, --pruner; --storage, which a backend that shares searches declares).
COMMON_NAMES = {o.name for o in COMMON_OPTIONS} | {"storage"}


def accepted_keywords(cls: type) -> set[str] | None:
    """The keyword arguments a class's constructor accepts, read from every ``__init__`` it inherits.

    Toolkits often take ``**kwargs`` and pass them on, or drop them (NNI 3.0's
    ``Random`` does), so a misspelt strategy argument would fail deep inside
    the search or be ignored without a word. The union of the named
    parameters along the class hierarchy is what the chain can honour.

    Returns:
        The names, or None when some ``__init__`` forwards only ``*args,
        **kwargs`` (its real signature is unknowable from here).
    """
    import inspect

    names: set[str] = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None or klass is object:
            continue
        params = inspect.signature(init).parameters.values()
        named = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)} - {"self"}
        if not named and any(p.kind == p.VAR_KEYWORD for p in params):
            return None
        names |= named
    return names


@dataclass(frozen=True)
class Strategy:
    """A strategy a backend offers.

    Attributes:
        name: Unified name (what users pass to ``--strategy``).
        native: The toolkit's own name for it.
        multi_objective: Whether it optimises several objectives (a Pareto front).
        finite_only: Whether it needs a finite space (grid search).
        numeric_only: Whether it cannot handle categorical parameters.
        categorical_only: Whether it cannot handle continuous (float) parameters.
        one_shot: Whether it trains a supernet and exports one architecture
            (one record) instead of running trials.
        multi_fidelity: Whether it decides from partial trainings (Hyperband's
            rungs of epochs), which a table of final results cannot answer.
        requires: Optional modules it imports (checked before the run).
        extra: The pip extra that installs them.
        default_first: Whether the backend can make the recipe's start point its first trial
            (the ``default_first`` option) with this strategy. Opt-in: a strategy must be
            shown to do it (the behaviour suite checks every one that declares it).
        starts_at_default: Whether its first trial is the start point anyway (keras-tuner's
            grid begins with every default), so ``default_first`` needs nothing more.
    """

    name: str
    native: str
    multi_objective: bool = False
    finite_only: bool = False
    numeric_only: bool = False
    categorical_only: bool = False
    one_shot: bool = False
    multi_fidelity: bool = False
    requires: tuple[str, ...] = ()
    extra: str = ""
    default_first: bool = False
    starts_at_default: bool = False

    def missing(self) -> list[str]:
        """Modules of ``requires`` that are not importable."""
        import importlib.util

        return [m for m in self.requires if importlib.util.find_spec(m) is None]


@dataclass(frozen=True)
class Capabilities:
    """What a backend can serve, as data (queryable before anything runs)."""

    space_kinds: frozenset[str] = frozenset({"macro", "cell"})
    pruning: bool = False
    time_budget: bool = True
    pruners: tuple[str, ...] = ("none",)
    # Whether the adapter hands its single-objective strategies a scalarised score when a recipe has
    # several objectives (the ``scalarisation`` strategy argument, unified_nas.runs.scalarise).
    scalarisation: bool = False


NativeSpace = TypeVar("NativeSpace")  # what translate makes and run searches: the toolkit's own space
NativeTrial = TypeVar("NativeTrial")  # what run reports and normalize reads: the toolkit's own finished trial


class Backend(ABC, Generic[NativeSpace, NativeTrial]):
    """Base of every backend adapter. Subclasses set the class attributes and name their native types.

    A subclass is declared ``class Backend(base.Backend[MySpace, MyTrial])``: mypy then checks
    that its ``translate`` returns ``MySpace``, that ``run`` and ``join`` take it, and that
    ``normalize`` takes ``MyTrial`` and returns a TrialRecord.
    """

    name: ClassVar[str]
    toolkit: ClassVar[str]  # distribution name whose version is reported
    capabilities: ClassVar[Capabilities]
    strategies: ClassVar[Mapping[str, Strategy]]
    default_strategy: ClassVar[str]
    # The backend's own options beyond COMMON_OPTIONS (strategy, strategy_args, pruner), as data.
    option_specs: ClassVar[tuple[OptionSpec, ...]] = ()
    # Modules that must be importable for the backend to run, and the pip extra that installs them.
    requires: ClassVar[tuple[str, ...]] = ()
    extra: ClassVar[str] = ""
    # Distributions whose versions every run report of this backend records (its toolkit stack).
    packages: ClassVar[tuple[str, ...]] = ()
    # Whether `unas bench` without --backends compares it (a contract-checking reference backend does not).
    in_default_bench: ClassVar[bool] = True
    # Whether several processes can share one search (`unas run --storage`, `unas worker`): see shared_run/join.
    shares_searches: ClassVar[bool] = False

    @classmethod
    def version(cls) -> str:
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version(cls.toolkit)
        except PackageNotFoundError:
            return "not installed"

    @classmethod
    def option_table(cls) -> dict[str, OptionSpec]:
        """Every option this backend accepts: the common ones, then its own."""
        return {o.name: o for o in COMMON_OPTIONS + cls.option_specs}

    def options(self, recipe: Recipe, overrides: Mapping[str, Any], texts: Mapping[str, str] | None = None) -> Options:
        """The run's options: the recipe's ``backends.<name>``, overlaid with CLI values.

        Every key and value is checked against :meth:`option_table`; a
        backend's own options absent everywhere take their declared default.

        Args:
            recipe: The recipe.
            overrides: Typed CLI values (``--strategy``, ``--pruner``); None means not given.
            texts: ``--option KEY=VALUE`` texts, converted to each option's type.

        Returns:
            The resolved options.

        Raises:
            RecipeError: An unknown option or a value its declaration does not allow, naming
                ``backends.<name>.<key>`` (recipe) or ``--option <key>`` (CLI) and what is allowed.
        """
        table = self.option_table()
        known = ", ".join(table)
        values: dict[str, Any] = {}
        for key, v in recipe.backend_options(self.name).items():
            path = f"backends.{self.name}.{key}"
            if key not in table:
                raise RecipeError(path, f"unknown option of {self.name} (options: {known})")
            values[key] = table[key].check(v, path)
        for key, v in overrides.items():
            if v is None:
                continue
            path = f"--{key}" if key in COMMON_NAMES else f"--option {key}"
            if key not in table:
                raise RecipeError(path, f"unknown option of {self.name} (options: {known})")
            values[key] = table[key].check(v, path)
        for key, text in (texts or {}).items():
            path = f"--option {key}"
            if key not in table:
                raise RecipeError(path, f"unknown option of {self.name} (options: {known})")
            values[key] = table[key].from_text(text, path)
        extra = {
            o.name: values.get(o.name, o.default)
            for o in self.option_specs
            if o.name in values or o.default is not None
        }
        options = Options(
            strategy=str(values.get("strategy", self.default_strategy)),
            strategy_args=dict(values.get("strategy_args") or {}),
            pruner=str(values.get("pruner", "none")),
            default_first=bool(values.get("default_first", False)),
            extra=extra,
        )
        self._resolve_scalarisation(recipe, options)
        return options

    def scalarises(self, recipe: Recipe, strategy: str) -> bool:
        """Whether a run of ``recipe`` with ``strategy`` hands the strategy a scalarised score.

        True for several objectives and a strategy of this backend that optimises one number,
        where the adapter can scalarise (``capabilities.scalarisation``) and trials are not
        one-shot (a supernet search has no trials to score).
        """
        strat = self.strategies.get(strategy)
        return (
            len(recipe.objectives) > 1
            and self.capabilities.scalarisation
            and strat is not None
            and not strat.multi_objective
            and not strat.one_shot
        )

    def _resolve_scalarisation(self, recipe: Recipe, options: Options) -> None:
        """Fills ``strategy_args.scalarisation`` with its defaults when the run scalarises; refuses it elsewhere.

        Raises:
            RecipeError: Naming ``backends.<name>.strategy_args.scalarisation`` (a bad value, or given
                where no objectives are combined).
        """
        path = f"backends.{self.name}.strategy_args.{SCALARISATION_KEY}"
        given = options.strategy_args.get(SCALARISATION_KEY)
        if self.scalarises(recipe, options.strategy):
            metrics = [o.metric for o in recipe.objectives]
            options.strategy_args[SCALARISATION_KEY] = resolve_scalarisation(given, metrics, path)
        elif given is not None and options.strategy in self.strategies:
            why = (
                "the recipe has one objective"
                if len(recipe.objectives) < 2
                else f"strategy '{options.strategy}' does not take a scalarised score"
                + (
                    " (it optimises several objectives itself)"
                    if self.strategies[options.strategy].multi_objective
                    else ""
                )
            )
            raise RecipeError(path, why)

    def check(self, recipe: Recipe, options: Options) -> None:
        """Raises one error listing every feature of the recipe this backend cannot serve.

        Raises:
            UnsupportedFeatures: Naming the backend, each feature and its blocker.
        """
        gaps = self.gaps(recipe, options)
        if gaps:
            raise UnsupportedFeatures(self.name, gaps)

    def gaps(self, recipe: Recipe, options: Options) -> list[Gap]:
        """Generic checks driven by the capability data; subclasses may add more."""
        gaps: list[Gap] = []
        caps = self.capabilities
        if recipe.space.kind not in caps.space_kinds:
            gaps.append(
                Gap(f"{recipe.space.kind} space", "adapter", f"supported: {', '.join(sorted(caps.space_kinds))}")
            )
        offered = ", ".join(self.strategies)
        strat = self.strategies.get(options.strategy)
        if strat is None:
            where = "toolkit" if options.strategy in UNIFIED_STRATEGIES else "unknown name"
            gaps.append(Gap(f"strategy '{options.strategy}'", where, f"{self.name} offers {offered}"))
        else:
            missing = strat.missing()
            if missing:
                gaps.append(
                    Gap(
                        f"strategy '{strat.name}'",
                        "toolkit",
                        f"needs {', '.join(missing)}: pip install 'unified-nas[{strat.extra}]'",
                    )
                )
            decls = recipe.space.decls()
            if strat.finite_only and math.isinf(space_size(decls)):
                cont = [d.label for d in decls if math.isinf(d.dist.size())]
                gaps.append(
                    Gap(
                        f"strategy '{strat.name}'",
                        "toolkit",
                        f"needs a finite space; continuous: {', '.join(cont)} (use a list of values)",
                    )
                )
            if strat.numeric_only:
                cats = [d.label for d in decls if isinstance(d.dist, Categorical)]
                if cats:
                    gaps.append(
                        Gap(
                            f"strategy '{strat.name}'",
                            "toolkit",
                            f"handles numeric parameters only; categorical: {', '.join(cats[:6])}"
                            + (" ..." if len(cats) > 6 else ""),
                        )
                    )
            if strat.categorical_only:
                cont = [d.label for d in decls if isinstance(d.dist, FloatRange)]
                if cont:
                    gaps.append(
                        Gap(
                            f"strategy '{strat.name}'",
                            "toolkit",
                            f"handles choices only; continuous: {', '.join(cont)} (use a list of values)",
                        )
                    )
            if len(recipe.objectives) > 1 and not strat.multi_objective and not self.scalarises(recipe, strat.name):
                multi = [
                    s.name for s in self.strategies.values() if s.multi_objective or self.scalarises(recipe, s.name)
                ]
                gaps.append(
                    Gap(
                        f"{len(recipe.objectives)} objectives with strategy '{strat.name}'",
                        "toolkit",
                        f"multi-objective strategies: {', '.join(multi) or 'none'}",
                    )
                )
        if recipe.constraints and strat is not None and strat.one_shot:
            gaps.append(
                Gap(
                    f"constraints with strategy '{strat.name}'",
                    "toolkit",
                    "a one-shot strategy trains one supernet and exports one architecture; its search "
                    "cannot be told which samples are infeasible",
                )
            )
        if options.default_first and strat is not None and (strat.one_shot or not strat.default_first):
            gaps.append(
                Gap(
                    f"default_first with strategy '{strat.name}'",
                    "adapter" if not strat.one_shot else "toolkit",
                    "a one-shot strategy trains a supernet, not a first trial"
                    if strat.one_shot
                    else f"{self.toolkit}'s {strat.native} has no way to be handed a first sample; "
                    f"strategies that do: {', '.join(s.name for s in self.strategies.values() if s.default_first and not s.one_shot)}",
                )
            )
        if options.resume and strat is not None and strat.one_shot:
            gaps.append(
                Gap(
                    f"resuming strategy '{strat.name}'",
                    "adapter",
                    "a one-shot search trains one supernet, not trials to keep; start a new run",
                )
            )
        if options.pruner not in caps.pruners:
            gaps.append(Gap(f"pruner '{options.pruner}'", "adapter", f"offered: {', '.join(caps.pruners)}"))
        if not recipe.evaluation.trains:
            gaps += self._table_gaps(recipe, options, strat)
        return gaps

    def _table_gaps(self, recipe: Recipe, options: Options, strat: Strategy | None) -> list[Gap]:
        """What a table of final results, a proxy or a supernet cannot serve: anything that needs (partial) training."""
        gaps: list[Gap] = []
        ev = recipe.evaluation
        table = ev.label
        blocker = "evaluation" if ev.supernet is not None else "table"
        if strat is not None and strat.one_shot:
            gaps.append(
                Gap(
                    f"strategy '{strat.name}' on {table}",
                    blocker,
                    "a one-shot strategy trains a supernet of its own; with evaluation: supernet, pick a "
                    "multi-trial strategy to search the run's supernet"
                    if ev.supernet is not None
                    else "a one-shot strategy trains a supernet on data; this evaluation trains nothing",
                )
            )
        if strat is not None and strat.multi_fidelity:
            gaps.append(
                Gap(
                    f"strategy '{strat.name}' on {table}",
                    blocker,
                    "a multi-fidelity strategy needs results after fewer epochs; this evaluation has no epochs",
                )
            )
        if options.pruner != "none":
            gaps.append(
                Gap(
                    f"pruner '{options.pruner}' on {table}",
                    blocker,
                    "pruning needs per-epoch results; this evaluation has no epochs",
                )
            )
        return gaps

    def check_arguments(self, recipe: Recipe, options: Options, seed: int, budget: Budget) -> None:  # noqa: B027 (optional hook)
        """Refuses bad strategy arguments before anything is written.

        Called after :meth:`prepare` (toolkits imported) and before the run is
        stored. Backends build their strategy object here, without running it,
        so that e.g. an unknown keyword in ``strategy_args`` is a one-line
        error instead of a failed run.

        Args:
            recipe: The recipe.
            options: The resolved options.
            seed: The run seed.
            budget: The run's :class:`~unified_nas.recipe.Budget`.

        Raises:
            RecipeError: Naming ``backends.<name>.strategy_args`` and the cause.
        """

    def shared_run(self, run_id: str, storage: str) -> dict[str, Any]:
        """The description a shared run left in ``storage`` (``RunContext.describe_for_workers``).

        Raises:
            UserError: This backend does not share searches, or there is no such run there.
        """
        raise UserError(f"backend {self.name} cannot share a search between processes")

    def join(self, space: NativeSpace, ctx: RunContext, storage: str, trials: int | None) -> int:
        """Runs trials of a shared search as a worker (``unas worker``); returns how many.

        Raises:
            UserError: This backend does not share searches.
        """
        raise UserError(f"backend {self.name} cannot share a search between processes")

    def prepare(self, options: Options) -> None:  # noqa: B027 (optional hook)
        """Imports heavy modules (frameworks, trainer) before the run clock starts.

        Args:
            options: The run's resolved options (some choose what to import,
                e.g. AutoKeras's Keras backend).
        """

    @abstractmethod
    def translate(self, ctx: RunContext) -> NativeSpace:
        """IR (``ctx.recipe.space``) -> the toolkit's native space (a ModelSpace spec, an objective, a graph).

        Args:
            ctx: The run's context.

        Returns:
            What :meth:`run` searches.
        """

    @abstractmethod
    def run(self, space: NativeSpace, ctx: RunContext, report: Callable[[NativeTrial], None]) -> None:
        """Runs the toolkit's search in ``space`` within ``ctx.budget``.

        Args:
            space: What :meth:`translate` returned.
            ctx: The run's context; every sample is scored with ``ctx.evaluate``.
            report: Called with each finished native trial, as it finishes (the
                runner normalizes and stores it at once).
        """

    @abstractmethod
    def normalize(self, native_trial: NativeTrial, ctx: RunContext) -> TrialRecord:
        """A native trial -> a canonical TrialRecord (labels, metrics, status, times).

        Args:
            native_trial: One trial ``run`` reported.
            ctx: The run's context (``ctx.record_from_result`` builds the record).

        Returns:
            The record the runner stores.
        """

    @classmethod
    def describe(cls) -> dict[str, Any]:
        """Capabilities and strategies as JSON-ready data (for ``unas backends``)."""
        caps = cls.capabilities
        return {
            "name": cls.name,
            "version": cls.version(),
            "default_strategy": cls.default_strategy,
            "strategies": {n: s.native for n, s in cls.strategies.items()},
            "multi_objective": [n for n, s in cls.strategies.items() if s.multi_objective],
            # Single-objective strategies that search several objectives through a scalarised score.
            "scalarised": [
                n for n, s in cls.strategies.items() if caps.scalarisation and not s.multi_objective and not s.one_shot
            ],
            "one_shot": [n for n, s in cls.strategies.items() if s.one_shot],
            "space_kinds": sorted(caps.space_kinds),
            "pruners": list(caps.pruners),
            "time_budget": caps.time_budget,
            "options": [o.describe() for o in cls.option_specs],
        }
