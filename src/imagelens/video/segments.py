"""Consecutive similar sampled frames -> segments.

A sample starts a new segment when a shot starts at it, when its cosine to the current segment's mean vector is
below ``similarity``, or when the segment already spans ``max_segment_s``. At a cut the boundary is the cut's time;
otherwise it is halfway between the two samples (the change happened somewhere between them), so a moment lies in
the segment of the sample nearest to it. The last segment ends at the video's end. A segment's vector is the normalised mean of its
samples' vectors and ``best`` is the time of the sample closest to that mean (its key frame).

Streaming: :class:`SegmentBuilder` holds only the open segment's samples. Numpy only.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from imagelens.numeric import l2_normalise
from imagelens.retrieval.base import Vector


@dataclass(frozen=True, slots=True)
class Segment:
    start_s: float
    end_s: float
    best_s: float
    vector: Vector
    samples: int


class SegmentBuilder:
    def __init__(self, similarity: float = 0.9, max_segment_s: float = 30.0) -> None:
        self.similarity = similarity
        self.max_segment_s = max_segment_s
        self._times: list[float] = []
        self._vectors: list[Vector] = []
        self._sum: Vector | None = None
        self._start = 0.0

    def add(self, time_s: float, vector: Vector, cut: bool) -> Segment | None:
        """Add one sample; answers the segment it closed, if any."""
        closed = None
        if self._times and (cut or self._breaks(time_s, vector)):
            boundary = time_s if cut else (self._times[-1] + time_s) / 2.0
            closed = self._close(boundary)
            self._start = boundary
        elif not self._times:
            self._start = time_s
        self._times.append(time_s)
        self._vectors.append(vector)
        self._sum = vector.copy() if self._sum is None else self._sum + vector
        return closed

    def _breaks(self, time_s: float, vector: Vector) -> bool:
        assert self._sum is not None
        if time_s - self._times[0] >= self.max_segment_s:
            return True
        mean = self._sum / max(float(np.linalg.norm(self._sum)), 1e-12)
        return float(mean @ vector) < self.similarity

    def _close(self, end_s: float) -> Segment:
        assert self._sum is not None
        mean: Vector = l2_normalise(self._sum[None, :])[0].astype(np.float32)
        scores = np.stack(self._vectors) @ mean
        best = self._times[int(np.argmax(scores))]
        segment = Segment(self._start, max(end_s, self._times[-1]), best, mean, len(self._times))
        self._times, self._vectors, self._sum = [], [], None
        return segment

    def state(self) -> dict[str, Any]:
        """JSON-able state of the open segment (a checkpoint): its start, sample times and vectors, and their sum."""

        def b64(a: Vector | None) -> str | None:
            return None if a is None else base64.b64encode(np.asarray(a, dtype=np.float32).tobytes()).decode()

        return {
            "start": self._start,
            "times": list(self._times),
            "vectors": [b64(v) for v in self._vectors],
            "sum": b64(self._sum),
        }

    def restore(self, state: dict[str, Any]) -> None:
        def vec(text: str) -> Vector:
            out: Vector = np.frombuffer(base64.b64decode(text), dtype=np.float32).copy()
            return out

        self._start = float(state["start"])
        self._times = [float(t) for t in state["times"]]
        self._vectors = [vec(v) for v in state["vectors"]]
        self._sum = None if state["sum"] is None else vec(state["sum"])

    def finish(self, end_s: float) -> Iterator[Segment]:
        if self._times:
            yield self._close(end_s)
