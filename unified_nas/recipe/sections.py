"""The recipe's sections as types: what a validated recipe holds (:mod:`unified_nas.recipe.parse` makes them).

A stage owns the types of its output: every section type a recipe holds is
defined here, before the stages that act on it (data, evaluation, run), so
parsing never imports those stages.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from unified_nas.core.metrics import Bound, Metric
from unified_nas.space import SearchSpace

SPEC_RE = re.compile(r"auto|cpu|cuda(:\d{1,3})?")


SPEC_RULE = "auto, cpu, cuda or cuda:N"


BUILTIN = ("digits", "iris", "wine", "breast_cancer", "fashion_mnist", "mnist")
OFFICIAL_TEST = ("fashion_mnist", "mnist")  # built-in sets whose own test split is the test split
PRECISIONS = ("fp32", "bf16")  # training.precision
DATA_FORMATS = ("npz", "csv", "folder", "idx")  # of data.path: a file's suffix, or a folder's layout
# The evaluation mode of supernet scoring, and the kind of search cost its training is recorded as.
SUPERNET_KIND = "supernet"
# evaluation.supernet.sampling: SPOS's uniform paths, BigNAS's sandwich rule, OFA's progressive shrinking
SUPERNET_SAMPLINGS = ("uniform", "sandwich", "progressive")


@dataclass(frozen=True)
class DataSpec:
    """Where the data comes from and how it is split (the recipe's ``data``)."""

    name: str | None = None
    path: str | None = None
    target: str = "target"
    val: float = 0.2
    test: float | None = 0.2  # None: the data's official test split (fashion_mnist, mnist, an IDX folder)
    split_seed: int = 0
    format: str | None = None  # of path (DATA_FORMATS); None: from the suffix (.npz/.csv), a folder of class folders
    image_size: tuple[int, int] | None = None  # (height, width) images are resized to; None: as they are
    channels: int | None = None  # 1 or 3 for an image folder; None: 1 if every image is grey
    subsample: int | None = None  # a stratified, seeded subset of this many examples (before the split)


@dataclass(frozen=True)
class SupernetSpec:
    """The recipe's ``evaluation: {supernet: {...}}``: one weight-sharing supernet scores every trial.

    Attributes:
        epochs: Passes over the training split that train the supernet, once per run.
        sampling: Paths per training step: ``uniform`` (SPOS: one path), ``sandwich`` (BigNAS: the
            largest, the smallest and two uniform paths) or ``progressive`` (OFA's progressive shrinking:
            one path, its depth and widths drawn from the largest values first, from all by the last epoch).
        recalibration_batches: Training batches each subnet's BatchNorm statistics are recalibrated on
            before it is scored (SPOS); at least 1, as the statistics belong to each subnet, not to the
            shared weights.
        finetune_epochs: Epochs a copy of each subnet is trained, from its inherited weights, before it
            is scored (0: scored as inherited).
    """

    epochs: int = 5
    sampling: str = "uniform"
    recalibration_batches: int = 4
    finetune_epochs: int = 0

    def describe(self) -> dict[str, Any]:
        """The fields as plain data (the report's ``evaluation.supernet``)."""
        return {
            "epochs": self.epochs,
            "sampling": self.sampling,
            "recalibration_batches": self.recalibration_batches,
            "finetune_epochs": self.finetune_epochs,
        }


@dataclass(frozen=True)
class EvaluationSpec:
    """The recipe's ``evaluation`` section.

    Attributes:
        table: None unless a tabular benchmark answers, else its name (``nasbench201``).
        dataset: The table's data set (``cifar10``, ``cifar100``, ``imagenet``).
        proxy: None unless trials are scored by this zero-cost proxy instead of training.
        supernet: None unless trials are scored with weights inherited from one trained supernet.
    """

    table: str | None = None
    dataset: str | None = None
    proxy: str | None = None
    supernet: SupernetSpec | None = None

    @property
    def trains(self) -> bool:
        """Whether each trial trains a network of its own (no table, no proxy, no supernet)."""
        return self.table is None and self.proxy is None and self.supernet is None

    @property
    def runs_train(self) -> bool:
        """Whether a run trains networks: each trial, or its one supernet (costs seconds to hours, not milliseconds)."""
        return self.trains or self.supernet is not None

    @property
    def label(self) -> str:
        """How trials are answered, in a few words (``table nasbench201``, ``proxy synflow``, ``supernet``)."""
        if self.proxy is not None:
            return f"proxy {self.proxy}"
        if self.table is not None:
            return f"table {self.table}"
        return "a supernet" if self.supernet is not None else "training"

    @property
    def has_data(self) -> bool:
        """Whether the recipe brings data of its own (a table's data is the table's)."""
        return self.table is None

    @property
    def own_table(self) -> bool:
        """Whether the table is a file made by ``unas tabulate`` (its path in ``table``; no ``dataset``)."""
        return self.table is not None and self.dataset is None

    def unavailable(self, metric: Metric) -> str | None:
        """Why this evaluation cannot give ``metric`` (None if it can).

        A table records trained validation accuracy, but has no examples for a
        proxy's minibatch; proxy evaluation trains nothing.

        Args:
            metric: A registered metric.

        Returns:
            The reason, for a one-line recipe error, or None.
        """
        if self.proxy is not None and metric.cost == "trained":
            return f"evaluation by proxy {self.proxy} trains nothing, so there is no {metric.name}"
        if self.supernet is not None and metric.name == "train_loss":
            return "evaluation by a supernet trains no trial, so there is no train_loss"
        if self.table is not None:
            if metric.cost == "trained" and metric.name != "val_accuracy" and not self.own_table:
                return f"table {self.table} records val_accuracy only of the trained metrics"
            if metric.cost == "zero_cost":
                return f"table {self.table} holds no examples to compute {metric.name} on"
        return None

    def describe(self) -> dict[str, Any]:
        """The report's ``evaluation`` section.

        Returns:
            ``{"mode": "train"}``, ``{"mode": "proxy", "proxy": ...}``,
            ``{"mode": "supernet", "supernet": {...}}`` or ``{"mode": "table", "table": ..., "dataset": ...}``.
        """
        if self.proxy is not None:
            return {"mode": "proxy", "proxy": self.proxy}
        if self.supernet is not None:
            return {"mode": SUPERNET_KIND, "supernet": self.supernet.describe(), "framework": "torch"}
        if self.own_table:
            return {"mode": "table", "table": self.table, "dataset": None, "own": True}
        return (
            {"mode": "train"} if self.table is None else {"mode": "table", "table": self.table, "dataset": self.dataset}
        )


SCHEDULES = ("constant", "cosine")


@dataclass(frozen=True)
class Objective:
    """One metric to optimise and its direction (``maximize`` or ``minimize``)."""

    metric: str
    direction: str


@dataclass(frozen=True)
class Budget:
    """Search budget: trials, wall-clock seconds and/or simulated seconds (whichever ends first).

    ``simulated_s`` counts the training time a table recorded for the trials
    it answered (table recipes only): a search then stops once the trials it
    ran would have cost that much training on the table's hardware.
    """

    trials: int | None = 10
    time_s: float | None = None
    simulated_s: float | None = None


@dataclass(frozen=True)
class Protocol:
    """The fixed training protocol, identical in meaning for every backend.

    Attributes:
        epochs: Epochs per trial.
        schedule: Learning-rate schedule, ``constant`` or ``cosine`` (over ``epochs``).
        patience: Early stopping on ``val_loss`` after this many epochs without
            improvement; None disables it.
        precision: ``fp32``, or ``bf16``: mixed precision (bfloat16 autocast, fp32 weights), meant for CUDA.
    """

    epochs: int = 10
    schedule: str = "constant"
    patience: int | None = None
    loss: str = "cross_entropy"
    precision: str = "fp32"


@dataclass(frozen=True)
class Recipe:
    """A validated recipe."""

    name: str
    data: DataSpec | None  # None for a table recipe: the table's data set is the data
    space: SearchSpace
    protocol: Protocol
    objectives: tuple[Objective, ...]
    budget: Budget
    seed: int
    backends: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    description: str = ""
    evaluation: EvaluationSpec = field(default_factory=EvaluationSpec)
    constraints: tuple[Bound, ...] = ()  # checked before any training (unified_nas.core.metrics)
    device: str | None = (
        None  # auto|cpu|cuda|cuda:N; None: cpu unless --device says otherwise (unified_nas.evaluation.devices)
    )
    source: str = ""  # the YAML text, kept verbatim in every report
    base_dir: str = "."

    @property
    def content_hash(self) -> str:
        """sha256 (first 16 hex digits) of the recipe text."""
        return hashlib.sha256(self.source.encode()).hexdigest()[:16]

    @property
    def metric_names(self) -> tuple[str, ...]:
        """Every metric the recipe names, objectives first, then constraints."""
        return tuple(dict.fromkeys([o.metric for o in self.objectives] + [b.metric for b in self.constraints]))

    def backend_options(self, backend: str) -> dict[str, Any]:
        """The recipe's options for one backend (empty if none)."""
        return dict(self.backends.get(backend) or {})
