"""Find the moment: a text, an image or a vector against a video index's segments, answering time ranges.

Relevance as in :mod:`imagelens.retrieval.vectorize`: a text query's is the embedding model's own sigmoid
probability, an image query's the clipped cosine; a text query's against transcript segments (``SpeechTextSegment``,
text-to-text) the clipped cosine too.

The preview's options (:class:`VideoQuery`, see docs/video.md "Query and ingestion options") are applied after the
nearest-neighbour search, which therefore fetches more candidates than ``skip + top`` (4x, growing until enough
survive): filters on the videos' metadata (``documentIds``, ``stringFilters``, ``datetimeFilters``), the boost of
videos whose ``searchable`` metadata holds the query's words, moderation (withheld segments), additional indexes
(merged by relevance), dedup, then ``dedupMaxDocumentCount``, ``skip`` and ``top``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from imagelens.errors import InvalidArgumentError
from imagelens.retrieval.base import EmbeddingModel, Filters, Vector, check_top_skip
from imagelens.retrieval.vectorize import BlockList, check_text, image_relevance, text_relevance
from imagelens.video import options as opt
from imagelens.video.settings import VideoSettings
from imagelens.video.speech import KIND_SPEECH
from imagelens.video.store import FEATURE_KINDS, VideoIndex, VideoRecord

if TYPE_CHECKING:
    from imagelens.analyzer import Analyzer
    from imagelens.io import ImageSource, LoadedImage

#: the most candidates one index is asked for (after that, fewer than ``top`` results may come back)
MAX_CANDIDATES = 20_000


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
    index_name: str = ""  # set when the query spans additional indexes


@dataclass(frozen=True, slots=True)
class VideoQuery:
    """Restrictions and options of a query: ``document_ids`` (None: all), ``string_filters`` and
    ``datetime_filters`` on video metadata, ``feature_filters`` (``vision``: frame segments, ``speech``: transcript
    segments; none: both), ``moderation`` (also withhold segments of videos ingested without moderation),
    ``dedup`` (drop a hit whose segment vector is as similar to a better hit's as two samples of one segment may
    be), ``dedup_max`` (at most this many results), ``metadata_search`` (text queries: boost videos whose
    searchable metadata holds the query's words), ``additional_indexes`` (other video indexes, same model)."""

    document_ids: Sequence[str] | None = None
    string_filters: Mapping[str, Sequence[str]] | None = None
    feature_filters: Sequence[str] | None = None
    datetime_filters: Sequence[opt.DatetimeFilter] | None = None
    moderation: bool = False
    dedup: bool = False
    dedup_max: int | None = None
    metadata_search: bool = True
    additional_indexes: Sequence[str] = field(default_factory=tuple)


@dataclass(slots=True)
class _Candidate:
    segment_id: str
    hit: VideoHit
    index: VideoIndex


class VideoSearcher:
    def __init__(
        self,
        analyzer: Analyzer,
        index: VideoIndex,
        blocklist: BlockList | None = None,
        additional: Sequence[VideoIndex] = (),
    ) -> None:
        self.analyzer = analyzer
        self.index = index
        self.additional = list(additional)
        self.blocklist = blocklist if blocklist is not None else BlockList.from_env()

    @staticmethod
    def _kinds(query: VideoQuery) -> list[str] | None:
        if not query.feature_filters:
            return None
        for feature in query.feature_filters:
            if feature not in FEATURE_KINDS:
                raise InvalidArgumentError(f"Unknown feature filter {feature!r}: 'vision' or 'speech'.")
        return [FEATURE_KINDS[f] for f in dict.fromkeys(query.feature_filters)]

    def _indexes(self, query: VideoQuery) -> list[VideoIndex]:
        names = [i.name for i in self.additional]
        if sorted(names) != sorted(dict.fromkeys(query.additional_indexes)):
            raise InvalidArgumentError("additionalIndexNames do not match the indexes opened for the query.")
        if self.index.name in names:
            raise InvalidArgumentError(
                f"additionalIndexNames names the queried index '{self.index.name}' itself."
            )
        indexes = [self.index, *self.additional]
        for index in indexes:
            info = index.info()
            opt.check_filters_against_schema(index.name, info, query.string_filters, query.datetime_filters)
        return indexes

    def _check(self, indexes: Sequence[VideoIndex], model_id: str, fingerprint: str) -> None:
        for index in indexes:
            index.segments.check_model(EmbeddingModel(model_id, fingerprint, index.model.dim))

    def by_text(
        self, text: str, top: int = 10, skip: int = 0, query: VideoQuery | None = None
    ) -> list[VideoHit]:
        check_top_skip(top, skip)
        query = query or VideoQuery()
        kinds, indexes = self._kinds(query), self._indexes(query)
        clean = check_text(text, "queryText")
        self.blocklist.check(clean)
        result = self.analyzer.vectorize_text(clean, model_version=self.index.model.model_id)
        self._check(indexes, result.model_version, result.fingerprint)
        embedder = self.analyzer.hub.embedder(self.index.model.model_id)

        def relevance(kind: str, cosine: float) -> float:
            return image_relevance(cosine) if kind == KIND_SPEECH else text_relevance(embedder, cosine)

        words = opt.terms(clean) if query.metadata_search else []
        return self._search(result.vector, top, skip, query, kinds, indexes, relevance, words)

    def by_image(
        self, source: ImageSource | LoadedImage, top: int = 10, skip: int = 0, query: VideoQuery | None = None
    ) -> list[VideoHit]:
        check_top_skip(top, skip)
        query = query or VideoQuery()
        kinds, indexes = self._kinds(query), self._indexes(query)
        result = self.analyzer.vectorize_image(source, model_version=self.index.model.model_id)
        self._check(indexes, result.model_version, result.fingerprint)
        return self._search(
            result.vector, top, skip, query, kinds, indexes, lambda _k, c: image_relevance(c), []
        )

    # --- the pipeline ------------------------------------------------------------------------------------------

    def _search(
        self,
        vector: Vector,
        top: int,
        skip: int,
        query: VideoQuery,
        kinds: list[str] | None,
        indexes: Sequence[VideoIndex],
        relevance: Any,
        words: Sequence[str],
    ) -> list[VideoHit]:
        wanted = skip + top
        if query.dedup_max is not None:
            wanted = min(wanted, query.dedup_max)
        several = len(indexes) > 1
        plans = [_Plan(index, query, words) for index in indexes]
        n = max(4 * wanted, 50)
        while True:
            candidates: list[_Candidate] = []
            exhausted = True
            for plan in plans:
                got, done = plan.candidates(vector, n, kinds, relevance, several)
                candidates += got
                exhausted = exhausted and done
            candidates.sort(key=lambda c: (-c.hit.relevance, c.hit.document_id, c.hit.start_s))
            if query.dedup:
                candidates = self._dedup(candidates, wanted)
            if len(candidates) >= wanted or exhausted or n >= MAX_CANDIDATES:
                break
            n = min(n * 4, MAX_CANDIDATES)
        if query.dedup_max is not None:
            candidates = candidates[: query.dedup_max]
        return [c.hit for c in candidates[skip : skip + top]]

    @staticmethod
    def _dedup(candidates: list[_Candidate], wanted: int) -> list[_Candidate]:
        """Best first, drop a candidate as similar to one kept as two samples of one segment may be; stops once
        ``wanted`` are kept (the vectors are read one by one)."""
        threshold = VideoSettings().segment_similarity
        kept: list[_Candidate] = []
        unit: list[np.ndarray] = []
        for c in candidates:
            doc = c.index.segments.get(c.segment_id)
            if doc is None:
                continue
            v = np.asarray(doc.vector, np.float32)
            norm = float(np.linalg.norm(v))
            v = v / norm if norm > 0 else v
            if unit and float(np.max(np.stack(unit) @ v)) >= threshold:
                continue  # similar to one kept (the same rule as options.dedup_order)
            kept.append(c)
            unit.append(v)
            if len(kept) >= wanted:
                break
        return kept


class _Plan:
    """One index's part of a query: the videos it may answer (filters), their metadata match and verdicts."""

    def __init__(self, index: VideoIndex, query: VideoQuery, words: Sequence[str]) -> None:
        self.index = index
        self.query = query
        info = index.info()
        restricts = bool(query.string_filters or query.datetime_filters or query.document_ids is not None)
        # every query needs the videos: their moderation verdicts live with them
        self.records: dict[str, VideoRecord] = {r.document_id: r for r in index.videos(top=10**9)}
        allowed = set(self.records)
        if query.document_ids is not None:
            allowed &= set(query.document_ids)
        if query.string_filters or query.datetime_filters:
            allowed = {
                d
                for d in allowed
                if opt.passes_filters(self.records[d].metadata, query.string_filters, query.datetime_filters)
            }
        self.allowed: list[str] | None = sorted(allowed) if restricts else None
        self.match = (
            {d: opt.metadata_match(info, r.metadata, words) for d, r in self.records.items()} if words else {}
        )
        self.matching = sorted(
            d for d, m in self.match.items() if m > 0 and (self.allowed is None or d in allowed)
        )

    def _rows(
        self, vector: Vector, n: int, ids: Sequence[str] | None, kinds: list[str] | None
    ) -> list[tuple[str, float, dict[str, Any]]]:
        if (ids is not None and not ids) or (kinds is not None and not kinds):
            return []
        equals: dict[str, Any] = {}
        if ids is not None:
            equals["video"] = list(ids)
        if kinds is not None:
            equals["kind"] = list(kinds)
        return self.index.segments.search(
            vector, top=n, skip=0, filters=Filters(equals=equals) if equals else None
        )

    def candidates(
        self, vector: Vector, n: int, kinds: list[str] | None, relevance: Any, several: bool
    ) -> tuple[list[_Candidate], bool]:
        rows = self._rows(vector, n, self.allowed, kinds)
        exhausted = len(rows) < n
        if self.matching:  # the videos the metadata matches get their best segments in, whatever their rank
            extra = self._rows(vector, n, self.matching, kinds)
            exhausted = exhausted and len(extra) < n
            seen = {r[0] for r in rows}
            rows += [r for r in extra if r[0] not in seen]
        out = []
        for segment_id, cosine, meta in rows:
            f = meta["fields"]
            video = f["video"]
            record = self.records.get(video)
            # moderation reads key frames: transcript segments are not moderated (nor withheld by it)
            if f["kind"] != KIND_SPEECH and opt.withheld(
                record.metadata if record else {}, float(f["best"]), self.query.moderation
            ):
                continue
            score = opt.boosted(relevance(f["kind"], cosine), self.match.get(video, 0.0))
            hit = VideoHit(
                video, f["kind"], f["start"], f["end"], f["best"], score, cosine, f.get("text", ""),
                self.index.name if several else "",
            )  # fmt: skip
            out.append(_Candidate(segment_id, hit, self.index))
        return out, exhausted
