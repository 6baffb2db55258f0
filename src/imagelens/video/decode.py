"""Streaming decode with PyAV (FFmpeg's libraries from PyPI; no ffmpeg binary is run) and frame sampling.

Frames are decoded one at a time and dropped unless sampled, so memory does not grow with the video's length: a
sample is kept when ``interval_s`` has passed since the previous one, and (with ``detect_cuts``) at the first frame
of each shot the :class:`~imagelens.video.shots.ShotDetector` finds. Sampled frames are scaled down to
``max_side``.

Bad input: a file FFmpeg cannot open or parse (corrupt, not a video) -> :class:`InvalidVideoError`; no video
stream -> :class:`NoVideoStreamError`; a codec FFmpeg cannot decode -> :class:`UnsupportedCodecError`; a known
duration over ``max_duration_s`` -> :class:`VideoTooLongError`. A decode error after frames were decoded
(damaged packets), or frames that end before the duration the header announces (a truncated file), end
sampling with a warning: the frames before it are kept. A video without a
known duration is cut off at ``max_duration_s`` / ``max_samples`` with a warning.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from imagelens.errors import InvalidRequestError, NotSupportedFeatureError
from imagelens.models.roles import RGBImage
from imagelens.video.settings import VideoSettings
from imagelens.video.shots import THUMB_H, THUMB_W, ShotDetector


class InvalidVideoError(InvalidRequestError):
    """The file is not a video FFmpeg can read (corrupt, truncated before any frame, another format)."""

    inner_code = "InvalidVideoFormat"


class NoVideoStreamError(InvalidRequestError):
    inner_code = "NoVideoStream"


class UnsupportedCodecError(NotSupportedFeatureError):
    inner_code = "UnsupportedVideoCodec"


class VideoTooLongError(InvalidRequestError):
    inner_code = "InvalidVideoSize"


@dataclass(frozen=True, slots=True)
class VideoInfo:
    duration_s: float | None
    width: int
    height: int
    fps: float | None
    codec: str
    container: str
    has_audio: bool


@dataclass(frozen=True, slots=True)
class SampledFrame:
    """A kept frame: its presentation time, pixels (scaled to ``max_side``) and whether a shot starts at it."""

    time_s: float
    rgb: RGBImage
    cut: bool


@dataclass(frozen=True, slots=True)
class SamplerState:
    """A :class:`FrameSampler` checkpoint: every frame up to ``last_time_s`` is done (JSON-able with
    :func:`dataclasses.asdict`; ``detector`` is :meth:`ShotDetector.state`)."""

    last_time_s: float
    next_sample_s: float
    decoded: int
    sampled: int
    end_s: float
    cuts: list[float]
    warnings: list[str]
    detector: dict[str, Any] | None


@dataclass(slots=True)
class DecodeStats:
    decoded: int = 0
    sampled: int = 0
    end_s: float = 0.0
    cuts: list[float] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    complete: bool = False


def require_av() -> Any:
    try:
        import av
    except ImportError:  # pragma: no cover - the extra is installed in CI
        raise NotSupportedFeatureError(
            "Video needs PyAV: pip install 'imagelens[video]' (the 'av' package)."
        ) from None
    return av


def _open(path: Path) -> Any:
    av = require_av()
    if not path.exists():
        raise InvalidRequestError(f"The video file '{path}' does not exist.")
    try:
        return av.open(str(path), mode="r", metadata_errors="ignore")
    except av.error.FFmpegError as exc:
        raise InvalidVideoError(f"'{path.name}' is not a video that can be read ({_reason(exc)}).") from None


def _reason(exc: Exception) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return str(text).split(":")[0].strip() or type(exc).__name__


def _info(container: Any, stream: Any) -> VideoInfo:
    duration: float | None = None
    if stream.duration is not None and stream.time_base is not None:
        duration = float(stream.duration * stream.time_base)
    elif container.duration is not None:
        duration = container.duration / 1_000_000.0
    rate = stream.average_rate or stream.guessed_rate
    return VideoInfo(
        duration_s=duration,
        width=int(stream.codec_context.width or 0),
        height=int(stream.codec_context.height or 0),
        fps=float(rate) if rate else None,
        codec=str(stream.codec_context.name),
        container=str(container.format.name),
        has_audio=bool(container.streams.audio),
    )


def probe(path: str | Path) -> VideoInfo:
    """The video's duration, size, frame rate and codec (cheap: headers only)."""
    container = _open(Path(path))
    try:
        streams = container.streams.video
        if not streams:
            raise NoVideoStreamError(f"'{Path(path).name}' holds no video stream.")
        return _info(container, streams[0])
    finally:
        container.close()


def _scaled(width: int, height: int, max_side: int) -> tuple[int, int]:
    scale = min(1.0, max_side / max(width, height, 1))
    return max(2, int(round(width * scale))), max(2, int(round(height * scale)))


class FrameSampler:
    """Iterate to get :class:`SampledFrame` s in time order; :attr:`stats` fills in as it goes."""

    def __init__(
        self, path: str | Path, settings: VideoSettings | None = None, resume: SamplerState | None = None
    ) -> None:
        self.path = Path(path)
        self.settings = settings or VideoSettings()
        self.stats = DecodeStats()
        self.info: VideoInfo | None = None
        self.resume = resume
        s = self.settings
        self.detector = ShotDetector(s.cut_hist, s.cut_pixels, s.min_shot_s) if s.detect_cuts else None
        self.next_sample = -math.inf
        self.last_time = 0.0

    def state(self) -> SamplerState:
        """Where sampling stands after the frames iterated so far (a checkpoint: :meth:`__init__`'s ``resume``
        continues from the next frame, in a new process, with the same samples and cuts)."""
        st = self.stats
        return SamplerState(
            self.last_time, self.next_sample, st.decoded, st.sampled, st.end_s, list(st.cuts), list(st.warnings),
            self.detector.state() if self.detector is not None else None,
        )  # fmt: skip

    def _restore(self, container: Any, stream: Any) -> float:
        """Load the checkpoint and seek to the keyframe at or before it; answers the time of the last frame done
        (frames up to it are decoded again from the keyframe and skipped)."""
        r = self.resume
        assert r is not None
        self.last_time, self.next_sample = r.last_time_s, r.next_sample_s
        st = self.stats
        st.decoded, st.sampled, st.end_s, st.cuts, st.warnings = (
            r.decoded,
            r.sampled,
            r.end_s,
            list(r.cuts),
            list(r.warnings),
        )
        if self.detector is not None and r.detector is not None:
            self.detector.restore(r.detector)
        if r.last_time_s > 0 and stream.time_base:
            target = int(r.last_time_s / stream.time_base)
            container.seek(target, stream=stream, backward=True, any_frame=False)
            first = next(iter(container.decode(stream)), None)
            landed = None if first is None else first.time
            # A demuxer that lands after the checkpoint would lose frames: decode from the start instead.
            container.seek(target if landed is not None and landed <= r.last_time_s else 0, stream=stream)
        return r.last_time_s + 1e-6

    def __iter__(self) -> Iterator[SampledFrame]:
        av = require_av()
        s = self.settings
        container = _open(self.path)
        try:
            if not container.streams.video:
                raise NoVideoStreamError(f"'{self.path.name}' holds no video stream.")
            stream = container.streams.video[0]
            if stream.codec_context is None:
                raise UnsupportedCodecError(f"'{self.path.name}': its video codec cannot be decoded here.")
            stream.thread_type = "AUTO"
            self.info = info = _info(container, stream)
            if info.duration_s is not None and info.duration_s > s.max_duration_s:
                raise VideoTooLongError(
                    f"'{self.path.name}' lasts {info.duration_s:,.0f} s; the maximum is {s.max_duration_s:,.0f} s "
                    "(IMAGELENS_VIDEO_MAX_DURATION_S)."
                )
            yield from self._frames(av, container, stream)
        finally:
            container.close()

    def _frames(self, av: Any, container: Any, stream: Any) -> Iterator[SampledFrame]:
        s, stats, detector = self.settings, self.stats, self.detector
        frame_step = 1.0 / self.info.fps if self.info and self.info.fps else 0.0
        skip_to = -math.inf
        if self.resume is not None:
            skip_to = self._restore(container, stream)
        last_time = self.last_time
        try:
            for frame in container.decode(stream):
                t = frame.time
                t = last_time + frame_step if t is None else float(t)
                if t <= skip_to:
                    continue  # decoded from the keyframe before the checkpoint: done before it
                skip_to = -math.inf
                if stats.decoded == 0 and t > 0:
                    self.next_sample = t  # the first frame is always sampled, whatever its timestamp
                stats.decoded += 1
                self.last_time = last_time = t
                stats.end_s = t + frame_step
                if t > s.max_duration_s:
                    stats.warnings.append(
                        f"stopped at {s.max_duration_s:,.0f} s (IMAGELENS_VIDEO_MAX_DURATION_S)"
                    )
                    return
                cut = False
                if detector is not None:
                    thumb = frame.reformat(width=THUMB_W, height=THUMB_H, format="rgb24").to_ndarray()
                    cut = detector.update(t, thumb)
                    if cut:
                        stats.cuts.append(t)
                if not cut and t < self.next_sample:
                    continue
                if stats.sampled >= s.max_samples:
                    stats.warnings.append(
                        f"stopped after {s.max_samples:,} samples (IMAGELENS_VIDEO_MAX_SAMPLES)"
                    )
                    return
                w, h = _scaled(frame.width, frame.height, s.max_side)
                rgb = np.ascontiguousarray(frame.reformat(width=w, height=h, format="rgb24").to_ndarray())
                stats.sampled += 1
                self.next_sample = t + s.interval_s
                yield SampledFrame(t, rgb, cut or stats.sampled == 1)
        except av.error.FFmpegError as exc:
            if stats.decoded == 0:
                raise InvalidVideoError(
                    f"'{self.path.name}' could not be decoded ({_reason(exc)}): damaged or truncated."
                ) from None
            stats.warnings.append(
                f"decoding stopped at {last_time:.2f} s ({_reason(exc)}): the video is damaged or truncated; "
                "the frames before it were kept"
            )
            return
        if stats.decoded == 0:
            raise InvalidVideoError(
                f"'{self.path.name}' holds no decodable video frame (empty or truncated)."
            )
        duration = self.info.duration_s if self.info else None
        if duration is not None and stats.end_s < duration - max(1.0, 2 * frame_step):
            stats.warnings.append(
                f"the frames end at {stats.end_s:.2f} s of the {duration:.2f} s the header announces: the file is "
                "truncated; the frames before the end were kept"
            )
            return
        stats.complete = True
