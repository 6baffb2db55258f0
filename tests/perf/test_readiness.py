"""``/ready`` and the warm-up gate of ``imagelens serve`` (api/readiness.py)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from imagelens.api.app import create_app
from imagelens.config import HubSettings, ServerSettings, Settings
from imagelens.features import warmup as wu
from imagelens.models.hub import ModelHub

ANALYZE = "/computervision/imageanalysis:analyze?api-version=2024-02-01&features=tags"


@pytest.fixture()
def slow_vocab() -> Iterator[threading.Event]:
    """The warm-up list holds only a vocabulary that waits for the test's signal."""
    gate = threading.Event()

    def slow(hub: ModelHub) -> list[wu.WarmupSet]:
        gate.wait(20)
        raise RuntimeError("vocabulary file unreadable")

    saved = dict(wu.WARMUP_LIST)
    wu.WARMUP_LIST.clear()
    wu.register("slow", slow)
    yield gate
    gate.set()
    wu._EXTRA.clear()
    wu.WARMUP_LIST.update(saved)


def test_not_ready_while_warming_then_failed_but_open(tmp_path: Path, slow_vocab: threading.Event) -> None:
    settings = Settings(model_dir=tmp_path, hub=HubSettings(offline=True), server=ServerSettings(warmup=True))
    with TestClient(create_app(settings)) as c:
        ready = c.get("/ready")
        assert ready.status_code == 503
        assert ready.json()["status"] == "warming" and ready.json()["warmup"]["state"] == "warming"
        assert c.get("/health").status_code == 200
        blocked = c.post(ANALYZE, content=b"x", headers={"content-type": "application/octet-stream"})
        assert blocked.status_code == 503 and blocked.headers["retry-after"] == "5"
        assert blocked.json()["error"]["innererror"]["code"] == "WarmingUp"
        slow_vocab.set()
        c.app.state.warmup.join(20)  # type: ignore[attr-defined]
        failed = c.get("/ready")
        assert failed.status_code == 503 and failed.json()["status"] == "failed"
        steps = failed.json()["warmup"]["steps"]
        assert "unreadable" in next(s for s in steps if s["kind"] == "vocabulary")["detail"]
        # a failed warm-up opens the gate: the route answers on its own (here: the body is not an image)
        assert (
            c.post(ANALYZE, content=b"x", headers={"content-type": "application/octet-stream"}).status_code
            == 400
        )


def test_ready_after_warmup_and_off_by_default(tmp_path: Path) -> None:
    settings = Settings(model_dir=tmp_path, hub=HubSettings(offline=True), server=ServerSettings(warmup=True))
    with TestClient(create_app(settings)) as c:
        c.app.state.warmup.join(20)  # type: ignore[attr-defined]
        body = c.get("/ready").json()
        # the tag model is not in this empty folder: its vocabulary step is skipped, the server is ready
        assert body["status"] == "ready" and {s["state"] for s in body["warmup"]["steps"]} == {"skipped"}
    with TestClient(create_app(Settings(model_dir=tmp_path, hub=HubSettings(offline=True)))) as c:
        assert c.get("/ready").status_code == 200 and "warmup" not in c.get("/ready").json()
