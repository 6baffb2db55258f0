"""The preview's documented query and ingestion options over HTTP (tiny random SigLIP, local videos): datetime
filters, metadata text search, dedup, moderation, additional indexes, and a clear 400 for every field that is
unknown or not built."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from imagelens.config import ModerationSettings, Settings  # noqa: E402
from imagelens.video.write import write_slideshow  # noqa: E402
from tests.video.conftest import pattern  # noqa: E402

P = "api-version=2023-05-01-preview"
BASE = "/computervision/retrieval/indexes"
SCHEMA = {
    "fields": [
        {"name": "cameraId", "searchable": False, "filterable": True, "type": "string"},
        {"name": "recorded", "searchable": False, "filterable": True, "type": "datetime"},
        {"name": "title", "searchable": True, "filterable": False, "type": "string"},
    ]
}
META = {
    "a": {"cameraId": "cam1", "recorded": "2023-05-01T10:00:00Z", "title": "Harbour sunrise"},
    "b": {"cameraId": "cam2", "recorded": "2023-06-01T10:00:00+02:00", "title": "parking lot"},
}


def _wait(client: TestClient, index: str, name: str) -> dict[str, Any]:
    for _ in range(600):
        body: dict[str, Any] = client.get(f"{BASE}/{index}/ingestions/{name}?{P}").json()
        if body["state"] not in ("NotStarted", "Running"):
            return body
        time.sleep(0.05)
    raise AssertionError(f"ingestion {name} did not finish: {body}")


def _png(rgb: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, "PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory, siglip_dir: Path) -> Iterator[TestClient]:
    """One app for the module: index ``opts`` (a, b, and c whose 4 shots are 2 pictures twice; m moderated),
    index ``more`` (d). Key frames are flagged at any score (adult threshold 0), so a moderated video is withheld
    whole."""
    from imagelens.api.app import create_app
    from imagelens.config import HubSettings

    tmp = tmp_path_factory.mktemp("opts")
    settings = Settings(
        model_dir=siglip_dir,
        hub=HubSettings(offline=True),
        store_dir=tmp / "store",
        data_dir=tmp,
        moderation=ModerationSettings(adult_threshold=0.0),
    )
    shots = {"a": (1, 2, 3), "b": (4, 5), "c": (6, 7, 6, 7), "m": (8,), "d": (9,)}
    for name, seeds in shots.items():
        write_slideshow(tmp / f"{name}.mp4", [(pattern(s), 2.0) for s in seeds], fps=10)
    with TestClient(create_app(settings)) as c:
        for index in ("opts", "more"):
            r = c.put(
                f"{BASE}/{index}?{P}", json={"features": [{"name": "vision"}], "metadataSchema": SCHEMA}
            )
            assert r.status_code == 201, r.text
        videos = [
            {"mode": "add", "documentId": d, "documentUrl": f"{d}.mp4", "metadata": META.get(d, {})}
            for d in ("a", "b", "c")
        ]
        assert c.put(f"{BASE}/opts/ingestions/i1?{P}", json={"videos": videos}).status_code == 202
        assert _wait(c, "opts", "i1")["state"] == "Completed"
        moderated = {
            "videos": [{"mode": "add", "documentId": "m", "documentUrl": "m.mp4"}],
            "moderation": True,
        }
        assert c.put(f"{BASE}/opts/ingestions/i2?{P}", json=moderated).status_code == 202
        assert _wait(c, "opts", "i2")["state"] == "Completed"
        more = {"videos": [{"mode": "add", "documentId": "d", "documentUrl": "d.mp4"}]}
        assert c.put(f"{BASE}/more/ingestions/i1?{P}", json=more).status_code == 202
        assert _wait(c, "more", "i1")["state"] == "Completed"
        yield c


def _query(client: TestClient, body: dict[str, Any], index: str = "opts", status: int = 200) -> Any:
    r = client.post(f"{BASE}/{index}:queryByText?{P}", json={"top": 50, **body})
    assert r.status_code == status, r.text
    return r.json()["value"] if status == 200 else r.json()["error"]


def _ids(hits: list[dict[str, Any]]) -> set[str]:
    return {h["documentId"] for h in hits}


def test_datetime_filters(client: TestClient) -> None:
    def dt(**f: Any) -> set[str]:
        return _ids(
            _query(
                client, {"queryText": "x", "filters": {"datetimeFilters": [{"fieldName": "recorded", **f}]}}
            )
        )

    assert dt(startTime="2023-05-15") == {"b"}
    assert dt(endTime="2023-05-15T00:00:00Z") == {"a"}
    assert dt(startTime="2023-05-01T10:00:00Z", endTime="2023-06-01T08:00:00Z") == {
        "a",
        "b",
    }  # inclusive, UTC
    assert dt(startTime="2023-06-01T08:00:01Z") == set()  # b is 08:00 UTC
    bad = [
        ({"fieldName": "cameraId", "startTime": "2023-01-01"}, "not a metadata field of type 'datetime'"),
        ({"fieldName": "nope", "startTime": "2023-01-01"}, "not a metadata field of type 'datetime'"),
        ({"fieldName": "recorded", "startTime": "yesterday"}, "ISO 8601"),
        ({"fieldName": "recorded"}, "needs a 'startTime', an 'endTime' or both"),
        ({"fieldName": "recorded", "startTime": "2024-01-01", "endTime": "2023-01-01"}, "after endTime"),
        ({"fieldName": "recorded", "from": "2023-01-01"}, "'from'"),
    ]
    for item, words in bad:
        error = _query(client, {"queryText": "x", "filters": {"datetimeFilters": [item]}}, status=400)
        assert words in error["message"], (item, error)
    # a string filter on a datetime field, and on a field declared not filterable
    for name, words in (("recorded", "use filters.datetimeFilters"), ("title", "not filterable")):
        flt = {"stringFilters": [{"fieldName": name, "values": ["x"]}]}
        assert words in _query(client, {"queryText": "x", "filters": flt}, status=400)["message"]


def test_metadata_text_search_boosts_matching_videos(client: TestClient) -> None:
    # (query, video whose searchable title matches, fraction of the query's words found there)
    for text, video, match in (("Harbour", "a", 1.0), ("harbour at night", "a", 1 / 3), ("lot", "b", 1.0)):
        plain = _query(client, {"queryText": text, "disableMetadataSearch": True})
        boosted = _query(client, {"queryText": text})
        before = {(h["documentId"], h["start"]): h["relevance"] for h in plain}
        assert len(before) == len(boosted) == 9  # a 3 + b 2 + c 4 segments (m is withheld)
        for h in boosted:
            r = before[(h["documentId"], h["start"])]
            m = match if h["documentId"] == video else 0.0
            assert h["relevance"] == pytest.approx(r + (1 - r) * m / 2, abs=2e-6), (text, h)
    first = _query(client, {"queryText": "Harbour"})[:3]
    assert {h["documentId"] for h in first} == {"a"}  # a's three segments first
    assert _query(client, {"queryText": "cam1"}) == _query(
        client, {"queryText": "cam1", "disableMetadataSearch": True}
    )


def test_dedup_drops_repeated_shots(client: TestClient) -> None:
    url = f"{BASE}/opts:queryByImage?{P}&documentIds=c&top=10"
    every = client.post(url, content=_png(pattern(6))).json()["value"]
    assert len(every) == 4  # c: 6, 7, 6, 7
    deduped = client.post(f"{url}&dedup=true", content=_png(pattern(6))).json()["value"]
    assert len(deduped) == 2 and deduped[0]["start"] in ("00:00:00.0000000", "00:00:04.0000000")
    capped = client.post(f"{url}&dedup=true&dedupMaxDocumentCount=1", content=_png(pattern(6))).json()[
        "value"
    ]
    assert capped == deduped[:1]
    text = _query(client, {"queryText": "x", "filters": {"documentIds": ["c"]}, "dedup": True})
    assert len(text) == 2
    assert len(_query(client, {"queryText": "x", "dedup": True, "dedupMaxDocumentCount": 3})) == 3
    assert (
        "dedupMaxDocumentCount"
        in _query(client, {"queryText": "x", "dedupMaxDocumentCount": 0}, status=400)["message"]
    )


def test_moderation_withholds_flagged_and_unchecked_segments(client: TestClient) -> None:
    doc = client.get(f"{BASE}/opts/documents/m?{P}").json()
    assert doc["metadata"] == {}  # the verdicts are not shown as metadata
    assert doc["moderation"] == {
        "keyFramesChecked": 1,
        "keyFramesFlagged": 1,
        "categories": ["adult", "gore"],
    }
    assert "moderation" not in client.get(f"{BASE}/opts/documents/a?{P}").json()
    assert "m" not in _ids(
        _query(client, {"queryText": "x"})
    )  # flagged at ingestion: withheld from every query
    img = client.post(f"{BASE}/opts:queryByImage?{P}&documentIds=m", content=_png(pattern(8))).json()["value"]
    assert img == []
    assert _ids(_query(client, {"queryText": "x"})) == {"a", "b", "c"}
    # moderation in the query: segments never checked are withheld too (fail closed)
    assert _query(client, {"queryText": "x", "moderation": True}) == []
    assert "moderation" in _query(client, {"queryText": "x", "moderation": "yes"}, status=400)["message"]


def test_additional_indexes(client: TestClient) -> None:
    hits = _query(client, {"queryText": "x", "additionalIndexNames": ["more"]})
    names = {(h["documentId"], h["additionalMetadata"]["indexName"]) for h in hits}
    assert ("d", "more") in names and ("a", "opts") in names
    assert hits == sorted(hits, key=lambda h: -h["relevance"])
    assert "additionalMetadata" not in _query(client, {"queryText": "x"})[0]
    assert (
        _query(client, {"queryText": "x", "additionalIndexNames": ["gone"]}, status=404)["code"] == "NotFound"
    )
    assert (
        "itself"
        in _query(client, {"queryText": "x", "additionalIndexNames": ["opts"]}, status=400)["message"]
    )


def test_unknown_and_unbuilt_fields_are_refused(client: TestClient) -> None:
    error = _query(client, {"queryText": "x", "searchMode": "hybrid"}, status=400)
    assert "'searchMode'" in error["message"] and error["innererror"]["code"] == "BadArgument"
    assert "'bogus'" in _query(client, {"queryText": "x", "filters": {"bogus": []}}, status=400)["message"]
    r = client.post(f"{BASE}/opts:queryByImage?{P}&sort=asc", content=_png(pattern(1)))
    assert r.status_code == 400 and "'sort'" in r.json()["error"]["message"]

    video = {"mode": "add", "documentId": "z", "documentUrl": "a.mp4"}
    cases = [
        ({"generateInsightIntervals": True}, "NotSupportedFeature", "generateInsightIntervals"),
        ({"filterDefectedFrames": True}, "NotSupportedFeature", "filterDefectedFrames"),
        ({"documentAuthenticationKind": "managedIdentity"}, "NotSupportedFeature", "managedIdentity"),
        ({"documentAuthenticationKind": "sas"}, "BadArgument", "documentAuthenticationKind"),
        ({"moderation": 1}, "BadArgument", "'moderation'"),
        ({"priority": "high"}, "BadArgument", "'priority'"),
        ({"videos": [dict(video, startTime=3)]}, "BadArgument", "'startTime'"),
        ({"videos": [dict(video, metadata={"imagelens:moderation": {}})]}, "BadArgument", "reserved"),
        ({"videos": [dict(video, metadata={"recorded": "last week"})]}, "BadArgument", "ISO 8601"),
    ]
    for extra, code, words in cases:
        body = {"videos": [video], **extra}
        r = client.put(f"{BASE}/opts/ingestions/bad?{P}", json=body)
        assert r.status_code == 400, (extra, r.text)
        error = r.json()["error"]
        assert error["innererror"]["code"] == code and words in error["message"], (extra, error)
    ok = {"videos": [video], "generateInsightIntervals": False, "filterDefectedFrames": False}
    ok["documentAuthenticationKind"] = "none"
    assert client.put(f"{BASE}/opts/ingestions/fine?{P}", json=ok).status_code == 202
    assert _wait(client, "opts", "fine")["state"] == "Completed"
    assert client.delete(f"{BASE}/opts/documents/z?{P}").status_code == 204
