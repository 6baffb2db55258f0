"""Prediction with a trained custom model: the store says what the model is, the hub loads and shares it.

A trained model becomes a catalog entry (:func:`custom_spec`) whose id includes its creation time, so a model deleted
and trained again under the same name never reuses the old one's cached adapter. Every call looks the model up in
the store (one small SQLite read): a model deleted by another process stops answering at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from imagelens.errors import ConflictError, InvalidArgumentError, ModelUnavailableError, NotFoundError
from imagelens.models.hub import ModelHub
from imagelens.models.spec import ModelSpec, PackageSource, Role
from imagelens.store.base import CustomizationStore, ModelRecord
from imagelens.types import BoundingBox, CustomModelResult, DetectedObject, Tag

CUSTOM_PREFIX = "custom:"
_ADAPTERS = {
    "Generic-Classifier": "imagelens.models.adapters.custom_classifier:CustomClassifierAdapter",
    "Generic-Detector": "imagelens.models.adapters.custom_detector:CustomDetectorAdapter",
}


def custom_spec(record: ModelRecord, store: CustomizationStore) -> ModelSpec:
    """The catalog entry of a trained model. Its files are in the store (``options["dir"]``); the source says
    "shipped with imagelens" because nothing is ever downloaded for it.

    Roles: the hub needs one; a classifier is an image-embedding head, a detector a detector. Neither is ever a
    role's default (the catalog's defaults come first).
    """
    kind = record.kind
    options: dict[str, Any] = {"dir": str(store.model_dir(record.name)), "kind": kind, "name": record.name}
    if kind == "Generic-Detector":
        threshold = float(record.info.get("score_threshold", 0.3))
        options.update(
            score_threshold=threshold, person_threshold=threshold, max_detections=100, nms_iou=None
        )
    return ModelSpec(
        id=f"{CUSTOM_PREFIX}{record.name}:{record.created}",
        roles=(Role.DETECTOR,) if kind == "Generic-Detector" else (Role.IMAGE_TEXT_EMBEDDING,),
        adapter=_ADAPTERS[kind],
        source=PackageSource(package="imagelens"),
        license="(your data)",
        description=f"custom {kind} trained on dataset '{record.dataset_name}'",
        options=options,
    )


def resolve(hub: ModelHub, store: CustomizationStore, name: str) -> tuple[ModelRecord, Any]:
    """The model's record and loaded adapter. NotFoundError (404) for an unknown name, ConflictError (409) for a
    model that has not (yet) succeeded."""
    if not name:
        raise InvalidArgumentError("The 'model-name' parameter is empty.")
    try:
        record = store.get_model(name)
    except NotFoundError:
        raise NotFoundError(f"Resource not found: the custom model '{name}' does not exist.") from None
    if record.status != "succeeded":
        raise ConflictError(
            f"The custom model '{name}' cannot be used yet: its status is '{record.status}' (it must be 'succeeded')."
        )
    spec = custom_spec(record, store)
    try:
        hub.spec(spec.id)
    except InvalidArgumentError:
        hub.register(spec)
    return record, hub.get(spec.id)


def classifier_probabilities(
    hub: ModelHub, adapter: Any, images: Sequence[npt.NDArray[np.uint8]]
) -> npt.NDArray[np.float64]:
    """``(N, C)`` probabilities: the backbone the head was trained on embeds, the head classifies."""
    backbone = hub.get(adapter.backbone_id)
    expected = adapter.head.backbone_fingerprint
    actual = getattr(backbone, "fingerprint", "")
    if expected and actual and expected != actual:
        raise ModelUnavailableError(
            adapter.backbone_id,
            f"its weights differ from those the custom classifier '{adapter.spec.options.get('name')}' was trained "
            "on; train the classifier again or restore the original backbone",
        )
    return adapter.predict_proba(backbone.embed_images(list(images)))  # type: ignore[no-any-return]


def predict_pixels(
    hub: ModelHub, record: ModelRecord, adapter: Any, rgb: npt.NDArray[np.uint8]
) -> CustomModelResult:
    """Tags (classifier: every class, best first) or objects (detector: one best class per box, above the model's
    threshold) for one upright RGB image."""
    if record.kind == "Generic-Classifier":
        probs = classifier_probabilities(hub, adapter, [rgb])[0]
        return CustomModelResult(tags=tuple(Tag(n, p) for n, p in adapter.ranked(probs)))
    det = adapter.detect(rgb, adapter.params.score_threshold)
    _, first = np.unique(det.queries, return_index=True)  # one name per box: each query's best class
    objects = []
    for i in np.sort(first):
        x1, y1, x2, y2 = (float(v) for v in det.boxes[i])
        score = float(np.clip(det.scores[i], 0.0, 1.0))
        objects.append(
            DetectedObject(
                BoundingBox.from_xyxy(x1, y1, x2, y2), (Tag(det.label_names[int(det.labels[i])], score),)
            )
        )
    return CustomModelResult(objects=tuple(objects))


def predict(
    hub: ModelHub, store: CustomizationStore, name: str, rgb: npt.NDArray[np.uint8]
) -> CustomModelResult:
    record, adapter = resolve(hub, store, name)
    return predict_pixels(hub, record, adapter, rgb)
