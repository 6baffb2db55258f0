"""A tiny random BiRefNet-shaped ONNX model with the real interface: input ``input_image`` float32
``(1, 3, S, S)`` (ImageNet-normalised RGB), output ``output_image`` ``(1, 1, S, S)`` logits. ``S`` is small (64) and
fixed in the graph, so the adapter reads it from the model as it reads the real export's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from imagelens.models.adapters.base import mark_tiny
from imagelens.models.spec import ModelSpec

SIZE = 64


def write(path: Path, spec: ModelSpec, seed: int = 0) -> None:
    import onnx

    model = tiny_birefnet(np.random.default_rng(seed), SIZE)
    onnx.checker.check_model(model)
    root = Path(path)
    root.mkdir(parents=True, exist_ok=True)
    onnx.save_model(model, str(root / str(spec.options.get("file") or "model.onnx")))
    mark_tiny(root, spec, seed)


def tiny_birefnet(rng: np.random.Generator, size: int = SIZE, hidden: int = 4) -> Any:
    """3x3 conv to ``hidden`` channels, ReLU, 1x1 conv to one logit map (same spatial size as the input)."""
    from onnx import TensorProto, helper, numpy_helper

    def tensor(name: str, shape: tuple[int, ...], std: float) -> Any:
        return numpy_helper.from_array(rng.normal(0.0, std, size=shape).astype(np.float32), name)

    x = helper.make_tensor_value_info("input_image", TensorProto.FLOAT, [1, 3, size, size])
    y = helper.make_tensor_value_info("output_image", TensorProto.FLOAT, [1, 1, size, size])
    inits = [
        tensor("w1", (hidden, 3, 3, 3), 0.5),
        tensor("b1", (hidden,), 0.1),
        tensor("w2", (1, hidden, 1, 1), 0.5),
        tensor("b2", (1,), 0.1),
    ]
    nodes = [
        helper.make_node("Conv", ["input_image", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["output_image"]),
    ]
    graph = helper.make_graph(nodes, "tiny_birefnet", [x], [y], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="imagelens")
    model.ir_version = 8
    return model
