"""The supernet evaluator (recipe ``evaluation: {supernet: {...}}``): one supernet trained per run scores every trial.

Before the backend's search the runner calls :meth:`SupernetScore.prepare`:
the supernet is built from the recipe's space through the network plan,
trained once on the training split (:func:`~.train.train_supernet`) and
stored in the run directory (:mod:`.store`). Its cost is the run's search
cost, reported apart from the trials and spent from the run's wall-clock
budget (the run's clock is running while it trains). Each trial is then
:func:`~.train.score`\\ d with inherited weights: no trial trains a network of
its own, and ``own_training`` (a toolkit's own training, such as AutoKeras's
Keras fit) is never called, so every backend's samples are scored by the same
torch supernet.

The supernet trains under the training hyperparameters of the space's start
sample (its defaults: a searched learning rate cannot be shared by one
supernet), with a constant learning rate, in fp32.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from unified_nas.core.errors import UserError
from unified_nas.evaluation.base import Evaluator, OwnTraining
from unified_nas.evaluation.supernet.bank import STATE_FORMAT, Supernet
from unified_nas.evaluation.supernet.store import load_supernet, save_supernet
from unified_nas.evaluation.supernet.train import score, train_supernet
from unified_nas.evaluation.train.result import EpochCallback, TrialResult
from unified_nas.network import compile_plan
from unified_nas.recipe.sections import SUPERNET_KIND
from unified_nas.space import start_sample
from unified_nas.space.parse import space_to_dict

if TYPE_CHECKING:
    from unified_nas.data import Dataset
    from unified_nas.recipe.sections import SupernetSpec
    from unified_nas.space import SearchSpace


class SupernetScore(Evaluator):
    """Scores each sample's subnet with weights inherited from the run's one trained supernet.

    Args:
        spec: The recipe's ``evaluation.supernet``.
        space: The recipe's search space.
        data: The split data set.
        seed: The run seed (the supernet's initial values, its paths and batch order, and the
            recalibration batches every subnet shares).
    """

    def __init__(self, spec: SupernetSpec, space: SearchSpace, data: Dataset, seed: int) -> None:
        self.spec, self.space, self.data, self.seed = spec, space, data, seed
        self.training = space.resolve(start_sample(space.decls())).training
        self.supernet: Supernet | None = None
        self.cost: dict[str, Any] | None = None

    def _fresh(self) -> Supernet:
        return Supernet(self.space, self.data.input_shape, self.data.num_classes, seed=self.seed)

    def fingerprint(self) -> str:
        """SHA-256 of everything that decides the trained values besides the settings and seed.

        The space, the data (its split and content digests, one example's shape, the classes), the
        training hyperparameters and the bank's format: a stored supernet with another fingerprint was
        trained for another recipe, and is refused rather than reused.
        """
        text = json.dumps(
            {
                "format": STATE_FORMAT,
                "space": space_to_dict(self.space),
                "input_shape": list(self.data.input_shape),
                "num_classes": self.data.num_classes,
                "data": [self.data.split.sha256, self.data.content_sha256],
                "training": asdict(self.training),
            },
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(text.encode()).hexdigest()

    def _expect(self) -> dict[str, Any]:
        # What a stored supernet must have been trained with to be this one.
        return {
            "kind": SUPERNET_KIND,
            "fingerprint": self.fingerprint(),
            "seed": self.seed,
            "spec": self.spec.describe(),
        }

    def restore(self, run_dir: Path, where: str | None = None, remedy: str = "start a new run") -> None:
        """Loads the supernet stored in ``run_dir`` by an earlier attempt, if there is one (nothing is written).

        Args:
            run_dir: The run directory, or a table's supernet folder.
            where: What the folder is, for messages (default: ``run directory <run_dir>``).
            remedy: What to do about a refusal, for messages.

        Raises:
            UserError: A stored supernet that is damaged, malformed or of other settings (see
                :func:`~unified_nas.evaluation.supernet.store.load_supernet`).
        """
        if self.supernet is not None:
            return
        supernet = self._fresh()
        record = load_supernet(run_dir, supernet, self._expect(), where or f"run directory {run_dir}", remedy)
        if record is not None:
            self.supernet, self.cost = supernet, {**record, "reloaded": True}

    def prepare(self, run_dir: Path | None, say: Callable[[str], None] | None = None) -> dict[str, Any] | None:
        """Trains the supernet once (or reloads the one stored in ``run_dir``) and returns its cost.

        Args:
            run_dir: Where the supernet is stored (None: kept in memory only).
            say: Progress lines (None: quiet).

        Returns:
            The search cost: ``kind``, ``strategy``, ``supernet_wall_s``, ``supernet_epochs``, ``steps``,
            ``paths``, ``train_loss``, the settings and seed, and (stored) the file's checksums;
            ``reloaded`` when it was read back instead of trained.

        Raises:
            UserError: A stored supernet that is damaged (see :meth:`restore`).
            TrainingDiverged: Supernet training diverged.
        """
        if run_dir is not None:
            self.restore(run_dir)
        if self.cost is not None:
            if say is not None and self.cost.get("reloaded"):
                say(f"supernet: reloaded from {run_dir} (trained in {self.cost['supernet_wall_s']:.1f}s)")
            return self.cost
        supernet, hp, spec = self._fresh(), self.training, self.spec

        def epoch_done(epoch: int, loss: float, seconds: float) -> None:
            if say is not None:
                say(f"supernet: epoch {epoch + 1}/{spec.epochs}, path loss {loss:.4f}, {seconds:.1f}s")

        if say is not None:
            say(f"supernet: training {spec.epochs} epoch(s), {spec.sampling} sampling, before the search")
        stats = train_supernet(
            supernet,
            self.data,
            spec.epochs,
            batch_size=hp.batch_size,
            lr=hp.lr,
            optimizer=hp.optimizer,
            weight_decay=hp.weight_decay,
            sampling=spec.sampling,
            seed=self.seed,
            on_epoch=epoch_done,
        )
        cost: dict[str, Any] = {
            **self._expect(),
            "strategy": f"supernet, {spec.sampling} sampling",
            "supernet_wall_s": stats["wall_s"],
            "supernet_epochs": spec.epochs,
            "steps": int(stats["steps"]),
            "paths": int(stats["paths"]),
            "train_loss": stats["train_loss"],
            "device": str(supernet.device),
            "training": {"lr": hp.lr, "optimizer": hp.optimizer, "batch_size": hp.batch_size},
        }
        self.supernet = supernet
        self.cost = save_supernet(run_dir, supernet, cost) if run_dir is not None else cost
        return self.cost

    def __call__(
        self,
        sample: Mapping[str, Any],
        trial: int,
        on_epoch: EpochCallback | None = None,
        own_training: OwnTraining | None = None,
    ) -> TrialResult:
        """Scores ``sample`` with inherited weights (see :class:`~unified_nas.evaluation.base.Evaluator`).

        Raises:
            UserError: Called before :meth:`prepare` (or :meth:`restore`) gave it a supernet.
            SampleError: ``sample`` is not in the space.
        """
        if self.supernet is None:
            raise UserError("the supernet was not trained before the search (prepare was not called)")
        s = score(
            self.supernet,
            sample,
            self.data,
            recalibration_batches=self.spec.recalibration_batches,
            recalibration_batch_size=self.training.batch_size,
            finetune_epochs=self.spec.finetune_epochs,
            seed=self.seed,
        )
        plan = compile_plan(self.space.resolve(sample), self.data.input_shape, self.data.num_classes)
        metrics = {"val_accuracy": s["val_accuracy"], "val_loss": s["val_loss"]}
        return TrialResult(
            metrics=metrics,
            test_accuracy=s["test_accuracy"],
            history=[{"epoch": max(self.spec.finetune_epochs - 1, 0), **metrics}],
            params=plan.params,
            flops=plan.flops,
            train_s=s["score_s"],  # the evaluation's own cost, as training time is for trained trials
        )
