"""Video ingestion across two server replicas sharing one PostgreSQL: replica A crashes mid-video (after some
checkpoints), replica B sees A's index and polls the ingestion (Running, A's live lease: B leaves it alone), and once
A's lease is stale a replica takes the ingestion over and resumes it from A's checkpoint, ending with exactly the
segments of an uninterrupted run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("av")

from imagelens.analyzer import Analyzer  # noqa: E402
from imagelens.config import HubSettings, Settings  # noqa: E402
from imagelens.errors import NotFoundError  # noqa: E402
from imagelens.retrieval.search import list_indexes  # noqa: E402
from imagelens.retrieval.vectorize import model_of  # noqa: E402
from imagelens.video.ingest import ingest_video  # noqa: E402
from imagelens.video.jobs import VideoService, parse_ingestion  # noqa: E402
from imagelens.video.store import create_video_index, list_video_indexes  # noqa: E402
from tests.video.conftest import siglip_dir  # noqa: E402, F401 (a fixture)
from tests.video.test_resume import VS, Crash, _slideshow, crash_after, same, stored  # noqa: E402


@pytest.fixture()
def settings(siglip_dir: Path, pg_url: str, tmp_path: Path) -> Iterator[Settings]:  # noqa: F811
    from imagelens.store.pgdb import close_shared

    try:
        yield Settings(
            model_dir=siglip_dir, hub=HubSettings(offline=True), store_dir=tmp_path / "store", data_dir=tmp_path,
            database_url=pg_url,
        )  # fmt: skip
    finally:
        close_shared()


def test_a_stale_ingestion_is_taken_over_and_resumed(settings: Settings, tmp_path: Path) -> None:
    video = _slideshow(tmp_path / "clip.mp4")
    analyzer = Analyzer(settings)
    model = model_of(analyzer.hub.embedder())
    ref = create_video_index(settings, "ref", model)
    ingest_video(analyzer, ref, video, "v", settings=VS, job="ing")

    a = VideoService(analyzer, VS, owner="replica-a", after_checkpoint=crash_after(2))
    index = create_video_index(settings, "clips", model)
    a.adopt(index)
    index.save_ingestion(
        "ing", "NotStarted", parse_ingestion({"videos": [{"documentId": "v", "documentUrl": video.name}]})
    )
    with pytest.raises(Crash):
        a.run("clips", "ing")

    b = VideoService(analyzer, VS, owner="replica-b", stale_after_s=3600)  # opens the index from PostgreSQL
    assert list_video_indexes(settings) == ["clips", "ref"]
    assert list_indexes(settings) == []  # their segment indexes are not retrieval indexes to list
    job = b.index("clips").ingestion("ing")
    assert job is not None and job["state"] == "Running" and job["owner"] == "replica-a"
    progress = job["progress"]  # A's last report, read by B
    assert progress["documentId"] == "v" and 0 < progress["processedSeconds"] < progress["durationSeconds"]
    assert b.index("clips").checkpoint("v") is not None and b.index("clips").video("v") is None
    assert b.check_leases() == []  # A's lease is fresh
    b.run("clips", "ing")  # and a direct run does not steal it
    assert b.index("clips").ingestion("ing")["owner"] == "replica-a"  # type: ignore[index]

    hook = crash_after(10**6)
    c = VideoService(analyzer, VS, owner="replica-c", stale_after_s=0.0, after_checkpoint=hook)
    assert c.check_leases() == ["clips/ing"]
    c.wait()
    done = b.index("clips").ingestion("ing")  # B polls the state C wrote
    assert done is not None and done["state"] == "Completed" and done["owner"] is None, done
    assert hook.seen[0]["sampler"]["decoded"] > 1  # type: ignore[attr-defined]  # resumed, not restarted
    same(stored(b.index("clips"), "v"), stored(ref, "v"))
    c.index("ref")
    from imagelens.video.store import drop_video_index

    drop_video_index(settings, "ref")  # by B: C's open copy notices
    with pytest.raises(NotFoundError):
        c.index("ref")
    for service in (a, b, c):
        service.close()
