"""Resume inside one video: an ingestion interrupted after some checkpoints (an exception raised from the
``after_checkpoint`` hook, standing for a crash) continues from its last checkpoint (the decoder seeks to the
keyframe before it) and ends with exactly the segments of an uninterrupted run; the earlier version of a document
being replaced stays whole until the end; the ingestion job resumes through a new VideoService (a restart)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from imagelens.analyzer import Analyzer
from imagelens.azure.video import ingestion_json
from imagelens.config import Settings
from imagelens.retrieval.vectorize import model_of
from imagelens.video.ingest import ingest_video
from imagelens.video.jobs import VideoService, parse_ingestion
from imagelens.video.settings import VideoSettings
from imagelens.video.store import VideoIndex, create_video_index
from imagelens.video.write import write_slideshow
from tests.video.conftest import pattern
from tests.video.test_speech import speech_dir, speech_settings, write_talkie  # noqa: F401 (fixtures)

VS = VideoSettings(interval_s=0.5, checkpoint_s=2.0, batch=4)


class Crash(BaseException):
    """Stands for the process dying (not an Exception: nothing on the way catches it)."""


def crash_after(n: int) -> Any:
    seen: list[dict[str, Any]] = []

    def hook(state: dict[str, Any]) -> None:
        seen.append(state)
        if len(seen) == n and not state["done"]:
            raise Crash(f"after checkpoint {n}")

    hook.seen = seen  # type: ignore[attr-defined]
    return hook


def stored(index: VideoIndex, doc: str) -> list[tuple[str, float, float, float, np.ndarray]]:
    """The document's segments in the index, by number: (kind, start, end, best, vector)."""
    out = []
    record = index.video(doc)
    assert record is not None
    for n in range(record.segments):
        got = index.segments.get(f"{doc}#{n}")
        assert got is not None, f"segment {n} missing"
        f = got.fields
        out.append((f["kind"], f["start"], f["end"], f["best"], np.asarray(got.vector)))
    assert index.segments.get(f"{doc}#{record.segments}") is None
    return out


def same(a: list[Any], b: list[Any]) -> None:
    assert len(a) == len(b) and a
    for x, y in zip(a, b, strict=True):
        assert x[:4] == y[:4]
        np.testing.assert_allclose(x[4], y[4], atol=1e-6)


def _slideshow(path: Path) -> Path:
    write_slideshow(path, [(pattern(i), 1.7 + 0.3 * (i % 3)) for i in range(8)], fps=10, motion=1)
    return path


@pytest.fixture(scope="module")
def long_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _slideshow(tmp_path_factory.mktemp("resume") / "long.mp4")


@pytest.mark.parametrize(("suffix", "crash_at"), [("mp4", 1), ("mp4", 3), ("avi", 2)])
def test_an_interrupted_ingestion_resumes_to_the_same_segments(
    settings: Settings, long_video: Path, tmp_path: Path, suffix: str, crash_at: int
) -> None:
    if suffix != "mp4":
        long_video = _slideshow(tmp_path / f"long.{suffix}")
    analyzer = Analyzer(settings)
    model = model_of(analyzer.hub.embedder())
    whole = create_video_index(settings, "whole", model)
    full = ingest_video(analyzer, whole, long_video, "v", settings=VS, job="j")
    assert whole.checkpoint("v") is None  # forgotten once published

    parts = create_video_index(settings, "parts", model)
    hook = crash_after(crash_at)
    with pytest.raises(Crash):
        ingest_video(analyzer, parts, long_video, "v", settings=VS, job="j", after_checkpoint=hook)
    saved = parts.checkpoint("v")
    assert saved is not None and not saved["done"] and saved["time_s"] > 0
    assert parts.video("v") is None and len(parts.segments) == 0  # nothing searchable before the end
    again = crash_after(10**6)
    rest = ingest_video(analyzer, parts, long_video, "v", settings=VS, job="j", after_checkpoint=again)
    first = again.seen[0]  # type: ignore[attr-defined]
    assert first["sampler"]["decoded"] > saved["sampler"]["decoded"] >= 1  # continued, not started over
    assert rest.count == full.count and len(rest.segments) < len(full.segments)
    assert rest.decoded == full.decoded and rest.samples == full.samples and rest.cuts == full.cuts
    same(stored(parts, "v"), stored(whole, "v"))
    assert parts.checkpoint("v") is None


def test_a_checkpoint_of_another_ingestion_or_file_is_not_resumed(
    settings: Settings, long_video: Path, tmp_path: Path
) -> None:
    analyzer = Analyzer(settings)
    index = create_video_index(settings, "other", model_of(analyzer.hub.embedder()))
    crashed = crash_after(2)
    with pytest.raises(Crash):
        ingest_video(analyzer, index, long_video, "v", settings=VS, job="a", after_checkpoint=crashed)
    hook = crash_after(10**6)
    ingest_video(analyzer, index, long_video, "v", settings=VS, job="b", after_checkpoint=hook)
    assert hook.seen[0]["time_s"] == crashed.seen[0]["time_s"]  # type: ignore[attr-defined]  # from the start
    assert index.video("v") is not None and index.checkpoint("v") is None


def test_the_old_version_stays_whole_while_the_new_one_is_ingested(
    settings: Settings, long_video: Path, tmp_path: Path
) -> None:
    analyzer = Analyzer(settings)
    index = create_video_index(settings, "upd", model_of(analyzer.hub.embedder()))
    short = tmp_path / "short.mp4"
    write_slideshow(short, [(pattern(40), 1.0), (pattern(41), 1.0)], fps=10)
    ingest_video(analyzer, index, short, "v", settings=VS, job="first")
    old = stored(index, "v")
    with pytest.raises(Crash):
        ingest_video(
            analyzer, index, long_video, "v", settings=VS, job="second", after_checkpoint=crash_after(2)
        )
    same(stored(index, "v"), old)  # the old version, whole, and nothing of the new one
    assert len(index.segments) == len(old)
    record = index.video("v")
    assert record is not None and record.url == str(short)
    ingest_video(analyzer, index, long_video, "v", settings=VS, job="second")
    new = stored(index, "v")
    assert len(index.segments) == len(new) and index.video("v").url == str(long_video)  # type: ignore[union-attr]


def test_an_ingestion_job_resumes_after_a_restart(settings: Settings, long_video: Path) -> None:
    settings = settings.model_copy(update={"data_dir": long_video.parent})
    analyzer = Analyzer(settings)
    model = model_of(analyzer.hub.embedder())
    whole = create_video_index(settings, "jwhole", model)
    ingest_video(analyzer, whole, long_video, "v", settings=VS, job="ing")
    body = {"videos": [{"mode": "add", "documentId": "v", "documentUrl": long_video.name}]}

    first = VideoService(analyzer, VS, owner="replica-a", after_checkpoint=crash_after(2))
    index = create_video_index(settings, "jobs", model)
    first.adopt(index)
    index.save_ingestion("ing", "NotStarted", parse_ingestion(body))  # as submit() does, without its queue
    with pytest.raises(Crash):
        first.run("jobs", "ing")
    job = index.ingestion("ing")
    assert job is not None and job["state"] == "Running" and job["owner"] == "replica-a"
    assert job["progress"]["documentId"] == "v" and job["progress"]["processedSeconds"] > 0
    assert ingestion_json(job)["progress"] == job["progress"]  # shown by GET .../ingestions/{name}
    # a live owner keeps it: a second worker does not run it
    second = VideoService(analyzer, VS, owner="replica-b", stale_after_s=3600)
    second.adopt(index)
    second.run("jobs", "ing")
    assert index.ingestion("ing")["state"] == "Running"  # type: ignore[index]
    # its lease ran out (stale_after_s=0): taken over, resumed from the checkpoint
    hook = crash_after(10**6)
    third = VideoService(analyzer, VS, owner="replica-c", stale_after_s=0.0, after_checkpoint=hook)
    third.adopt(index)
    assert third.check_leases() == ["jobs/ing"]
    third.wait()
    done = index.ingestion("ing")
    assert done is not None and done["state"] == "Completed" and done["owner"] is None, done
    assert "progress" not in ingestion_json(done)
    assert hook.seen[0]["sampler"]["decoded"] > 1  # type: ignore[attr-defined]
    same(stored(index, "v"), stored(whole, "v"))
    for service in (first, second, third):
        service.close()


def test_speech_is_transcribed_again_after_a_resume(speech_settings: Settings, tmp_path: Path) -> None:  # noqa: F811
    analyzer = Analyzer(speech_settings)
    model = model_of(analyzer.hub.embedder())
    features = [{"name": "vision"}, {"name": "speech"}]
    video = write_talkie(tmp_path / "talk.mp4")
    whole = create_video_index(speech_settings, "swhole", model, features)
    full = ingest_video(analyzer, whole, video, "t", settings=VS, job="s")
    parts = create_video_index(speech_settings, "sparts", model, features)
    with pytest.raises(Crash):
        ingest_video(analyzer, parts, video, "t", settings=VS, job="s", after_checkpoint=crash_after(1))
    rest = ingest_video(analyzer, parts, video, "t", settings=VS, job="s")
    assert full.speech and [s.text for s in rest.speech] == [s.text for s in full.speech]
    got, want = stored(parts, "t"), stored(whole, "t")
    same(got, want)
    assert {k for k, *_ in got} == {"VideoFrame", "SpeechTextSegment"}


def test_moderation_after_a_resume_covers_every_segment(settings: Settings, long_video: Path) -> None:
    from imagelens.video.options import MODERATION_KEY

    analyzer = Analyzer(settings)
    model = model_of(analyzer.hub.embedder())
    whole = create_video_index(settings, "mwhole", model)
    ingest_video(analyzer, whole, long_video, "v", settings=VS, job="m", moderation=True)
    parts = create_video_index(settings, "mparts", model)
    with pytest.raises(Crash):
        ingest_video(
            analyzer,
            parts,
            long_video,
            "v",
            settings=VS,
            job="m",
            moderation=True,
            after_checkpoint=crash_after(2),
        )
    ingest_video(analyzer, parts, long_video, "v", settings=VS, job="m", moderation=True)
    want = whole.video("v").metadata[MODERATION_KEY]  # type: ignore[union-attr]
    got = parts.video("v").metadata[MODERATION_KEY]  # type: ignore[union-attr]
    assert got == want and len(want["checked"]) == whole.video("v").segments  # type: ignore[union-attr]
