"""The ``speech`` feature on a tiny random-weight Whisper (written at run time, loaded from IMAGELENS_MODEL_DIR like
a pulled model): audio decoded and resampled with PyAV, timed SpeechTextSegment documents, text queries filtered to
them, a video without audio (a warning, its frames still indexed), and the model missing (ModelNotFetched naming the
pull command). Random weights: the transcripts are garbage; only the pipeline is tested."""

from __future__ import annotations

import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from imagelens.config import HubSettings, Settings
from imagelens.errors import ModelUnavailableError
from imagelens.video.store import create_video_index
from imagelens.video.write import write_slideshow
from tests.video.conftest import EMBEDDER, pattern

SPEECH = "whisper-base"
AUDIO_S = 6.0


@pytest.fixture(scope="session")
def speech_dir(siglip_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from imagelens.testing.tiny_models import write_tiny_models

    root = tmp_path_factory.mktemp("tiny-speech")
    (root / EMBEDDER).symlink_to(siglip_dir / EMBEDDER, target_is_directory=True)
    write_tiny_models(root, seed=0, only=[SPEECH])
    return root


@pytest.fixture()
def speech_settings(speech_dir: Path, tmp_path: Path) -> Settings:
    return Settings(
        model_dir=speech_dir, hub=HubSettings(offline=True), store_dir=tmp_path / "store", data_dir=tmp_path
    )


def write_talkie(path: Path, seconds: float = AUDIO_S, fps: int = 5) -> Path:
    """An MP4 with a video stream (changing patterns) and an AAC audio track (a warbling tone)."""
    import av

    rate = 16_000
    with av.open(str(path), "w") as c:
        video = c.add_stream("mpeg4", rate=fps)
        video.width, video.height, video.pix_fmt = 160, 120, "yuv420p"
        audio = c.add_stream("aac", rate=rate)
        audio.layout = "mono"
        for i in range(int(seconds * fps)):
            frame = av.VideoFrame.from_ndarray(pattern(1 + i // (2 * fps)), format="rgb24")
            for packet in video.encode(frame):
                c.mux(packet)
        t = np.arange(int(seconds * rate)) / rate
        tone = (0.3 * np.sin(2 * np.pi * (300 + 200 * np.sin(t)) * t)).astype(np.float32)
        for n, start in enumerate(range(0, len(tone), 1024)):
            chunk = tone[start : start + 1024]
            aframe = av.AudioFrame.from_ndarray(chunk[None, :], format="flt", layout="mono")
            aframe.sample_rate, aframe.pts, aframe.time_base = rate, n * 1024, Fraction(1, rate)
            for packet in audio.encode(aframe):
                c.mux(packet)
        for stream in (video, audio):
            for packet in stream.encode():
                c.mux(packet)
    return path


def test_audio_windows_resample_to_16k_mono_streamed(tmp_path: Path) -> None:
    from imagelens.video.speech import NoAudio, audio_windows

    video = write_talkie(tmp_path / "talk.mp4")
    windows = list(audio_windows(video, window_s=2.0))
    assert [round(o, 3) for o, _ in windows[:3]] == [0.0, 2.0, 4.0]
    assert all(w.dtype == np.float32 and w.ndim == 1 for _, w in windows)
    assert all(len(w) == 32_000 for _, w in windows[:-1])
    total = sum(len(w) for _, w in windows) / 16_000
    assert AUDIO_S - 0.1 <= total <= AUDIO_S + 0.2  # the encoder's padding at most
    assert 0.1 < float(np.abs(windows[1][1]).max()) < 0.5  # the tone, not silence
    cut = list(audio_windows(video, window_s=2.0, max_s=3.0))
    assert sum(len(w) for _, w in cut) == 48_000
    silent = tmp_path / "mute.mp4"
    write_slideshow(silent, [(pattern(1), 1.0)], fps=5)
    with pytest.raises(NoAudio, match="no audio stream"):
        list(audio_windows(silent))


def test_whisper_adapter_gives_timed_segments(speech_settings: Settings) -> None:
    from imagelens.analyzer import Analyzer
    from imagelens.models.roles import SpeechRecognizer
    from imagelens.models.spec import Role

    hub = Analyzer(speech_settings).hub
    model = hub.model(Role.SPEECH_RECOGNITION, SpeechRecognizer)
    assert model.sample_rate == 16_000
    t = np.arange(int(35 * 16_000)) / 16_000
    segments = model.transcribe((0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32))
    assert segments, "random weights still emit some text"
    for start, end, text in segments:
        assert 0.0 <= start <= end <= 35.0 and text.strip()
    assert [s for s, _e, _t in segments] == sorted(s for s, _e, _t in segments)


def test_ingest_vision_and_speech_then_query_the_transcripts(
    speech_settings: Settings, tmp_path: Path
) -> None:
    from imagelens.analyzer import Analyzer
    from imagelens.retrieval.vectorize import model_of
    from imagelens.video.ingest import ingest_video
    from imagelens.video.query import VideoQuery, VideoSearcher
    from imagelens.video.speech import KIND_SPEECH

    analyzer = Analyzer(speech_settings)
    index = create_video_index(
        speech_settings, "talks", model_of(analyzer.hub.embedder()), [{"name": "vision"}, {"name": "speech"}]
    )
    video = write_talkie(tmp_path / "talk.mp4")
    report = ingest_video(analyzer, index, video, "talk")
    assert report.segments and report.speech and not report.warnings
    for seg in report.speech:
        assert 0.0 <= seg.start_s < seg.end_s <= AUDIO_S + 0.2 and seg.text
    searcher = VideoSearcher(analyzer, index)
    hits = searcher.by_text(report.speech[0].text, top=50, query=VideoQuery(feature_filters=["speech"]))
    assert hits and {h.document_kind for h in hits} == {KIND_SPEECH}
    assert len(hits) == len(report.speech)
    assert hits[0].text == report.speech[0].text and hits[0].relevance > 0.99  # its own text: cosine 1
    vision = searcher.by_text("a pattern", top=50, query=VideoQuery(feature_filters=["vision"]))
    assert vision and {h.document_kind for h in vision} == {"VideoFrame"}
    both = searcher.by_text("a pattern", top=100)
    assert len(both) == len(report.segments) + len(report.speech)
    assert index.video("talk") is not None
    # re-ingesting replaces both kinds
    ingest_video(analyzer, index, video, "talk")
    assert len(searcher.by_text("x", top=100)) == len(both)
    index.close()


def test_a_video_without_audio_warns_and_keeps_its_frames(speech_settings: Settings, tmp_path: Path) -> None:
    from imagelens.analyzer import Analyzer
    from imagelens.retrieval.vectorize import model_of
    from imagelens.video.ingest import ingest_video

    analyzer = Analyzer(speech_settings)
    index = create_video_index(
        speech_settings, "mute", model_of(analyzer.hub.embedder()), [{"name": "vision"}, {"name": "speech"}]
    )
    write_slideshow(tmp_path / "mute.mp4", [(pattern(1), 1.0), (pattern(2), 1.0)], fps=5)
    report = ingest_video(analyzer, index, tmp_path / "mute.mp4", "mute")
    assert report.segments and not report.speech
    assert any("no audio stream" in w for w in report.warnings)
    record = index.video("mute")
    assert record is not None and any("no audio" in w for w in record.warnings)
    index.close()


def test_speech_without_the_model_names_the_pull_command(settings: Settings, tmp_path: Path) -> None:
    from imagelens.analyzer import Analyzer
    from imagelens.retrieval.vectorize import model_of
    from imagelens.video.ingest import ingest_video

    analyzer = Analyzer(settings)  # the tiny SigLIP only: no Whisper
    index = create_video_index(
        settings, "nospeech", model_of(analyzer.hub.embedder()), [{"name": "vision"}, {"name": "speech"}]
    )
    video = write_talkie(tmp_path / "talk.mp4", seconds=1.0)
    with pytest.raises(ModelUnavailableError, match=f"imagelens models pull {SPEECH}"):
        ingest_video(analyzer, index, video, "talk")
    assert index.video("talk") is None
    index.close()


# --- over HTTP --------------------------------------------------------------------------------------------------

P = "api-version=2023-05-01-preview"
BASE = "/computervision/retrieval/indexes"


def _client(settings: Settings) -> Iterator[Any]:
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from imagelens.api.app import create_app

    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture()
def speech_client(speech_settings: Settings) -> Iterator[Any]:
    yield from _client(speech_settings)


@pytest.fixture()
def plain_client(settings: Settings) -> Iterator[Any]:
    yield from _client(settings)


def test_http_speech_index_ingestion_and_query(speech_client: Any, speech_settings: Settings) -> None:
    assert speech_settings.data_dir is not None
    write_talkie(Path(speech_settings.data_dir) / "talk.mp4")
    r = speech_client.put(f"{BASE}/talks?{P}", json={"features": [{"name": "vision"}, {"name": "speech"}]})
    assert r.status_code == 201, r.text
    assert [f["name"] for f in r.json()["features"]] == ["vision", "speech"]
    r = speech_client.put(
        f"{BASE}/talks/ingestions/one?{P}",
        json={"videos": [{"documentId": "talk", "documentUrl": "talk.mp4"}]},
    )
    assert r.status_code == 202, r.text
    for _ in range(600):
        job = speech_client.get(f"{BASE}/talks/ingestions/one?{P}").json()
        if job["state"] not in ("NotStarted", "Running"):
            break
        time.sleep(0.05)
    assert job["state"] == "Completed", job
    assert job["fileStatusDetails"][0]["speechSegments"] >= 1
    body = {"queryText": "hello", "top": 20, "filters": {"featureFilters": ["speech"]}}
    hits = speech_client.post(f"{BASE}/talks:queryByText?{P}", json=body).json()["value"]
    assert hits and all(h["documentKind"] == "SpeechTextSegment" and h["text"] for h in hits)
    assert all(h["start"] < h["end"] <= "00:00:06.2000000" for h in hits)


def test_http_speech_without_the_model(plain_client: Any) -> None:
    r = plain_client.put(f"{BASE}/talks?{P}", json={"features": [{"name": "speech"}]})
    assert r.status_code >= 400 and f"imagelens models pull {SPEECH}" in r.text, r.text
    assert plain_client.put(f"{BASE}/v?{P}", json={"features": [{"name": "vision"}]}).status_code == 201
    r = plain_client.put(
        f"{BASE}/v/ingestions/j?{P}",
        json={"includeSpeechTranscript": True, "videos": [{"documentUrl": "x.mp4"}]},
    )
    assert r.status_code >= 400 and f"imagelens models pull {SPEECH}" in r.text, r.text


# --- the command line -----------------------------------------------------------------------------------------------


def test_cli_ingest_with_speech_and_search_the_transcripts(
    speech_settings: Settings, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from typer.testing import CliRunner

    from imagelens.cli import app

    monkeypatch.setenv("IMAGELENS_HUB__OFFLINE", "1")
    monkeypatch.setenv("IMAGELENS_STORE_DIR", str(speech_settings.store_dir))
    video = write_talkie(tmp_path / "talk.mp4")
    runner = CliRunner()
    monkeypatch.setenv("IMAGELENS_MODEL_DIR", str(settings.model_dir))  # no Whisper there
    r = runner.invoke(app, ["video", "ingest", str(video), "--index", "t", "--speech"])
    assert r.exit_code != 0 and f"imagelens models pull {SPEECH}" in r.output, r.output
    monkeypatch.setenv("IMAGELENS_MODEL_DIR", str(speech_settings.model_dir))
    r = runner.invoke(app, ["video", "ingest", str(video), "--index", "t", "--speech", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout.splitlines()[0])["speechSegments"] >= 1
    r = runner.invoke(app, ["video", "search", "hello", "--index", "t", "--feature", "speech", "--json"])
    assert r.exit_code == 0, r.output
    hits = json.loads(r.stdout)["value"]
    assert hits and all(h["documentKind"] == "SpeechTextSegment" for h in hits)
