"""Inference latency: measured on the exported model, and predicted from a per-op lookup table.

Measured (:func:`measure_latency`, :func:`sample_latency`): the median wall
time of one forward pass of the model as ``unas export`` writes it (the
network behind ``export.channels_last``, channels-last input), in torch eager
mode or in ONNX Runtime, after untimed warm-up passes. Every result records
its batch size, threads and runtime, since a latency means nothing without
them.

Predicted (:class:`OpLatencyTable`): each primitive plan node (``network.nodes``
kind with its attributes, and its input shapes) is timed once on this machine,
alone, as the module the torch builder makes of it (``torch_model.node_module``),
and a network's latency is the sum of its nodes' entries plus overheads that
are measured too (model in :meth:`OpLatencyTable.predict_ms`). Prediction
compiles the plan (shapes only) and never builds the network.
"""

from __future__ import annotations

import io
import json
import os
import platform
import statistics
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from unified_nas.core.errors import UserError
from unified_nas.evaluation.train.evaluate import isolated_rng, seed_everything
from unified_nas.models.torch_model import build_model, init_weights, node_module
from unified_nas.network import compile_plan
from unified_nas.network.graph import Graph, GraphBuilder
from unified_nas.network.nodes import Dropout, NodeOp, Shape
from unified_nas.space import SearchSpace
from unified_nas.space.spaces import ArchConfig

__all__ = [
    "DEFAULT_REPEATS",
    "DEFAULT_WARMUP",
    "RUNTIMES",
    "Latency",
    "OpLatencyTable",
    "measure_latency",
    "op_key",
    "sample_latency",
]

RUNTIMES = ("torch", "onnxruntime")
# Per-sample defaults, sized for a trial metric: a digits_cnn network runs a
# forward pass in 0.1-0.5 ms at batch 1 on one thread, so 10 + 30 passes cost
# 5-20 ms; the median of 30 moved by a few percent between repeated
# measurements of one model here. Table entries are measured once and are
# tinier (a single op: 5-50 us), so they get more passes.
DEFAULT_WARMUP = 10
DEFAULT_REPEATS = 30
TABLE_WARMUP = 20
TABLE_REPEATS = 100
# Synthetic graphs used to measure the per-node and per-block overheads.
_CALIBRATION_NODES = 32
_TABLE_FORMAT = 1
_ONNX_HINT = "pip install 'unified-nas[onnx]'"


@dataclass(frozen=True)
class Latency:
    """One latency measurement.

    Attributes:
        median_ms: Median wall time of one forward pass of the whole batch, in milliseconds.
        iqr_ms: Interquartile range of the timed passes (their spread), in milliseconds.
        batch_size: Examples per forward pass.
        threads: Intra-op threads the runtime used (``torch.get_num_threads()``,
            or the ``intra_op_num_threads`` given to ONNX Runtime, set to the same).
        runtime: ``torch`` (eager) or ``onnxruntime``.
        repeats: Timed passes.
        warmup: Untimed passes before them.
    """

    median_ms: float
    iqr_ms: float
    batch_size: int
    threads: int
    runtime: str
    repeats: int
    warmup: int


def _check_runtime(runtime: str) -> None:
    if runtime not in RUNTIMES:
        raise UserError(f"runtime: expected one of {', '.join(RUNTIMES)}, got {runtime!r}")


def _check_counts(batch_size: int, warmup: int, repeats: int) -> None:
    if batch_size < 1 or warmup < 0 or repeats < 1:
        raise UserError(
            f"latency: batch_size >= 1, warmup >= 0, repeats >= 1 expected, got {batch_size}, {warmup}, {repeats}"
        )


def _import_onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError:
        raise UserError(f"the onnxruntime runtime needs onnx and onnxruntime: {_ONNX_HINT}") from None
    return onnxruntime


def _onnx_bytes(module: nn.Module, inputs: tuple[torch.Tensor, ...], names: Sequence[str]) -> bytes:
    """The ONNX file of ``module`` as ``unas export`` writes it (:func:`unified_nas.commands.export.write_onnx`)."""
    try:
        import onnx  # noqa: F401  (torch's exporter needs it; fail with the install hint, not deep in torch)
    except ImportError:
        raise UserError(f"the onnxruntime runtime needs onnx and onnxruntime: {_ONNX_HINT}") from None
    from unified_nas.models.onnx import write_onnx

    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about constant shapes: the batch axis is dynamic
        write_onnx(module, inputs, buffer, names)
    return buffer.getvalue()


def _timed_ms(run: Callable[[], object], warmup: int, repeats: int) -> list[float]:
    """Wall times of ``repeats`` calls of ``run`` after ``warmup`` untimed ones, in milliseconds."""
    for _ in range(warmup):
        run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1e3)
    return times


def _torch_runner(module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> tuple[Callable[[], object], int]:
    module.eval()

    def run() -> object:
        with torch.inference_mode():
            return module(*inputs)

    return run, torch.get_num_threads()


def _onnxruntime_runner(
    module: nn.Module, inputs: tuple[torch.Tensor, ...], names: Sequence[str]
) -> tuple[Callable[[], object], int]:
    ort = _import_onnxruntime()
    module.eval()
    model = _onnx_bytes(module, inputs, names)
    options = ort.SessionOptions()
    # ONNX Runtime sizes its pool by the cores by default; the same count as
    # torch makes the two runtimes' figures comparable, and one inter-op
    # thread as in unified_nas.runs.threads (the networks are chains of ops).
    threads = torch.get_num_threads()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # warnings about unused initialisers are noise here
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    # The exporter drops inputs the graph does not read (nodes.Keep's kept values).
    by_name = dict(zip(names, inputs))
    feeds = {i.name: by_name[i.name].numpy() for i in session.get_inputs()}
    return (lambda: session.run(None, feeds)), threads


def _time_module(
    module: nn.Module,
    inputs: tuple[torch.Tensor, ...],
    runtime: str,
    warmup: int,
    repeats: int,
    names: Sequence[str],
) -> Latency:
    """Times ``module(*inputs)`` in ``runtime`` (inputs already laid out as the module reads them)."""
    _check_runtime(runtime)
    if runtime == "torch":
        run, threads = _torch_runner(module, inputs)
    else:
        run, threads = _onnxruntime_runner(module, inputs, names)
    times = _timed_ms(run, warmup, repeats)
    q1, _, q3 = statistics.quantiles(times, n=4) if len(times) > 1 else (times[0],) * 3
    return Latency(
        median_ms=statistics.median(times),
        iqr_ms=q3 - q1,
        batch_size=int(inputs[0].shape[0]),
        threads=threads,
        runtime=runtime,
        repeats=repeats,
        warmup=warmup,
    )


def _example(shape: Sequence[int], batch_size: int, seed: int = 0) -> torch.Tensor:
    # Random rather than zero input: zeros can take fast paths (e.g. denormal-free,
    # all-equal values) that real data do not. A local generator leaves the global RNG alone.
    generator = torch.Generator().manual_seed(seed)
    return torch.randn((batch_size, *shape), generator=generator)


def measure_latency(
    model: nn.Module,
    input_shape: Sequence[int],
    *,
    batch_size: int = 1,
    runtime: str = "torch",
    warmup: int = DEFAULT_WARMUP,
    repeats: int = DEFAULT_REPEATS,
) -> Latency:
    """Median forward time of the exported form of ``model``, with the conditions of the measurement.

    The model is wrapped like ``unas export`` writes it (``export.channels_last``:
    channels-last input, logits out), put in eval mode and run under
    ``torch.inference_mode`` (torch) or exported to ONNX and run in an
    ONNX Runtime CPU session with ``torch.get_num_threads()`` intra-op threads
    and one inter-op thread. Each timed pass is one ``time.perf_counter``
    interval around one forward call of the whole batch.

    Args:
        model: A torch network taking the torch layout (``build_model``'s output: NCHW images or vectors).
        input_shape: One example's shape, channels last (``(H, W, C)`` or ``(F,)``).
        batch_size: Examples per forward pass.
        runtime: ``torch`` (eager) or ``onnxruntime``.
        warmup: Untimed passes first (allocator, caches, ONNX Runtime's first-run planning).
        repeats: Timed passes; the median is reported.

    Returns:
        The :class:`Latency`.

    Raises:
        UserError: Unknown runtime, bad counts, or onnxruntime/onnx not installed.
    """
    from unified_nas.models.onnx import channels_last

    _check_runtime(runtime)
    _check_counts(batch_size, warmup, repeats)
    return _time_module(channels_last(model), (_example(input_shape, batch_size),), runtime, warmup, repeats, ["x"])


def sample_latency(
    space: SearchSpace,
    sample: Mapping[str, Any],
    input_shape: Sequence[int],
    num_classes: int,
    *,
    runtime: str = "torch",
    batch_size: int = 1,
    seed: int = 0,
    warmup: int = DEFAULT_WARMUP,
    repeats: int = DEFAULT_REPEATS,
) -> Latency:
    """Builds a sample's network (weights seeded) and measures it with :func:`measure_latency`.

    The global torch, numpy and random states are restored afterwards, so a
    strategy's next proposal does not depend on this call.

    Args:
        space: The recipe's search space.
        sample: A canonical sample of it.
        input_shape: One example's shape, channels last.
        num_classes: Classifier outputs.
        runtime, batch_size, warmup, repeats: As in :func:`measure_latency`.
        seed: Weight initialisation seed (weights barely matter for timing; seeded for reproducibility).

    Returns:
        The :class:`Latency`.

    Raises:
        UserError: As :func:`measure_latency`.
        ValueError: If the architecture does not fit the data.
    """
    _check_runtime(runtime)
    arch = space.resolve(sample)
    with isolated_rng():
        seed_everything(seed)
        model = build_model(arch, input_shape, num_classes)
    return measure_latency(model, input_shape, batch_size=batch_size, runtime=runtime, warmup=warmup, repeats=repeats)


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
        _check_runtime(self.runtime)
        _check_counts(self.batch_size, self.warmup, self.repeats)

    # -- measuring -------------------------------------------------------

    def _check_threads(self) -> None:
        if torch.get_num_threads() != self.threads:
            raise UserError(
                f"latency table measured with {self.threads} thread(s), torch now has {torch.get_num_threads()}: "
                f"call torch.set_num_threads({self.threads}) or build a new table"
            )

    def _time(self, module: nn.Module, shapes: Sequence[Shape]) -> float:
        self._check_threads()
        inputs = tuple(_example(_torch_layout(s), self.batch_size, seed=i) for i, s in enumerate(shapes))
        names = [f"x{i}" for i in range(len(inputs))]
        with torch.no_grad():
            init_weights(module)  # same init as networks; the values only matter for denormals
        self.measured += 1
        return _time_module(module, inputs, self.runtime, self.warmup, self.repeats, names).median_ms

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
        from unified_nas.models.onnx import channels_last

        # The exported wrapper (its permute included) around an empty body graph;
        # Network.forward's own call is counted as one more block by predict_ms.
        def measure() -> float:
            self._check_threads()
            empty = Graph((shape,), (), 0)
            wrapper = channels_last(node_module(empty, [shape]))
            example = (_example(shape.dims, self.batch_size),)
            self.measured += 1
            return _time_module(wrapper, example, self.runtime, self.warmup, self.repeats, ["x"]).median_ms

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
