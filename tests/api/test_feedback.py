"""``/imagelens/v1/feedback``: round trip, validation (Azure error bodies), the summary's block-list candidates,
access keys, the client name, retention at server start, the switch, the OpenAPI document; and the
``apim-request-id`` every analysis answer carries (what a user cites in a report)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from imagelens.api.app import create_app
from imagelens.config import Settings
from imagelens.store.feedback import SQLiteFeedbackStore

from .test_routes import assert_azure_error

F = "/imagelens/v1/feedback"
KEY = "secret-key"


def _client(tmp_path: Path, **kw: Any) -> TestClient:
    return TestClient(create_app(Settings(store_dir=tmp_path, **kw)))


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    return _client(tmp_path)


def test_round_trip(client: TestClient) -> None:
    body = {
        "requestId": "3f1c-77",
        "feature": "tags",
        "verdict": "incorrect",
        "value": "cat",
        "expected": {"value": "dog"},
        "comment": "it is a dog",
        "imageSha256": "AB" * 32,
    }
    created = client.post(F, json=body)
    assert created.status_code == 201, created.text
    item = created.json()
    assert created.headers["apim-request-id"]
    assert {k: item[k] for k in body} == {**body, "imageSha256": "ab" * 32}
    assert item["client"] == "addr:testclient" and item["createdDateTime"].endswith("Z") and item["id"]
    assert client.get(f"{F}/{item['id']}").json() == item
    assert client.get(F).json() == {"value": [item]}
    other = client.post(F, json={"feature": "read", "verdict": "missing"}).json()
    assert [i["id"] for i in client.get(F).json()["value"]] == [other["id"], item["id"]]
    assert [i["id"] for i in client.get(F, params={"feature": "read"}).json()["value"]] == [other["id"]]
    assert [i["id"] for i in client.get(F, params={"top": 1, "skip": 1}).json()["value"]] == [item["id"]]
    assert client.get(F, params={"since": "2999-01-01"}).json() == {"value": []}
    assert client.delete(f"{F}/{item['id']}").status_code == 204
    assert_azure_error(client.get(f"{F}/{item['id']}"), 404, "NotFound")
    assert_azure_error(client.delete(f"{F}/{item['id']}"), 404, "NotFound")


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"verdict": "incorrect"}, "'feature' must be one of"),
        ({"feature": "nope", "verdict": "incorrect"}, "'feature' must be one of"),
        ({"feature": "tags", "verdict": "meh"}, "'verdict' must be one of"),
        ({"feature": "tags", "verdict": "correct", "extra": 1}, "Unknown feedback field"),
        ({"feature": "tags", "verdict": "correct", "comment": "x" * 2001}, "longer than 2000"),
        ({"feature": "tags", "verdict": "correct", "comment": 5}, "'comment' must be a string"),
        ({"feature": "tags", "verdict": "correct", "imageSha256": "xyz"}, "64 hexadecimal"),
        ({"feature": "tags", "verdict": "correct", "requestId": "a b"}, "apim-request-id"),
        ({"feature": "tags", "verdict": "correct", "expected": "x" * 9000}, "larger than 8192"),
        ([1, 2], "must be a JSON object"),
        ({"feature": "tags", "verdict": "correct", "comment": "a\x00b"}, "NUL"),
        ({"feature": "tags", "verdict": "correct", "expected": {"k": "\x00"}}, "NUL"),
    ],
)
def test_validation_errors(client: TestClient, body: Any, words: str) -> None:
    error = assert_azure_error(client.post(F, json=body), 400, "BadArgument")
    assert words in error["error"]["message"]


def test_bad_bodies_and_queries(client: TestClient) -> None:
    assert (
        "not valid JSON"
        in assert_azure_error(client.post(F, content=b"{nope"), 400, "BadArgument")["error"]["message"]
    )
    assert_azure_error(client.post(F, content=b""), 400, "BadArgument")
    nan = assert_azure_error(
        client.post(F, content=b'{"feature":"tags","verdict":"correct","expected":NaN}'), 400, "BadArgument"
    )
    assert "NaN" in nan["error"]["message"]
    big = assert_azure_error(client.post(F, content=b"x" * 70_000), 400, "BadArgument")
    assert "larger than 65536" in big["error"]["message"]
    assert_azure_error(client.post(F, content=b"[" * 40 + b"]" * 40), 400, "InvalidRequest")  # too deep
    for query, words in [
        ({"top": "0"}, "'top' must be between 1 and 1000"),
        ({"top": "x"}, "'top' must be a whole number"),
        ({"skip": "-1"}, "'skip' must be 0 or more"),
        ({"verdict": "bad"}, "'verdict' must be one of"),
        ({"feature": "bad"}, "'feature' must be one of"),
        ({"since": "yesterday"}, "ISO 8601"),
    ]:
        error = assert_azure_error(client.get(F, params=query), 400, "BadArgument")
        assert words in error["error"]["message"], query


def test_summary_names_block_list_candidates(client: TestClient) -> None:
    for value, verdict in [
        ("Cat", "incorrect"),
        ("cat", "offensive"),
        ("dog", "incorrect"),
        ("cat", "correct"),
    ]:
        assert client.post(F, json={"feature": "tags", "verdict": verdict, "value": value}).status_code == 201
    client.post(F, json={"feature": "tags", "verdict": "offensive", "expected": ["slur", {"name": "x"}]})
    client.post(F, json={"feature": "caption", "verdict": "offensive"})
    summary = client.get(F + ":summary").json()
    assert summary["total"] == 6
    assert summary["counts"] == {
        "caption": {"offensive": 1},
        "tags": {"incorrect": 2, "offensive": 2, "correct": 1},
    }
    assert summary["tagCandidates"][0] == {"name": "cat", "total": 2, "incorrect": 1, "offensive": 1}
    assert [c["name"] for c in summary["tagCandidates"]] == ["cat", "dog", "slur", "x"]
    assert client.get(F + ":summary", params={"since": "2999-01-01"}).json()["total"] == 0


def test_access_keys_and_client_is_the_key_hash(tmp_path: Path) -> None:
    client = _client(tmp_path, api_keys=KEY)
    assert_azure_error(client.post(F, json={"feature": "tags", "verdict": "correct"}), 401, "Unauthorized")
    for path in (F, F + ":summary", f"{F}/x"):
        assert_azure_error(client.get(path), 401, "Unauthorized")
    assert_azure_error(client.delete(f"{F}/x"), 401, "Unauthorized")
    headers = {"Ocp-Apim-Subscription-Key": KEY}
    item = client.post(F, json={"feature": "tags", "verdict": "correct"}, headers=headers).json()
    assert item["client"] == "key:" + hashlib.sha256(KEY.encode()).hexdigest()[:32]
    assert KEY not in str(item)
    assert client.get(F, headers=headers).json()["value"] == [item]


def test_retention_enforced_at_server_start(tmp_path: Path) -> None:
    now = [1_800_000_000.0]
    old = SQLiteFeedbackStore(tmp_path, retention_days=None, clock=lambda: now[0])
    for _ in range(3):
        old.add(feature="tags", verdict="incorrect", client="addr:x")
        now[0] += 1.0
    assert len(old.list()) == 3
    app = create_app(Settings(store_dir=tmp_path, feedback={"max_items": 1}))  # type: ignore[arg-type]
    with TestClient(app):  # runs the start-up handlers
        pass
    assert len(old.list()) == 1  # the two oldest were deleted from the file at start


def test_no_store_file_without_feedback(tmp_path: Path) -> None:
    with TestClient(create_app(Settings(store_dir=tmp_path))) as client:
        assert client.get("/health").status_code == 200
    assert not (tmp_path / "feedback.sqlite3").exists()


def test_answers_during_the_warm_up(tmp_path: Path) -> None:
    from imagelens.features.warmup import Warmup

    app = create_app(Settings(store_dir=tmp_path))
    client = TestClient(app)
    app.state.warmup = Warmup(app.state.analyzer.hub, state="warming")
    assert client.post("/computervision/imageanalysis:analyze", content=b"x").status_code == 503
    assert client.post(F, json={"feature": "tags", "verdict": "correct"}).status_code == 201
    assert client.get(F + ":summary").json()["total"] == 1


def test_turned_off(tmp_path: Path) -> None:
    client = _client(tmp_path, feedback={"enabled": False})
    for answer in (client.post(F, json={"feature": "tags", "verdict": "correct"}), client.get(F)):
        assert "turned off" in assert_azure_error(answer, 400, "NotSupportedFeature")["error"]["message"]
    assert not (tmp_path / "feedback.sqlite3").exists()


def test_settings_are_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    for bad in ({"retention_days": 0}, {"max_items": 0}):
        with pytest.raises(ValueError, match="feedback"):
            Settings(feedback=bad)  # type: ignore[arg-type]
    monkeypatch.setenv("IMAGELENS_FEEDBACK__RETENTION_DAYS", "none")
    monkeypatch.setenv("IMAGELENS_FEEDBACK__MAX_ITEMS", "7")
    assert (Settings().feedback.retention_days, Settings().feedback.max_items) == (None, 7)
    for bad_env in ("0", "-1", ""):
        monkeypatch.setenv("IMAGELENS_FEEDBACK__RETENTION_DAYS", bad_env)
        with pytest.raises(ValueError, match="retention_days"):
            Settings()


def test_openapi_documents_the_routes(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {"post", "get"} <= set(paths[F]) and {"get", "delete"} <= set(paths[F + "/{item_id}"])
    assert "get" in paths[F + ":summary"]
    schema = paths[F]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert schema["required"] == ["feature", "verdict"] and "tags" in schema["properties"]["feature"]["enum"]
    assert "422" not in paths[F]["get"]["responses"]


def test_every_analysis_answer_carries_a_request_id(tmp_path: Path) -> None:
    """Each analysis route, answering whatever it answers to an empty request (most: 400), names the request."""
    app = create_app(Settings(store_dir=tmp_path))
    client = TestClient(app)
    seen = 0
    for path, operations in client.get("/openapi.json").json()["paths"].items():
        if not path.startswith(("/computervision", "/vision/v3.2")):
            continue
        url = re.sub(r"\{[^}]+\}", "x", path)
        for method in operations:
            answer = client.request(method, url, params={"api-version": "2024-02-01"}, content=b"")
            assert re.fullmatch(r"[0-9a-f-]{36}", answer.headers.get("apim-request-id", "")), (method, url)
            seen += 1
    assert seen > 20
