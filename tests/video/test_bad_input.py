"""Bad videos: clear errors, or a partial result with a warning; never a crash or a hang."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from imagelens.analyzer import Analyzer
from imagelens.config import Settings
from imagelens.errors import InvalidArgumentError, InvalidRequestError, NotSupportedFeatureError
from imagelens.retrieval.vectorize import model_of
from imagelens.video.decode import (
    FrameSampler,
    InvalidVideoError,
    NoVideoStreamError,
    UnsupportedCodecError,
    VideoTooLongError,
    probe,
)
from imagelens.video.ingest import ingest_video, local_video
from imagelens.video.settings import VideoSettings
from imagelens.video.store import create_video_index
from imagelens.video.write import write_slideshow
from tests.video.conftest import pattern


@pytest.fixture(scope="module")
def avi(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bad") / "four.avi"
    write_slideshow(path, [(pattern(i), 2.0) for i in range(4)])
    return path


def test_not_a_video_is_invalid(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(InvalidVideoError, match="not a video"):
        list(FrameSampler(junk))
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(InvalidVideoError):
        probe(empty)
    with pytest.raises(InvalidRequestError, match="does not exist"):
        list(FrameSampler(tmp_path / "missing.mp4"))


def test_truncated_mp4_without_its_index_is_invalid(tmp_path: Path) -> None:
    whole = tmp_path / "v.mp4"
    write_slideshow(whole, [(pattern(1), 2.0), (pattern(2), 2.0)])
    cut = tmp_path / "cut.mp4"
    data = whole.read_bytes()
    cut.write_bytes(data[: len(data) * 6 // 10])  # the moov atom is at the end: nothing to index frames by
    with pytest.raises(InvalidVideoError):
        list(FrameSampler(cut))


def test_truncated_avi_is_a_partial_result_with_a_warning(avi: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.avi"
    data = avi.read_bytes()
    cut.write_bytes(data[: len(data) * 6 // 10])
    sampler = FrameSampler(cut, VideoSettings(interval_s=1.0))
    frames = list(sampler)
    assert 2 <= len(frames) < 8 and not sampler.stats.complete
    assert any("truncated" in w for w in sampler.stats.warnings)


def test_no_video_stream(tmp_path: Path) -> None:
    import av

    wav = tmp_path / "a.wav"
    with av.open(str(wav), "w") as c:
        stream = c.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 8000), dtype=np.int16), format="s16", layout="mono")
        frame.sample_rate = 8000
        for packet in [*stream.encode(frame), *stream.encode()]:
            c.mux(packet)
    with pytest.raises(NoVideoStreamError, match="no video stream"):
        list(FrameSampler(wav))
    with pytest.raises(NoVideoStreamError):
        probe(wav)


def test_unknown_codec_is_not_supported(avi: Path, tmp_path: Path) -> None:
    odd = tmp_path / "odd.avi"
    odd.write_bytes(avi.read_bytes().replace(b"FMP4", b"ZZZZ"))  # a FourCC no decoder knows
    with pytest.raises(UnsupportedCodecError) as info:
        list(FrameSampler(odd))
    assert isinstance(info.value, NotSupportedFeatureError)


def test_duration_and_sample_limits(avi: Path) -> None:
    with pytest.raises(VideoTooLongError, match="lasts 8 s"):
        list(FrameSampler(avi, VideoSettings(max_duration_s=5)))
    sampler = FrameSampler(avi, VideoSettings(interval_s=0.5, max_samples=3))
    assert len(list(sampler)) == 3 and any("samples" in w for w in sampler.stats.warnings)


def test_ingestion_keeps_a_partial_result_and_says_so(settings: Settings, avi: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.avi"
    data = avi.read_bytes()
    cut.write_bytes(data[: len(data) * 6 // 10])
    analyzer = Analyzer(settings)
    index = create_video_index(settings, "bad", model_of(analyzer.hub.embedder()))
    report = ingest_video(analyzer, index, cut, "cut")
    assert report.segments and report.warnings
    record = index.video("cut")
    assert record is not None and record.warnings and record.segments == len(report.segments)
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\0" * 100)
    with pytest.raises(InvalidVideoError):
        ingest_video(analyzer, index, junk, "junk")
    assert index.video("junk") is None and index.video("cut") is not None
    with pytest.raises(InvalidArgumentError, match="without '#'"):
        ingest_video(analyzer, index, avi, "a#b")
    index.close()


def test_local_videos_only_inside_the_data_folder(tmp_path: Path, avi: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="IMAGELENS_DATA_DIR"):
        local_video(str(avi), None)
    with pytest.raises(InvalidArgumentError, match="outside"):
        local_video(str(avi), tmp_path / "data")
    (tmp_path / "data").mkdir()
    inside = tmp_path / "data" / "v.avi"
    inside.write_bytes(avi.read_bytes())
    assert local_video("v.avi", tmp_path / "data") == inside.resolve()
    assert local_video(f"file://{inside}", tmp_path / "data") == inside.resolve()
    with pytest.raises(InvalidArgumentError, match="outside"):
        local_video("../../etc/passwd", tmp_path / "data")
