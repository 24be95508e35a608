"""The NNI 3.0 backend: genuine NNI ModelSpaces, NNI strategies, the shared PyTorch trainer."""
from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any, Callable

with warnings.catch_warnings():
    # NNI 3.0 warns at import about torch.nn classes newer than itself (Buffer, ...): noise, not a problem.
    warnings.simplefilter("ignore", RuntimeWarning)
    import nni  # noqa: F401
    from nni.nas.nn.pytorch import ModelSpace  # noqa: F401

from unified_nas.backends.base import Backend as BaseBackend
from unified_nas.backends.base import Capabilities, Options, Strategy
from unified_nas.errors import Gap

from unified_nas.backends.nni.normalize import NativeTrial, normalize_trial

if TYPE_CHECKING:
    from unified_nas.recipe import Recipe
    from unified_nas.report.records import TrialRecord
    from unified_nas.runner import RunContext


def web_option_gaps(extra: dict[str, Any]) -> list[Gap]:
    """The web engine's own options, checked before any work (NNI would fail with a raw ValueError)."""
    from unified_nas.backends.nni.web_workarounds import MANAGER_HOSTS

    gaps = []
    host = extra.get("manager_host")
    if host is not None and host not in MANAGER_HOSTS:
        gaps.append(Gap(f"manager_host {host!r}", "toolkit",
                        f"expected one of {', '.join(MANAGER_HOSTS)} (NNI's own clients reach its manager at localhost)"))
    for key, low, high in (("trial_concurrency", 1, 64), ("port", 1, 65535)):
        v = extra.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or not low <= v <= high):
            gaps.append(Gap(f"{key} {v!r}", "adapter", f"expected an integer in {low}..{high}"))
    return gaps


class Backend(BaseBackend):
    name = "nni"
    toolkit = "nni"
    capabilities = Capabilities(space_kinds=frozenset({"macro", "cell", "dense_cell"}))
    strategies = {s.name: s for s in (
        Strategy("random", "Random"),
        Strategy("grid", "GridSearch"),
        Strategy("evolution", "RegularizedEvolution"),
        Strategy("tpe", "TPE (patched: input choices, no 1 s sleep)"),
        Strategy("rl", "PolicyBasedRL", categorical_only=True, requires=("tianshou", "gym"), extra="nni-rl"),
        Strategy("darts", "DARTS (one-shot)", one_shot=True),
        Strategy("gumbel_darts", "GumbelDARTS (one-shot)", one_shot=True),
        Strategy("enas", "ENAS (one-shot)", one_shot=True, requires=("tianshou", "gym"), extra="nni-rl"),
        Strategy("proxyless", "Proxyless (one-shot)", one_shot=True),
        Strategy("random_one_shot", "RandomOneShot (one-shot)", one_shot=True),
    )}
    default_strategy = "evolution"
    # manager_host (web engine): where NNI's manager listens; 127.0.0.1 (default), 0.0.0.0 or ::.
    extra_option_keys = ("engine", "trial_concurrency", "port", "manager_host")

    def gaps(self, recipe: "Recipe", options: Options) -> list[Gap]:
        from unified_nas.backends.nni.oneshot_gaps import one_shot_gaps

        gaps = super().gaps(recipe, options)
        net = recipe.space.network
        if recipe.space.kind in ("cell", "dense_cell") and not isinstance(net.channels, int):
            why = ("NNI's Cell needs fixed op widths" if recipe.space.kind == "cell"
                   else "NNI's LayerChoice candidates need fixed op widths")
            gaps.append(Gap("searched cell channels", "adapter", f"{why}; fix channels"))
        one_shot = self.is_one_shot(options.strategy)
        engine = options.extra.get("engine", "headless")
        if engine not in ("headless", "web"):
            gaps.append(Gap(f"engine '{engine}'", "adapter", "engines: headless (default), web"))
        elif engine == "web" and one_shot:
            gaps.append(Gap(f"engine 'web' with strategy '{options.strategy}'", "toolkit",
                            "NNI runs one-shot strategies in-process only"))
        elif engine == "web":
            gaps += web_option_gaps(options.extra)
        if engine == "web" and options.resume:
            gaps.append(Gap("resuming with engine 'web'", "adapter", "resume replays finished trials in order, "
                            "which the headless engine guarantees and NNI's parallel trial processes do not"))
        return gaps + (one_shot_gaps(recipe, options.strategy) if one_shot else [])

    def is_one_shot(self, strategy: str) -> bool:
        s = self.strategies.get(strategy)
        return s is not None and s.one_shot

    def prepare(self, options: Options) -> None:
        import unified_nas.backends.nni.run  # noqa: F401  (torch, NNI strategies, the shared trainer)

    def check_arguments(self, recipe: "Recipe", options: Options, seed: int, budget: Any) -> None:
        if self.is_one_shot(options.strategy):
            from unified_nas.backends.nni.oneshot import make_oneshot, oneshot_arguments

            make_oneshot(options.strategy, oneshot_arguments(options.strategy, options.strategy_args, 1)[1])
        else:
            from unified_nas.backends.nni.run import make_strategy

            make_strategy(options.strategy, seed, options.strategy_args, budget.trials)

    def translate(self, ctx: "RunContext") -> Any:
        """The JSON spec of the ``UnasModelSpace``; the ModelSpace itself is built in run, where the engine runs."""
        from unified_nas.backends.nni.space import make_spec

        return make_spec(ctx.recipe.space, ctx.data.input_shape, ctx.data.num_classes)

    def run(self, native: Any, ctx: "RunContext", report: Callable[[NativeTrial], None]) -> None:
        if self.is_one_shot(ctx.options.strategy):
            from unified_nas.backends.nni.oneshot import run_oneshot

            run_oneshot(native, ctx, report)
            return
        if ctx.options.extra.get("engine", "headless") == "web":
            from unified_nas.backends.nni.web import run_web

            run_web(native, ctx, report)
            return
        from unified_nas.backends.nni.run import run_headless

        run_headless(native, ctx, report)

    def normalize(self, native_trial: NativeTrial, ctx: "RunContext") -> "TrialRecord":
        return normalize_trial(native_trial, ctx)
