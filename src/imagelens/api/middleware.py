"""The guard every request passes first (plain ASGI, below FastAPI): nothing is read before it says yes.

In order, before one byte of the body is read:

1. a request id (``apim-request-id`` on every answer) and the ``Host`` header checked (see :func:`_safe_host`);
2. access keys (when configured);
3. the client's rate (``server.rate_limit_per_s``, a token bucket per access key or address,
   :mod:`imagelens.api.ratelimit`): 429 with ``Retry-After`` from the bucket;
4. admission: at most ``server.max_in_flight`` requests with a body at once, and none while the work queue is full:
   429 with ``Retry-After``;
5. ``Content-Length`` against the hard cap of the route's kind (image upload or JSON): 400 naming the limit.

Then, while the request runs:

* the body is streamed through a counter that stops at the cap (a missing or lying ``Content-Length`` gets the same
  400), and a wait of more than ``server.body_timeout_s`` for the next piece is a 408 (slow senders);
* a JSON body is read here (capped) and checked for size, nesting depth, list lengths and number lengths before any
  parser sees it (:func:`imagelens.api.body.check_json_shape`);
* the request's :class:`~imagelens.deadline.Deadline` is current, so the work pool, decoding and each analysis stage
  stop when it passes (Azure's ``Timeout`` error, 408), and a client that disconnects cancels it (its work stops; no
  traceback is logged);
* one access line and the metrics are recorded when the answer is sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from imagelens import deadline as deadlines
from imagelens.api import studio
from imagelens.api.body import check_json_shape
from imagelens.api.logging import log_request
from imagelens.api.metrics import Metrics, feature_label
from imagelens.api.ratelimit import TokenBuckets, client_id
from imagelens.config import Settings
from imagelens.errors import (
    CancelledRequestError,
    ImageLensError,
    InvalidImageSizeError,
    InvalidRequestError,
    RequestTimeoutError,
    TooManyRequestsError,
    UnauthorizedError,
)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

log = logging.getLogger("imagelens.server")

OPEN_PATHS = (
    frozenset({"/health", "/ready", "/metrics", "/docs", "/openapi.json", "/docs/oauth2-redirect", "/redoc"})
    | studio.OPEN
)
# the docs' and the studio's own assets (no data in them)
OPEN_PREFIXES = ("/docs/static/", studio.OPEN_PREFIX)
UNAUTHORIZED_MESSAGE = (
    "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an "
    "active subscription and use a correct regional API endpoint for your resource."
)
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_HOST = re.compile(
    r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9-]{1,63})*|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$"
)
_JSON_TYPES = ("application/json", "text/json")
# An absolute path on the server (two or more segments), not one inside a URL (preceded by a host or "//").
_SERVER_PATH = re.compile(r"(?<![\w:/.~-])/(?:[\w.@+-]+/)+[\w.@+-]*")


def scrub_paths(message: str) -> str:
    """Error messages never show where files live on the server."""
    return _SERVER_PATH.sub("<path>", message)


def error_body(error: ImageLensError) -> dict[str, Any]:
    body = error.to_azure()
    message = scrub_paths(error.message)
    body["error"]["message"] = message
    if isinstance(body["error"].get("innererror"), dict):
        body["error"]["innererror"]["message"] = message
    return body


def is_open(path: str) -> bool:
    return path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)


class _Exchange:
    """One request's bookkeeping: the status and error code sent, the body read so far."""

    def __init__(self) -> None:
        self.status = 0
        self.code: str | None = None
        self.started = False
        self.complete = False
        self.body_done = False
        self.received = 0
        self.disconnected = False


class Guard:
    def __init__(self, app: ASGIApp, settings: Settings, pool: Any, metrics: Metrics | None) -> None:
        self.app = app
        self.settings = settings
        self.pool = pool
        self.metrics = metrics
        self.keys = [k.encode() for k in settings.api_key_list()]
        self.in_flight = 0
        server = settings.server
        self.rates = (
            TokenBuckets(server.rate_limit_per_s, server.rate_limit_burst, server.rate_limit_clients)
            if server.rate_limit_per_s
            else None
        )
        from imagelens.features.registry import FEATURE_LIST

        self._known = [f.name for f in FEATURE_LIST] + [
            "Categories", "Tags", "Description", "Faces", "ImageType", "Color", "Adult", "Objects", "Brands",
        ]  # fmt: skip

    # --- limits --------------------------------------------------------------------------------------------------

    def _cap(self, content_type: str) -> int:
        if content_type in _JSON_TYPES or content_type.endswith("+json"):
            return self.settings.requests.max_json_bytes
        return self.settings.limits.max_bytes + self.settings.requests.multipart_overhead_bytes

    def _too_large(self, cap: int, size: int | None, content_type: str) -> ImageLensError:
        if cap == self.settings.requests.max_json_bytes and content_type in _JSON_TYPES:
            return InvalidRequestError(
                f"The JSON body is larger than {cap} bytes (requests.max_json_bytes)"
                + (f"; got {size} bytes." if size is not None else "."),
                {"max_json_bytes": cap},
            )
        return InvalidImageSizeError(
            f"The image size is not allowed to be zero or larger than {self.settings.limits.max_bytes} bytes"
            + (
                f"; the request body is {size} bytes."
                if size is not None
                else "; the request body is longer."
            ),
            {"max_bytes": self.settings.limits.max_bytes},
        )

    # --- the ASGI entry ------------------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = str(uuid.uuid4())
        scope.setdefault("state", {})["request_id"] = request_id
        self._fix_host(scope)
        ex = _Exchange()
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        method = scope.get("method", "GET")
        admitted = False

        async def send_wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                ex.started = True
                ex.status = int(message["status"])
                message.setdefault("headers", [])
                extra = [(b"apim-request-id", request_id.encode())]
                if method in BODY_METHODS and not ex.body_done:  # answered before the whole body came
                    extra.append((b"connection", b"close"))  # stop reading it: close after the answer
                message["headers"] = [
                    *[
                        (k, v)
                        for k, v in message["headers"]
                        if k.lower() not in (b"apim-request-id", b"connection")
                    ],
                    *extra,
                ]
            elif message["type"] == "http.response.body" and ex.status >= 400 and ex.code is None:
                ex.code = _error_code(message.get("body", b""))
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                ex.complete = True
            await send(message)

        try:
            refusal = self._refuse(scope, headers, method)
            if refusal is not None:
                await self._answer(send_wrapped, refusal)
                return
            if method in BODY_METHODS:
                self.in_flight += 1
                admitted = True
            await self._run(scope, receive, send_wrapped, headers, ex)
        finally:
            if admitted:
                self.in_flight -= 1
            self._record(scope, method, ex, started, request_id)

    def _refuse(self, scope: Scope, headers: dict[str, str], method: str) -> ImageLensError | None:
        path = scope.get("path", "")
        given = b""
        if self.keys and not is_open(path):
            given = headers.get("ocp-apim-subscription-key", "").encode()
            if not any(hmac.compare_digest(given, key) for key in self.keys):
                return UnauthorizedError(UNAUTHORIZED_MESSAGE)
        if self.rates is not None and not is_open(path):
            refusal = self._rate(scope, given)
            if refusal is not None:
                return refusal
        if method not in BODY_METHODS:
            return None
        if self.in_flight >= self.settings.server.max_in_flight:
            return self._busy("in_flight", f"{self.in_flight} requests are in progress")
        if getattr(self.pool, "full", False):
            return self._busy("queue", f"{self.pool.pending} requests are in progress or queued")
        declared = headers.get("content-length")
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if declared is not None:
            if not declared.strip().isdigit():
                return InvalidRequestError("The Content-Length header is not a number.")
            cap = self._cap(content_type)
            if int(declared) > cap:
                if self.metrics is not None:
                    self.metrics.reject("body_size")
                return self._too_large(cap, int(declared), content_type)
        return None

    def _rate(self, scope: Scope, key: bytes) -> TooManyRequestsError | None:
        """The client's token bucket: its key when keys are configured (checked above), else its address."""
        assert self.rates is not None
        peer = scope.get("client")
        wait = self.rates.take(client_id(key, str(peer[0]) if peer else None))
        if wait <= 0.0:
            return None
        if self.metrics is not None:
            self.metrics.reject("rate")
        seconds = TokenBuckets.retry_after(wait)
        rate = self.rates.rate_per_s
        return TooManyRequestsError(
            f"Requests have exceeded the rate limit of this client ({rate:g} requests per second, bursts of "
            f"{self.rates.burst}). Please retry after {seconds} second{'s' if seconds != 1 else ''}.",
            retry_after_s=seconds,
        )

    def _busy(self, reason: str, why: str) -> TooManyRequestsError:
        if self.metrics is not None:
            self.metrics.reject(reason)
        return TooManyRequestsError(f"The server is busy ({why}); retry shortly.", retry_after_s=1)

    async def _answer(self, send: Send, error: ImageLensError) -> None:
        body = json.dumps(error_body(error)).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        if isinstance(error, TooManyRequestsError):
            headers.append((b"retry-after", str(error.retry_after_s).encode()))
        if error.status in (400, 408, 429):
            headers.append((b"connection", b"close"))  # the unread rest of the body must not become a request
        await send({"type": "http.response.start", "status": error.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    # --- running the app under the deadline ----------------------------------------------------------------------

    async def _run(
        self, scope: Scope, receive: Receive, send: Send, headers: dict[str, str], ex: _Exchange
    ) -> None:
        server = self.settings.server
        deadline = deadlines.Deadline(server.deadline_s)
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        cap = self._cap(content_type)
        watcher: asyncio.Task[None] | None = None
        after_body: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        app_task: asyncio.Task[None] | None = None

        async def watch() -> None:  # after the body: the next message is the client going away
            message = await receive()
            if not after_body.done():
                after_body.set_result(message)
            if message.get("type") == "http.disconnect" and not ex.complete:
                ex.disconnected = True
                deadline.cancel()
                if app_task is not None:
                    app_task.cancel()

        async def next_piece() -> Message:
            nonlocal watcher
            if ex.body_done:
                return await asyncio.shield(after_body)
            try:
                message = await asyncio.wait_for(
                    receive(), timeout=min(server.body_timeout_s, deadline.remaining())
                )
            except TimeoutError:
                raise RequestTimeoutError(
                    f"The request body did not arrive in time (no data for {server.body_timeout_s:g} s, or past "
                    f"the {server.deadline_s:g} s deadline).",
                    {"body_timeout_s": server.body_timeout_s},
                ) from None
            if message["type"] == "http.disconnect":
                ex.disconnected = True
                deadline.cancel()
                return message
            ex.received += len(message.get("body", b""))
            if ex.received > cap:
                raise self._too_large(cap, None, content_type)
            if not message.get("more_body", False):
                ex.body_done = True
                watcher = asyncio.ensure_future(watch())
            return message

        replay: list[Message] = []
        if scope.get("method") in BODY_METHODS and (
            content_type in _JSON_TYPES or content_type.endswith("+json")
        ):
            try:
                with deadlines.bound(deadline):
                    raw = await self._read_all(next_piece)
                check_json_shape(raw, self.settings.requests)
            except ImageLensError as error:
                if not ex.disconnected:
                    await self._answer(send, error)
                return
            if ex.disconnected:
                return
            replay.append({"type": "http.request", "body": raw, "more_body": False})

        async def receive_wrapped() -> Message:
            if replay:
                return replay.pop()
            return await next_piece()

        with deadlines.bound(deadline):
            app_task = asyncio.ensure_future(self.app(scope, receive_wrapped, send))
        try:
            done, _ = await asyncio.wait({app_task}, timeout=deadline.remaining() + 1.0)
            if not done:  # the backstop: work the pool did not bound (reading, a route's own awaits)
                app_task.cancel()
                with contextlib.suppress(BaseException):
                    await app_task
                if not ex.started:
                    await self._answer(send, deadline.timeout_error())
                return
            app_task.result()
        except asyncio.CancelledError:
            if not ex.disconnected:
                raise
            log.info("client disconnected; work stopped (%s %s)", scope.get("method"), scope.get("path"))
        except Exception as exc:
            if ex.disconnected or _is_disconnect(exc):
                ex.disconnected = True
                log.info("client disconnected (%s %s)", scope.get("method"), scope.get("path"))
            else:
                log.exception("unhandled error")
                if not ex.started:
                    await self._answer(send, ImageLensError("An internal error occurred."))
        finally:
            if watcher is not None:
                watcher.cancel()

    @staticmethod
    async def _read_all(next_piece: Callable[[], Awaitable[Message]]) -> bytes:
        chunks: list[bytes] = []
        while True:
            message = await next_piece()
            if message["type"] == "http.disconnect":
                return b""
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                return b"".join(chunks)

    # --- host, logging, metrics ----------------------------------------------------------------------------------

    def _fix_host(self, scope: Scope) -> None:
        """``Operation-Location`` and other absolute URLs: the configured public URL, else a well-formed Host."""
        base = self.settings.server.public_base_url
        headers = [(k, v) for k, v in scope.get("headers", []) if k.lower() != b"host"]
        host = next((v.decode("latin-1") for k, v in scope.get("headers", []) if k.lower() == b"host"), "")
        if base:
            from urllib.parse import urlsplit

            parts = urlsplit(base)
            scope["scheme"] = parts.scheme or scope.get("scheme", "http")
            host = parts.netloc
            if parts.path.rstrip("/"):
                scope["root_path"] = parts.path.rstrip("/")
        elif not _HOST.match(host):
            server = scope.get("server") or ("127.0.0.1", 80)
            host = f"[{server[0]}]:{server[1]}" if ":" in str(server[0]) else f"{server[0]}:{server[1]}"
        scope["headers"] = [*headers, (b"host", host.encode("latin-1"))]

    def _record(self, scope: Scope, method: str, ex: _Exchange, started: float, request_id: str) -> None:
        seconds = time.perf_counter() - started
        matched = scope.get("route")
        route = getattr(matched, "path", None)
        if route:  # included routers hold the path without their prefix: put the prefix back
            path = str(scope.get("path", ""))
            at = path.find(route.split("{")[0]) if not path.startswith(route.split("{")[0]) else 0
            route = path[: max(at, 0)] + route
        else:
            route = "unmatched" if ex.status == 404 else "other"
        query = _query(scope)
        features = feature_label(query, self._known)
        status = ex.status or (499 if ex.disconnected else 0)
        if ex.disconnected and not ex.started:
            ex.code = CancelledRequestError.inner_code
        if self.metrics is not None:
            self.metrics.observe(route, method, features, status, ex.code, seconds)
        client = scope.get("client")
        log_request(
            {
                "apim-request-id": request_id,
                "method": method,
                "route": route,
                "path": scope.get("path"),
                "features": features or None,
                "status": status,
                "code": ex.code,
                "ms": round(seconds * 1000.0, 1),
                "client": client[0] if client else None,
            },
            self.settings.server.log_format,
        )


def _query(scope: Scope) -> dict[str, str]:
    from urllib.parse import parse_qsl

    raw = scope.get("query_string", b"").decode("latin-1")
    return dict(parse_qsl(raw[:4096], keep_blank_values=True))


def _error_code(body: bytes) -> str | None:
    try:
        error = json.loads(body[:8192])["error"]
        inner = error.get("innererror") or {}
        return str(inner.get("code") or error.get("code"))
    except Exception:
        return None


def _is_disconnect(exc: BaseException) -> bool:
    from starlette.requests import ClientDisconnect

    return isinstance(exc, ClientDisconnect | CancelledRequestError)
