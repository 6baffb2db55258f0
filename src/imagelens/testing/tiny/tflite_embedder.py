"""A tiny RANDOM ``.tflite`` image embedder with the interface of Coral's embedding extractor: float32
``[1, S, S, 3]`` in, one CONV_2D with a kernel as large as the input (VALID) -> ``[1, 1, 1, D]`` out. Built with the
schema module of the ``ai-edge-litert`` wheel (:mod:`.tflite`); its embeddings are random and mean nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from imagelens.models.adapters.base import mark_tiny
from imagelens.models.spec import ModelSpec
from imagelens.testing.tiny.tflite import _schema


def tiny_embedder_tflite(size: int = 16, dim: int = 16, seed: int = 0) -> bytes:
    import flatbuffers

    s = _schema()
    rng = np.random.default_rng(seed)
    weights = rng.normal(0.0, 0.05, size=(dim, size, size, 3)).astype(np.float32)
    bias = rng.normal(0.5, 0.1, size=(dim,)).astype(np.float32)

    def buffer(data: bytes | None = None) -> object:
        b = s.BufferT()
        b.data = None if data is None else np.frombuffer(data, dtype=np.uint8).tolist()
        return b

    def tensor(name: str, shape: list[int], buf: int) -> object:
        t = s.TensorT()
        t.name, t.shape, t.type, t.buffer = name, shape, s.TensorType.FLOAT32, buf
        return t

    code = s.OperatorCodeT()
    code.builtinCode = s.BuiltinOperator.CONV_2D
    code.deprecatedBuiltinCode = s.BuiltinOperator.CONV_2D
    code.version = 1
    conv = s.OperatorT()
    conv.opcodeIndex = 0
    conv.inputs, conv.outputs = [0, 1, 2], [3]
    conv.builtinOptionsType = s.BuiltinOptions.Conv2DOptions
    opts = s.Conv2DOptionsT()
    opts.padding, opts.strideW, opts.strideH = s.Padding.VALID, 1, 1
    opts.dilationWFactor, opts.dilationHFactor = 1, 1
    opts.fusedActivationFunction = s.ActivationFunctionType.RELU6
    conv.builtinOptions = opts
    graph = s.SubGraphT()
    graph.tensors = [
        tensor("input", [1, size, size, 3], 0),
        tensor("weights", [dim, size, size, 3], 1),
        tensor("bias", [dim], 2),
        tensor("embedding", [1, 1, 1, dim], 0),
    ]
    graph.operators = [conv]
    graph.inputs, graph.outputs = [0], [3]
    graph.name = "main"
    model = s.ModelT()
    model.version = 3
    model.operatorCodes, model.subgraphs = [code], [graph]
    model.buffers = [buffer(), buffer(weights.tobytes()), buffer(bias.tobytes())]
    model.description = f"imagelens tiny RANDOM image embedder (seed {seed})"
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def write(path: Path, spec: ModelSpec, seed: int = 0) -> None:
    """Write ``spec.options["file"]`` in ``path``, marked tiny (only the marker without ai-edge-litert)."""
    path.mkdir(parents=True, exist_ok=True)
    mark_tiny(path, spec, seed)
    try:
        data = tiny_embedder_tflite(seed=seed)
    except ImportError:
        return
    (path / str(spec.options.get("file") or "embedder.tflite")).write_bytes(data)
