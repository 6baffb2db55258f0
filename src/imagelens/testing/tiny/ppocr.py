"""Tiny random PP-OCR models: det/rec(/cls) ONNX graphs (and a keys file) at the spec's relative paths, the layout
:class:`~imagelens.models.adapters.ppocr.PPOCRAdapter` loads.

Never written for a model whose weights ship inside a package (``ppocr-v6-small``, in rapidocr): the hub would not
let them stand in for the real ones anyway. Tests that need a tiny OCR through the hub use a Hub-sourced OCR spec
(``ppocr-v5-server-en``) or :func:`imagelens.testing.tiny.test_variant`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from imagelens.errors import InvalidArgumentError
from imagelens.models.adapters.base import mark_tiny
from imagelens.models.adapters.ppocr import REC_HEIGHT
from imagelens.models.spec import ModelSpec


def write(path: Path, spec: ModelSpec, seed: int = 0) -> None:
    """Random-weight det/rec(/cls) ONNX models (+ keys file) at the spec's relative paths, then the tiny marker."""
    root = Path(path)
    rng = np.random.default_rng(seed)
    keys_rel = spec.options.get("keys")
    characters = list(CHARACTERS)
    for key, builder in (("det", det_graph), ("cls", cls_graph)):
        rel = spec.options.get(key)
        if rel is not None:
            _save_onnx(builder(rng), root / str(rel))
    rec = rec_graph(rng, len(characters) + 2)  # + CTC blank + space
    if keys_rel is None:  # the character list travels in the model's metadata, as in PP-OCRv5+ exports
        rec.metadata_props.add(key="character", value="\n".join(characters))
    else:
        keys_path = root / str(keys_rel)
        keys_path.parent.mkdir(parents=True, exist_ok=True)
        keys_path.write_text("\n".join(characters) + "\n", encoding="utf-8")
    rec_rel = spec.options.get("rec")
    if rec_rel is None or spec.options.get("det") is None:
        raise InvalidArgumentError(f"spec {spec.id!r} must name 'det' and 'rec' files, got {spec.options!r}")
    _save_onnx(rec, root / str(rec_rel))
    mark_tiny(root, spec, seed)


CHARACTERS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz.,:-/#%"
_OPSET = 17
_IR_VERSION = 8


def _tensor(rng: np.random.Generator, name: str, shape: tuple[int, ...], std: float) -> Any:
    from onnx import numpy_helper

    return numpy_helper.from_array(rng.normal(0.0, std, size=shape).astype(np.float32), name)


def _graph_model(nodes: list[Any], inputs: list[Any], outputs: list[Any], inits: list[Any], name: str) -> Any:
    from onnx import helper

    graph = helper.make_graph(nodes, name, inputs, outputs, initializer=inits)
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", _OPSET)], producer_name="imagelens"
    )
    model.ir_version = _IR_VERSION
    return model


def det_graph(rng: np.random.Generator) -> Any:
    """x (N, 3, H, W) -> probability map (N, 1, H, W): conv 3x3 -> ReLU -> conv 1x1 -> sigmoid."""
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, "H", "W"])
    y = helper.make_tensor_value_info("maps", TensorProto.FLOAT, ["N", 1, "H", "W"])
    inits = [
        _tensor(rng, "w1", (4, 3, 3, 3), 0.5),
        _tensor(rng, "b1", (4,), 0.5),
        _tensor(rng, "w2", (1, 4, 1, 1), 1.0),
        _tensor(rng, "b2", (1,), 0.5),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["h1"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["h1"], ["h2"]),
        helper.make_node("Conv", ["h2", "w2", "b2"], ["h3"]),
        helper.make_node("Sigmoid", ["h3"], ["maps"]),
    ]
    return _graph_model(nodes, [x], [y], inits, "tiny_ppocr_det")


def rec_graph(rng: np.random.Generator, classes: int, hidden: int = 8) -> Any:
    """x (N, 3, 48, W) -> (N, W/8, classes) softmax: one conv over 48 x 8 patches, then a linear layer per frame."""
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, REC_HEIGHT, "W"])
    y = helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["N", "T", classes])
    inits = [
        _tensor(rng, "w1", (hidden, 3, REC_HEIGHT, 8), 0.05),
        _tensor(rng, "b1", (hidden,), 0.5),
        _tensor(rng, "w2", (hidden, classes), 3.0),  # large: peaked (confident) random outputs
        _tensor(rng, "b2", (classes,), 1.0),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["h1"], strides=[REC_HEIGHT, 8]),
        helper.make_node(
            "Constant", [], ["axis2"], value=helper.make_tensor("axis2", TensorProto.INT64, [1], [2])
        ),
        helper.make_node("Squeeze", ["h1", "axis2"], ["h2"]),
        helper.make_node("Transpose", ["h2"], ["h3"], perm=[0, 2, 1]),
        helper.make_node("MatMul", ["h3", "w2"], ["h4"]),
        helper.make_node("Add", ["h4", "b2"], ["h5"]),
        helper.make_node("Softmax", ["h5"], ["probs"], axis=-1),
    ]
    return _graph_model(nodes, [x], [y], inits, "tiny_ppocr_rec")


def cls_graph(rng: np.random.Generator) -> Any:
    """x (N, 3, 48, 192) -> (N, 2) softmax over {0, 180} degrees."""
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, REC_HEIGHT, 192])
    y = helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["N", 2])
    inits = [_tensor(rng, "w", (3, 2), 1.0), _tensor(rng, "b", (2,), 0.5)]
    nodes = [
        helper.make_node("GlobalAveragePool", ["x"], ["h1"]),
        helper.make_node("Flatten", ["h1"], ["h2"]),
        helper.make_node("Gemm", ["h2", "w", "b"], ["h3"]),
        helper.make_node("Softmax", ["h3"], ["probs"], axis=-1),
    ]
    return _graph_model(nodes, [x], [y], inits, "tiny_ppocr_cls")


def _save_onnx(model: Any, path: Path) -> None:
    import onnx

    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(model, str(path))
