"""A tiny random YuNet: an ONNX graph with YuNet's input and twelve outputs (names, layouts, free input size),
saved under the spec's file name. ``cv2.FaceDetectorYN`` accepts it as it accepts the real model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from imagelens.models.adapters.base import mark_tiny
from imagelens.models.adapters.yunet import OUTPUT_NAMES, STRIDES
from imagelens.models.spec import ModelSpec


def write(path: Path, spec: ModelSpec, seed: int = 0) -> None:
    """The random graph at ``path / spec.options["file"]``, then the tiny marker."""
    import onnx

    model = tiny_yunet_graph(np.random.default_rng(seed))
    onnx.checker.check_model(model)
    root = Path(path)
    root.mkdir(parents=True, exist_ok=True)
    onnx.save_model(model, str(root / str(spec.options.get("file", "face_detection_yunet_2023mar.onnx"))))
    mark_tiny(root, spec, seed)


def tiny_yunet_graph(
    rng: np.random.Generator, fixed_size: tuple[int, int] | None = None, hidden: int = 4
) -> Any:
    """input (1, 3, H, W) BGR 0-255 -> per stride s: a conv with kernel = stride = s, ReLU, then 1x1 heads
    (cls, obj with a sigmoid; bbox; kps), each reshaped to (1, H/s * W/s, k) as YuNet lays them out.

    ``fixed_size`` ``(width, height)`` pins the input size, like exports made with a fixed dummy input.
    """
    from onnx import TensorProto, helper, numpy_helper

    def tensor(name: str, shape: tuple[int, ...], std: float, mean: float = 0.0) -> Any:
        return numpy_helper.from_array(rng.normal(mean, std, size=shape).astype(np.float32), name)

    h_dim: int | str = fixed_size[1] if fixed_size else "H"
    w_dim: int | str = fixed_size[0] if fixed_size else "W"
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, h_dim, w_dim])
    inits = [numpy_helper.from_array(np.asarray([1.0 / 255.0], np.float32), "inv255")]
    nodes = [helper.make_node("Mul", ["input", "inv255"], ["x01"])]
    outputs = []
    heads = {"cls": 1, "obj": 1, "bbox": 4, "kps": 10}
    for s in STRIDES:
        inits += [tensor(f"w{s}", (hidden, 3, s, s), 2.0 / s), tensor(f"b{s}", (hidden,), 0.5)]
        nodes += [
            helper.make_node("Conv", ["x01", f"w{s}", f"b{s}"], [f"c{s}"], strides=[s, s]),
            helper.make_node("Relu", [f"c{s}"], [f"f{s}"]),
        ]
        for head, k in heads.items():
            name = f"{head}_{s}"
            # scores centred near 0.5 so a usual threshold keeps some cells; bbox sizes around one to a few strides
            w_std = 1.0 if head in ("cls", "obj") else 0.3
            inits += [tensor(f"{name}_w", (k, hidden, 1, 1), w_std), tensor(f"{name}_b", (k,), 0.5, 0.5)]
            inits.append(numpy_helper.from_array(np.asarray([1, -1, k], np.int64), f"{name}_shape"))
            raw = f"{name}_raw"
            nodes.append(helper.make_node("Conv", [f"f{s}", f"{name}_w", f"{name}_b"], [raw]))
            if head in ("cls", "obj"):
                nodes.append(helper.make_node("Sigmoid", [raw], [f"{name}_sig"]))
                raw = f"{name}_sig"
            nodes += [
                helper.make_node("Transpose", [raw], [f"{name}_t"], perm=[0, 2, 3, 1]),
                helper.make_node("Reshape", [f"{name}_t", f"{name}_shape"], [name]),
            ]
            outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, None, k]))
    order = {n: i for i, n in enumerate(OUTPUT_NAMES)}
    outputs.sort(key=lambda o: order[o.name])
    graph = helper.make_graph(nodes, "tiny_yunet", [x], outputs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="imagelens")
    model.ir_version = 8
    return model
