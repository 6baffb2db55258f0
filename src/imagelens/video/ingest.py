"""Videos into a video index: sample frames (streaming), embed them in batches with the index's image tower, group
them into segments, (with the ``speech`` feature) transcribe the audio track, store the segments. One path for the
CLI and the server's ingestion jobs."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from imagelens.errors import InvalidArgumentError
from imagelens.retrieval.vectorize import embed_images, model_of
from imagelens.video.decode import FrameSampler, SampledFrame, SamplerState, VideoInfo
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
    #: frame segments in all (after a resume :attr:`segments` holds only those made since the checkpoint)
    count: int = 0

    @property
    def speed(self) -> float:
        """Video-seconds ingested per wall-second."""
        return self.end_s / self.seconds if self.seconds > 0 else 0.0


Checkpoint = Callable[[list[Segment], dict[str, Any]], None]


def sample_and_segment(
    analyzer: Analyzer,
    model_id: str,
    path: str | Path,
    settings: VideoSettings | None = None,
    progress: Callable[[float, float | None], None] | None = None,
    document_id: str = "",
    *,
    resume: Mapping[str, Any] | None = None,
    on_checkpoint: Checkpoint | None = None,
) -> VideoReport:
    """Decode, sample, embed and segment one video (nothing stored).

    With ``on_checkpoint``, closed segments are also handed to it with a checkpoint state at least every ``settings.checkpoint_s`` seconds of video (after an embedding
    batch) and once at the end (``state["done"]``); ``resume`` (such a state) continues from it: the decoder seeks
    to the keyframe before it and the sampler, shot detector and segment builder carry on exactly, so the segments
    equal an uninterrupted run's."""
    settings = settings or VideoSettings()
    embedder = analyzer.hub.embedder(model_id)
    resumed = resume is not None and not resume.get("done")
    sampler = FrameSampler(path, settings, sampler_state(resume["sampler"]) if resume and resumed else None)
    builder = SegmentBuilder(settings.segment_similarity, settings.max_segment_s)
    report = VideoReport(document_id or str(path))
    started = time.perf_counter()
    batch: list[SampledFrame] = []
    fresh: list[Segment] = []
    spent = float(resume.get("seconds", 0.0)) if resume else 0.0
    mark = {"next": int(resume["next"]) if resume else 0, "time": float(resume["time_s"]) if resume else 0.0}
    if resume is not None and resume.get("done"):
        return _finished(report, resume)
    if resume is not None:
        builder.restore(resume["builder"])

    def state(done: bool) -> dict[str, Any]:
        info = sampler.info
        return {
            "next": mark["next"] + len(fresh),
            "time_s": sampler.last_time,
            "duration_s": info.duration_s if info else None,
            "sampler": _jsonable(asdict(sampler.state())),
            "builder": builder.state(),
            "done": done,
            "seconds": spent + time.perf_counter() - started,
        }

    def flush() -> None:
        if not batch:
            return
        with analyzer.hub.using():
            vectors = embed_images(embedder, [f.rgb for f in batch])
        for frame, vector in zip(batch, vectors, strict=True):
            closed = builder.add(frame.time_s, np.asarray(vector, dtype=np.float32), frame.cut)
            if closed is not None:
                report.segments.append(closed)
                if on_checkpoint is not None:
                    fresh.append(closed)
        if progress is not None:
            progress(batch[-1].time_s, sampler.info.duration_s if sampler.info else None)
        last = batch[-1].time_s
        batch.clear()
        if on_checkpoint is not None and last - mark["time"] >= settings.checkpoint_s:
            on_checkpoint(list(fresh), state(False))
            mark["next"] += len(fresh)
            mark["time"] = last
            fresh.clear()

    for frame in sampler:
        batch.append(frame)
        if len(batch) >= settings.batch:
            flush()
    flush()
    stats = sampler.stats
    tail = list(builder.finish(stats.end_s))
    report.info, report.decoded, report.samples = sampler.info, stats.decoded, stats.sampled
    report.cuts, report.end_s, report.warnings = list(stats.cuts), stats.end_s, list(stats.warnings)
    report.segments.extend(tail)
    report.count = len(report.segments)
    if on_checkpoint is not None:
        fresh.extend(tail)
        final = state(True)
        final.update(end_s=stats.end_s, warnings=list(stats.warnings), cuts=list(stats.cuts))
        on_checkpoint(list(fresh), final)
        report.count = final["next"]
    report.seconds = spent + time.perf_counter() - started
    return report


def sampler_state(raw: Mapping[str, Any]) -> SamplerState:
    values = dict(raw)
    if values.get("next_sample_s") is None:
        values["next_sample_s"] = -math.inf
    return SamplerState(**values)


def _jsonable(state: dict[str, Any]) -> dict[str, Any]:
    if not math.isfinite(state["next_sample_s"]):
        state["next_sample_s"] = None  # -inf: no sample yet (JSON has no infinity)
    return state


def _finished(report: VideoReport, state: Mapping[str, Any]) -> VideoReport:
    """The report of a video whose sampling a checkpoint says is done (only speech and publishing were left)."""
    s = state["sampler"]
    report.decoded, report.samples, report.end_s = int(s["decoded"]), int(s["sampled"]), float(state["end_s"])
    report.cuts, report.warnings = list(state.get("cuts", [])), list(state.get("warnings", []))
    report.count, report.seconds = int(state["next"]), float(state.get("seconds", 0.0))
    return report


def checkpoint_key(path: str | Path, source: str, job: str, settings: VideoSettings) -> dict[str, Any]:
    """What a checkpoint must match to be resumed: the ingestion, the source, the file's size and the sampling
    settings (anything else: the video is ingested from its start)."""
    fields = settings.model_dump(mode="json", exclude={"batch", "checkpoint_s", "max_fetch_bytes"})
    return {"ingestion": job, "source": source, "size": Path(path).stat().st_size, "settings": fields}


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
    job: str = "",
    after_checkpoint: Callable[[dict[str, Any]], None] | None = None,
) -> VideoReport:
    """Ingest one video file under ``document_id`` (default: the file name), replacing an earlier version.
    ``speech`` (default: whether the index has the ``speech`` feature) also transcribes the audio track; the speech
    model must be here (else ModelNotFetched, before any work). ``moderation`` checks each segment's key frame
    with the ``adult`` feature (:mod:`imagelens.video.moderation`).

    Checkpointed (see :mod:`imagelens.video.store_base`): segments are saved as pending with a checkpoint every
    ``checkpoint_s`` of video; a later call for the same ``job`` (ingestion name), source, file and settings
    resumes from the checkpoint. The earlier version stays searchable until the new one replaces it at the end.
    The transcript and the moderation are not checkpointed: after a resume they are made again in full (they run
    after the frames). ``after_checkpoint`` is called after each saved checkpoint (tests interrupt through it)."""
    doc_id = document_id or Path(path).name
    if not isinstance(doc_id, str) or not doc_id or len(doc_id) > 1024 or "#" in doc_id:
        raise InvalidArgumentError(
            "A documentId must be a non-empty string of at most 1024 characters without '#'."
        )
    settings = settings or VideoSettings()
    index.segments.check_model(model_of(analyzer.hub.embedder(index.model.model_id)))
    speech = "speech" in index.features() if speech is None else speech
    if speech:
        require_speech_model(analyzer.hub)
    key = checkpoint_key(path, url or str(path), job, settings)
    saved = index.checkpoint(doc_id)
    resume = saved if saved is not None and saved.get("key") == key else None
    if saved is not None and resume is None:
        index.clear_checkpoint(doc_id)  # another ingestion's, another file's or other settings': start over

    def save(segments: list[Segment], state: dict[str, Any]) -> None:
        state["key"] = key
        index.save_checkpoint(doc_id, state, segments)
        if after_checkpoint is not None:
            after_checkpoint(state)

    report = sample_and_segment(
        analyzer,
        index.model.model_id,
        path,
        settings,
        None if progress is None else (lambda t, d: progress(doc_id, t, d)),
        doc_id,
        resume=resume,
        on_checkpoint=save,
    )
    if speech:
        started = time.perf_counter()
        report.speech, warnings = transcribe_video(
            analyzer, path, index.model.model_id, settings.max_duration_s
        )
        report.warnings.extend(warnings)
        report.seconds += time.perf_counter() - started
    if moderation:  # key frames through the adult feature; verdicts kept with the video
        from imagelens.video.moderation import moderate_key_frames

        if resume is not None:  # every segment, those before the checkpoint too
            report.segments = [seg for batch in index.pending_segments(doc_id) for seg in batch]

        metadata = moderate_key_frames(analyzer, path, report, settings or VideoSettings(), metadata)
    stamp = now()
    if report.info is None and resume is not None:
        duration = resume.get("duration_s") or report.end_s
    else:
        duration = report.info.duration_s if report.info and report.info.duration_s else report.end_s
    record = VideoRecord(
        doc_id, url or str(path), dict(metadata or {}), user_data, duration, report.count,
        tuple(report.warnings), stamp, stamp,
    )  # fmt: skip
    index.publish(record, report.speech)
    return report
