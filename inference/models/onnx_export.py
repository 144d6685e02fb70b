"""A network part exported to ONNX: what both compiled runtimes start from."""

from __future__ import annotations

import io

import torch
from torch import nn

# Bump when what is exported changes (the wrapped modules, the exporter's options).
EXPORT_VERSION = 1


def export_onnx(module: nn.Module, example: torch.Tensor, outputs: list[str]) -> bytes:
    """``module`` as ONNX bytes, batch size dynamic (input "x", outputs ``outputs``)."""
    buffer = io.BytesIO()
    with torch.no_grad():
        torch.onnx.export(
            module.eval(),
            (example,),
            buffer,
            dynamo=False,
            input_names=["x"],
            output_names=outputs,
            dynamic_axes={"x": {0: "batch"}, **{name: {0: "batch"} for name in outputs}},
            opset_version=17,
        )
    return buffer.getvalue()
