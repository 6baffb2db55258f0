"""int8 dynamic quantisation of a torch model's ``Linear`` layers (``torch.ao.quantization.quantize_dynamic``).

A model is loaded quantised when its spec says ``options["quantize"] = "int8-dynamic"`` (or
``"int8-dynamic-per-channel"``); the hub sets that for the ids listed in ``IMAGELENS_HUB__QUANTIZE``, by default
Florence-2 (:mod:`imagelens.models.quantization`; ``none`` turns it off).
Adapters that apply it: Florence-2 (whole model) and SigLIP (its vision encoder layers; opt-in only: int8
activations are scaled per batch, so embeddings would depend on batch composition). Not the RT-DETR detector: measured on
the full-size random model, its int8 scores collapsed (the 20 best boxes matched fp32's with IoU 0.008). Weights of
``Linear`` layers become int8 (per tensor), activations are quantised on the fly per call; convolutions, norms and
embeddings stay fp32. Outputs change a little: the agreement with the fp32 path, measured on the full-size random
models, and the speed-up are in ``benchmarks/perf_targets.md``.

bf16 (``options["bf16"]``, set by the hub for the ids in ``IMAGELENS_HUB__BF16``): a module cast to bfloat16, only
where the CPU computes bf16 natively (AVX512_BF16, AMX) unless the spec says ``"always"``. Applied to SigLIP's image
tower by default: 2.1x faster at batch 1 on the full-size random model, embeddings cosine 0.99997 to fp32, a batch
identical to its images embedded one by one. Not RT-DETR: its bf16 outputs turned NaN.
"""

from __future__ import annotations

import gc
import warnings
from collections.abc import Sequence
from typing import Any

from imagelens.models.quantization import (
    BF16_OPTION,
    DEFAULT_MODE,
    INT8_DYNAMIC,
    INT8_DYNAMIC_PER_CHANNEL,
    MODES,
    QUANTIZE_OPTION,
    bf16_mode,
    quantize_mode,
    quantized_spec,
)
from imagelens.models.spec import ModelSpec

__all__ = [
    "BF16_OPTION",
    "DEFAULT_MODE",
    "INT8_DYNAMIC",
    "INT8_DYNAMIC_PER_CHANNEL",
    "MODES",
    "QUANTIZE_OPTION",
    "maybe_bf16",
    "maybe_quantize",
    "native_bf16",
    "quantize_mode",
    "quantized_spec",
]


def maybe_quantize(module: Any, spec: ModelSpec) -> Any:
    """``module`` with its ``Linear`` layers int8-dynamic-quantised when the spec asks for it, else ``module``."""
    mode = quantize_mode(spec)
    if mode is None:
        return module
    import torch
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    # torch marks the quantised-tensor constructors deprecated; they still work
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        if mode == INT8_DYNAMIC_PER_CHANNEL:  # one int8 scale per output row instead of per tensor
            quantized = quantize_dynamic(module, {torch.nn.Linear: per_channel_dynamic_qconfig}, inplace=True)
        else:
            quantized = quantize_dynamic(module, {torch.nn.Linear}, dtype=torch.qint8, inplace=True)
    # torch.ao gives each fp32 Linear a qconfig whose closure refers back to the layer: the layers it replaced sit in
    # reference cycles that only the cyclic collector frees, and until it runs (rarely: a full collection) they keep
    # the checkpoint's mapped pages resident (883 MB for the full-size Florence-2-base: benchmarks/perf_targets.md)
    gc.collect()
    return own_memory(quantized)


def own_memory(module: Any) -> Any:
    """``module`` with every parameter, buffer and int8 layer's bias in memory of its own, not a view of the
    checkpoint file that transformers memory-maps.

    Quantising reads every fp32 ``Linear`` weight, so their pages of the mapped file become resident; the mapping
    (and those pages, counted in the process's RSS) lives as long as any tensor still views it, and the biases, norms,
    convolutions and embeddings that stay fp32 all do. Copying them unmaps the file: measured on the full-size random
    Florence-2-base (int8), the loaded process went from 1,541 to 913 MB RSS (``benchmarks/perf_targets.md``).
    """
    import torch

    with torch.no_grad():
        for param in module.parameters():  # tied parameters are one object: copied once, still tied
            param.data = param.data.clone()
        for sub in module.modules():
            for name, buffer in list(sub._buffers.items()):
                if buffer is not None:
                    sub._buffers[name] = buffer.clone()
            packed = getattr(sub, "_packed_params", None)
            if packed is not None and hasattr(packed, "_weight_bias"):  # torch.ao's dynamic quantised Linear
                weight, bias = packed._weight_bias()
                if bias is not None:
                    packed.set_weight_bias(weight, bias.clone())
    return module


def native_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512_BF16 or AMX tiles, as torch's CPU probes report): elsewhere
    bf16 arithmetic is emulated and slower than fp32."""
    import torch

    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in probes)


def maybe_bf16(modules: Sequence[Any], spec: ModelSpec) -> bool:
    """Cast ``modules`` to bfloat16 in place when the spec asks for it (``options["bf16"]``) and the CPU computes bf16
    natively (or the spec says ``"always"``); ``True`` when cast. The caller feeds them bf16 inputs and reads their
    outputs back as float32."""
    mode = bf16_mode(spec)
    if mode is None or (mode == "auto" and not native_bf16()):
        return False
    if quantize_mode(spec) is not None:  # int8 Linear layers take float32 inputs only: int8 wins
        return False
    import torch

    for module in modules:
        module.to(torch.bfloat16)
    return True
