"""The ``imageType`` feature (Azure 3.2 ``ImageType``): ``clipArtType`` 0-3 and ``lineDrawingType`` 0/1.

Two methods (``Settings.image_type.method``, per call ``AnalysisOptions.extra["image_type_method"]``):

- ``statistics`` (the default, no model at all): measured on a labelled set of real photos and rendered drawings
  (benchmarks/image_type.md). The image is reduced to at most 256 px a side; then
  ``flat``: the share of pixels whose right and lower neighbours differ by at most 3 (of 255) in every channel;
  ``mid``: the share whose largest such difference is between 7 and 30 (texture, soft shading); ``saturation``: the
  mean HSV saturation; ``light``: the share of pixels brighter than 200; ``ink``: the share darker than 160; ``thin``: the
  share of ink pixels with a non-ink pixel among their 8 neighbours (strokes are thin, shadows are not).
  Clip art is flat with sharp edges (flat - mid high); a line drawing is a light, unsaturated page with thin dark strokes.
- ``zero_shot``: the image-text model against prompt sets (photo / clip art / line drawing). Not measured here (no
  real weights); ``imagelens eval imageType --method zero_shot`` measures it with yours.

Each method gives a clip-art score and a line-drawing score in [0, 1]; ``clipArtType`` is the clip-art score in
quarters (0: < 0.25, 1 "ambiguous": < 0.5, 2 "normal": < 0.75, 3 "good") and ``lineDrawingType`` is 1 from 0.5.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
from PIL import Image

from imagelens.errors import InvalidArgumentError
from imagelens.features.base import AnalysisOptions, FeatureContext
from imagelens.features.zero_shot import PromptSet, label_embeddings, label_logits
from imagelens.io import LoadedImage
from imagelens.models.hub import ModelHub
from imagelens.models.spec import Role
from imagelens.numeric import sigmoid, softmax
from imagelens.types import ImageType

METHODS = ("statistics", "zero_shot")
#: ``AnalysisOptions.extra`` key choosing the method for one call.
METHOD_OPTION = "image_type_method"
MAX_SIDE = 256


@dataclass(frozen=True, slots=True)
class ImageStats:
    flat: float
    mid: float
    saturation: float
    light: float
    ink: float
    thin: float

    def scores(self) -> tuple[float, float]:
        """``(clip_art, line_drawing)`` in [0, 1]. The forms and constants were chosen on the development half of the
        labelled set (benchmarks/image_type.md) and measured on the other half."""
        clip = sigmoid(10.0 * (self.flat - self.mid - 0.5))
        line = (
            sigmoid(30.0 * (0.15 - self.saturation))
            * sigmoid(15.0 * (self.light - 0.6))
            * sigmoid(15.0 * (self.thin - 0.6))
            * sigmoid(800.0 * (self.ink - 0.004))
        )
        return float(clip), float(line)


def image_statistics(rgb: npt.NDArray[np.uint8]) -> ImageStats:
    """The statistics of an RGB image ``(H, W, 3)`` uint8."""
    im = Image.fromarray(np.ascontiguousarray(rgb[..., :3]))
    if max(im.size) > MAX_SIDE:
        f = MAX_SIDE / max(im.size)
        im = im.resize((max(1, round(im.width * f)), max(1, round(im.height * f))), Image.Resampling.BOX)
    a = np.asarray(im, np.int16)
    dx = np.abs(np.diff(a, axis=1)).max(axis=2)[:-1, :]
    dy = np.abs(np.diff(a, axis=0)).max(axis=2)[:, :-1]
    step = np.maximum(dx, dy)
    flat = float((step <= 3).mean()) if step.size else 1.0
    mid = float(((step > 6) & (step <= 30)).mean()) if step.size else 0.0
    mx, mn = a.max(axis=2), a.min(axis=2)
    saturation = float(np.where(mx > 0, (mx - mn) / np.maximum(mx, 1), 0.0).mean())
    lum = 0.299 * a[..., 0] + 0.587 * a[..., 1] + 0.114 * a[..., 2]
    light = float((lum > 200).mean())
    ink_mask = lum < 160
    ink = float(ink_mask.mean())
    padded = np.pad(ink_mask, 1, constant_values=False)
    h, w = ink_mask.shape
    solid = np.ones_like(ink_mask)
    for oy in range(3):
        for ox in range(3):
            solid &= padded[oy : oy + h, ox : ox + w]
    thin = float((ink_mask & ~solid).sum() / max(int(ink_mask.sum()), 1))
    return ImageStats(flat, mid, saturation, light, ink, thin)


def image_type_from_scores(clip_art: float, line_drawing: float) -> ImageType:
    level = int(min(3, max(0, np.floor(clip_art * 4.0))))
    return ImageType(clip_art_type=level, line_drawing_type=int(line_drawing >= 0.5))


def statistics_scores(rgb: npt.NDArray[np.uint8]) -> tuple[float, float]:
    return image_statistics(rgb).scores()


#: label -> sentences, for the ``zero_shot`` method (softmax over the three labels).
ZERO_SHOT_PROMPTS = PromptSet(
    "image_type",
    ("photo", "clip art", "line drawing"),
    (
        ("a photo.", "a photograph of a real scene.", "a snapshot taken with a camera."),
        ("clip art.", "a flat-colour vector illustration.", "a cartoon icon with flat colours."),
        ("a line drawing.", "a black and white line drawing.", "a pen sketch on white paper."),
    ),
)


def zero_shot_scores(ctx: FeatureContext) -> tuple[float, float]:
    """``(clip_art, line_drawing)``: the softmax of the three labels' native logits (photo, clip art, line
    drawing)."""
    from imagelens.features.tags import image_embedding

    model = ctx.hub.embedder()
    logits = label_logits(model, image_embedding(ctx), label_embeddings(model, ZERO_SHOT_PROMPTS))
    p = softmax(logits)
    return float(p[1]), float(p[2])


def _method(options: AnalysisOptions, hub: ModelHub) -> str:
    method: Any = options.extra.get(METHOD_OPTION) or hub.settings.image_type.method
    if method not in METHODS:
        raise InvalidArgumentError(
            f"the imageType method must be one of {', '.join(METHODS)}, got {method!r}"
        )
    return str(method)


class ImageTypeFeature:
    """Azure 3.2 ``imageType`` by image statistics (default) or zero-shot prompts."""

    name: ClassVar[str] = "imageType"
    field: ClassVar[str] = "image_type"
    needs: ClassVar[tuple[Role, ...]] = ()
    after: ClassVar[tuple[str, ...]] = ()

    def validate(self, options: AnalysisOptions, hub: ModelHub) -> None:
        _method(options, hub)

    def preload(self, options: AnalysisOptions, hub: ModelHub) -> None:
        if _method(options, hub) == "zero_shot":
            hub.embedder()

    def scores(self, ctx: FeatureContext) -> tuple[float, float]:
        if _method(ctx.options, ctx.hub) == "zero_shot":
            return zero_shot_scores(ctx)
        return ctx.artefact("image_type_statistics", lambda: statistics_scores(ctx.image.array()))

    def run(self, ctx: FeatureContext) -> ImageType:
        return image_type_from_scores(*self.scores(ctx))


def scores_of(image: LoadedImage, hub: ModelHub, method: str) -> tuple[float, float, int, int]:
    """``(clip_art_score, line_drawing_score, clipArtType, lineDrawingType)`` of one image by ``method`` (the
    evaluation harness's scorer: the feature's own path, with its scores)."""
    options = AnalysisOptions(extra={METHOD_OPTION: method})
    feature = ImageTypeFeature()
    feature.validate(options, hub)
    feature.preload(options, hub)  # loads outside hub.using(): loads never overlap inference
    ctx = FeatureContext(image, hub, options, frozenset({feature.name}))
    with hub.using():
        clip, line = feature.scores(ctx)
    kind = image_type_from_scores(clip, line)
    return clip, line, kind.clip_art_type, kind.line_drawing_type
