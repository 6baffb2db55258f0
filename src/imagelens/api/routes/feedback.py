"""Feedback routes under ``/imagelens/v1`` (imagelens' own, not Azure's): users report a result as wrong or harmful,
citing the ``apim-request-id`` of the answer; the operator lists, reviews, summarizes and deletes the reports
(docs/feedback.md). The store is :func:`imagelens.store.open_feedback` (SQLite, or PostgreSQL with
``IMAGELENS_DATABASE_URL``), opened on first use; retention is enforced on each write and at server start.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from imagelens.api.body import check_json_shape, read_capped
from imagelens.api.ratelimit import client_id
from imagelens.config import Settings
from imagelens.errors import (
    InvalidArgumentError,
    InvalidImageSizeError,
    NotFoundError,
    NotSupportedFeatureError,
)
from imagelens.features.registry import FEATURE_LIST
from imagelens.store import open_feedback, store_dir
from imagelens.store.feedback import (
    DB_FILE,
    MAX_EXPECTED_BYTES,
    ROUTE_KINDS,
    VERDICTS,
    FeedbackStore,
    check_page,
    parse_feedback,
    parse_time,
    summarize,
)

PREFIX = "/imagelens/v1"
router = APIRouter(tags=["Feedback"])
log = logging.getLogger("imagelens.server")
FEATURES = frozenset(f.name for f in FEATURE_LIST) | frozenset(ROUTE_KINDS)
_BODY_LIMIT = 64 * 1024

_ITEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "FeedbackItem",
    "properties": {
        "id": {"type": "string", "readOnly": True},
        "createdDateTime": {"type": "string", "format": "date-time", "readOnly": True},
        "client": {"type": "string", "readOnly": True, "description": "the access key's hash or the address"},
        "requestId": {"type": "string", "description": "the apim-request-id of the answer reported"},
        "feature": {"type": "string", "enum": sorted(FEATURES)},
        "verdict": {"type": "string", "enum": list(VERDICTS)},
        "value": {"type": "string", "maxLength": 200, "description": "the tag or text the service gave"},
        "expected": {"description": f"what was expected (any JSON, at most {MAX_EXPECTED_BYTES} bytes)"},
        "comment": {"type": "string", "maxLength": 2000},
        "imageSha256": {"type": "string", "pattern": "^[0-9a-fA-F]{64}$"},
    },
    "required": ["feature", "verdict"],
}
_JSON = "application/json"
_CREATE_EXTRA: dict[str, Any] = {
    "requestBody": {"required": True, "content": {_JSON: {"schema": _ITEM_SCHEMA}}},
}
_ITEM_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"description": "The item", "content": {_JSON: {"schema": _ITEM_SCHEMA}}}
}
_LIST_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Items, newest first",
        "content": {
            _JSON: {
                "schema": {
                    "type": "object",
                    "properties": {"value": {"type": "array", "items": _ITEM_SCHEMA}},
                }
            }
        },
    }
}


class _Feedback:
    """The app's store, opened on first use (an app that never sees feedback creates no file)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._store: FeedbackStore | None = None
        self._lock = threading.Lock()

    def store(self) -> FeedbackStore:
        if not self.settings.feedback.enabled:
            raise NotSupportedFeatureError(
                "Feedback is turned off on this server (IMAGELENS_FEEDBACK__ENABLED=false)."
            )
        with self._lock:
            if self._store is None:
                self._store = open_feedback(self.settings)
            return self._store

    def enforce_at_start(self) -> None:
        """Retention at server start, where a store exists already (no new file for a server without feedback)."""
        settings = self.settings
        if not settings.feedback.enabled:
            return
        if not settings.database_url and not (store_dir(settings) / DB_FILE).exists():
            return
        try:
            gone = self.store().purge()
        except Exception:  # never keep the server from starting
            log.exception("feedback retention at start failed")
            return
        if gone:
            log.info("feedback retention: %d item(s) deleted at start", gone)


def _feedback(request: Request) -> FeedbackStore:
    holder: _Feedback = request.app.state.feedback
    return holder.store()


def _client(request: Request) -> str:
    settings: Settings = request.app.state.settings
    key = request.headers.get("ocp-apim-subscription-key", "") if settings.api_key_list() else ""
    return client_id(key.encode(), request.client.host if request.client else None)


def _int(text: str | None, name: str, default: int) -> int:
    if text is None or text == "":
        return default
    try:
        return int(text)
    except ValueError:
        raise InvalidArgumentError(f"'{name}' must be a whole number; got {text[:20]!r}.") from None


def _choice(text: str | None, name: str, allowed: Any) -> str | None:
    if text is None or text == "":
        return None
    if text not in allowed:
        raise InvalidArgumentError(f"'{name}' must be one of {sorted(allowed)}; got {text[:60]!r}.")
    return text


@router.post(
    "/feedback",
    summary="Report a result as wrong or harmful",
    status_code=201,
    openapi_extra=_CREATE_EXTRA,
    responses={201: {"description": "The stored item", "content": {_JSON: {"schema": _ITEM_SCHEMA}}}},
)
async def create_feedback(request: Request) -> JSONResponse:
    store = _feedback(request)
    try:
        raw = await read_capped(request, _BODY_LIMIT)
    except InvalidImageSizeError:
        raise InvalidArgumentError(f"The feedback body is larger than {_BODY_LIMIT} bytes.") from None
    check_json_shape(raw, request.app.state.settings.requests)  # nesting depth, list sizes, long numbers
    try:
        body = json.loads(raw) if raw.strip() else None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InvalidArgumentError("The feedback body is not valid JSON.") from None
    fields = parse_feedback(body, FEATURES)
    item = await run_in_threadpool(lambda: store.add(client=_client(request), **fields))
    return JSONResponse(item.to_json(), status_code=201)


@router.get("/feedback", summary="List feedback, newest first", responses=_LIST_RESPONSE)
async def list_feedback(
    request: Request,
    feature: str | None = None,
    verdict: str | None = None,
    since: str | None = None,
    top: str | None = None,
    skip: str | None = None,
) -> JSONResponse:
    store = _feedback(request)
    top_n, skip_n = _int(top, "top", 100), _int(skip, "skip", 0)
    check_page(top_n, skip_n)
    kwargs = {
        "feature": _choice(feature, "feature", FEATURES),
        "verdict": _choice(verdict, "verdict", VERDICTS),
        "since": None if not since else parse_time(since),
    }
    items = await run_in_threadpool(lambda: store.list(top=top_n, skip=skip_n, **kwargs))  # type: ignore[arg-type]
    return JSONResponse({"value": [i.to_json() for i in items]})


@router.get(
    "/feedback:summary",
    summary="Counts per feature and verdict, and the tags most often reported (block-list candidates)",
)
async def feedback_summary(request: Request, since: str | None = None) -> JSONResponse:
    store = _feedback(request)
    start = None if not since else parse_time(since)
    summary = await run_in_threadpool(lambda: summarize(iter(store.list(since=start, top=None))))
    return JSONResponse(summary)


@router.get("/feedback/{item_id}", summary="Get one feedback item", responses=_ITEM_RESPONSE)
async def get_feedback(request: Request, item_id: str) -> JSONResponse:
    store = _feedback(request)
    item = await run_in_threadpool(lambda: store.get(item_id))
    if item is None:
        raise NotFoundError(f"The feedback item '{item_id[:64]}' does not exist.")
    return JSONResponse(item.to_json())


@router.delete("/feedback/{item_id}", summary="Delete one feedback item", status_code=204)
async def delete_feedback(request: Request, item_id: str) -> Response:
    store = _feedback(request)
    if not await run_in_threadpool(lambda: store.delete(item_id)):
        raise NotFoundError(f"The feedback item '{item_id[:64]}' does not exist.")
    return Response(status_code=204)


def register(app: FastAPI) -> None:
    """Mount the routes under :data:`PREFIX` and enforce retention at start."""
    holder = _Feedback(app.state.settings)
    app.state.feedback = holder
    app.include_router(router, prefix=PREFIX)

    async def enforce() -> None:
        await run_in_threadpool(holder.enforce_at_start)

    app.router.on_startup.append(enforce)
