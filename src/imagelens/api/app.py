"""The HTTP server: an app factory, no module globals. Routes are thin: parse, call the core, map to the wire.

Auth: when ``IMAGELENS_API_KEYS`` is set, every route but /health, /ready and the docs needs a matching
``Ocp-Apim-Subscription-Key`` header (compared in constant time). Every answer carries ``apim-request-id``.
Errors always have Azure's body; FastAPI's ``{"detail": ...}`` never escapes.
"""

from __future__ import annotations

import hmac
import json
import logging
import time
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from imagelens import __version__
from imagelens.analyzer import Analyzer
from imagelens.api import studio
from imagelens.compute.local import LocalPool
from imagelens.config import Settings
from imagelens.errors import ImageLensError, TooManyRequestsError, UnauthorizedError

access_log = logging.getLogger("imagelens.access")
log = logging.getLogger("imagelens.server")

OPEN_PATHS = (
    frozenset({"/health", "/ready", "/docs", "/openapi.json", "/docs/oauth2-redirect", "/redoc"})
    | studio.OPEN
)
# the docs' and the studio's own assets (no data in them)
OPEN_PREFIXES = ("/docs/static/", studio.OPEN_PREFIX)
UNAUTHORIZED_MESSAGE = (
    "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an "
    "active subscription and use a correct regional API endpoint for your resource."
)


def error_response(error: ImageLensError, request_id: str | None = None) -> JSONResponse:
    headers = {"apim-request-id": request_id} if request_id else {}
    if isinstance(error, TooManyRequestsError):
        headers["Retry-After"] = str(error.retry_after_s)
    return JSONResponse(error.to_azure(), status_code=error.status, headers=headers)


def _http_error(status: int, message: str) -> dict[str, Any]:
    code = {404: "NotFound", 405: "MethodNotAllowed", 413: "InvalidImageSize", 415: "InvalidRequest"}.get(
        status, "InvalidRequest" if status < 500 else "InternalServerError"
    )
    return {"error": {"code": code, "message": message, "innererror": {"code": code, "message": message}}}


def create_app(
    settings: Settings | None = None, *, analyzer: Analyzer | None = None, pool: LocalPool | None = None
) -> FastAPI:
    from imagelens.api import compat
    from imagelens.api.openapi import install_openapi, new_app
    from imagelens.api.routes import customization, retrieval, segment, shelf, v32, v40
    from imagelens.operations import OperationStore
    from imagelens.shelf.runs import ProductRunStore

    settings = settings or Settings()
    analyzer = analyzer or Analyzer(settings)
    pool = pool or LocalPool(workers=settings.workers, max_queue=settings.server.max_queue)
    keys = [k.encode() for k in settings.api_key_list()]

    app = new_app(
        title="imagelens",
        version=__version__,
        description="Self-hosted image analysis, wire-compatible with Azure AI Vision.",
    )
    app.state.settings = settings
    app.state.analyzer = analyzer
    app.state.pool = pool
    app.state.background_tasks = set()
    # One store for every long-running operation: 3.2 reads (kind "read") and product-recognition runs.
    operations = OperationStore(settings.server.operation_ttl_s, settings.server.max_operations)
    app.state.operations = operations
    app.state.product_runs = ProductRunStore(store=operations)

    @app.middleware("http")
    async def request_context(request: Request, call_next: Any) -> Any:
        request_id = str(uuid.uuid4())
        request.state.request_id = request_id
        started = time.perf_counter()
        if keys and not _is_open(request.url.path):
            given = request.headers.get("ocp-apim-subscription-key", "").encode()
            if not any(hmac.compare_digest(given, key) for key in keys):
                response = error_response(UnauthorizedError(UNAUTHORIZED_MESSAGE), request_id)
                _log_access(request, response.status_code, started, request_id)
                return response
        try:
            response = await call_next(request)
        except Exception:  # the last guard: never a bare 500 page
            log.exception("unhandled error")
            response = JSONResponse(_http_error(500, "An internal error occurred."), status_code=500)
        response.headers["apim-request-id"] = request_id
        _log_access(request, response.status_code, started, request_id)
        return response

    compat.install(app, settings.cors_origins)  # Azure's gateway: //, query-name case, subscription-key, CORS

    @app.exception_handler(ImageLensError)
    async def on_imagelens_error(request: Request, exc: ImageLensError) -> JSONResponse:
        return error_response(exc, getattr(request.state, "request_id", None))

    @app.exception_handler(RequestValidationError)
    async def on_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("query", "body", "header"))
            parts.append(f"{where}: {err.get('msg')}" if where else str(err.get("msg")))
        message = "Invalid request: " + "; ".join(parts)
        body = {
            "error": {
                "code": "InvalidRequest",
                "message": message,
                "innererror": {"code": "BadArgument", "message": message},
            }
        }
        return JSONResponse(body, status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else "Request failed."
        if exc.status_code == 404:
            message = "Resource not found."
        return JSONResponse(
            _http_error(exc.status_code, message),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.get("/health", include_in_schema=False)
    async def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    @app.get("/ready", include_in_schema=False)
    async def ready() -> JSONResponse:
        hub = analyzer.hub
        models = {row.id: {"present": row.present, "loaded": row.loaded} for row in hub.describe()}
        return JSONResponse({"status": "ready", "pending": pool.pending, "models": models})

    app.include_router(v40.router, prefix="/computervision")
    app.include_router(shelf.router, prefix="/computervision")
    app.include_router(customization.router, prefix="/computervision")
    app.include_router(segment.router, prefix="/computervision")
    retrieval.register(app)
    studio.register(app)

    @app.on_event("startup")
    async def startup() -> None:
        customization.start(app)  # recover training jobs a restart interrupted

    app.include_router(v32.router, prefix="/vision/v3.2")
    install_openapi(app)

    @app.on_event("shutdown")
    async def shutdown() -> None:
        customization.stop(app)
        pool.close()
        analyzer.close()

    return app


def _is_open(path: str) -> bool:
    return path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)


def _log_access(request: Request, status: int, started: float, request_id: str) -> None:
    if access_log.isEnabledFor(logging.INFO):
        access_log.info(
            json.dumps(
                {
                    "request_id": request_id,
                    "method": request.method,
                    "path": request.url.path,
                    "status": status,
                    "ms": round((time.perf_counter() - started) * 1000.0, 1),
                    "client": request.client.host if request.client else None,
                }
            )
        )
