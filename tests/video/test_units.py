"""Segments, boundaries, shot scoring and Azure time text: pure functions, no video."""

from __future__ import annotations

import numpy as np
import pytest

from imagelens.azure.video import parse_query_by_text, timespan
from imagelens.errors import InvalidArgumentError
from imagelens.video.segments import SegmentBuilder
from imagelens.video.shots import ShotDetector, score_boundaries
from tests.video.conftest import pattern


def _unit(*xs: float) -> np.ndarray:
    v = np.asarray(xs, dtype=np.float32)
    out: np.ndarray = v / np.linalg.norm(v)
    return out


def test_segments_break_at_cuts_changes_and_length() -> None:
    b = SegmentBuilder(similarity=0.9, max_segment_s=3.0)
    a, c = _unit(1, 0), _unit(0, 1)
    closed = [
        b.add(t, v, cut)
        for t, v, cut in [(0, a, True), (1, a, False), (2, c, False), (3, c, False), (4, c, True)]
    ]
    done = [s for s in closed if s is not None]
    assert [(s.start_s, s.end_s, s.samples) for s in done] == [
        (0, 1.5, 2),
        (1.5, 4, 2),
    ]  # change: halfway; cut: at it
    last = list(b.finish(5.0))
    assert [(s.start_s, s.end_s) for s in last] == [(4, 5.0)]
    long = SegmentBuilder(similarity=0.0, max_segment_s=3.0)
    pieces = [long.add(float(t), a, t == 0) for t in range(8)]
    assert [(s.start_s, s.end_s) for s in pieces if s is not None] == [(0.0, 2.5), (2.5, 5.5)]
    np.testing.assert_allclose(done[0].vector, a, atol=1e-6)


def test_detector_ignores_noise_and_flicker() -> None:
    d = ShotDetector(min_shot_s=0.4)
    frame = pattern(3, (64, 36))
    assert not d.update(0.0, frame)
    noisy = np.clip(frame.astype(int) + np.random.default_rng(0).integers(-6, 7, frame.shape), 0, 255).astype(
        np.uint8
    )
    assert not d.update(0.04, noisy)
    assert d.update(0.08, pattern(4, (64, 36)))
    assert not d.update(0.12, pattern(5, (64, 36)))  # 0.04 s after the last cut: flicker, ignored


def test_boundary_scores() -> None:
    s = score_boundaries([2.1, 5.0, 9.0], [2.0, 5.2, 7.0], tolerance_s=0.5)
    assert (s.matched, s.recall, s.precision) == (2, 2 / 3, 2 / 3)
    assert s.mean_error_s == pytest.approx(0.15) and s.max_error_s == pytest.approx(0.2)


def test_timespan_and_query_parsing() -> None:
    assert timespan(0) == "00:00:00.0000000"
    assert timespan(427.84) == "00:07:07.8400000"
    assert timespan(3 * 3600 + 61.5) == "03:01:01.5000000"
    text, top, skip, query = parse_query_by_text(
        b'{"queryText": "x", "top": 3, "filters": {"documentIds": ["a"]}}'
    )
    assert (text, top, skip, query.document_ids) == ("x", 3, 0, ["a"])
    with pytest.raises(InvalidArgumentError):
        parse_query_by_text(b'{"queryText": "x", "top": true}')
