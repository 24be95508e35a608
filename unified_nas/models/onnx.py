"""The torch twin as users and ONNX see it: channels-last input, an optional input transform, ONNX export.

``unas export`` and latency measurement write and time the same wrapped
module, so a measured latency is that of the exported model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, BinaryIO, cast

if TYPE_CHECKING:
    from unified_nas.data import InputTransform


def channels_last(model: Any, transform: InputTransform | None = None) -> Any:
    """Wraps a torch model to take channels-last input like the Keras model (one input layout for all).

    Args:
        model: A torch module taking channels-first images or ``(N, F)`` features.
        transform: Put this input transform in front (``unas export``: the model then takes raw
            input); None: the input is the features as trained (latency measurement).

    Returns:
        The wrapped module, in eval mode.
    """
    import torch

    class ChannelsLast(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model
            # Buffers: saved with the model (TorchScript and ONNX carry them as constants).
            shift = transform.shift if transform is not None else (0.0,)
            scale = transform.scale if transform is not None else (1.0,)
            self.register_buffer("shift", torch.tensor(shift, dtype=torch.float32))
            self.register_buffer("scale", torch.tensor(scale, dtype=torch.float32))
            self.transformed = transform is not None

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if self.transformed:
                x = (x - cast(torch.Tensor, self.shift)) / cast(torch.Tensor, self.scale)
            return self.model(x.permute(0, 3, 1, 2) if x.dim() == 4 else x)

    return ChannelsLast().eval()


def write_onnx(model: Any, inputs: tuple[Any, ...], f: str | BinaryIO, input_names: Sequence[str] = ("x",)) -> None:
    """Writes ``model`` as ONNX the one way unified-nas does (``unas export`` and latency measurement).

    torch's legacy exporter (``dynamo=False``: the dynamo exporter needs
    onnxscript features that vary between torch versions), a dynamic batch axis,
    the output named ``logits``.

    Args:
        model: A torch module.
        inputs: Example inputs (tensors).
        f: A path, or a binary file object (the legacy exporter writes to both).
        input_names: One name per input.
    """
    import torch

    names = list(input_names)
    torch.onnx.export(
        model,
        inputs,
        f,  # type: ignore[arg-type]  # torch's hint names paths only; the legacy exporter takes file objects
        input_names=names,
        output_names=["logits"],
        dynamic_axes={name: {0: "batch"} for name in (*names, "logits")},
        dynamo=False,
    )
