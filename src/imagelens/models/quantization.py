"""Which int8 mode a model loads with (torch-free: the hub decides, :mod:`imagelens.models.adapters.quantize` applies).

``IMAGELENS_HUB__QUANTIZE`` (``Settings.hub.quantize``) lists the ids loaded int8; by default the Florence-2
captioners (:data:`imagelens.config.DEFAULT_QUANTIZED`); ``none`` turns it off.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace

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
