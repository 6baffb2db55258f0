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
from imagelens.models.roles import Detector, EmbeddingClassifier
from imagelens.models.spec import ModelSpec, PackageSource, Role
from imagelens.store.base import CustomizationStore, ModelRecord
from imagelens.types import CustomModelResult, Tag

#: A loaded custom model: a detector, or a classifier head over an image-embedding backbone.
CustomModel = Detector | EmbeddingClassifier

CUSTOM_PREFIX = "custom:"
_ADAPTERS = {
    "Generic-Classifier": "imagelens.models.adapters.custom_classifier:CustomClassifierAdapter",
    "Generic-Detector": "imagelens.models.adapters.custom_detector:CustomDetectorAdapter",
}


def custom_spec(record: ModelRecord, store: CustomizationStore) -> ModelSpec:
    """The catalog entry of a trained model. Its files are in the store (``options["dir"]``: on this host, fetched
    from the database first by a PostgreSQL store); the source says "shipped with imagelens" because nothing is ever
    downloaded for it from a model hub.

    Roles: a classifier is an IMAGE_CLASSIFIER (a head over a backbone's image embeddings), a detector a
    DETECTOR. Neither is ever a role's default (the catalog's defaults come first).
    """
    kind = record.kind
    options: dict[str, Any] = {"dir": str(store.model_files(record)), "kind": kind, "name": record.name}
    if kind == "Generic-Detector":
        threshold = float(record.info.get("score_threshold", 0.3))
        options.update(
            score_threshold=threshold, person_threshold=threshold, max_detections=100, nms_iou=None
        )
    return ModelSpec(
        id=f"{CUSTOM_PREFIX}{record.name}:{record.created}",
        roles=(Role.DETECTOR,) if kind == "Generic-Detector" else (Role.IMAGE_CLASSIFIER,),
        adapter=_ADAPTERS[kind],
        source=PackageSource(package="imagelens"),
        license="(your data)",
        description=f"custom {kind} trained on dataset '{record.dataset_name}'",
        options=options,
    )


def resolve(hub: ModelHub, store: CustomizationStore, name: str) -> tuple[ModelRecord, CustomModel]:
    """The model's record and loaded model (a classifier's backbone is loaded too, so that no load happens once
    inference starts). NotFoundError (404) for an unknown name, ConflictError (409) for a model that has not (yet)
    succeeded."""
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
    if record.kind == "Generic-Detector":
        return record, hub.detector(spec.id)
    classifier = hub.model(Role.IMAGE_CLASSIFIER, EmbeddingClassifier, spec.id)
    hub.image_embedder(classifier.backbone_id)
    return record, classifier


def classifier_probabilities(
    hub: ModelHub, classifier: EmbeddingClassifier, images: Sequence[npt.NDArray[np.uint8]]
) -> npt.NDArray[np.float64]:
    """``(N, C)`` probabilities: the backbone the head was trained on embeds, the head classifies."""
    backbone = hub.image_embedder(classifier.backbone_id)
    expected = classifier.backbone_fingerprint
    actual = backbone.fingerprint
    if expected and actual and expected != actual:
        raise ModelUnavailableError(
            classifier.backbone_id,
            f"its weights differ from those the custom classifier '{classifier.spec.options.get('name')}' was "
            "trained on; train the classifier again or restore the original backbone",
        )
    return classifier.predict_proba(backbone.embed_images(list(images)))


def predict_pixels(
    hub: ModelHub, record: ModelRecord, model: CustomModel, rgb: npt.NDArray[np.uint8]
) -> CustomModelResult:
    """Tags (classifier: every class, best first, ties in class order) or objects (detector: one best class per
    box, above the model's threshold) for one upright RGB image."""
    if isinstance(model, EmbeddingClassifier):
        probs = classifier_probabilities(hub, model, [rgb])[0]
        order = np.argsort(-probs, kind="stable")
        return CustomModelResult(
            tags=tuple(Tag(model.class_names[i], float(np.clip(probs[i], 0.0, 1.0))) for i in order)
        )
    det = model.detect(rgb, model.params.score_threshold)
    return CustomModelResult(objects=det.first_per("query").to_objects())  # one name per box: its best class


def predict(
    hub: ModelHub, store: CustomizationStore, name: str, rgb: npt.NDArray[np.uint8]
) -> CustomModelResult:
    record, model = resolve(hub, store, name)
    return predict_pixels(hub, record, model, rgb)
