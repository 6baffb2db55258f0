"""One operation store (imagelens.operations) behind both "start now, poll later" routes, and the 3.2 thumbnail and
area-of-interest routes on the Analyzer's call path."""

from __future__ import annotations

import io
import threading
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from imagelens.analyzer import Analyzer
from imagelens.api.app import create_app
from imagelens.azure.v32 import area_of_interest_json
from imagelens.config import Settings
from imagelens.errors import ConflictError, NotFoundError
from imagelens.io import encode_image
from imagelens.operations import OperationStore
from imagelens.shelf.runs import ProductRunStore

from ..conftest import SAMPLE_IMAGE

SAMPLE = SAMPLE_IMAGE.read_bytes()
OCTET = {"content-type": "application/octet-stream"}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_lifecycle_snapshots_and_late_updates() -> None:
    clock = Clock()
    store = OperationStore(ttl_s=100, max_items=10, clock=clock)
    op = store.create("read", "a")
    assert (op.kind, op.id, op.status, op.created, op.result, op.error) == (
        "read",
        "a",
        "notStarted",
        1000.0,
        None,
        None,
    )
    with pytest.raises(ConflictError):
        store.create("read", "a")
    store.create("other", "a")  # ids are per kind
    clock.now = 1002.0
    store.mark_running("read", "a")
    assert store.get("read", "a").status == "running"  # type: ignore[union-attr]
    store.succeed("read", "a", {"x": 1})
    done = store.get("read", "a")
    assert done is not None and (done.status, done.result, done.updated) == ("succeeded", {"x": 1}, 1002.0)
    assert op.status == "notStarted"  # snapshots never change under the reader
    store.create("read", "b")
    store.fail("read", "b", {"code": "InvalidRequest"})
    assert store.get("read", "b").error == {"code": "InvalidRequest"}  # type: ignore[union-attr]
    assert store.delete("read", "a") and not store.delete("read", "a")
    store.succeed("read", "a", {})  # a worker finishing after a delete does not bring it back
    assert store.get("read", "a") is None and store.get("nope", "a") is None
    assert (store.count("read"), store.count("other"), len(store)) == (1, 1, 2)


def test_expiry_and_a_bound_per_kind() -> None:
    clock = Clock()
    store = OperationStore(ttl_s=100, max_items=3, clock=clock)
    for k in range(4):
        store.create("read", f"r{k}")
    store.create("productRecognitionRun", "m/r")
    assert store.get("read", "r0") is None  # the oldest of that kind went first
    assert store.count("read") == 3
    assert store.get("productRecognitionRun", "m/r") is not None  # one kind never pushes out another
    clock.now += 101
    assert len(store) == 0
    with pytest.raises(ValueError):
        OperationStore(ttl_s=0)


def test_thread_safe_under_concurrent_writers() -> None:
    store = OperationStore(ttl_s=100, max_items=10_000)

    def writer(k: int) -> None:
        for j in range(200):
            op_id = f"{k}-{j}"
            store.create("read", op_id)
            store.mark_running("read", op_id)
            store.succeed("read", op_id, j)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.count("read") == 1600
    assert all(store.get("read", f"{k}-199").status == "succeeded" for k in range(8))  # type: ignore[union-attr]


def test_product_runs_live_in_the_shared_store() -> None:
    shared = OperationStore(ttl_s=100, max_items=10)
    runs = ProductRunStore(store=shared)
    runs.create("m", "r1")
    assert shared.get(ProductRunStore.KIND, "m/r1") is not None
    with pytest.raises(ConflictError, match="already exists for model 'm'"):
        runs.create("m", "r1")
    runs.succeed("m", "r1", {"products": []})
    run = runs.get("m", "r1")
    assert (run.model_name, run.run_name, run.status, run.result) == (
        "m",
        "r1",
        "succeeded",
        {"products": []},
    )
    with pytest.raises(NotFoundError, match="run 'r1/x' of model 'm'"):
        runs.get("m", "r1/x")  # a slash never aliases another run
    assert len(runs) == 1 and shared.count("read") == 0


def test_app_has_one_store_for_reads_and_runs(tiny_settings: Settings) -> None:
    app = create_app(tiny_settings)
    with TestClient(app) as c:
        r = c.post("/vision/v3.2/read/analyze", content=SAMPLE, headers=OCTET)
        assert r.status_code == 202
        store: OperationStore = app.state.operations
        op_id = r.headers["Operation-Location"].rsplit("/", 1)[1]
        assert store.get("read", op_id) is not None
        app.state.product_runs.create("ms-pretrained-product-detection", "run1")
        assert store.count(ProductRunStore.KIND) == 1


# --- 3.2 thumbnail and area of interest: the Analyzer's methods -------------------------------------------------


def _spy(analyzer: Analyzer, name: str, calls: list[str]) -> None:
    original = getattr(analyzer, name)

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        calls.append(name)
        return original(*args, **kwargs)

    setattr(analyzer, name, wrapped)


def test_thumbnail_and_area_of_interest_go_through_the_analyzer(tiny_settings: Settings) -> None:
    analyzer = Analyzer(tiny_settings)
    calls: list[str] = []
    _spy(analyzer, "thumbnail", calls)
    _spy(analyzer, "area_of_interest", calls)
    c = TestClient(create_app(tiny_settings, analyzer=analyzer))
    r = c.post(
        "/vision/v3.2/generateThumbnail?width=100&height=80&smartCropping=true", content=SAMPLE, headers=OCTET
    )
    assert r.status_code == 200 and Image.open(io.BytesIO(r.content)).size == (100, 80)
    expected = analyzer.thumbnail(SAMPLE, 100, 80, smart=True)
    assert r.content == encode_image(expected.pixels, "jpeg")  # the same pixels as the library's call
    r = c.post("/vision/v3.2/areaOfInterest", content=SAMPLE, headers=OCTET)
    assert r.status_code == 200
    aoi = analyzer.area_of_interest(SAMPLE)
    body = r.json()
    assert body == area_of_interest_json(aoi.box, aoi.metadata, body["requestId"])
    assert calls == ["thumbnail", "thumbnail", "area_of_interest", "area_of_interest"]
