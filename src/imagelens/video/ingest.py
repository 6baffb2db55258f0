"""Videos into a video index: sample frames (streaming), embed them in batches with the index's image tower, group
them into segments, (with the ``speech`` feature) transcribe the audio track, store the segments. One path for the
CLI and the server's ingestion jobs."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from imagelens.errors import InvalidArgumentError
from imagelens.retrieval.vectorize import embed_images, model_of
from imagelens.video.decode import FrameSampler, SampledFrame, VideoInfo
from imagelens.video.segments import Segment, SegmentBuilder
from imagelens.video.settings import VideoSettings
from imagelens.video.source import local_video, video_file  # noqa: F401  (moved to source.py; re-exported)
from imagelens.video.speech import SpeechSegment, require_speech_model, transcribe_video
from imagelens.video.store import VideoIndex, VideoRecord, now

if TYPE_CHECKING:
    from imagelens.analyzer import Analyzer

Progress = Callable[[str, float, float | None], None]


@dataclass(slots=True)
class VideoReport:
    """What one video's ingestion did: samples, segments, cuts, warnings (partial result) and speed."""

    document_id: str
    info: VideoInfo | None = None
    decoded: int = 0
    samples: int = 0
    segments: list[Segment] = field(default_factory=list)
    cuts: list[float] = field(default_factory=list)
    end_s: float = 0.0
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    speech: list[SpeechSegment] = field(default_factory=list)

    @property
    def speed(self) -> float:
        """Video-seconds ingested per wall-second."""
        return self.end_s / self.seconds if self.seconds > 0 else 0.0


def sample_and_segment(
    analyzer: Analyzer,
    model_id: str,
    path: str | Path,
    settings: VideoSettings | None = None,
    progress: Callable[[float, float | None], None] | None = None,
    document_id: str = "",
) -> VideoReport:
    """Decode, sample, embed and segment one video (nothing stored)."""
    settings = settings or VideoSettings()
    embedder = analyzer.hub.embedder(model_id)
    sampler = FrameSampler(path, settings)
    builder = SegmentBuilder(settings.segment_similarity, settings.max_segment_s)
    report = VideoReport(document_id or str(path))
    started = time.perf_counter()
    batch: list[SampledFrame] = []

    def flush() -> None:
        if not batch:
            return
        with analyzer.hub.using():
            vectors = embed_images(embedder, [f.rgb for f in batch])
        for frame, vector in zip(batch, vectors, strict=True):
            closed = builder.add(frame.time_s, np.asarray(vector, dtype=np.float32), frame.cut)
            if closed is not None:
                report.segments.append(closed)
        if progress is not None:
            progress(batch[-1].time_s, sampler.info.duration_s if sampler.info else None)
        batch.clear()

    for frame in sampler:
        batch.append(frame)
        if len(batch) >= settings.batch:
            flush()
    flush()
    report.segments.extend(builder.finish(sampler.stats.end_s))
    stats = sampler.stats
    report.info, report.decoded, report.samples = sampler.info, stats.decoded, stats.sampled
    report.cuts, report.end_s, report.warnings = list(stats.cuts), stats.end_s, list(stats.warnings)
    report.seconds = time.perf_counter() - started
    return report


def ingest_video(
    analyzer: Analyzer,
    index: VideoIndex,
    path: str | Path,
    document_id: str | None = None,
    *,
    url: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    user_data: Any = None,
    settings: VideoSettings | None = None,
    progress: Progress | None = None,
    speech: bool | None = None,
    moderation: bool = False,
) -> VideoReport:
    """Ingest one video file under ``document_id`` (default: the file name), replacing an earlier version.
    ``speech`` (default: whether the index has the ``speech`` feature) also transcribes the audio track; the speech
    model must be here (else ModelNotFetched, before any work). ``moderation`` checks each segment's key frame
    with the ``adult`` feature (:mod:`imagelens.video.moderation`)."""
    doc_id = document_id or Path(path).name
    if not isinstance(doc_id, str) or not doc_id or len(doc_id) > 1024 or "#" in doc_id:
        raise InvalidArgumentError(
            "A documentId must be a non-empty string of at most 1024 characters without '#'."
        )
    index.segments.check_model(model_of(analyzer.hub.embedder(index.model.model_id)))
    speech = "speech" in index.features() if speech is None else speech
    if speech:
        require_speech_model(analyzer.hub)
    report = sample_and_segment(
        analyzer,
        index.model.model_id,
        path,
        settings,
        None if progress is None else (lambda t, d: progress(doc_id, t, d)),
        doc_id,
    )
    if speech:
        started = time.perf_counter()
        max_s = (settings or VideoSettings()).max_duration_s
        report.speech, warnings = transcribe_video(analyzer, path, index.model.model_id, max_s)
        report.warnings.extend(warnings)
        report.seconds += time.perf_counter() - started
    if moderation:  # key frames through the adult feature; verdicts kept with the video
        from imagelens.video.moderation import moderate_key_frames

        metadata = moderate_key_frames(analyzer, path, report, settings or VideoSettings(), metadata)
    stamp = now()
    duration = report.info.duration_s if report.info and report.info.duration_s else report.end_s
    record = VideoRecord(
        doc_id, url or str(path), dict(metadata or {}), user_data, duration, len(report.segments),
        tuple(report.warnings), stamp, stamp,
    )  # fmt: skip
    index.replace_video(record, report.segments, report.speech)
    return report
