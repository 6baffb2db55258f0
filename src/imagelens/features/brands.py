"""The ``brands`` feature (Azure 3.2 ``Brands``): brand names and logos with a box and a confidence.

Two signals, combined (docs/brands.md):

* **Text** (always): the brand names printed in the image, read by the OCR model and looked up in the brand list
  (:mod:`imagelens.features.brand_ocr`). The OCR result is the shared artefact ``"read"``, so an image analysed for
  ``read`` and ``brands`` is read once.
* **Logos** (when OWLv2 and the image-text model are present): boxes proposed by the open-vocabulary detector,
  named by image-text similarity against the brand list and by the example crops' prototypes
  (:mod:`imagelens.features.brand_visual`). When the models are absent the feature runs on text alone and logs so.

An OCR hit and a logo hit of the same brand on overlapping boxes (intersection >= half the smaller box) agree: one
brand with the logo's box and the noisy-OR of the two scores ``1 - (1 - a)(1 - b)``. Then greedy non-maximum
suppression (IoU >= 0.5, any brand) and the threshold (``IMAGELENS_BRANDS__THRESHOLD``, default 0.5; per call
``AnalysisOptions.extra["brands_threshold"]``, validated in [0, 1]). Per call, ``extra["brands"]`` adds names to
the list for that call only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from imagelens.errors import InvalidArgumentError
from imagelens.features.base import AnalysisOptions, FeatureContext
from imagelens.features.brand_list import BrandList, load_brand_list
from imagelens.features.brand_ocr import OcrHit, matcher_for
from imagelens.features.brand_visual import VisualHit, note_ocr_only, visual_hits, visual_models_present
from imagelens.geometry import iou
from imagelens.models.hub import ModelHub
from imagelens.models.spec import Role
from imagelens.types import BoundingBox, Brand, ReadResult

#: ``AnalysisOptions.extra`` keys.
THRESHOLD_OPTION = "brands_threshold"
NAMES_OPTION = "brands"
NMS_IOU = 0.5
AGREE_OVERLAP = 0.5
READ_ARTEFACT = "read"


def check_threshold(value: Any) -> float:
    """A threshold in [0, 1] (400 otherwise)."""
    try:
        threshold = float(value)
    except (TypeError, ValueError):
        raise InvalidArgumentError(
            f"the brands threshold must be a number in [0, 1], got {value!r}"
        ) from None
    if not 0.0 <= threshold <= 1.0:
        raise InvalidArgumentError(f"the brands threshold must be in [0, 1], got {value!r}")
    return threshold


def _extra_names(options: AnalysisOptions) -> tuple[str, ...]:
    names = options.extra.get(NAMES_OPTION) or ()
    if isinstance(names, str):
        names = [n for n in names.split(",") if n.strip()]
    if not isinstance(names, (list, tuple)):
        raise InvalidArgumentError(
            f"'{NAMES_OPTION}' must be a list of brand names, got {type(names).__name__}"
        )
    return tuple(str(n) for n in names)


@dataclass(frozen=True, slots=True)
class Candidate:
    name: str
    score: float
    box: BoundingBox
    signals: tuple[str, ...]


def overlap(a: BoundingBox, b: BoundingBox) -> float:
    """Intersection over the smaller box's area (a word inside a logo box overlaps it fully)."""
    w = min(a.x2, b.x2) - max(a.x, b.x)
    h = min(a.y2, b.y2) - max(a.y, b.y)
    smaller = min(a.area, b.area)
    return max(0.0, w) * max(0.0, h) / smaller if smaller > 0 else 0.0


def combine(ocr: Sequence[OcrHit], visual: Sequence[VisualHit]) -> list[Candidate]:
    """OCR and logo hits merged where they agree (same brand, overlapping), each hit used once; best first."""
    used: set[int] = set()
    out: list[Candidate] = []
    for hit in ocr:
        agree = [
            (v.score, j)
            for j, v in enumerate(visual)
            if j not in used and v.name == hit.name and overlap(hit.box, v.box) >= AGREE_OVERLAP
        ]
        if agree:
            _, j = max(agree)
            used.add(j)
            score = 1.0 - (1.0 - hit.score) * (1.0 - visual[j].score)
            out.append(Candidate(hit.name, score, visual[j].box, ("text", "logo")))
        else:
            out.append(Candidate(hit.name, hit.score, hit.box, ("text",)))
    out += [Candidate(v.name, v.score, v.box, ("logo",)) for j, v in enumerate(visual) if j not in used]
    return sorted(out, key=lambda c: -c.score)


def suppress(candidates: Sequence[Candidate], iou_threshold: float = NMS_IOU) -> list[Candidate]:
    """Greedy NMS over every brand: a candidate overlapping a better one (IoU >= ``iou_threshold``, or the same brand
    with half of the smaller box covered) is dropped."""
    kept: list[Candidate] = []
    for c in sorted(candidates, key=lambda c: -c.score):
        if any(
            iou(c.box, k.box) >= iou_threshold
            or (c.name == k.name and overlap(c.box, k.box) >= AGREE_OVERLAP)
            for k in kept
        ):
            continue
        kept.append(c)
    return kept


def select(candidates: Sequence[Candidate], threshold: float) -> tuple[Brand, ...]:
    return tuple(
        Brand(name=c.name, confidence=min(1.0, max(0.0, c.score)), box=c.box)
        for c in suppress(candidates)
        if c.score >= threshold
    )


class BrandsFeature:
    """Azure 3.2's ``brands``: name, confidence and rectangle of each brand word or logo, best first."""

    name: ClassVar[str] = "brands"
    field: ClassVar[str] = "brands"
    needs: ClassVar[tuple[Role, ...]] = (Role.OCR,)
    after: ClassVar[tuple[str, ...]] = ("read",)

    def threshold(self, options: AnalysisOptions, hub: ModelHub) -> float:
        value = options.extra.get(THRESHOLD_OPTION)
        return check_threshold(hub.settings.brands.threshold if value is None else value)

    def brand_list(self, options: AnalysisOptions, hub: ModelHub) -> BrandList:
        return load_brand_list(hub.settings, _extra_names(options))

    def validate(self, options: AnalysisOptions, hub: ModelHub) -> None:
        self.threshold(options, hub)
        self.brand_list(options, hub)

    def preload(self, options: AnalysisOptions, hub: ModelHub) -> None:
        if visual_models_present(hub):
            for role in (Role.OPEN_VOCAB_DETECTOR, Role.IMAGE_TEXT_EMBEDDING):
                hub.get(role)
        else:
            note_ocr_only()

    def candidates(self, ctx: FeatureContext, brands: BrandList) -> list[Candidate]:
        """Every scored candidate before NMS and the threshold (the eval harness sweeps these)."""
        reader = ctx.hub.reader()
        read: ReadResult = ctx.artefact(READ_ARTEFACT, lambda: reader.read(ctx.image.array()))
        ocr = matcher_for(brands.names).match(read)
        visual = visual_hits(ctx, brands) if visual_models_present(ctx.hub) else []
        return combine(ocr, visual)

    def run(self, ctx: FeatureContext) -> tuple[Brand, ...]:
        threshold = self.threshold(ctx.options, ctx.hub)
        brands = self.brand_list(ctx.options, ctx.hub)
        return select(self.candidates(ctx, brands), threshold)
