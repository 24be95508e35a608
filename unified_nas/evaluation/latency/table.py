"""Predicted inference latency: a per-op lookup table of this machine, summed over a network's plan.

Predicted (:class:`OpLatencyTable`): each primitive plan node (``network.nodes``
kind with its attributes, and its input shapes) is timed once on this machine,
alone, as the module the torch builder makes of it (``torch_model.node_module``),
and a network's latency is the sum of its nodes' entries plus overheads that
are measured too (model in :meth:`OpLatencyTable.predict_ms`). Prediction
compiles the plan (shapes only) and never builds the network. Entries are
timed as :mod:`unified_nas.evaluation.latency.measure` times a whole network.
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from unified_nas.core.errors import UserError
from unified_nas.evaluation.latency.measure import (
    check_counts,
    check_runtime,
    example_batch,
    measure_latency,
    time_module,
)
from unified_nas.evaluation.train.evaluate import isolated_rng, seed_everything
from unified_nas.models.onnx import channels_last
from unified_nas.models.torch_model import build_model, init_weights, node_module
from unified_nas.network import compile_plan
from unified_nas.network.graph import Graph, GraphBuilder
from unified_nas.network.nodes import Dropout, NodeOp, Shape
from unified_nas.space.spaces import ArchConfig

# Table entries are measured once and are tinier than a network (a single op:
# 5-50 us), so they get more passes than measure.DEFAULT_WARMUP/DEFAULT_REPEATS.
TABLE_WARMUP = 20
TABLE_REPEATS = 100
# Synthetic graphs used to measure the per-node and per-block overheads.
_CALIBRATION_NODES = 32
_TABLE_FORMAT = 1


def op_key(op: NodeOp, inputs: Sequence[Shape]) -> str:
    """The table key of a primitive node: its kind and attributes (the dataclass repr) and its input shapes.

    Example: ``Conv2d(c_in=8, c_out=16, kernel=3, stride=1, padding=1, dilation=1, groups=1, bias=False) @ 8x8x8``.
    """
    return f"{op!r} @ {', '.join(map(str, inputs))}"


def _torch_layout(shape: Shape) -> tuple[int, ...]:
    """A plan shape (channels last) as torch lays it out (NCHW maps), without the batch axis."""
    return (shape.channels, *shape.size) if shape.is_map else shape.dims


def _machine() -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
    }


def _versions() -> dict[str, str | None]:
    try:
        import onnxruntime

        ort_version: str | None = onnxruntime.__version__
    except ImportError:
        ort_version = None
    return {"torch": torch.__version__, "onnxruntime": ort_version}


# Keys of the measured overheads, stored beside the op entries (no op repr starts with "<").
_NETWORK = "<network> @ {shape}"  # the exported wrapper around an empty network, on the input shape
_NODE = "<node>"  # a graph's per-node bookkeeping beyond the node's own call (torch)
_BLOCK = "<block>"  # one nested block (GraphModule) with no nodes, including its dispatch (torch)
_SCALE, _OFFSET = "<scale>", "<offset>"  # the fitted correction of :meth:`OpLatencyTable.calibrate`


@dataclass
class OpLatencyTable:
    """Per-op latency lookup table of this machine: ``(op with attributes, input shapes) -> median ms``.

    Entries are measured the first time they are needed (:meth:`entry_ms`),
    under the table's runtime and batch size, with the threads torch has at
    the time (recorded; a loaded table refuses to add entries under another
    thread count, which would mix conditions).

    Attributes:
        runtime: ``torch`` or ``onnxruntime``.
        batch_size: Examples per forward pass of every entry.
        threads: Intra-op threads of the measurements (``torch.get_num_threads()`` when created).
        warmup, repeats: Passes per entry.
        entries: Key (:func:`op_key`, or an overhead key) -> median ms.
        info: Versions and machine, recorded when the table was created.
        measured: Entries measured by this object (not loaded): tells whether a prediction had to measure.
    """

    runtime: str = "torch"
    batch_size: int = 1
    threads: int = field(default_factory=torch.get_num_threads)
    warmup: int = TABLE_WARMUP
    repeats: int = TABLE_REPEATS
    entries: dict[str, float] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=lambda: {**_versions(), "machine": _machine()})
    measured: int = field(default=0, compare=False)

    def __post_init__(self) -> None:
        check_runtime(self.runtime)
        check_counts(self.batch_size, self.warmup, self.repeats)

    # -- measuring -------------------------------------------------------

    def _check_threads(self) -> None:
        if torch.get_num_threads() != self.threads:
            raise UserError(
                f"latency table measured with {self.threads} thread(s), torch now has {torch.get_num_threads()}: "
                f"call torch.set_num_threads({self.threads}) or build a new table"
            )

    def _time(self, module: nn.Module, shapes: Sequence[Shape]) -> float:
        self._check_threads()
        inputs = tuple(example_batch(_torch_layout(s), self.batch_size, seed=i) for i, s in enumerate(shapes))
        names = [f"x{i}" for i in range(len(inputs))]
        with torch.no_grad():
            init_weights(module)  # same init as networks; the values only matter for denormals
        self.measured += 1
        return time_module(module, inputs, self.runtime, self.warmup, self.repeats, names).median_ms

    def _lookup(self, key: str, measure: Callable[[], float]) -> float:
        if key not in self.entries:
            self.entries[key] = measure()
        return self.entries[key]

    def entry_ms(self, op: NodeOp, inputs: Sequence[Shape]) -> float:
        """The median time of one primitive node alone, measured now if the table does not have it.

        Args:
            op: A primitive (non-graph) plan node kind.
            inputs: Its input shapes.

        Raises:
            UserError: If it must be measured under another thread count than the table's.
            UnknownOp: If the torch builder has no rule for the kind.
        """
        return self._lookup(op_key(op, inputs), lambda: self._time(node_module(op, inputs), inputs))

    def _network_ms(self, shape: Shape) -> float:

        # The exported wrapper (its permute included) around an empty body graph;
        # Network.forward's own call is counted as one more block by predict_ms.
        def measure() -> float:
            self._check_threads()
            empty = Graph((shape,), (), 0)
            wrapper = channels_last(node_module(empty, [shape]))
            example = (example_batch(shape.dims, self.batch_size),)
            self.measured += 1
            return time_module(wrapper, example, self.runtime, self.warmup, self.repeats, ["x"]).median_ms

        return self._lookup(_NETWORK.format(shape=shape), measure)

    def _chain_ms(self, op: NodeOp, shape: Shape) -> float:
        """Per-node time of a graph of ``_CALIBRATION_NODES`` nodes of ``op`` in a chain, net of the empty graph."""
        builder = GraphBuilder(shape)
        value = 0
        for i in range(_CALIBRATION_NODES):
            value = builder.add(f"n{i}", op, value)
        chain = self._time(node_module(builder.build(value), [shape]), [shape])
        empty = self._time(node_module(Graph((shape,), (), 0), [shape]), [shape])
        return max(0.0, (chain - empty) / _CALIBRATION_NODES)

    def _node_ms(self) -> float:
        # A chain of eval-mode dropouts (identity) costs bookkeeping plus each
        # dropout's own call; the latter is what its table entry holds.
        shape = Shape.of((8,))
        op = Dropout(0.5)
        return self._lookup(_NODE, lambda: max(0.0, self._chain_ms(op, shape) - self.entry_ms(op, [shape])))

    def _block_ms(self) -> float:
        shape = Shape.of((8,))
        return self._lookup(_BLOCK, lambda: self._chain_ms(Graph((shape,), (), 0), shape))

    # -- predicting ------------------------------------------------------

    def predict_ms(self, arch: ArchConfig, input_shape: Sequence[int], num_classes: int) -> float:
        """Predicted median latency of ``arch``'s exported network, from the table (filled as needed).

        The model, by runtime (``n`` primitive nodes ``i`` with entries ``t_i``,
        ``b`` nested blocks):

        * torch (eager runs every module call in Python):
          ``network + sum t_i + n * node + b * block``, where ``network`` is
          the exported wrapper around an empty network on this input shape,
          ``node`` a graph's bookkeeping per node (beyond the node's own call,
          which ``t_i`` includes), ``block`` one nested empty block; all measured.
        * onnxruntime (one session runs a flattened graph): ``network + sum
          max(0, t_i - network)``: every entry is a one-op session, whose run
          overhead the network pays once. Graph optimisations that fuse ops
          (conv + batchnorm) are not modelled.

        That raw sum is then corrected as ``scale * raw + offset`` if
        :meth:`calibrate` fitted them (else 1 and 0).

        Compiles the plan (shapes only); never builds the network's modules.

        Args:
            arch: Output of ``SearchSpace.resolve``.
            input_shape: One example's shape, channels last.
            num_classes: Classifier outputs.

        Returns:
            Milliseconds per forward pass of a batch of the table's batch size.

        Raises:
            ValueError: If the architecture does not fit the data.
            UserError: As :meth:`entry_ms`.
        """
        plan = compile_plan(arch, input_shape, num_classes)
        leaves = [(node.op, ins) for _, node, ins in plan.body.walk()]
        leaves.append((plan.classifier, (plan.feature_shape,)))
        ops_ms = [self.entry_ms(op, ins) for op, ins in leaves]
        network = self._network_ms(plan.input_shape)
        if self.runtime == "onnxruntime":
            raw = network + sum(max(0.0, t - network) for t in ops_ms)
        else:
            # + 1: Network.forward, one more module call around the body and the classifier.
            blocks = _count_blocks(plan.body) + 1
            raw = network + sum(ops_ms) + len(leaves) * self._node_ms() + blocks * self._block_ms()
        return self.entries.get(_SCALE, 1.0) * raw + self.entries.get(_OFFSET, 0.0)

    def calibrate(self, archs: Sequence[ArchConfig], input_shape: Sequence[int], num_classes: int) -> None:
        """Fits ``measured = scale * predicted + offset`` on networks built and measured now.

        Summed isolated timings run low: alone, an op finds its weights and
        input in cache, inside a network the previous ops have evicted them
        (measured here: 20-35% below on digits_cnn networks, more on deeper
        ones). The correction is a property of this machine and of the
        network sizes, so it is fitted on a few networks like the ones to be
        predicted (not the ones scored by ``benchmarks/latency_table.py``),
        and stored in the table. Prediction still builds nothing.

        Args:
            archs: Two or more resolved architectures (about ten is plenty).
            input_shape, num_classes: As in :meth:`predict_ms`.

        Raises:
            UserError: Fewer than two architectures.
        """
        if len(archs) < 2:
            raise UserError(f"latency calibration needs two or more architectures, got {len(archs)}")
        self.entries.pop(_SCALE, None)
        self.entries.pop(_OFFSET, None)
        raw = [self.predict_ms(arch, input_shape, num_classes) for arch in archs]
        measured = []
        for arch in archs:
            with isolated_rng():
                seed_everything(0)
                model = build_model(arch, input_shape, num_classes)
            measured.append(self.measure_network(model, input_shape))
        scale, offset = np.polyfit(raw, measured, 1) if len(set(raw)) > 1 else (1.0, float(np.mean(measured) - raw[0]))
        self.entries[_SCALE], self.entries[_OFFSET] = float(scale), float(offset)

    def measure_network(self, model: nn.Module, input_shape: Sequence[int]) -> float:
        """Measured median ms of a whole network under the table's conditions (:func:`measure_latency`)."""
        return measure_latency(
            model,
            input_shape,
            batch_size=self.batch_size,
            runtime=self.runtime,
            warmup=self.warmup,
            repeats=self.repeats,
        ).median_ms

    # -- storing ---------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """The table as a JSON-ready dict (conditions, versions, machine and entries)."""
        return {
            "format": _TABLE_FORMAT,
            "runtime": self.runtime,
            "batch_size": self.batch_size,
            "threads": self.threads,
            "warmup": self.warmup,
            "repeats": self.repeats,
            "info": self.info,
            "entries": dict(sorted(self.entries.items())),
        }

    def save(self, path: str | Path) -> None:
        """Writes the table as JSON to ``path``."""
        Path(path).write_text(json.dumps(self.to_json(), indent=1))

    @classmethod
    def load(cls, path: str | Path) -> OpLatencyTable:
        """Reads a table written by :meth:`save`.

        Raises:
            UserError: If the file is missing, not JSON, or not a latency table of this format.
        """
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, ValueError) as e:
            raise UserError(f"latency table {path}: {e}") from None
        if not isinstance(data, dict) or data.get("format") != _TABLE_FORMAT:
            raise UserError(f"latency table {path}: not a format-{_TABLE_FORMAT} latency table")
        try:
            return cls(
                runtime=data["runtime"],
                batch_size=int(data["batch_size"]),
                threads=int(data["threads"]),
                warmup=int(data["warmup"]),
                repeats=int(data["repeats"]),
                entries={str(k): float(v) for k, v in data["entries"].items()},
                info=dict(data["info"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise UserError(f"latency table {path}: bad field ({e})") from None


def _count_blocks(graph: Graph) -> int:
    """Nested blocks (graph nodes) of ``graph``, at every depth."""
    return sum(1 + _count_blocks(n.op) for n in graph.nodes if isinstance(n.op, Graph))
