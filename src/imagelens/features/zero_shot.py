"""Zero-shot classification with the image-text model: a :class:`PromptSet` names labels and, for each, one or more
full sentences that describe it; the image embedding is compared with each label's averaged prompt embedding.

Every feature that scores an image against words (categories, landmarks, moderation, image type, naming brand
boxes) builds a :class:`PromptSet` and calls :func:`label_embeddings` and :func:`label_logits`. The prompt
embeddings go through :meth:`ImageTextEmbedder.prompt_embeddings`, which caches them in memory and on disk keyed by
the weights, the revision and the texts, so a set is embedded once per model, not once per request. The scores are
the model's native logits (``scale * cos + bias``); :func:`softmax` (one label of many) and :func:`sigmoid`
(each label on its own) turn them into probabilities.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from imagelens.errors import InvalidArgumentError
from imagelens.models.roles import ImageTextEmbedder
from imagelens.numeric import l2_normalise, sigmoid, softmax

__all__ = ["VERBATIM", "PromptSet", "label_embeddings", "label_logits", "sigmoid", "softmax"]

#: The template of a prompt set's sentences: each is embedded as written.
VERBATIM: tuple[str, ...] = ("{}",)


@dataclass(frozen=True, slots=True)
class PromptSet:
    """Labels and, for each label, the sentences that describe it (``prompts[i]`` belongs to ``labels[i]``)."""

    name: str
    labels: tuple[str, ...]
    prompts: tuple[tuple[str, ...], ...]

    def __post_init__(self) -> None:
        if not self.labels:
            raise InvalidArgumentError(f"prompt set {self.name!r} has no labels")
        if len(self.prompts) != len(self.labels):
            raise InvalidArgumentError(
                f"prompt set {self.name!r}: {len(self.prompts)} prompt groups for {len(self.labels)} labels"
            )
        for label, group in zip(self.labels, self.prompts, strict=True):
            if not group or any(not p.strip() for p in group):
                raise InvalidArgumentError(
                    f"prompt set {self.name!r}: label {label!r} needs non-empty prompts"
                )

    @classmethod
    def from_templates(
        cls,
        name: str,
        labels: Sequence[str],
        templates: Sequence[str],
        phrases: Mapping[str, Sequence[str]] | None = None,
    ) -> PromptSet:
        """Each label's prompts are ``template.format(phrase)`` for every template and every phrase of the label
        (``phrases[label]``, default the label itself)."""
        if not templates or any(t.count("{}") != 1 for t in templates):
            raise InvalidArgumentError(f"each template needs exactly one '{{}}', got {list(templates)!r}")
        phrases = phrases or {}
        groups = tuple(
            tuple(t.format(p) for p in (phrases.get(label) or (label,)) for t in templates)
            for label in labels
        )
        return cls(name, tuple(labels), groups)

    @property
    def flat_prompts(self) -> tuple[str, ...]:
        return tuple(p for group in self.prompts for p in group)

    def digest(self) -> str:
        """A short hash of the labels and prompts (names a persisted artefact built from this set)."""
        text = "\n".join(
            f"{label}\t{' | '.join(group)}" for label, group in zip(self.labels, self.prompts, strict=True)
        )
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def label_embeddings(model: ImageTextEmbedder, prompt_set: PromptSet) -> npt.NDArray[np.float32]:
    """``(L, D)``: each label's prompt embeddings averaged and re-normalised (cached by the model per text set)."""
    flat = model.prompt_embeddings(list(prompt_set.flat_prompts), VERBATIM)
    rows = np.empty((len(prompt_set.labels), flat.shape[1]), np.float32)
    start = 0
    for i, group in enumerate(prompt_set.prompts):
        rows[i] = flat[start : start + len(group)].mean(axis=0)
        start += len(group)
    return l2_normalise(rows).astype(np.float32, copy=False)


def label_logits(
    model: ImageTextEmbedder, image_embedding: npt.ArrayLike, embeddings: npt.ArrayLike
) -> npt.NDArray[np.float64]:
    """The model's native image-text logits ``scale * cos + bias`` of one image ``(D,)`` against ``(L, D)`` labels."""
    image = np.asarray(image_embedding, np.float64)
    labels = np.asarray(embeddings, np.float64)
    if image.ndim != 1 or labels.ndim != 2 or labels.shape[1] != image.shape[0]:
        raise InvalidArgumentError(f"cannot score an image {image.shape} against labels {labels.shape}")
    return float(model.logit_scale) * (labels @ image) + float(model.logit_bias)
