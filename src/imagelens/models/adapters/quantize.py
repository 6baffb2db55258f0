"""Opt-in int8 dynamic quantisation of a torch model's ``Linear`` layers (``torch.ao.quantization.quantize_dynamic``).

A model is loaded quantised when its spec says ``options["quantize"] = "int8-dynamic"``; the hub sets that for the
ids listed in ``IMAGELENS_HUB__QUANTIZE`` (JSON list, e.g. ``'["florence-2-base","siglip2-base-patch16-224"]'``).
Adapters that apply it: Florence-2 (whole model) and SigLIP (vision tower). Not the RT-DETR detector: measured on
the full-size random model, its int8 scores collapsed (the 20 best boxes matched fp32's with IoU 0.008). Weights of
``Linear`` layers become int8 (per tensor), activations are quantised on the fly per call; convolutions, norms and
embeddings stay fp32. Outputs change a little: the agreement with the fp32 path, measured on the full-size random
models, and the speed-up are in ``benchmarks/perf_targets.md``. Never applied unless asked.
"""

from __future__ import annotations

import warnings
from collections.abc import Collection
from dataclasses import replace
from typing import Any

from imagelens.errors import InvalidArgumentError
from imagelens.models.spec import ModelSpec

INT8_DYNAMIC = "int8-dynamic"
INT8_DYNAMIC_PER_CHANNEL = "int8-dynamic-per-channel"
DEFAULT_MODE = INT8_DYNAMIC
MODES = (INT8_DYNAMIC, INT8_DYNAMIC_PER_CHANNEL)
QUANTIZE_OPTION = "quantize"


def quantize_mode(spec: ModelSpec) -> str | None:
    """The quantisation the spec asks for (``None``: none); an unknown mode is refused, never ignored."""
    mode = spec.options.get(QUANTIZE_OPTION)
    if mode in (None, "", False, "none"):
        return None
    if mode not in MODES:
        raise InvalidArgumentError(
            f"model '{spec.id}': quantize must be one of {', '.join(MODES)} or unset, got {mode!r}"
        )
    return str(mode)


def quantized_spec(spec: ModelSpec, quantized_ids: Collection[str]) -> ModelSpec:
    """``spec`` as the hub loads it: a model listed in ``IMAGELENS_HUB__QUANTIZE`` gets ``options["quantize"]`` (its
    spec's own mode if it names one, else :data:`DEFAULT_MODE`); others are left as their spec says."""
    if spec.id not in quantized_ids or quantize_mode(spec) is not None:
        return spec
    return replace(spec, options={**spec.options, QUANTIZE_OPTION: DEFAULT_MODE})


def maybe_quantize(module: Any, spec: ModelSpec) -> Any:
    """``module`` with its ``Linear`` layers int8-dynamic-quantised when the spec asks for it, else ``module``."""
    mode = quantize_mode(spec)
    if mode is None:
        return module
    import torch
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    with (
        warnings.catch_warnings()
    ):  # torch marks the quantised-tensor constructors deprecated; they still work
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        if mode == INT8_DYNAMIC_PER_CHANNEL:  # one int8 scale per output row instead of per tensor
            return quantize_dynamic(module, {torch.nn.Linear: per_channel_dynamic_qconfig}, inplace=True)
        return quantize_dynamic(module, {torch.nn.Linear}, dtype=torch.qint8, inplace=True)  # no second copy
