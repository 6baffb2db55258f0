"""Which int8 mode and which bf16 parts a model loads with (torch-free: the hub decides,
:mod:`imagelens.models.adapters.quantize` applies).

``IMAGELENS_HUB__QUANTIZE`` (``Settings.hub.quantize``) lists the ids loaded int8; by default the Florence-2
captioners (:data:`imagelens.config.DEFAULT_QUANTIZED`); ``none`` turns it off. ``IMAGELENS_HUB__BF16``
(``Settings.hub.bf16``) lists the ids whose image tower computes in bfloat16 on CPUs that do so natively; by default
the SigLIP embedder (:data:`imagelens.config.DEFAULT_BF16`); ``none`` turns it off.
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


def _asked(spec: ModelSpec, option: str, allowed: tuple[object, ...], expected: str) -> object | None:
    """``spec.options[option]``, ``None`` when unset or off; a value outside ``allowed`` is refused, never ignored."""
    value = spec.options.get(option)
    if value in (None, "", False, "none"):
        return None
    if value not in allowed:
        raise InvalidArgumentError(f"model '{spec.id}': {option} must be {expected} or unset, got {value!r}")
    return value


def quantize_mode(spec: ModelSpec) -> str | None:
    """The quantisation the spec asks for (``None``: none)."""
    mode = _asked(spec, QUANTIZE_OPTION, MODES, f"one of {', '.join(MODES)}")
    return None if mode is None else str(mode)


def quantized_spec(spec: ModelSpec, quantized_ids: Collection[str]) -> ModelSpec:
    """``spec`` as the hub loads it: a model listed in ``IMAGELENS_HUB__QUANTIZE`` gets ``options["quantize"]`` (its
    spec's own mode if it names one, else :data:`DEFAULT_MODE`); others are left as their spec says."""
    if spec.id not in quantized_ids or quantize_mode(spec) is not None:
        return spec
    return replace(spec, options={**spec.options, QUANTIZE_OPTION: DEFAULT_MODE})


BF16_OPTION = "bf16"
#: ``options["bf16"]``: ``True`` / ``"auto"`` where the CPU computes bf16 natively (fp32 elsewhere, where bf16 would
#: be emulated and slower); ``"always"`` whatever the CPU (tests use it to run the path on any machine).
BF16_VALUES = (True, "auto", "always")


def bf16_mode(spec: ModelSpec) -> str | None:
    """``"auto"``, ``"always"`` or ``None`` (fp32) as the spec asks."""
    value = _asked(spec, BF16_OPTION, BF16_VALUES, "true, 'auto' or 'always'")
    return None if value is None else "always" if value == "always" else "auto"


def bf16_spec(spec: ModelSpec, bf16_ids: Collection[str]) -> ModelSpec:
    """``spec`` as the hub loads it: a model listed in ``IMAGELENS_HUB__BF16`` gets ``options["bf16"] = "auto"``
    unless its spec says otherwise; others are left as their spec says."""
    if spec.id not in bf16_ids or BF16_OPTION in spec.options:
        return spec
    return replace(spec, options={**spec.options, BF16_OPTION: "auto"})
