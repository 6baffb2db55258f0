"""Tiny RANDOM-weight ``.tflite`` segmenters, written in code, that the real matting adapters load.

The flatbuffer is built with the schema module that ships in the ``ai-edge-litert`` wheel (no TensorFlow):

- ``selfie``: float32 ``[1, S, S, 3]`` -> CONV_2D 3x3 (1 filter) -> LOGISTIC -> float32 ``[1, S, S, 1]``, the
  MediaPipe Selfie Segmentation interface at a small size;
- ``deeplab``: float32 ``[1, S, S, 3]`` -> CONV_2D 1x1 (``classes`` filters) -> ARG_MAX -> int64 ``[1, S, S]``,
  Coral's DeepLab interface (its real input is uint8; the adapter casts to whatever the model declares).

Their outputs are random and mean nothing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from imagelens.models.adapters.base import mark_tiny
from imagelens.models.spec import ModelSpec


def _schema():  # type: ignore[no-untyped-def]
    from ai_edge_litert import schema_py_generated as schema

    return schema


def tiny_segmenter_tflite(kind: str = "selfie", size: int = 32, seed: int = 0, classes: int = 21) -> bytes:
    """The bytes of a valid ``.tflite`` model of ``kind`` (``"selfie"`` or ``"deeplab"``)."""
    import flatbuffers

    s = _schema()
    rng = np.random.default_rng(seed)
    if kind == "selfie":
        k, filters = 3, 1
    elif kind == "deeplab":
        k, filters = 1, classes
    else:
        raise ValueError(f"kind must be 'selfie' or 'deeplab', got {kind!r}")
    weights = rng.normal(0.0, 0.5, size=(filters, k, k, 3)).astype(np.float32)
    bias = rng.normal(0.0, 0.1, size=(filters,)).astype(np.float32)

    def buffer(data: bytes | None = None) -> object:
        b = s.BufferT()
        b.data = None if data is None else np.frombuffer(data, dtype=np.uint8).tolist()
        return b

    def tensor(name: str, shape: list[int], ttype: int, buf: int) -> object:
        t = s.TensorT()
        t.name, t.shape, t.type, t.buffer = name, shape, ttype, buf
        return t

    buffers = [buffer(), buffer(weights.tobytes()), buffer(bias.tobytes())]
    tensors = [
        tensor("input", [1, size, size, 3], s.TensorType.FLOAT32, 0),
        tensor("weights", [filters, k, k, 3], s.TensorType.FLOAT32, 1),
        tensor("bias", [filters], s.TensorType.FLOAT32, 2),
        tensor("conv", [1, size, size, filters], s.TensorType.FLOAT32, 0),
    ]
    codes = []
    ops = []

    def op_code(builtin: int) -> int:
        c = s.OperatorCodeT()
        c.builtinCode = builtin
        c.deprecatedBuiltinCode = min(builtin, 127)
        c.version = 1
        codes.append(c)
        return len(codes) - 1

    conv = s.OperatorT()
    conv.opcodeIndex = op_code(s.BuiltinOperator.CONV_2D)
    conv.inputs, conv.outputs = [0, 1, 2], [3]
    conv.builtinOptionsType = s.BuiltinOptions.Conv2DOptions
    opts = s.Conv2DOptionsT()
    opts.padding, opts.strideW, opts.strideH = s.Padding.SAME, 1, 1
    opts.dilationWFactor, opts.dilationHFactor = 1, 1
    conv.builtinOptions = opts
    ops.append(conv)
    if kind == "selfie":
        tensors.append(tensor("probability", [1, size, size, 1], s.TensorType.FLOAT32, 0))
        last = s.OperatorT()
        last.opcodeIndex = op_code(s.BuiltinOperator.LOGISTIC)
        last.inputs, last.outputs = [3], [4]
    else:
        axis = np.array([3], dtype=np.int32)
        buffers.append(buffer(axis.tobytes()))
        tensors.append(tensor("axis", [1], s.TensorType.INT32, 3))
        tensors.append(tensor("classes", [1, size, size], s.TensorType.INT64, 0))
        last = s.OperatorT()
        last.opcodeIndex = op_code(s.BuiltinOperator.ARG_MAX)
        last.inputs, last.outputs = [3, 4], [5]
        last.builtinOptionsType = s.BuiltinOptions.ArgMaxOptions
        arg = s.ArgMaxOptionsT()
        arg.outputType = s.TensorType.INT64
        last.builtinOptions = arg
    ops.append(last)

    graph = s.SubGraphT()
    graph.tensors, graph.operators = tensors, ops
    graph.inputs, graph.outputs = [0], [len(tensors) - 1]
    graph.name = "main"
    model = s.ModelT()
    model.version = 3
    model.operatorCodes, model.subgraphs, model.buffers = codes, [graph], buffers
    model.description = f"imagelens tiny RANDOM {kind} segmenter (seed {seed})"
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def write_tiny_segmenter(path: Path, spec: ModelSpec, seed: int = 0) -> None:
    """Write ``spec.options["file"]`` in ``path`` (the layout the hub resolves for the adapter), marked tiny."""
    kind = "deeplab" if "deeplab" in spec.adapter else "selfie"
    path.mkdir(parents=True, exist_ok=True)
    name = str(spec.options.get("file") or f"{kind}.tflite")
    mark_tiny(path, spec, seed)
    try:
        data = tiny_segmenter_tflite(kind, seed=seed)
    except ImportError:  # no ai-edge-litert (the `segment` extra): the adapter says so when it is loaded
        return
    (path / name).write_bytes(data)
