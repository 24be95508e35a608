"""The NNI 3.0 backend: genuine NNI ModelSpaces, NNI strategies, the shared PyTorch trainer."""
from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

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


class Backend(BaseBackend):
    name = "nni"
    toolkit = "nni"
    capabilities = Capabilities()
    strategies = {s.name: s for s in (
        Strategy("random", "Random"),
        Strategy("grid", "GridSearch"),
        Strategy("evolution", "RegularizedEvolution"),
        Strategy("tpe", "TPE (patched: input choices, no 1 s sleep)"),
        Strategy("rl", "PolicyBasedRL", categorical_only=True, requires=("tianshou", "gym"), extra="nni-rl"),
    )}
    default_strategy = "evolution"

    def gaps(self, recipe: "Recipe", options: Options) -> list[Gap]:
        gaps = super().gaps(recipe, options)
        net = recipe.space.network
        if recipe.space.kind == "cell" and not isinstance(net.channels, int):
            gaps.append(Gap("searched cell channels", "adapter", "NNI's Cell needs fixed op widths; fix channels"))
        return gaps

    def prepare(self) -> None:
        import unified_nas.backends.nni.run  # noqa: F401  (torch, NNI strategies, the shared trainer)

    def translate(self, ctx: "RunContext") -> Any:
        # The ModelSpace is built inside run (it must be created where the engine runs).
        return ctx.recipe.space

    def run(self, native: Any, ctx: "RunContext") -> None:
        from unified_nas.backends.nni.run import run_headless

        run_headless(ctx, lambda t: ctx.emit(self.normalize(t, ctx)))

    def normalize(self, native_trial: NativeTrial, ctx: "RunContext") -> "TrialRecord":
        return normalize_trial(native_trial, ctx)
