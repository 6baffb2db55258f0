"""Images and texts into one vector space (the IMAGE_TEXT_EMBEDDING role, SigLIP 2 by default), with the checks
every surface shares: empty or oversized query text, the ``model-version`` parameter, a region inside the image,
and the query block list.

Relevance (documented, in [0, 1]) of a hit with cosine ``c``:

- text query: ``sigmoid(logit_scale * c + logit_bias)`` - the embedding model's own probability that the text
  describes the image (SigLIP is trained with exactly this sigmoid; a CLIP-style model without a bias gets
  ``logit_bias = 0``, so its value is only a monotone score, not a calibrated probability);
- image, region or raw-vector query: ``max(c, 0)`` - the cosine itself, clipped (1 = the same picture).
"""

from __future__ import annotations

import math
import os
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from imagelens.errors import InvalidArgumentError, InvalidRequestError
from imagelens.models.roles import Embeddings, ImageTextEmbedder, RGBImage
from imagelens.numeric import l2_normalise, sigmoid
from imagelens.retrieval.base import EmbeddingModel
from imagelens.types import BoundingBox

MAX_TEXT_CHARS = 1000
BLOCKLIST_ENV = "IMAGELENS_QUERY_BLOCKLIST"


class QueryBlockedError(InvalidRequestError):
    """The query text holds a term of the configured block list."""

    inner_code = "QueryBlocked"


def model_of(embedder: ImageTextEmbedder) -> EmbeddingModel:
    return EmbeddingModel(embedder.spec.id, embedder.fingerprint, int(embedder.dim))


def check_model_version(value: str | None, embedder_id: str) -> str:
    """``model-version``: ``latest`` (or absent) or the embedding model's catalog id. Azure's own versions
    (``2023-04-15``, ``2022-04-11``) name Florence models whose vectors these are not, so they are refused."""
    if value is None or value.strip() in ("", "latest"):
        return embedder_id
    if value.strip() == embedder_id:
        return embedder_id
    raise InvalidArgumentError(
        f"The model-version '{value}' is not available: this server's vectors come from '{embedder_id}' (use "
        f"'latest' or '{embedder_id}'). Azure's Florence versions (2023-04-15, 2022-04-11) are not served here, "
        "and vectors of different models are not comparable."
    )


def check_text(text: object, what: str = "text") -> str:
    if not isinstance(text, str):
        raise InvalidRequestError(f"The {what} must be a string.")
    if len(text) > MAX_TEXT_CHARS:
        raise InvalidRequestError(
            f"The {what} is {len(text):,} characters long; the maximum is {MAX_TEXT_CHARS:,} (the model reads its "
            "first 64 tokens)."
        )
    stripped = text.strip()
    if not stripped:
        raise InvalidRequestError(f"The {what} is empty.")
    return stripped


def _norm(text: str) -> str:
    return " ".join(re.findall(r"\w+", unicodedata.normalize("NFKC", text).casefold()))


@dataclass(frozen=True, slots=True)
class BlockList:
    """Query terms refused by search (words or phrases, matched case-insensitively on whole words)."""

    terms: tuple[str, ...] = ()

    @classmethod
    def from_file(cls, path: str | Path) -> BlockList:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
        return cls(
            tuple(t for t in (_norm(line) for line in lines if not line.lstrip().startswith("#")) if t)
        )

    @classmethod
    def from_env(cls) -> BlockList:
        path = os.environ.get(BLOCKLIST_ENV)
        return cls.from_file(path) if path else cls()

    def merged(self, extra: Iterable[str]) -> BlockList:
        return BlockList(self.terms + tuple(t for t in (_norm(x) for x in extra) if t))

    def check(self, text: str) -> None:
        padded = f" {_norm(text)} "
        for term in self.terms:
            if f" {term} " in padded:
                raise QueryBlockedError("The query contains a blocked term and was not run.")


def crop_region(rgb: RGBImage, region: BoundingBox | None) -> RGBImage:
    """The pixels of ``region`` (in the image's pixels); the whole image when ``None``."""
    if region is None:
        return rgb
    h, w = rgb.shape[:2]
    x0, y0 = int(math.floor(region.x)), int(math.floor(region.y))
    x1, y1 = int(math.ceil(region.x + region.w)), int(math.ceil(region.y + region.h))
    if x0 < 0 or y0 < 0 or x1 > w or y1 > h or x1 - x0 < 2 or y1 - y0 < 2:
        raise InvalidArgumentError(
            f"The region x={region.x}, y={region.y}, w={region.w}, h={region.h} must lie inside the {w}x{h} image "
            "and be at least 2x2 pixels."
        )
    out: RGBImage = np.ascontiguousarray(rgb[y0:y1, x0:x1])
    return out


def embed_images(embedder: ImageTextEmbedder, images: Sequence[RGBImage]) -> Embeddings:
    vectors = np.asarray(embedder.embed_images(list(images)), dtype=np.float32)
    return _renormalise(vectors)


def embed_text(embedder: ImageTextEmbedder, text: str) -> Embeddings:
    vectors = np.asarray(embedder.embed_texts([check_text(text)]), dtype=np.float32)
    return _renormalise(vectors)[0]


def _renormalise(vectors: Embeddings) -> Embeddings:
    out: Embeddings = l2_normalise(vectors).astype(np.float32, copy=False)
    return out


def text_relevance(embedder: ImageTextEmbedder, cosine: float) -> float:
    return float(sigmoid(embedder.logit_scale * cosine + embedder.logit_bias))


def image_relevance(cosine: float) -> float:
    return float(min(max(cosine, 0.0), 1.0))


@dataclass(frozen=True, slots=True)
class VectorizeResult:
    """Azure's ``{"modelVersion", "vector"}``: ``model_version`` is the embedding model's catalog id; ``width`` and
    ``height`` are the image's (``None`` for text)."""

    model_version: str
    vector: Embeddings
    fingerprint: str
    width: int | None = None
    height: int | None = None
