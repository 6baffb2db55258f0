"""Frame-locator correctness on random weights: slideshow videos with known cuts, queried by a held-out frame."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from imagelens.analyzer import Analyzer
from imagelens.config import Settings
from imagelens.retrieval.vectorize import model_of
from imagelens.video.decode import FrameSampler
from imagelens.video.ingest import ingest_video
from imagelens.video.query import VideoQuery, VideoSearcher
from imagelens.video.settings import VideoSettings
from imagelens.video.shots import score_boundaries
from imagelens.video.store import create_video_index
from imagelens.video.write import write_slideshow
from tests.video.conftest import coco_stills, pattern


def _frame_at(path: Path, t: float) -> npt.NDArray[np.uint8]:
    import av

    with av.open(str(path)) as c:
        for frame in c.decode(c.streams.video[0]):
            if frame.time is not None and frame.time >= t:
                out: npt.NDArray[np.uint8] = frame.to_ndarray(format="rgb24")
                return out
    raise AssertionError(f"no frame at {t}")


def _locate(settings: Settings, stills: list[npt.NDArray[np.uint8]], tmp_path: Path) -> None:
    durations = [1.5 + 0.7 * (i % 3) for i in range(len(stills))]
    video = tmp_path / "slides.mp4"
    cuts = write_slideshow(video, list(zip(stills, durations, strict=True)), fps=10, motion=1)
    starts = [0.0, *cuts]
    analyzer = Analyzer(settings)
    index = create_video_index(settings, "clips", model_of(analyzer.hub.embedder()))
    vs = VideoSettings(interval_s=1.0)
    report = ingest_video(analyzer, index, video, "slides", settings=vs)
    score = score_boundaries(report.cuts, cuts, tolerance_s=0.15)
    assert score.recall == 1.0 and score.precision == 1.0, score
    searcher = VideoSearcher(analyzer, index)
    for shot, (start, seconds) in enumerate(zip(starts, durations, strict=True)):
        held_out = start + seconds * 0.63  # between the 1 s samples: a frame that was not indexed
        query = _frame_at(video, held_out)
        hits = searcher.by_image(query, top=3)
        best = hits[0]
        assert best.document_id == "slides" and best.document_kind == "VideoFrame"
        assert best.start_s <= held_out < best.end_s, (shot, held_out, hits)
        assert best.start_s >= start - 0.11 and best.end_s <= start + seconds + 0.11  # never across a cut
        assert best.start_s <= best.best_s <= best.end_s
    assert searcher.by_image(_frame_at(video, 0.5), query=VideoQuery(document_ids=["other"])) == []
    index.close()


def test_locates_held_out_frames_in_a_synthetic_slideshow(settings: Settings, tmp_path: Path) -> None:
    _locate(settings, [pattern(i) for i in range(6)], tmp_path)


@pytest.mark.realdata
def test_locates_held_out_frames_in_a_coco_slideshow(settings: Settings, tmp_path: Path) -> None:
    _locate(settings, coco_stills(8), tmp_path)


def test_sampling_is_time_based_plus_cuts(tmp_path: Path) -> None:
    video = tmp_path / "v.mp4"
    cuts = write_slideshow(video, [(pattern(1), 2.35), (pattern(2), 3.0)], fps=20)
    sampler = FrameSampler(video, VideoSettings(interval_s=1.0))
    times = [round(f.time_s, 2) for f in sampler]
    assert cuts == [2.35]
    assert times == [0.0, 1.0, 2.0, 2.35, 3.35, 4.35]
    assert sampler.stats.cuts == [2.35] and sampler.stats.complete and not sampler.stats.warnings
    no_cuts = FrameSampler(video, VideoSettings(interval_s=1.0, detect_cuts=False))
    assert [round(f.time_s, 2) for f in no_cuts] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
