"""What NNI's one-shot strategies cannot serve (import-light: checked before any run).

They serve cell spaces (NNI's ``Cell``) and dense-cell spaces (one
``LayerChoice`` per edge, the label shared by every cell: DARTS keeps one set
of architecture weights per edge for the whole network, as NAS-Bench-201's
one-shot baselines do). A dense cell has no input choices and its reduction
blocks are fixed, so Proxyless's limit on reduction cells does not apply.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from unified_nas.core.errors import Gap

if TYPE_CHECKING:
    from unified_nas.recipe import Recipe


def one_shot_gaps(recipe: Recipe, strategy: str) -> list[Gap]:
    """Gaps of the one-shot ``strategy`` on a recipe."""
    gaps = []
    if recipe.space.kind not in ("cell", "dense_cell"):
        gaps.append(
            Gap(
                f"strategy '{strategy}' on a macro space",
                "adapter",
                "one-shot strategies run on cell and dense-cell spaces here (macro layers are parametrized "
                "modules, which NNI's supernets do not take); use a multi-trial strategy",
            )
        )
    net = recipe.space.network
    # mypy infers getattr's default from the `and` operand's bool context:
    if strategy == "proxyless" and getattr(net, "reductions", ()):  # type: ignore[arg-type]
        gaps.append(
            Gap(
                "strategy 'proxyless' with reduction cells",
                "toolkit",
                "NNI's Proxyless mixes a node's candidate inputs before the op, so inputs of different "
                "sizes (the previous cells vs. reduced nodes) cannot mix; use cells without reductions",
            )
        )
    searched = [d.label for d in recipe.space.training.decls()]
    if searched:
        gaps.append(
            Gap(
                f"strategy '{strategy}' with searched training hyperparameters",
                "toolkit",
                f"a supernet trains with one setting; fix {', '.join(searched)}",
            )
        )
    return gaps
