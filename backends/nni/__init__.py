"""The NNI 3.0 backend: genuine NNI ModelSpaces, NNI strategies, the shared PyTorch trainer."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

with warnings.catch_warnings():
    # NNI 3.0 warns at import about torch.nn classes newer than itself (Buffer, ...): noise, not a problem.
    warnings.simplefilter("ignore", RuntimeWarning)
    import nni  # noqa: F401
    from nni.nas.nn.pytorch import ModelSpace  # noqa: F401

from unified_nas.backends.base import Backend as BaseBackend
from unified_nas.backends.base import Capabilities, Options, Strategy
from unified_nas.backends.nni.normalize import NativeTrial, normalize_trial
from unified_nas.backends.nni.oneshot import make_oneshot, oneshot_arguments, run_oneshot
from unified_nas.backends.nni.oneshot_gaps import one_shot_gaps
from unified_nas.backends.nni.run import make_strategy, run_headless
from unified_nas.backends.nni.space import make_spec
from unified_nas.backends.nni.web_workarounds import DEFAULT_MANAGER_HOST, MANAGER_HOSTS
from unified_nas.core.errors import Gap, UserError
from unified_nas.runs.options import OptionSpec

if TYPE_CHECKING:
    from unified_nas.recipe import Recipe
    from unified_nas.report.records import TrialRecord
    from unified_nas.runs.context import RunContext
    from unified_nas.space.spaces import CellSpace, DenseCellSpace


class Backend(BaseBackend[dict[str, Any], NativeTrial]):
    name = "nni"
    toolkit = "nni"
    capabilities = Capabilities(space_kinds=frozenset({"macro", "cell", "dense_cell"}), scalarisation=True)
    strategies = {
        s.name: s
        for s in (
            Strategy("random", "Random", default_first=True),
            Strategy("grid", "GridSearch"),
            Strategy("evolution", "RegularizedEvolution", default_first=True),
            Strategy("tpe", "TPE (patched: input choices, no 1 s sleep)"),
            Strategy(
                "rl",
                "PolicyBasedRL",
                categorical_only=True,
                requires=("tianshou", "gym"),
                extra="nni-rl",
            ),
            Strategy("darts", "DARTS (one-shot)", one_shot=True),
            Strategy("gumbel_darts", "GumbelDARTS (one-shot)", one_shot=True),
            Strategy("enas", "ENAS (one-shot)", one_shot=True, requires=("tianshou", "gym"), extra="nni-rl"),
            Strategy("proxyless", "Proxyless (one-shot)", one_shot=True),
            Strategy("random_one_shot", "RandomOneShot (one-shot)", one_shot=True),
        )
    }
    default_strategy = "evolution"
    option_specs = (
        OptionSpec(
            "engine",
            "str",
            "headless",
            "headless: in-process sequential engine; web: NNI's NasExperiment with its web UI and trial processes",
            choices=("headless", "web"),
        ),
        OptionSpec("trial_concurrency", "int", None, "web engine: trials at once (default 1)", low=1, high=64),
        OptionSpec("port", "int", None, "web engine: the manager's port (default: a free one)", low=1, high=65535),
        # NNI's own clients (launcher, tuner channel, trials) reach the manager at localhost.
        OptionSpec(
            "manager_host",
            "str",
            None,
            f"web engine: where the manager listens (default {DEFAULT_MANAGER_HOST})",
            choices=MANAGER_HOSTS,
        ),
    )
    requires = ("nni", "torch", "pytorch_lightning")
    extra = "nni"
    packages = ("torch", "nni", "pytorch-lightning")

    def gaps(self, recipe: Recipe, options: Options) -> list[Gap]:
        gaps = super().gaps(recipe, options)
        net = recipe.space.network
        # A cell or dense_cell kind (SearchSpace.kind) means a CellSpace or DenseCellSpace network:
        if recipe.space.kind in ("cell", "dense_cell") and not isinstance(
            cast("CellSpace | DenseCellSpace", net).channels, int
        ):
            why = (
                "NNI's Cell needs fixed op widths"
                if recipe.space.kind == "cell"
                else "NNI's LayerChoice candidates need fixed op widths"
            )
            gaps.append(Gap("searched cell channels", "adapter", f"{why}; fix channels"))
        one_shot = self.is_one_shot(options.strategy)
        engine = options.extra.get("engine", "headless")
        if engine == "web" and one_shot:
            gaps.append(
                Gap(
                    f"engine 'web' with strategy '{options.strategy}'",
                    "toolkit",
                    "NNI runs one-shot strategies in-process only",
                )
            )
        if engine == "web" and recipe.budget.simulated_s is not None:
            gaps.append(
                Gap(
                    "a simulated-time budget with engine 'web'",
                    "adapter",
                    "NNI's manager runs the trials "
                    "and hands them over at the end, so nothing can stop it on simulated time; use the "
                    "headless engine",
                )
            )
        if engine == "web" and self.scalarises(recipe, options.strategy):
            gaps.append(
                Gap(
                    f"{len(recipe.objectives)} objectives with engine 'web'",
                    "adapter",
                    "a scalarised score normalises by the objectives of the trials before it, which NNI's "
                    "trial processes do not see; use the headless engine",
                )
            )
        if engine == "web" and options.resume:
            gaps.append(
                Gap(
                    "resuming with engine 'web'",
                    "adapter",
                    "resume replays finished trials in order, "
                    "which the headless engine guarantees and NNI's parallel trial processes do not",
                )
            )
        return gaps + (one_shot_gaps(recipe, options.strategy) if one_shot else [])

    def check(self, recipe: Recipe, options: Options) -> None:
        """The generic checks, then: a ``port`` given for the web engine is free on the manager's host.

        NNI's launcher finds a busy port only once the run's row and directory
        exist; here it is bad input, refused before anything is written.

        Raises:
            UnsupportedFeatures: As the base class.
            UserError: ``--option port`` names a port something already listens on.
        """
        super().check(recipe, options)
        port = options.extra.get("port")
        if options.extra.get("engine", "headless") == "web" and port:
            from unified_nas.backends.nni.web import port_is_free  # deferred: imports Keras and TensorFlow

            host = str(options.extra.get("manager_host") or DEFAULT_MANAGER_HOST)
            if not port_is_free(int(port), host):
                raise UserError(
                    f"--option port={port}: port {port} is in use on {host}; choose a free one or leave the option out"
                )

    def is_one_shot(self, strategy: str) -> bool:
        s = self.strategies.get(strategy)
        return s is not None and s.one_shot

    def prepare(self, options: Options) -> None:
        import unified_nas.backends.nni.run  # noqa: F401  (torch, NNI strategies, the shared trainer)

    def check_arguments(self, recipe: Recipe, options: Options, seed: int, budget: Any) -> None:
        if self.is_one_shot(options.strategy):
            make_oneshot(options.strategy, oneshot_arguments(options.strategy, options.toolkit_args, 1)[1])
        else:
            make_strategy(options.strategy, seed, options.toolkit_args, budget.trials)

    def translate(self, ctx: RunContext) -> dict[str, Any]:
        """The JSON spec of the ``UnasModelSpace``; the ModelSpace itself is built in run, where the engine runs."""

        return make_spec(ctx.recipe.space, ctx.data.input_shape, ctx.data.num_classes)

    def run(self, space: dict[str, Any], ctx: RunContext, report: Callable[[NativeTrial], None]) -> None:
        if self.is_one_shot(ctx.options.strategy):
            run_oneshot(space, ctx, report)
            return
        if ctx.options.extra.get("engine", "headless") == "web":
            from unified_nas.backends.nni.web import run_web  # deferred: imports Keras and TensorFlow

            run_web(space, ctx, report)
            return

        run_headless(space, ctx, report)

    def normalize(self, native_trial: NativeTrial, ctx: RunContext) -> TrialRecord:
        return normalize_trial(native_trial, ctx)
