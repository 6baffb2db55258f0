"""The ``speech`` feature: a video's audio track transcribed into timed ``SpeechTextSegment`` documents.

Audio is decoded with PyAV (streaming: one frame at a time) and resampled to 16 kHz mono float32 by PyAV's
``AudioResampler``; samples are gathered into windows of ``WINDOW_S`` seconds (the recognizer's own 30 s windows
fit in them exactly), each transcribed by the speech-recognition model (Whisper) and dropped, so memory is bounded
by one window (about 3.8 MB) whatever the video's length. Segment times count samples from the first decoded audio
sample (an audio track that starts late is not shifted).

Each segment's text is embedded with the index's image-text model's **text tower** and stored beside the frame
segments; a text query with ``featureFilters: ["speech"]`` compares the query's text embedding to the transcripts'
(text-to-text cosine, relevance = the clipped cosine). This is a semantic match, not a keyword match.

A video without an audio stream, or whose audio cannot be decoded, gets a warning: its frames are still indexed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from imagelens.models.roles import SpeechRecognizer
from imagelens.models.spec import Role
from imagelens.video.decode import require_av

if TYPE_CHECKING:
    from imagelens.analyzer import Analyzer
    from imagelens.models.hub import ModelHub

SAMPLE_RATE = 16_000
WINDOW_S = 120.0  # a multiple of the recognizer's 30 s window
KIND_SPEECH = "SpeechTextSegment"


@dataclass(frozen=True, slots=True)
class SpeechSegment:
    start_s: float
    end_s: float
    text: str
    vector: npt.NDArray[np.float32]


class NoAudio(Exception):
    """The file has no audio stream (or none FFmpeg can decode): a warning, not an error."""


def speech_model_id(hub: ModelHub) -> str:
    return hub.model_for_role(Role.SPEECH_RECOGNITION)


def require_speech_model(hub: ModelHub) -> str:
    """The speech model's id if its weights are here; else the hub's ModelNotFetched error (it names
    ``imagelens models pull <id>``)."""
    model_id = speech_model_id(hub)
    hub.locate(model_id)
    return model_id


def audio_windows(
    path: str | Path, window_s: float = WINDOW_S, max_s: float | None = None
) -> Iterator[tuple[float, npt.NDArray[np.float32]]]:
    """``(offset_s, samples)`` windows of the first audio stream, 16 kHz mono float32, streamed. Raises
    :class:`NoAudio` when the file has no audio stream or its audio cannot be opened; a decode error later ends the
    windows there (what was decoded before is yielded)."""
    av = require_av()
    try:
        container = av.open(str(path), mode="r", metadata_errors="ignore")
    except av.error.FFmpegError as exc:
        raise NoAudio(f"the file could not be opened for its audio ({type(exc).__name__})") from None
    try:
        if not container.streams.audio:
            raise NoAudio("the video has no audio stream")
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        size = int(window_s * SAMPLE_RATE)
        limit = None if max_s is None else int(max_s * SAMPLE_RATE)
        parts: list[npt.NDArray[np.float32]] = []
        held = emitted = 0

        def take(frames: Any) -> Iterator[tuple[float, npt.NDArray[np.float32]]]:
            nonlocal held, emitted
            for out in frames:
                parts.append(np.asarray(out.to_ndarray(), dtype=np.float32).reshape(-1))
                held += parts[-1].size
                while held >= size:
                    joined = np.concatenate(parts)
                    yield emitted / SAMPLE_RATE, joined[:size]
                    emitted += size
                    parts[:] = [joined[size:]]
                    held = parts[0].size

        try:
            for frame in container.decode(stream):
                yield from take(resampler.resample(frame))
                if limit is not None and emitted + held >= limit:
                    break
            yield from take(resampler.resample(None))
        except av.error.FFmpegError:
            if emitted == 0 and held == 0:
                raise NoAudio("the audio stream could not be decoded") from None
        if held:
            rest = np.concatenate(parts)
            if limit is not None:
                rest = rest[: max(0, limit - emitted)]
            if rest.size:
                yield emitted / SAMPLE_RATE, rest
    finally:
        container.close()


def transcribe_video(
    analyzer: Analyzer, path: str | Path, embedder_id: str, max_s: float | None = None
) -> tuple[list[SpeechSegment], list[str]]:
    """The video's speech segments (text embedded with ``embedder_id``'s text tower) and warnings."""
    hub = analyzer.hub
    recognizer = hub.model(Role.SPEECH_RECOGNITION, SpeechRecognizer, speech_model_id(hub))
    embedder = hub.embedder(embedder_id)
    out: list[SpeechSegment] = []
    try:
        for offset, samples in audio_windows(path, max_s=max_s):
            with hub.using():
                timed = recognizer.transcribe(samples)
                texts = [text for _s, _e, text in timed]
                vectors = embedder.embed_texts(texts) if texts else np.zeros((0, 1), np.float32)
            for (start, end, text), vector in zip(timed, vectors, strict=True):
                vec = np.asarray(vector, dtype=np.float32)
                out.append(SpeechSegment(round(offset + start, 3), round(offset + end, 3), text, vec))
    except NoAudio as exc:
        return out, [f"speech: {exc}; only the frames were indexed."]
    return out, []
