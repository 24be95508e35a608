"""Measured inference latency: the median wall time of forward passes of the exported model, with its conditions.

Measured (:func:`measure_latency`, :func:`sample_latency`): the median wall
time of one forward pass of the model as ``unas export`` writes it (the
network behind ``export.channels_last``, channels-last input), in torch eager
mode or in ONNX Runtime, after untimed warm-up passes. Every result records
its batch size, threads and runtime, since a latency means nothing without
them. The timing helpers here also time the single ops of the per-op table
(:mod:`unified_nas.evaluation.latency.table`).
"""

from __future__ import annotations

import io
import statistics
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from unified_nas.core.errors import UserError
from unified_nas.evaluation.train.evaluate import isolated_rng, seed_everything
from unified_nas.models.onnx import channels_last, write_onnx
from unified_nas.models.torch_model import build_model
from unified_nas.space import SearchSpace

RUNTIMES = ("torch", "onnxruntime")
# Per-sample defaults, sized for a trial metric: a digits_cnn network runs a
# forward pass in 0.1-0.5 ms at batch 1 on one thread, so 10 + 30 passes cost
# 5-20 ms; the median of 30 moved by a few percent between repeated
# measurements of one model here.
DEFAULT_WARMUP = 10
DEFAULT_REPEATS = 30
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


def check_runtime(runtime: str) -> None:
    if runtime not in RUNTIMES:
        raise UserError(f"runtime: expected one of {', '.join(RUNTIMES)}, got {runtime!r}")


def check_counts(batch_size: int, warmup: int, repeats: int) -> None:
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


def time_module(
    module: nn.Module,
    inputs: tuple[torch.Tensor, ...],
    runtime: str,
    warmup: int,
    repeats: int,
    names: Sequence[str],
) -> Latency:
    """Times ``module(*inputs)`` in ``runtime`` (inputs already laid out as the module reads them)."""
    check_runtime(runtime)
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


def example_batch(shape: Sequence[int], batch_size: int, seed: int = 0) -> torch.Tensor:
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

    check_runtime(runtime)
    check_counts(batch_size, warmup, repeats)
    return time_module(channels_last(model), (example_batch(input_shape, batch_size),), runtime, warmup, repeats, ["x"])


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
    check_runtime(runtime)
    arch = space.resolve(sample)
    with isolated_rng():
        seed_everything(seed)
        model = build_model(arch, input_shape, num_classes)
    return measure_latency(model, input_shape, batch_size=batch_size, runtime=runtime, warmup=warmup, repeats=repeats)
