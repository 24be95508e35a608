"""NNI one-shot strategies (DARTS, GumbelDARTS, ENAS, Proxyless, RandomOneShot) on cell and dense-cell spaces.

The supernet is NNI's own (its one-shot code turns the ``Cell`` or the
per-edge ``LayerChoice`` of :class:`UnasModelSpace` into a supernet) and trains on the recipe's split with
NNI's Lightning ``Classification`` evaluator. The exported top-1 architecture
is then trained from scratch under the standard protocol, so its TrialRecord is
comparable with multi-trial ones; the supernet's wall time is reported
separately as the search cost.
"""

from __future__ import annotations

import logging
import random
import time
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import torch
from nni.nas.evaluator.pytorch import Classification, DataLoader
from nni.nas.execution import SequentialExecutionEngine
from nni.nas.space import RawFormatModelSpace
from torch.utils.data import TensorDataset

from unified_nas.backends.nni.normalize import NativeTrial
from unified_nas.backends.nni.space import UnasModelSpace, to_canonical
from unified_nas.backends.nni.workarounds import enas, import_strategies
from unified_nas.core.errors import RecipeError, format_failure
from unified_nas.evaluation.devices import lightning_accelerator
from unified_nas.models.torch_model import to_tensor

if TYPE_CHECKING:
    from unified_nas.runs.context import RunContext


def make_oneshot(name: str, args: dict[str, Any]) -> Any:
    S = import_strategies()
    cls = (
        enas()
        if name == "enas"
        else {
            "darts": S.DARTS,
            "gumbel_darts": S.GumbelDARTS,
            "proxyless": S.Proxyless,
            "random_one_shot": S.RandomOneShot,
        }[name]
    )
    try:
        return cls(**args)
    except TypeError as e:
        raise RecipeError("backends.nni.strategy_args", f"{name}: {e}") from None


def oneshot_arguments(name: str, args: dict[str, Any], default_epochs: int) -> tuple[int, dict[str, Any]]:
    """Splits ``strategy_args`` into supernet epochs and the strategy's own keywords.

    Raises:
        RecipeError: If ``epochs`` is not a positive integer.
    """
    args = dict(args)
    epochs = args.pop("epochs", default_epochs)
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise RecipeError("backends.nni.strategy_args.epochs", f"{epochs!r} is not an integer >= 1")
    if name == "enas":
        args.setdefault("reward_metric_name", "val_acc")  # NNI's Classification logs val_loss and val_acc
    return epochs, args


def _loader(x: np.ndarray, y: np.ndarray, batch_size: int, shuffle: bool, seed: int) -> Any:
    gen = torch.Generator().manual_seed(seed)
    return DataLoader(
        TensorDataset(to_tensor(x), torch.from_numpy(y)), batch_size=batch_size, shuffle=shuffle, generator=gen
    )


def run_oneshot(spec: dict[str, Any], ctx: RunContext, report: Callable[[NativeTrial], None]) -> None:
    """Trains the supernet, exports the top-1 architecture, has it evaluated as any trial is.

    The supernet's cost goes to ``ctx.report_search_cost`` (``supernet_wall_s``,
    ``supernet_epochs``, the strategy), apart from the one trial reported:
    the exported architecture.

    Args:
        spec: The model space's spec (``space.make_spec``).
        ctx: The run's context.
        report: Called with the exported architecture's trial.
    """
    recipe, data, seed = ctx.recipe, ctx.data, ctx.seed
    hp = recipe.space.training  # fixed (one-shot strategies search the architecture only; checked in gaps)
    epochs, args = oneshot_arguments(ctx.options.strategy, ctx.options.strategy_args, recipe.protocol.epochs)
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)
    optimizer = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}[cast(str, hp.optimizer)]
    evaluator = Classification(
        train_dataloaders=_loader(data.x_train, data.y_train, cast(int, hp.batch_size), True, seed),
        val_dataloaders=_loader(data.x_val, data.y_val, 1024, False, seed),
        learning_rate=hp.lr,
        weight_decay=hp.weight_decay,
        optimizer=optimizer,
        num_classes=data.num_classes,
        max_epochs=epochs,
        **lightning_accelerator(),  # the run's --device (unified_nas.evaluation.devices)
        # training.precision: bf16 autocast with fp32 weights, as the torch trainer does it.
        precision="bf16-mixed" if recipe.protocol.precision == "bf16" else "32-true",
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
    )
    space = UnasModelSpace(spec)
    strategy = make_oneshot(ctx.options.strategy, args)
    quiet = [logging.getLogger(n) for n in ("nni", "pytorch_lightning", "lightning", "lightning.pytorch")]
    levels = [lg.level for lg in quiet]
    for lg in quiet:
        lg.setLevel(logging.WARNING)
    t0 = time.time()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Lightning's advice on workers, logging intervals...
            strategy(RawFormatModelSpace.from_model(space, evaluator), SequentialExecutionEngine())
            exported = next(strategy.list_models()).sample
    finally:
        for lg, level in zip(quiet, levels):
            lg.setLevel(level)
    wall = time.time() - t0
    sample = to_canonical(recipe.space, exported)
    cost = {"supernet_wall_s": round(wall, 3), "supernet_epochs": epochs, "strategy": ctx.options.strategy}
    ctx.report_search_cost(cost)
    # The exported architecture, evaluated and normalized exactly like a multi-trial one.
    start = time.time()
    try:
        payload: Any = {"unas": {"sample": sample, "result": ctx.evaluate(sample).to_dict()}}
        status, error = "Trained", None
    except Exception as e:
        payload, status, error = None, "Failed", format_failure(e)
    report(
        NativeTrial(
            0, exported, status, payload, start, time.time(), error, native_id="exported", extra={"one_shot": cost}
        )
    )
