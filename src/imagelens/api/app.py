"""The HTTP server: an app factory, no module globals. Routes are thin: parse, call the core, map to the wire.

Auth: when ``IMAGELENS_API_KEYS`` is set, every route but /health, /ready, /metrics and the docs needs a matching
``Ocp-Apim-Subscription-Key`` header (compared in constant time). Every answer carries ``apim-request-id``.
Errors always have Azure's body; FastAPI's ``{"detail": ...}`` never escapes. Admission, body caps, deadlines,
metrics and access logs: :mod:`imagelens.api.middleware`.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from imagelens import __version__
from imagelens.analyzer import Analyzer
from imagelens.api import studio
from imagelens.compute.local import LocalPool
from imagelens.config import Settings
from imagelens.errors import ImageLensError, InvalidRequestError, TooManyRequestsError
from imagelens.models import memory

log = logging.getLogger("imagelens.server")


def error_response(error: ImageLensError, request_id: str | None = None) -> JSONResponse:
    from imagelens.api.middleware import error_body

    headers = {"apim-request-id": request_id} if request_id else {}
    if isinstance(error, TooManyRequestsError):
        headers["Retry-After"] = str(error.retry_after_s)
    return JSONResponse(error_body(error), status_code=error.status, headers=headers)


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
    from imagelens.api.routes import customization, feedback, retrieval, segment, shelf, v32, v40
    from imagelens.api.routes import video as video_routes
    from imagelens.shelf.runs import ProductRunStore
    from imagelens.store import open_operations

    settings = settings or Settings()
    if analyzer is None and settings.server.warmup:  # the warm-up loads hub.preload in the background instead
        analyzer = Analyzer(
            settings.model_copy(update={"hub": settings.hub.model_copy(update={"preload": []})})
        )
    analyzer = analyzer or Analyzer(settings)
    pool = pool or LocalPool(
        workers=settings.workers, max_queue=settings.server.max_queue, on_idle=memory.release_free_heap
    )
    fetch_pool = LocalPool(settings.server.fetch_workers, settings.server.fetch_queue, name="imagelens-fetch")

    app = new_app(
        title="imagelens",
        version=__version__,
        description="Self-hosted image analysis, wire-compatible with Azure AI Vision.",
    )
    app.state.settings = settings
    app.state.analyzer = analyzer
    app.state.pool = pool
    app.state.fetch_pool = fetch_pool
    app.state.background_tasks = set()
    # One store for every long-running operation: 3.2 reads (kind "read") and product-recognition runs.
    operations = open_operations(settings)  # in memory, or in PostgreSQL (IMAGELENS_DATABASE_URL)
    app.state.operations = operations
    app.state.product_runs = ProductRunStore(store=operations)

    from imagelens.api.metrics import CONTENT_TYPE, Metrics
    from imagelens.api.middleware import Guard

    metrics = None
    if settings.server.metrics:
        metrics = Metrics(
            {"work": pool, "fetch": fetch_pool},
            in_flight=lambda: guard.in_flight if guard is not None else 0,
            load_seconds=lambda: dict(analyzer.hub.load_seconds),
        )
    guard: Guard | None = None

    def build_guard(inner: Any, **_: Any) -> Guard:
        nonlocal guard
        guard = Guard(inner, settings, pool, metrics)
        return guard

    from imagelens.api.readiness import WarmupGate, ready_payload

    app.state.warmup = None
    app.add_middleware(WarmupGate, state=app.state)  # type: ignore[arg-type]  # inside the guard: auth, logs first
    app.add_middleware(build_guard)  # type: ignore[arg-type]
    app.state.metrics = metrics

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

    @app.exception_handler(RecursionError)
    async def on_deep_json(request: Request, exc: RecursionError) -> JSONResponse:
        return error_response(
            InvalidRequestError("The request body is nested too deeply."),
            getattr(request.state, "request_id", None),
        )

    @app.exception_handler(ValueError)
    async def on_value_error(request: Request, exc: ValueError) -> JSONResponse:
        if "integer string conversion" not in str(exc):  # Python's cap on parsing huge integers
            log.exception("unhandled error")
            return JSONResponse(_http_error(500, "An internal error occurred."), status_code=500)
        return error_response(
            InvalidRequestError("A number in the request body has too many digits."),
            getattr(request.state, "request_id", None),
        )

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
        status, body = ready_payload(app.state)  # 503 while the start-up warm-up runs (api/readiness.py)
        return JSONResponse(body, status_code=status)

    if metrics is not None:

        @app.get("/metrics", include_in_schema=False)
        async def prometheus_metrics() -> Response:
            return Response(metrics.render(), media_type=CONTENT_TYPE)

    app.include_router(v40.router, prefix="/computervision")
    app.include_router(shelf.router, prefix="/computervision")
    app.include_router(customization.router, prefix="/computervision")
    app.include_router(segment.router, prefix="/computervision")
    video_routes.register(app)  # before retrieval: Azure's video indexes share the image indexes' paths
    retrieval.register(app)
    feedback.register(app)  # /imagelens/v1/feedback (docs/feedback.md)
    studio.register(app)

    @app.on_event("startup")
    async def startup() -> None:
        customization.start(app)  # recover training jobs a restart interrupted
        if settings.server.warmup:  # a thread: model loading never blocks the event loop
            from imagelens.features.warmup import Warmup
            from imagelens.models.preparation import role_defaults

            # the configured models' OpenVINO exports too: no request pays one
            app.state.warmup = Warmup(analyzer.hub, settings.hub.preload, prepare=role_defaults(analyzer.hub))
            app.state.warmup.start()

    app.include_router(v32.router, prefix="/vision/v3.2")
    install_openapi(app)

    @app.on_event("shutdown")
    async def shutdown() -> None:
        customization.stop(app)
        pool.close()
        fetch_pool.close()
        analyzer.close()

    return app


def run_server(settings: Settings, host: str, port: int, log_level: str = "info") -> None:
    """``imagelens serve``: uvicorn with the read timeouts and header limits of ``settings.server``."""
    import uvicorn

    from imagelens.api.server import protocol_class

    server = settings.server
    config = uvicorn.Config(
        create_app(settings),
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,  # imagelens.access writes one line per request
        http=protocol_class(server.header_timeout_s),
        timeout_keep_alive=server.keep_alive_s,
        h11_max_incomplete_event_size=server.max_header_bytes,
        timeout_graceful_shutdown=10,
    )
    uvicorn.Server(config).run()
