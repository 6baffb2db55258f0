"""Opt-in int8 dynamic quantisation of Linear layers (``IMAGELENS_HUB__QUANTIZE``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from imagelens.config import HubSettings, Settings
from imagelens.errors import InvalidArgumentError
from imagelens.models.adapters.quantize import INT8_DYNAMIC, quantize_mode
from imagelens.models.catalog import CATALOG
from imagelens.models.hub import ModelHub


def _linears(module: object) -> tuple[int, int]:
    import torch
    from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear

    mods = list(module.modules())  # type: ignore[attr-defined]
    dyn = sum(isinstance(m, DynamicLinear) for m in mods)
    plain = sum(type(m) is torch.nn.Linear for m in mods)
    return dyn, plain


def test_mode_is_checked() -> None:
    from dataclasses import replace

    spec = CATALOG["rtdetr-v2-r18"]
    assert quantize_mode(spec) is None
    assert quantize_mode(replace(spec, options={"quantize": INT8_DYNAMIC})) == INT8_DYNAMIC
    with pytest.raises(InvalidArgumentError, match="quantize must be"):
        quantize_mode(replace(spec, options={"quantize": "int4"}))


def test_listed_models_load_quantised_and_still_answer(tiny_model_dir: Path) -> None:
    ids = ["florence-2-base", "siglip2-base-patch16-224"]
    plain = ModelHub(Settings(model_dir=tiny_model_dir, hub=HubSettings(offline=True)))
    quant = ModelHub(Settings(model_dir=tiny_model_dir, hub=HubSettings(offline=True, quantize=ids)))
    image = (np.arange(64 * 80 * 3) % 251).astype(np.uint8).reshape(64, 80, 3)

    embedder = quant.embedder()
    vision_dyn, _ = _linears(embedder._model.vision_model)  # type: ignore[attr-defined]
    text_dyn, _ = _linears(embedder._model.text_model)  # type: ignore[attr-defined]
    assert vision_dyn > 0 and text_dyn == 0  # text stays fp32: cached prompt embeddings stay exact
    a = quant.embedder().embed_images([image])[0]
    b = plain.embedder().embed_images([image])[0]
    assert float(a @ b) > 0.9  # same direction, small int8 error

    captioner = quant.captioner()
    caption = captioner.caption(captioner.encode(image))
    assert isinstance(caption.text, str)
