"""A tiny random YOLOX- or NanoDet-style ONNX detector (``spec.options["head"]``) with the real interface: input
``(1, 3, S, S)`` at the spec's ``input_size``, and YOLOX's one ``(1, N, 5 + C)`` output or NanoDet's three class and
three distribution tensors (class tensors first, as the real export orders them)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from imagelens.models.adapters.base import mark_tiny
from imagelens.models.spec import ModelSpec

STRIDES = (8, 16, 32)


def write(path: Path, spec: ModelSpec, seed: int = 0) -> None:
    import onnx

    head = str(spec.options.get("head", "yolox"))
    size = int(spec.options.get("input_size", 416))
    classes = len(spec.options.get("class_names") or ()) or 80
    model = tiny_grid_detector(
        np.random.default_rng(seed), head, size, classes, int(spec.options.get("reg_max", 7))
    )
    onnx.checker.check_model(model)
    root = Path(path)
    root.mkdir(parents=True, exist_ok=True)
    onnx.save_model(model, str(root / str(spec.options.get("file") or f"{head}.onnx")))
    mark_tiny(root, spec, seed)


def tiny_grid_detector(
    rng: np.random.Generator, head: str, size: int, classes: int = 80, reg_max: int = 7, hidden: int = 4
) -> Any:
    """Per stride ``s``: a conv with kernel = stride = ``s`` to ``hidden`` channels, ReLU, then 1x1 heads laid out
    as the real exports lay them out (points row-major)."""
    from onnx import TensorProto, helper, numpy_helper

    def tensor(name: str, shape: tuple[int, ...], std: float, mean: float = 0.0) -> Any:
        return numpy_helper.from_array(rng.normal(mean, std, size=shape).astype(np.float32), name)

    def const(name: str, values: list[int]) -> Any:
        return numpy_helper.from_array(np.asarray(values, np.int64), name)

    x = helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, size, size])
    inits: list[Any] = [numpy_helper.from_array(np.asarray([1.0 / 255.0], np.float32), "inv255")]
    nodes = [helper.make_node("Mul", ["images", "inv255"], ["x01"])]
    outputs: list[Any] = []
    yolox_parts: list[str] = []
    reg_outputs: list[Any] = []
    for s in STRIDES:
        n = (size // s) ** 2
        inits += [tensor(f"w{s}", (hidden, 3, s, s), 2.0 / s), tensor(f"b{s}", (hidden,), 0.5)]
        nodes += [
            helper.make_node("Conv", ["x01", f"w{s}", f"b{s}"], [f"c{s}"], strides=[s, s]),
            helper.make_node("Relu", [f"c{s}"], [f"f{s}"]),
        ]
        heads = {"all": 5 + classes} if head == "yolox" else {"cls": classes, "reg": 4 * (reg_max + 1)}
        for name, k in heads.items():
            tag = f"{name}{s}"
            inits += [tensor(f"{tag}_w", (k, hidden, 1, 1), 0.5), tensor(f"{tag}_b", (k,), 0.5, -1.0)]
            inits.append(const(f"{tag}_shape", [1, k, n]))
            nodes.append(helper.make_node("Conv", [f"f{s}", f"{tag}_w", f"{tag}_b"], [f"{tag}_raw"]))
            raw = f"{tag}_raw"
            if (
                name != "reg"
            ):  # YOLOX: every value through a sigmoid keeps the sizes small; NanoDet: class scores
                nodes.append(helper.make_node("Sigmoid", [raw], [f"{tag}_sig"]))
                raw = f"{tag}_sig"
            nodes.append(helper.make_node("Reshape", [raw, f"{tag}_shape"], [f"{tag}_flat"]))
            if head == "yolox":
                yolox_parts.append(f"{tag}_flat")
                continue
            nodes.append(helper.make_node("Transpose", [f"{tag}_flat"], [f"{tag}_out"], perm=[0, 2, 1]))
            info = helper.make_tensor_value_info(f"{tag}_out", TensorProto.FLOAT, [1, n, k])
            (outputs if name == "cls" else reg_outputs).append(info)
    if head == "yolox":
        nodes += [
            helper.make_node("Concat", yolox_parts, ["cat"], axis=2),
            helper.make_node("Transpose", ["cat"], ["output"], perm=[0, 2, 1]),
        ]
        n_all = sum((size // s) ** 2 for s in STRIDES)
        outputs = [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, n_all, 5 + classes])]
    else:
        outputs += reg_outputs
    graph = helper.make_graph(nodes, f"tiny_{head}", [x], outputs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="imagelens")
    model.ir_version = 8
    return model
