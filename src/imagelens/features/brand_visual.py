"""The visual signal of the ``brands`` feature: logo boxes from the open-vocabulary detector, named by the
image-text model.

1. The :attr:`Role.OPEN_VOCAB_DETECTOR` model (OWLv2) proposes boxes for :data:`LOGO_PROMPTS` (at its own
   threshold); the best :data:`MAX_PROPOSALS` after class-agnostic NMS are kept.
2. Each box (padded by :data:`PAD`) is embedded by the :attr:`Role.IMAGE_TEXT_EMBEDDING` model and scored against
   every brand's prompts (:data:`TEMPLATES`, averaged: :func:`imagelens.features.zero_shot.label_embeddings`); the
   softmax over the brand list and one background label (``"(no brand)"``: an object, text, a pattern) gives the
   name and its probability; a box the background wins is dropped.
3. Brands with example crops (``imagelens brands add NAME --example crop.png``) also have an image prototype: the
   mean embedding of their crops. A box whose cosine to a prototype is at least :data:`PROTOTYPE_MIN` takes that
   brand with the cosine as its score when that beats the text naming.

No accuracy figure exists for this path yet: it needs the real OWLv2 and SigLIP weights (``imagelens eval brands``
measures it in one command once they are present). Without them the feature uses the OCR signal alone.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from imagelens.features.base import FeatureContext
from imagelens.features.brand_list import BrandList
from imagelens.features.zero_shot import PromptSet, label_embeddings, label_logits, softmax
from imagelens.models.hub import ModelHub
from imagelens.models.roles import ImageTextEmbedder
from imagelens.models.spec import Role
from imagelens.numeric import l2_normalise
from imagelens.types import BoundingBox

log = logging.getLogger(__name__)

LOGO_PROMPTS: tuple[str, ...] = ("a logo", "a brand logo", "a brand name")
TEMPLATES: tuple[str, ...] = ("the {} logo.", "a photo of the {} brand logo.")
MAX_PROPOSALS = 10
PAD = 0.1
PROTOTYPE_MIN = 0.75
BACKGROUND = "(no brand)"
BACKGROUND_PROMPTS: tuple[str, ...] = (
    "a photo of an object.",
    "a photo of some text.",
    "a photo of a pattern.",
)
VISUAL_ROLES = (Role.OPEN_VOCAB_DETECTOR, Role.IMAGE_TEXT_EMBEDDING)


@dataclass(frozen=True, slots=True)
class VisualHit:
    name: str
    score: float
    box: BoundingBox
    proposal_score: float


def visual_models_present(hub: ModelHub) -> bool:
    """Whether both models of the visual signal are on this machine (nothing is loaded)."""
    try:
        return all(hub.is_present(hub.model_for_role(role)) for role in VISUAL_ROLES)
    except Exception:  # noqa: BLE001 -- an unknown role mapping means: not present
        return False


_WARNED = threading.Event()


def note_ocr_only() -> None:
    """Say once per process that brands run on the OCR signal alone."""
    if not _WARNED.is_set():
        _WARNED.set()
        log.warning(
            "brands: the open-vocabulary detector or the image-text model is not present; brands are found by "
            "their printed names (OCR) only. Fetch them with `imagelens models pull owlv2-base-patch16-ensemble "
            "siglip2-base-patch16-224` for logos."
        )


def crop(rgb: npt.NDArray[np.uint8], box: BoundingBox, pad: float = PAD) -> npt.NDArray[np.uint8]:
    """The box grown by ``pad`` of its size on each side, clipped to the image (at least 1x1 pixel)."""
    h, w = rgb.shape[:2]
    dx, dy = box.w * pad, box.h * pad
    x0 = int(np.clip(np.floor(box.x - dx), 0, max(w - 1, 0)))
    y0 = int(np.clip(np.floor(box.y - dy), 0, max(h - 1, 0)))
    x1 = int(np.clip(np.ceil(box.x2 + dx), x0 + 1, w))
    y1 = int(np.clip(np.ceil(box.y2 + dy), y0 + 1, h))
    return np.ascontiguousarray(rgb[y0:y1, x0:x1])


_PROTOTYPES: weakref.WeakKeyDictionary[ImageTextEmbedder, dict[tuple[str, ...], npt.NDArray[np.float32]]] = (
    weakref.WeakKeyDictionary()
)
_LOCK = threading.Lock()


def prototypes(
    model: ImageTextEmbedder, examples: dict[str, tuple[Path, ...]]
) -> tuple[list[str], npt.NDArray[np.float32]]:
    """Brand names with example crops and their prototypes ``(B, D)`` (mean crop embedding, normalised), memoised
    per model and crop files."""
    from imagelens.io import load_image

    names = sorted(examples)
    if not names:
        return [], np.zeros((0, model.dim), np.float32)
    rows = []
    for name in names:
        key = tuple(f"{p}:{p.stat().st_mtime_ns}" for p in examples[name] if p.is_file())
        with _LOCK:
            found = _PROTOTYPES.get(model, {}).get(key)
        if found is None:
            crops = [load_image(p).array() for p in examples[name]]
            found = l2_normalise(model.embed_images(crops).mean(axis=0, keepdims=True))[0].astype(np.float32)
            with _LOCK:
                _PROTOTYPES.setdefault(model, {})[key] = found
        rows.append(found)
    return names, np.stack(rows).astype(np.float32)


def brand_prompt_set(names: Sequence[str]) -> PromptSet:
    """Each brand's prompts, then one background label (:data:`BACKGROUND_PROMPTS`): a box that looks more like
    "no brand" than like any brand is dropped, and a list of one brand is not a certain answer."""
    groups = tuple(tuple(t.format(n) for t in TEMPLATES) for n in names)
    return PromptSet("brands", (*names, BACKGROUND), (*groups, BACKGROUND_PROMPTS))


def visual_hits(ctx: FeatureContext, brands: BrandList) -> list[VisualHit]:
    """Named logo boxes for this image (see the module doc), best first."""
    rgb = ctx.image.array()
    detector = ctx.hub.open_vocab_detector()
    proposals = detector.detect(rgb, list(LOGO_PROMPTS)).nms(0.5, class_agnostic=True).head(MAX_PROPOSALS)
    if len(proposals) == 0:
        return []
    boxes = proposals.bounding_boxes()
    model = ctx.hub.embedder()
    crops = [crop(rgb, b) for b in boxes]
    embeddings = model.embed_images(crops)
    text = label_embeddings(model, brand_prompt_set(brands.names))
    proto_names, proto = prototypes(model, dict(brands.examples))
    hits = []
    for i, box in enumerate(boxes):
        probs = softmax(label_logits(model, embeddings[i], text))
        best = int(np.argmax(probs))
        name, score = (brands.names[best], float(probs[best])) if best < len(brands.names) else ("", 0.0)
        if len(proto_names):
            cos = proto.astype(np.float64) @ embeddings[i].astype(np.float64)
            j = int(np.argmax(cos))
            if cos[j] >= PROTOTYPE_MIN and cos[j] > score:
                name, score = proto_names[j], float(cos[j])
        if name:
            hits.append(VisualHit(name, float(np.clip(score, 0.0, 1.0)), box, float(proposals.scores[i])))
    return sorted(hits, key=lambda h: -h.score)
