"""Readiness: ``/ready`` and the gate that answers 503 while the start-up warm-up runs.

With ``server.warmup`` on (``imagelens serve`` turns it on; ``--no-warmup`` turns it off) the app starts a
:class:`~imagelens.features.warmup.Warmup` in a background thread at start: it loads ``hub.preload`` (pinned) and
embeds every vocabulary of the warm-up list, so no request ever embeds one. Until it is done:

- ``GET /ready`` answers 503 ``{"status": "warming", "warmup": {done, total, steps ...}}``;
- every other route except ``/health``, ``/ready``, ``/metrics``, the docs and the studio's page answers 503
  ``ServiceUnavailable`` / ``WarmingUp`` with ``Retry-After`` (chosen over holding the request: a client or load
  balancer retries at once elsewhere, and no request waits minutes behind a vocabulary being embedded).

A warm-up that failed leaves the gate open (each route then fails or works on its own) and ``/ready`` answers 503
``{"status": "failed"}`` with the failed steps, so an orchestrator does not route traffic to a broken instance.
"""

from __future__ import annotations

import json
from typing import Any

from imagelens.api.middleware import is_open
from imagelens.features.warmup import Warmup

RETRY_AFTER_S = 5
MESSAGE = "The service is starting: its models are loading and its vocabularies warming up. Retry shortly."


def warmup_of(state: Any) -> Warmup | None:
    found = getattr(state, "warmup", None)
    return found if isinstance(found, Warmup) else None


def ready_payload(state: Any) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body) of ``/ready``."""
    hub = state.analyzer.hub
    models = {row.id: {"present": row.present, "loaded": row.loaded} for row in hub.describe()}
    body: dict[str, Any] = {"status": "ready", "pending": state.pool.pending, "models": models}
    warmup = warmup_of(state)
    if warmup is None:
        return 200, body
    progress = warmup.progress()
    body["warmup"] = progress
    if progress["state"] in ("warming", "idle"):
        body["status"] = "warming"
        return 503, body
    if progress["state"] == "failed":
        body["status"] = "failed"
        return 503, body
    return 200, body


NO_MODELS_PREFIX = "/imagelens/v1/feedback"  # routes that need no model pass during the warm-up


class WarmupGate:
    """Pure ASGI middleware: 503 + ``Retry-After`` for routes that need models while the warm-up runs."""

    def __init__(self, app: Any, state: Any) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        warmup = warmup_of(self.state) if scope["type"] == "http" else None
        path = scope.get("path", "")
        if warmup is None or not warmup.warming or is_open(path) or path.startswith(NO_MODELS_PREFIX):
            await self.app(scope, receive, send)
            return
        progress = warmup.progress()
        error: dict[str, Any] = {"code": "ServiceUnavailable", "message": MESSAGE}
        error["innererror"] = {"code": "WarmingUp", "message": MESSAGE}
        payload = json.dumps({"error": error, "warmup": {k: progress[k] for k in ("done", "total")}}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 503,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                    (b"retry-after", str(RETRY_AFTER_S).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})
