"""Per-client rate admission (the guard's token buckets): one client over its rate gets 429 with Retry-After from its
bucket, before its body is read, while another client is still served; the bucket table stays bounded."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from imagelens.api.middleware import Guard
from imagelens.api.ratelimit import TokenBuckets
from imagelens.config import ServerSettings, Settings


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_admits_its_burst_then_says_how_long_to_wait() -> None:
    clock = _Clock()
    buckets = TokenBuckets(rate_per_s=0.5, burst=2, clock=clock)
    assert buckets.take("a") == 0.0 and buckets.take("a") == 0.0
    wait = buckets.take("a")
    assert wait == pytest.approx(2.0) and TokenBuckets.retry_after(wait) == 2
    clock.now += 1.0  # half a token back
    assert buckets.take("a") == pytest.approx(1.0)
    clock.now += 1.0
    assert buckets.take("a") == 0.0  # a whole token again
    assert buckets.take("b") == 0.0  # another client has its own bucket
    assert TokenBuckets.retry_after(0.01) == 1


def test_the_bucket_table_is_bounded_least_recently_used_first() -> None:
    buckets = TokenBuckets(rate_per_s=1.0, burst=1, max_clients=100, clock=_Clock())
    buckets.take("kept")
    for i in range(10_000):  # a flood of distinct clients
        buckets.take(f"10.0.{i // 256}.{i % 256}")
        if i % 50 == 0:
            buckets.take("kept")  # seen recently: stays in the table, its bucket still empty
    assert len(buckets) == 100
    assert buckets.take("kept") > 0.0


def _guard(keys: str = "") -> tuple[Guard, list[str]]:
    settings = Settings(
        api_keys=keys, server=ServerSettings(rate_limit_per_s=0.01, rate_limit_burst=2, metrics=False)
    )
    served: list[str] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        while True:  # the app reads the whole body, as a route does
            message = await receive()
            if not message.get("more_body"):
                break
        served.append(scope["path"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    class _Pool:
        full = False
        pending = 0

    return Guard(app, settings, _Pool(), None), served


def _call(
    guard: Guard, client: str, key: str | None = None
) -> tuple[int, dict[str, str], dict[str, Any], int]:
    """One POST with a body; returns status, headers, JSON body and how many times the body was asked for."""
    reads = 0
    sent: list[dict[str, Any]] = []
    headers = [(b"content-type", b"application/octet-stream"), (b"content-length", b"4")]
    if key is not None:
        headers.append((b"ocp-apim-subscription-key", key.encode()))
    scope = {
        "type": "http", "method": "POST", "path": "/computervision/imageanalysis:analyze", "query_string": b"",
        "headers": headers, "client": (client, 5000), "server": ("127.0.0.1", 80),
    }  # fmt: skip

    async def receive() -> dict[str, Any]:
        nonlocal reads
        reads += 1
        if reads == 1:
            return {"type": "http.request", "body": b"abcd", "more_body": False}
        await asyncio.sleep(3600)  # the client stays connected
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(guard(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    head = {k.decode(): v.decode() for k, v in start["headers"]}
    return start["status"], head, json.loads(body), reads


def test_a_client_over_its_rate_gets_429_before_its_body_is_read_and_another_is_served() -> None:
    guard, served = _guard()
    assert [_call(guard, "10.0.0.1")[0] for _ in range(2)] == [200, 200]  # the burst
    status, headers, body, reads = _call(guard, "10.0.0.1")
    assert status == 429 and reads == 0  # refused before one byte of the body was asked for
    assert headers["retry-after"] == "100"  # one token at 0.01/s, from an empty bucket
    assert body["error"]["code"] == "429" and "rate limit" in body["error"]["message"]
    assert "retry after 100 seconds" in body["error"]["message"]
    assert _call(guard, "10.0.0.2")[0] == 200  # another address is still served
    assert len(served) == 3


def test_with_access_keys_the_client_is_the_key_not_the_address() -> None:
    guard, _ = _guard(keys="key-one,key-two")
    assert [_call(guard, "10.0.0.1", "key-one")[0] for _ in range(3)] == [200, 200, 429]
    assert _call(guard, "10.0.0.1", "key-two")[0] == 200  # same address, other key: its own bucket
    assert _call(guard, "10.0.0.9", "key-one")[0] == 429  # same key from elsewhere: still limited
    assert _call(guard, "10.0.0.1", "wrong")[0] == 401  # auth first: a bad key takes no token
    assert all(not k.startswith("key:key-") for k in guard.rates._buckets)  # type: ignore[union-attr]


def test_no_rate_limit_by_default() -> None:
    assert Settings().server.rate_limit_per_s is None
    assert Guard(lambda *a: None, Settings(), object(), None).rates is None  # type: ignore[arg-type]
