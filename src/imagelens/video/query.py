"""Find the moment: a text, an image or a vector against a video index's segments, answering time ranges.

Relevance as in :mod:`imagelens.retrieval.vectorize`: a text query's is the embedding model's own sigmoid
probability, an image query's the clipped cosine; a text query's against transcript segments (``SpeechTextSegment``,
text-to-text) the clipped cosine too."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from imagelens.errors import InvalidArgumentError
from imagelens.retrieval.base import EmbeddingModel, check_top_skip
from imagelens.retrieval.vectorize import BlockList, check_text, image_relevance, text_relevance
from imagelens.video.speech import KIND_SPEECH
from imagelens.video.store import FEATURE_KINDS, VideoIndex

if TYPE_CHECKING:
    from imagelens.analyzer import Analyzer
    from imagelens.io import ImageSource, LoadedImage


@dataclass(frozen=True, slots=True)
class VideoHit:
    document_id: str
    document_kind: str
    start_s: float
    end_s: float
    best_s: float
    relevance: float
    cosine: float
    text: str = ""  # a SpeechTextSegment's transcript


@dataclass(frozen=True, slots=True)
class VideoQuery:
    """Restrictions of a query: ``document_ids`` (None: all), ``string_filters`` on video metadata,
    ``feature_filters`` (``vision``: frame segments, ``speech``: transcript segments; none: both)."""

    document_ids: Sequence[str] | None = None
    string_filters: Mapping[str, Sequence[str]] | None = None
    feature_filters: Sequence[str] | None = None


class VideoSearcher:
    def __init__(self, analyzer: Analyzer, index: VideoIndex, blocklist: BlockList | None = None) -> None:
        self.analyzer = analyzer
        self.index = index
        self.blocklist = blocklist if blocklist is not None else BlockList.from_env()

    @staticmethod
    def _kinds(query: VideoQuery) -> list[str] | None:
        if not query.feature_filters:
            return None
        for feature in query.feature_filters:
            if feature not in FEATURE_KINDS:
                raise InvalidArgumentError(f"Unknown feature filter {feature!r}: 'vision' or 'speech'.")
        return [FEATURE_KINDS[f] for f in dict.fromkeys(query.feature_filters)]

    def _ids(self, query: VideoQuery) -> Sequence[str] | None:
        ids = None if query.document_ids is None else list(query.document_ids)
        if query.string_filters:
            matching = self.index.matching_videos(query.string_filters)
            ids = matching if ids is None else [i for i in ids if i in set(matching)]
        return ids

    def _check(self, model_id: str, fingerprint: str) -> None:
        self.index.segments.check_model(EmbeddingModel(model_id, fingerprint, self.index.model.dim))

    def by_text(
        self, text: str, top: int = 10, skip: int = 0, query: VideoQuery | None = None
    ) -> list[VideoHit]:
        check_top_skip(top, skip)
        query = query or VideoQuery()
        kinds, ids = self._kinds(query), self._ids(query)
        clean = check_text(text, "queryText")
        self.blocklist.check(clean)
        result = self.analyzer.vectorize_text(clean, model_version=self.index.model.model_id)
        self._check(result.model_version, result.fingerprint)
        embedder = self.analyzer.hub.embedder(self.index.model.model_id)
        rows = self.index.search(result.vector, top, skip, ids, kinds)
        return [
            VideoHit(
                r.video, r.kind, r.start_s, r.end_s, r.best_s,
                image_relevance(r.cosine) if r.kind == KIND_SPEECH else text_relevance(embedder, r.cosine),
                r.cosine, r.text,
            )
            for r in rows
        ]  # fmt: skip

    def by_image(
        self, source: ImageSource | LoadedImage, top: int = 10, skip: int = 0, query: VideoQuery | None = None
    ) -> list[VideoHit]:
        check_top_skip(top, skip)
        query = query or VideoQuery()
        kinds, ids = self._kinds(query), self._ids(query)
        result = self.analyzer.vectorize_image(source, model_version=self.index.model.model_id)
        self._check(result.model_version, result.fingerprint)
        rows = self.index.search(result.vector, top, skip, ids, kinds)
        return [
            VideoHit(
                r.video, r.kind, r.start_s, r.end_s, r.best_s, image_relevance(r.cosine), r.cosine, r.text
            )
            for r in rows
        ]
