"""Video-retrieval routes in the shape of Azure's preview (``api-version=2023-05-01-preview``): indexes,
ingestions (background jobs that survive a restart), documents, ``:queryByText`` and ``:queryByImage``.

Azure used the same paths for its video indexes as the image-index routes of :mod:`.retrieval` use, so these
routes match only requests for a VIDEO index (one that exists under ``<store>/video/``), a create whose body is in
the video shape (``features`` / ``metadataSchema``), and the index list (which lists both kinds). Everything else
falls through to the image-index routes. :func:`register` must therefore run before ``retrieval.register``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.routing import Match
from starlette.types import Scope

from imagelens.analyzer import Analyzer
from imagelens.api.body import image_source, read_capped
from imagelens.azure import params
from imagelens.azure import video as shapes
from imagelens.errors import NotFoundError
from imagelens.retrieval.vectorize import model_of
from imagelens.video.jobs import VideoService
from imagelens.video.query import VideoQuery, VideoSearcher
from imagelens.video.store import create_video_index, list_video_indexes, video_index_exists

_JSON_LIMIT = 4 * 1024 * 1024


def _api_version(scope: Scope) -> str | None:
    for key, value in parse_qsl(scope.get("query_string", b"").decode("latin-1")):
        if key.lower() == "api-version":
            return value
    return None


class _VideoRoute(APIRoute):
    """Matches only when the request is for a video index (see the module's docstring)."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child = super().matches(scope)
        if match == Match.NONE or _api_version(scope) != shapes.API_VERSION:
            return Match.NONE, {}
        name = child.get("path_params", {}).get("name")
        if name is None:  # the list
            return match, child
        settings = scope["app"].state.settings
        if video_index_exists(settings, name):
            return match, child
        if self.path_format.endswith("/retrieval/indexes/{name}") and scope.get("method") == "PUT":
            from imagelens.retrieval.search import index_path

            try:
                is_image = (index_path(settings, name) / "index.sqlite3").exists()
            except Exception:
                return Match.NONE, {}
            return (Match.NONE, {}) if is_image else (match, child)
        return Match.NONE, {}


router = APIRouter(tags=["Video retrieval"], route_class=_VideoRoute)


def _service(request: Request) -> VideoService:
    service: VideoService = request.app.state.video
    return service


async def _run(request: Request, fn: Any) -> Any:
    return await request.app.state.pool.run(fn)


def _page(request: Request) -> tuple[int, int]:
    q = request.query_params
    top = params.parse_int(q.get("$top") or q.get("top"), "$top", 1, shapes.MAX_TOP, shapes.MAX_TOP)
    skip = params.parse_int(q.get("$skip") or q.get("skip"), "$skip", 0, 10**9, 0)
    return top, skip


# --- indexes ---------------------------------------------------------------------------------------------------


@router.put("/retrieval/indexes/{name}", include_in_schema=False)
async def create_index(request: Request, name: str) -> Response:
    raw = await read_capped(request, _JSON_LIMIT)
    if not shapes.is_video_create(raw):  # an empty body: an image index, as the image routes make it
        from imagelens.api.routes import retrieval

        return await retrieval.create_index(request, name)
    body = shapes.parse_create(raw)
    analyzer: Analyzer = request.app.state.analyzer
    service = _service(request)

    def work() -> dict[str, Any]:
        if any(isinstance(f, dict) and f.get("name") == "speech" for f in body["features"] or ()):
            from imagelens.video.speech import require_speech_model

            require_speech_model(
                analyzer.hub
            )  # the speech model is not here: ModelNotFetched (names the pull)
        index = create_video_index(
            analyzer.settings,
            name,
            model_of(analyzer.hub.embedder()),
            body["features"],
            body["metadata_schema"],
            body["user_data"],
        )
        service.adopt(index)
        return shapes.index_json(name, index.info())

    return JSONResponse(await _run(request, work), status_code=201)


@router.get("/retrieval/indexes", include_in_schema=False)
async def list_indexes(request: Request) -> JSONResponse:
    from imagelens.api.routes import retrieval

    images = await retrieval.list_indexes(request)
    service = _service(request)
    names = list_video_indexes(request.app.state.settings)
    videos = [shapes.index_json(n, service.index(n).info()) for n in names]
    import json

    value = json.loads(bytes(images.body))["value"] + videos
    top, skip = _page(request)
    return JSONResponse({"value": value[skip : skip + top]})


@router.get("/retrieval/indexes/{name}", include_in_schema=False)
async def get_index(request: Request, name: str) -> JSONResponse:
    return JSONResponse(shapes.index_json(name, _service(request).index(name).info()))


@router.patch("/retrieval/indexes/{name}", summary="Update a video index (metadataSchema, userData)")
async def update_index(request: Request, name: str) -> JSONResponse:
    body = shapes.parse_patch(await read_capped(request, _JSON_LIMIT))
    index = _service(request).index(name)
    info = await _run(request, lambda: index.update(body["metadata_schema"], body["user_data"]))
    return JSONResponse(shapes.index_json(name, info))


@router.delete("/retrieval/indexes/{name}", include_in_schema=False, status_code=204)
async def delete_index(request: Request, name: str) -> Response:
    service = _service(request)
    await _run(request, lambda: service.drop(name))
    return Response(status_code=204)


# --- ingestions ------------------------------------------------------------------------------------------------


@router.put("/retrieval/indexes/{name}/ingestions/{ingestion}", include_in_schema=False)
async def create_ingestion(request: Request, name: str, ingestion: str) -> JSONResponse:
    body = shapes.loads(await read_capped(request, _JSON_LIMIT))
    service = _service(request)
    shapes.check_ingestion(body, name, service.index(name).info())
    job = service.submit(name, ingestion, body)
    location = str(request.url_for("get_ingestion", name=name, ingestion=ingestion))
    location += f"?api-version={shapes.API_VERSION}"
    return JSONResponse(shapes.ingestion_json(job), status_code=202, headers={"Operation-Location": location})


@router.get("/retrieval/indexes/{name}/ingestions/{ingestion}", summary="The state of a video ingestion")
async def get_ingestion(request: Request, name: str, ingestion: str) -> JSONResponse:
    job = _service(request).index(name).ingestion(ingestion)
    if job is None:
        raise NotFoundError(f"The ingestion '{ingestion}' does not exist in the index '{name}'.")
    return JSONResponse(shapes.ingestion_json(job))


@router.get("/retrieval/indexes/{name}/ingestions", summary="List the ingestions of a video index")
async def list_ingestions(request: Request, name: str) -> JSONResponse:
    top, skip = _page(request)
    jobs = _service(request).index(name).ingestions()[skip : skip + top]
    return JSONResponse({"value": [shapes.ingestion_json(j) for j in jobs]})


# --- documents -------------------------------------------------------------------------------------------------


@router.get("/retrieval/indexes/{name}/documents", summary="List the videos of a video index")
async def list_documents(request: Request, name: str) -> JSONResponse:
    top, skip = _page(request)
    records = _service(request).index(name).videos(top, skip)
    return JSONResponse({"value": [shapes.document_json(r) for r in records]})


@router.get("/retrieval/indexes/{name}/documents/{document_id}", summary="One video of a video index")
async def get_document(request: Request, name: str, document_id: str) -> JSONResponse:
    record = _service(request).index(name).video(document_id)
    if record is None:
        raise NotFoundError(f"The document '{document_id}' is not in the index '{name}'.")
    return JSONResponse(shapes.document_json(record))


@router.delete("/retrieval/indexes/{name}/documents/{document_id}", include_in_schema=False, status_code=204)
async def delete_document(request: Request, name: str, document_id: str) -> Response:
    index = _service(request).index(name)
    if not await _run(request, lambda: index.delete_video(document_id)):
        raise NotFoundError(f"The document '{document_id}' is not in the index '{name}'.")
    return Response(status_code=204)


# --- queries ---------------------------------------------------------------------------------------------------


def _searcher(request: Request, name: str, query: VideoQuery) -> VideoSearcher:
    service = _service(request)
    additional = []
    for other in query.additional_indexes:
        if not video_index_exists(request.app.state.settings, other):
            raise NotFoundError(f"additionalIndexNames: the video index '{other}' does not exist.")
        additional.append(service.index(other))
    return VideoSearcher(request.app.state.analyzer, service.index(name), additional=additional)


@router.post("/retrieval/indexes/{name}:queryByText", include_in_schema=False)
async def query_by_text(request: Request, name: str) -> JSONResponse:
    text, top, skip, query = shapes.parse_query_by_text(await read_capped(request, _JSON_LIMIT))
    searcher = _searcher(request, name, query)
    hits = await _run(request, lambda: searcher.by_text(text, top, skip, query))
    return JSONResponse(shapes.hits_json(hits))


@router.post("/retrieval/indexes/{name}:queryByImage", include_in_schema=False)
async def query_by_image(request: Request, name: str) -> JSONResponse:
    top, skip, query = shapes.parse_query_params(request.query_params)
    searcher = _searcher(request, name, query)
    source = await image_source(request, request.app.state.analyzer.settings.limits.max_bytes)
    hits = await _run(request, lambda: searcher.by_image(source, top, skip, query))
    return JSONResponse(shapes.hits_json(hits))


def register(app: FastAPI) -> None:
    """Mount the routes (BEFORE the image-index routes), resume unfinished ingestions at start-up, stop at
    shutdown."""
    service = VideoService(app.state.analyzer)
    app.state.video = service
    app.include_router(router, prefix="/computervision")
    app.router.on_startup.append(service.recover)
    app.router.on_shutdown.append(service.close)
