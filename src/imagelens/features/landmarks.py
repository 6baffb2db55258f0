"""The ``landmarks`` feature: landmarks from the configured list (:mod:`imagelens.features.landmark_list`), zero-shot
with the image-text model.

Each landmark is described by "a photo of {name}." and "{name}, a famous landmark." (and the same for each alias);
a fixed set of ordinary scenes ("a photo of an ordinary street", "a photo of a room" ...) competes with them, so
that a picture of no landmark puts its mass there. The confidence of a landmark is its share of a softmax over the
model's native logits of all of them; landmarks at or above ``IMAGELENS_LANDMARKS__THRESHOLD`` (default 0.5, NOT
measured with real weights) are returned, best first, at most ``IMAGELENS_LANDMARKS__MAX_LANDMARKS``.

Azure 3.2 shows them in two places: ``details=Landmarks`` on analyze (inside the ``detail`` of the ``building_`` /
``outdoor_`` categories, see :mod:`imagelens.features.categories`) and ``POST /models/landmarks/analyze``.
With no list configured the feature answers NotSupportedVisualFeature saying how to get one.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from imagelens.config import Settings
from imagelens.features.base import AnalysisOptions, FeatureContext
from imagelens.features.landmark_list import LandmarkList, load_landmark_list
from imagelens.features.tags import image_embedding
from imagelens.features.zero_shot import PromptSet, label_embeddings, label_logits, softmax
from imagelens.models.hub import ModelHub
from imagelens.models.roles import ImageTextEmbedder
from imagelens.models.spec import Role
from imagelens.types import Landmark

__all__ = [
    "BACKGROUND",
    "TEMPLATES",
    "LandmarkIndex",
    "LandmarksFeature",
    "landmark_index",
    "select_landmarks",
]

TEMPLATES = ("a photo of {}.", "{}, a famous landmark.")
#: Ordinary scenes that compete with the landmarks (labels never reported).
BACKGROUND: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("<street>", ("a photo of an ordinary street.", "a photo of a residential street.")),
    ("<building>", ("a photo of an ordinary building.", "a photo of a house.")),
    ("<room>", ("a photo of a room.", "a photo of an indoor scene.")),
    ("<people>", ("a photo of people.", "a photo of a person.")),
    ("<animal>", ("a photo of an animal.", "a photo of a pet.")),
    ("<food>", ("a photo of food.", "a photo of a meal on a table.")),
    ("<object>", ("a photo of an everyday object.", "a close-up photo of a thing.")),
    ("<nature>", ("a photo of a landscape.", "a photo of a park.")),
    ("<vehicle>", ("a photo of a car on a road.", "a photo of a vehicle.")),
    ("<sport>", ("a photo of a sports game.", "a photo of people playing sport.")),
    ("<text>", ("a photo of a document.", "a screenshot.")),
)


@dataclass(frozen=True, slots=True, eq=False)
class LandmarkIndex:
    """The list, a digest of its prompts, and the averaged embeddings (landmarks first, then :data:`BACKGROUND`)."""

    landmarks: LandmarkList
    digest: str
    embeddings: npt.NDArray[np.float32]

    def probabilities(self, model: ImageTextEmbedder, embedding: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Each landmark's share ``(L,)`` of the softmax over landmarks and background scenes."""
        probs = softmax(label_logits(model, embedding, self.embeddings))
        return probs[: len(self.landmarks.entries)]


def landmark_prompt_sets(landmarks: LandmarkList) -> tuple[PromptSet, PromptSet]:
    """The file's landmarks, then the additions and the background scenes: two sets, so that an addition embeds
    only the additions again (the file's set stays cached by the adapter)."""
    groups = [tuple(t.format(p) for p in entry.phrases() for t in TEMPLATES) for entry in landmarks.entries]
    n = landmarks.from_file
    names = landmarks.names
    extra = PromptSet(
        "landmarks-added",
        (*names[n:], *(label for label, _ in BACKGROUND)),
        (*groups[n:], *(prompts for _, prompts in BACKGROUND)),
    )
    return PromptSet("landmarks", names[:n], tuple(groups[:n])) if n else extra, extra


_INDEXES: weakref.WeakKeyDictionary[ImageTextEmbedder, dict[str, LandmarkIndex]] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def landmark_index(model: ImageTextEmbedder, settings: Settings) -> LandmarkIndex:
    """The index of the current list for ``model`` (memoised per model and list content)."""
    landmarks = load_landmark_list(settings)
    from_file, extra = landmark_prompt_sets(landmarks)
    key = f"{from_file.digest()}-{extra.digest()}"
    with _LOCK:
        found = _INDEXES.get(model, {}).get(key)
    if found is not None:
        return found
    parts = [label_embeddings(model, extra)]
    if from_file is not extra:
        parts.insert(0, label_embeddings(model, from_file))
    index = LandmarkIndex(landmarks, key, np.concatenate(parts).astype(np.float32, copy=False))
    with _LOCK:
        cached = _INDEXES.setdefault(model, {})
        if len(cached) > 4:  # the list changed several times: keep the newest only
            cached.clear()
        cached[key] = index
    return index


def select_landmarks(
    probabilities: npt.ArrayLike, names: tuple[str, ...], threshold: float, max_landmarks: int
) -> tuple[Landmark, ...]:
    """Landmarks at or above ``threshold``, best first (ties: list order), at most ``max_landmarks``."""
    probs = np.asarray(probabilities, np.float64)
    passing = np.flatnonzero(probs >= threshold)
    order = passing[np.argsort(-probs[passing], kind="stable")][:max_landmarks]
    return tuple(Landmark(names[int(i)], float(np.clip(probs[i], 0.0, 1.0))) for i in order)


class LandmarksFeature:
    """Landmarks from the configured list (never an invented one), confidences in [0, 1], best first."""

    name: ClassVar[str] = "landmarks"
    field: ClassVar[str] = "landmarks"
    needs: ClassVar[tuple[Role, ...]] = (Role.IMAGE_TEXT_EMBEDDING,)
    after: ClassVar[tuple[str, ...]] = ()

    def validate(self, options: AnalysisOptions, hub: ModelHub) -> None:
        load_landmark_list(hub.settings)  # no list, a bad file or too many names: fail before any model loads

    def run(self, ctx: FeatureContext) -> tuple[Landmark, ...]:
        settings: Settings = ctx.hub.settings
        model = ctx.hub.embedder()
        index = landmark_index(model, settings)
        probs = index.probabilities(model, image_embedding(ctx))
        cfg = settings.landmarks
        return select_landmarks(probs, index.landmarks.names, cfg.threshold, cfg.max_landmarks)
