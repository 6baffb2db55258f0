"""Whisper speech recognition (OpenAI, through transformers' ``WhisperForConditionalGeneration``).

Stages: ``preprocess`` (16 kHz mono float32 samples -> 30 s windows -> log-mel features, transformers'
``WhisperFeatureExtractor``) -> ``forward`` (``generate`` with ``return_timestamps=True``, greedy; the only code
touching torch) -> ``postprocess`` (token ids -> timed segments: Whisper's timestamp tokens ``<|t|>`` (20 ms steps)
open and close a segment; text between them is that segment's).

Every window is decoded on its own (no text carried from one window to the next): simple and bounded, at the cost of
a word cut at a window edge. A window whose output has no timestamp tokens is one segment spanning the window's
audio; segment times are clamped to the window's audio. Segments with no text are dropped.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any, Self

import numpy as np
import numpy.typing as npt

from imagelens.errors import InvalidArgumentError, ModelUnavailableError
from imagelens.models.spec import ModelSpec

SAMPLE_RATE = 16_000
WINDOW_S = 30.0
TIME_STEP_S = 0.02
DEFAULT_OPTIONS: dict[str, Any] = {
    "language": None,
    "task": "transcribe",
    "max_new_tokens": 440,
    "num_beams": 1,
}
#: A JSON file beside the weights whose keys override ``spec.options`` for that folder (the tiny test model's short
#: decode budget: its random weights never emit end-of-sequence).
OPTIONS_FILE = "imagelens_options.json"

Segment = tuple[float, float, str]


class WhisperAdapter:
    """The :class:`~imagelens.models.roles.SpeechRecognizer` over a Whisper folder (``config.json``,
    ``generation_config.json``, weights, ``preprocessor_config.json``, tokenizer files)."""

    spec: ModelSpec
    sample_rate: int

    def __init__(self, spec: ModelSpec, path: Path, processor: Any, tokenizer: Any, model: Any) -> None:
        local = path / OPTIONS_FILE
        overrides = json.loads(local.read_text(encoding="utf-8")) if local.is_file() else {}
        options = {**DEFAULT_OPTIONS, **spec.options, **overrides}
        self.spec = spec
        self.path = path
        self.sample_rate = SAMPLE_RATE
        self.language = options["language"]
        self.task = str(options["task"])
        self.max_new_tokens = int(options["max_new_tokens"])
        self.num_beams = int(options["num_beams"])
        self._processor = processor
        self._tokenizer = tokenizer
        self._model = model
        gen = model.generation_config
        self._timestamp_begin = int(gen.no_timestamps_token_id) + 1
        self._eos = int(gen.eos_token_id if not isinstance(gen.eos_token_id, list) else gen.eos_token_id[0])
        self._lock = threading.Lock()

    @classmethod
    def load(cls, path: Path | None, spec: ModelSpec) -> Self:
        if path is None:
            raise ModelUnavailableError(spec.id, "a Whisper model needs a model folder")
        from transformers import WhisperFeatureExtractor, WhisperForConditionalGeneration, WhisperTokenizer

        processor = WhisperFeatureExtractor.from_pretrained(str(path))
        tokenizer = WhisperTokenizer.from_pretrained(str(path))
        model = WhisperForConditionalGeneration.from_pretrained(str(path)).eval()
        return cls(spec, path, processor, tokenizer, model)

    def transcribe(self, audio_16k: npt.NDArray[np.float32]) -> list[Segment]:
        """Timed segments ``(start_s, end_s, text)`` of 16 kHz mono float32 samples, in order."""
        audio = np.asarray(audio_16k, dtype=np.float32)
        if audio.ndim != 1:
            raise InvalidArgumentError("transcribe needs mono samples (a 1-D array).")
        window = int(WINDOW_S * SAMPLE_RATE)
        out: list[Segment] = []
        for start in range(0, len(audio), window):
            chunk = audio[start : start + window]
            if len(chunk) < SAMPLE_RATE // 10:  # under 0.1 s: nothing to hear
                continue
            offset, length = start / SAMPLE_RATE, len(chunk) / SAMPLE_RATE
            for s, e, text in self._segments(self._forward(chunk), length):
                out.append((round(offset + s, 3), round(offset + e, 3), text))
        return out

    def _forward(self, chunk: npt.NDArray[np.float32]) -> list[int]:
        import torch

        features = self._processor(chunk, sampling_rate=SAMPLE_RATE, return_tensors="pt").input_features
        kwargs: dict[str, Any] = {"return_timestamps": True, "num_beams": self.num_beams, "do_sample": False}
        if getattr(self._model.generation_config, "is_multilingual", False):
            kwargs["task"] = self.task
            if self.language:
                kwargs["language"] = self.language
        with self._lock, torch.inference_mode():
            generated = self._model.generate(features, max_new_tokens=self.max_new_tokens, **kwargs)
        sequences = generated["sequences"] if isinstance(generated, dict) else generated
        return [int(t) for t in sequences[0].tolist()]

    def _segments(self, ids: list[int], length_s: float) -> list[Segment]:
        """Timestamp tokens open and close segments; text tokens (ids below end-of-text) fill them."""
        segments: list[Segment] = []
        start: float | None = None
        text_ids: list[int] = []

        def close(end: float) -> None:
            nonlocal text_ids
            text = self._tokenizer.decode(text_ids, skip_special_tokens=True).strip()
            s = max(start or 0.0, 0.0)
            e = min(max(end, s), length_s)
            if text and s < length_s:  # a segment past the window's audio (its zero padding) is dropped
                segments.append((s, e if e > s else min(s + TIME_STEP_S, length_s), text))
            text_ids = []

        for token in ids:
            if token >= self._timestamp_begin:
                t = (token - self._timestamp_begin) * TIME_STEP_S
                if start is None:
                    start = t
                else:
                    close(t)
                    start = None if not text_ids else t
            elif token < self._eos:
                text_ids.append(token)
        if text_ids:
            close(length_s)
        return segments

    def close(self) -> None:
        self._model = None
        self._tokenizer = None
        self._processor = None
