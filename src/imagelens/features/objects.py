"""The ``objects`` feature: COCO objects with a box and a one-tag list each (Azure 4.0's shape), from the DETECTOR.

The detector runs once per image for ``objects`` and ``people`` together: its output is the artefact
``"detections"``, holding every (query, class) pair above the LOWER of the two features' thresholds, and each
feature filters it (:class:`imagelens.models.roles.DetectorParams`). Confidences are the detector's own
sigmoid class scores, unchanged.
"""

from __future__ import annotations

from typing import ClassVar

from imagelens.detections import Detections
from imagelens.errors import InvalidArgumentError, NotSupportedLanguageError
from imagelens.features.base import AnalysisOptions, FeatureContext
from imagelens.models.hub import ModelHub
from imagelens.models.roles import Detector
from imagelens.models.spec import Role
from imagelens.types import DetectedObject

DETECTIONS_ARTEFACT = "detections"

#: Object names are the detector's English COCO class names.
OBJECT_LANGUAGES = ("en",)


#: ``AnalysisOptions.extra`` key naming the DETECTOR for one call (e.g. ``"yolox-nano"``); default: the role's.
DETECTOR_OPTION = "detector"


def detector(ctx: FeatureContext) -> Detector:
    """The loaded DETECTOR (the hub loads it once and raises ModelUnavailableError when it is missing)."""
    return ctx.hub.detector(ctx.options.extra.get(DETECTOR_OPTION))


def check_requested_detector(options: AnalysisOptions, hub: ModelHub) -> None:
    """A detector chosen per call must be a catalog model with the detector role (checked before any load)."""
    model_id = options.extra.get(DETECTOR_OPTION)
    if model_id and Role.DETECTOR not in hub.spec(str(model_id)).roles:
        raise InvalidArgumentError(f"The model '{model_id}' is not a detector.")


def requested_model(options: AnalysisOptions, role: Role) -> str | Role:
    """What the Analyzer loads for ``role`` before inference: the per-call detector, else the role's model."""
    model_id = options.extra.get(DETECTOR_OPTION)
    return str(model_id) if model_id and role is Role.DETECTOR else role


def detections(ctx: FeatureContext) -> Detections:
    """The detector's :class:`~imagelens.detections.Detections` for this image, computed once per call whoever
    asks first (``objects`` or ``people``)."""
    model = detector(ctx)
    return ctx.artefact(DETECTIONS_ARTEFACT, lambda: model.detect(ctx.image.array()))


class ObjectsFeature:
    """Azure's ``objects``: one entry per detected object, best first, each with its single best COCO name."""

    name: ClassVar[str] = "objects"
    field: ClassVar[str] = "objects"
    needs: ClassVar[tuple[Role, ...]] = (Role.DETECTOR,)
    after: ClassVar[tuple[str, ...]] = ()

    def validate(self, options: AnalysisOptions, hub: ModelHub) -> None:
        language = options.language.strip().lower()
        if language not in OBJECT_LANGUAGES:
            raise NotSupportedLanguageError(
                f"The feature 'objects' supports the languages {', '.join(OBJECT_LANGUAGES)}; got language={language!r}."
            )
        check_requested_detector(options, hub)

    def model_for(self, options: AnalysisOptions, role: Role) -> str | Role:
        return requested_model(options, role)

    def run(self, ctx: FeatureContext) -> tuple[DetectedObject, ...]:
        self.validate(ctx.options, ctx.hub)
        threshold = detector(ctx).params.score_threshold
        # A query can score several classes above the threshold for one box; Azure reports one name per object, so
        # keep each query's best pair (the detections are best first, so that is its first occurrence).
        return detections(ctx).above(threshold).first_per("query").to_objects()
