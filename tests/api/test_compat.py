"""Azure's gateway behaviour (imagelens.api.compat): repeated slashes, query-name case, the key as a query
parameter, WWW-Authenticate on 401, CORS with preflight before authentication."""

from __future__ import annotations

from fastapi.testclient import TestClient

from imagelens.api.app import create_app
from imagelens.api.compat import normalise_path, normalise_query
from imagelens.config import Settings

from ..conftest import SAMPLE_IMAGE

KEY = "k-123"
OCTET = {"content-type": "application/octet-stream"}
SAMPLE = SAMPLE_IMAGE.read_bytes()


def test_normalisation_helpers() -> None:
    assert (
        normalise_path("//computervision///imageanalysis:analyze") == "/computervision/imageanalysis:analyze"
    )
    query, key = normalise_query("API-Version=2024-02-01&Features=Read&subscription-key=abc&other=X")
    assert query == "api-version=2024-02-01&features=Read&other=X" and key == "abc"
    assert normalise_query("features=read,smartCrops") == ("features=read,smartCrops", None)
    assert normalise_query("visualfeatures=Tags&MAXCANDIDATES=2")[0] == "visualFeatures=Tags&maxCandidates=2"


def test_double_slashes_and_any_case_query_names_work(tiny_settings: Settings) -> None:
    c = TestClient(create_app(tiny_settings))
    r = c.post("http://testserver//computervision//imageanalysis:analyze?API-VERSION=2024-02-01&Features=SmartCrops",
               content=SAMPLE, headers=OCTET)  # fmt: skip
    assert r.status_code == 200, r.text
    assert "smartCropsResult" in r.json()
    r = c.post("/vision/v3.2//tag?Language=en", content=SAMPLE, headers=OCTET)
    assert r.status_code == 200, r.text


def test_the_key_may_be_a_query_parameter_and_401_has_www_authenticate(tiny_settings: Settings) -> None:
    settings = tiny_settings.model_copy(update={"api_keys": KEY})
    c = TestClient(create_app(settings))
    url = "/computervision/imageanalysis:analyze?api-version=2024-02-01&features=smartCrops"
    r = c.post(url, content=SAMPLE, headers=OCTET)
    assert r.status_code == 401 and r.json()["error"]["code"] == "401"
    assert r.headers["WWW-Authenticate"].startswith("AzureApiManagementKey")
    assert c.post(url + "&subscription-key=wrong", content=SAMPLE, headers=OCTET).status_code == 401
    assert c.post(url + f"&subscription-key={KEY}", content=SAMPLE, headers=OCTET).status_code == 200
    assert c.post(url + f"&Subscription-Key={KEY}", content=SAMPLE, headers=OCTET).status_code == 200
    # the header wins over the parameter
    headers = {**OCTET, "Ocp-Apim-Subscription-Key": "wrong"}
    assert c.post(url + f"&subscription-key={KEY}", content=SAMPLE, headers=headers).status_code == 401


def test_cors_is_off_by_default(tiny_settings: Settings) -> None:
    c = TestClient(create_app(tiny_settings))
    r = c.get("/health", headers={"Origin": "https://app.example"})
    assert "access-control-allow-origin" not in r.headers


def test_cors_preflight_is_answered_before_auth(tiny_settings: Settings) -> None:
    settings = tiny_settings.model_copy(
        update={"api_keys": KEY, "cors_origins": "https://app.example, https://b.example"}
    )
    c = TestClient(create_app(settings))
    preflight = {
        "Origin": "https://app.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "ocp-apim-subscription-key,content-type",
    }
    r = c.options("/computervision/imageanalysis:analyze?api-version=2024-02-01", headers=preflight)
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == "https://app.example"
    assert "ocp-apim-subscription-key" in r.headers["access-control-allow-headers"].lower()
    denied = c.options(
        "/computervision/imageanalysis:analyze", headers={**preflight, "Origin": "https://evil.example"}
    )
    assert denied.status_code == 400
    # the real request still needs the key, and its answer (even a 401) carries the CORS headers
    r = c.post("/vision/v3.2/tag", content=SAMPLE, headers={**OCTET, "Origin": "https://b.example"})
    assert r.status_code == 401 and r.headers["access-control-allow-origin"] == "https://b.example"


def test_cors_star_allows_any_origin(tiny_settings: Settings) -> None:
    c = TestClient(create_app(tiny_settings.model_copy(update={"cors_origins": "*"})))
    r = c.get("/health", headers={"Origin": "https://any.example"})
    assert r.headers["access-control-allow-origin"] == "*"


def test_cors_origins_come_from_the_environment(monkeypatch: object) -> None:
    import pytest

    assert isinstance(monkeypatch, pytest.MonkeyPatch)
    monkeypatch.setenv("IMAGELENS_CORS_ORIGINS", "https://a.example")
    assert Settings().cors_origins == "https://a.example"
