"""Retrieval routes under ``/computervision``: Azure 4.0's ``retrieval:vectorizeImage`` / ``retrieval:vectorizeText``
and named image indexes in the shape of Azure's (retired) retrieval-index preview. Thin: parse, call the core in
the pool, map with :mod:`imagelens.azure.retrieval`.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response

from imagelens.analyzer import Analyzer
from imagelens.api.body import image_source, read_capped
from imagelens.azure import params
from imagelens.azure import retrieval as shapes
from imagelens.errors import InvalidRequestError, NotFoundError
from imagelens.retrieval import search as rs
from imagelens.retrieval.ingest import IngestReport, ingest
from imagelens.retrieval.pgvector import AnyIndex
from imagelens.retrieval.vectorize import model_of

router = APIRouter(tags=["Image retrieval"])
FLUSH_EVERY_S = 30.0
_JSON_LIMIT = 1024 * 1024

_TEXT_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["text"],
                "properties": {"text": {"type": "string", "maxLength": 1000}},
            }
        }
    },
}  # noqa: E501
_VECTOR_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The vector",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "modelVersion": {"type": "string"},
                        "vector": {"type": "array", "items": {"type": "number"}},
                    },
                }
            }
        },
    }
}  # noqa: E501
_QUERY_PARAMS = [
    {
        "name": "api-version",
        "in": "query",
        "required": True,
        "schema": {"type": "string", "example": "2024-02-01"},
    },
    {
        "name": "model-version",
        "in": "query",
        "required": False,
        "schema": {"type": "string", "default": "latest"},
    },
]


class _Indexes:
    """Open indexes of one app, by name; writes flush the HNSW cache at most every ``FLUSH_EVERY_S``."""

    def __init__(self) -> None:
        self._open: dict[str, AnyIndex] = {}
        self._lock = threading.Lock()
        self._flushed = time.monotonic()

    def get(self, analyzer: Analyzer, name: str) -> AnyIndex:
        with self._lock:
            index = self._open.get(name)
            if index is None:
                index = rs.open_index(analyzer.settings, name)
                self._open[name] = index
            return index

    def forget(self, name: str) -> None:
        with self._lock:
            index = self._open.pop(name, None)
        if index is not None:
            index.close()

    def wrote(self, index: AnyIndex) -> None:
        if time.monotonic() - self._flushed > FLUSH_EVERY_S:
            index.flush()
            self._flushed = time.monotonic()

    def close(self) -> None:
        with self._lock:
            for index in self._open.values():
                index.close()
            self._open.clear()


def _indexes(request: Request) -> _Indexes:
    indexes: _Indexes = request.app.state.retrieval_indexes
    return indexes


async def _run(request: Request, fn: Any) -> Any:
    return await request.app.state.pool.run(fn)


# --- vectorize (Azure 4.0 GA) --------------------------------------------------------------------------------------


@router.post(
    "/retrieval:vectorizeImage",
    summary="Vectorize an image (Azure 4.0 multimodal embeddings)",
    openapi_extra={"parameters": _QUERY_PARAMS},
    responses=_VECTOR_RESPONSE,
)
async def vectorize_image(request: Request) -> JSONResponse:
    q = request.query_params
    params.check_api_version(q.get("api-version"), shapes.API_VERSIONS_VECTORIZE)
    analyzer: Analyzer = request.app.state.analyzer
    version = q.get("model-version") or q.get("modelVersion")
    source = await image_source(request, analyzer.settings.limits.max_bytes)
    result = await _run(request, lambda: analyzer.vectorize_image(source, model_version=version))
    return JSONResponse(shapes.vectorize_json(result))


@router.post(
    "/retrieval:vectorizeText",
    summary="Vectorize a text (Azure 4.0 multimodal embeddings)",
    openapi_extra={"parameters": _QUERY_PARAMS, "requestBody": _TEXT_BODY},
    responses=_VECTOR_RESPONSE,
)
async def vectorize_text(request: Request) -> JSONResponse:
    q = request.query_params
    params.check_api_version(q.get("api-version"), shapes.API_VERSIONS_VECTORIZE)
    analyzer: Analyzer = request.app.state.analyzer
    version = q.get("model-version") or q.get("modelVersion")
    text = shapes.parse_text_body(await read_capped(request, _JSON_LIMIT))
    result = await _run(request, lambda: analyzer.vectorize_text(text, model_version=version))
    return JSONResponse(shapes.vectorize_json(result))


# --- indexes (the shape of Azure's retrieval-index preview) -------------------------------------------------------


def _index_version(request: Request) -> None:
    params.check_api_version(request.query_params.get("api-version"), shapes.API_VERSIONS_INDEX)


@router.put("/retrieval/indexes/{name}", summary="Create an image index (for the default embedding model)")
async def create_index(request: Request, name: str) -> JSONResponse:
    _index_version(request)
    analyzer: Analyzer = request.app.state.analyzer

    def work() -> Any:
        model = model_of(analyzer.hub.embedder())
        index = rs.create_index(analyzer.settings, name, model)
        return index.stats()

    return JSONResponse(shapes.index_json(await _run(request, work)), status_code=201)


@router.get("/retrieval/indexes", summary="List image indexes")
async def list_indexes(request: Request) -> JSONResponse:
    _index_version(request)
    analyzer: Analyzer = request.app.state.analyzer
    names = rs.list_indexes(analyzer.settings)
    value = [shapes.index_json(_indexes(request).get(analyzer, n).stats()) for n in names]
    return JSONResponse({"value": value})


@router.get("/retrieval/indexes/{name}", summary="Get an image index")
async def get_index(request: Request, name: str) -> JSONResponse:
    _index_version(request)
    index = _indexes(request).get(request.app.state.analyzer, name)
    return JSONResponse(shapes.index_json(index.stats()))


@router.delete("/retrieval/indexes/{name}", summary="Delete an image index", status_code=204)
async def delete_index(request: Request, name: str) -> Response:
    _index_version(request)
    _indexes(request).forget(name)
    rs.drop_index(request.app.state.analyzer.settings, name)
    return Response(status_code=204)


@router.put("/retrieval/indexes/{name}/ingestions/{ingestion}", summary="Add, update or remove images by URL")
async def ingest_urls(request: Request, name: str, ingestion: str) -> JSONResponse:
    _index_version(request)
    analyzer: Analyzer = request.app.state.analyzer
    items = shapes.parse_ingestion(await read_capped(request, _JSON_LIMIT))
    index = _indexes(request).get(analyzer, name)

    def work() -> tuple[IngestReport, int]:
        removed = index.delete([i["documentId"] for i in items if i["mode"] == "remove"])
        adds = [i for i in items if i["mode"] != "remove"]
        report = ingest(
            analyzer,
            index,
            [i["documentUrl"] for i in adds],
            fields_by_item={i["documentUrl"]: i["metadata"] for i in adds},
            ids_by_item={i["documentUrl"]: i["documentId"] for i in adds},
        )
        return report, removed

    report, removed = await _run(request, work)
    return JSONResponse(shapes.ingestion_json(ingestion, report, removed))


@router.put(
    "/retrieval/indexes/{name}/documents/{document_id:path}", summary="Add or replace one image (body)"
)
async def put_document(request: Request, name: str, document_id: str) -> JSONResponse:
    _index_version(request)
    analyzer: Analyzer = request.app.state.analyzer
    index = _indexes(request).get(analyzer, name)
    source = await image_source(request, analyzer.settings.limits.max_bytes)
    fields = {k[len("metadata.") :]: v for k, v in request.query_params.items() if k.startswith("metadata.")}

    def work() -> dict[str, Any]:
        from imagelens.retrieval.base import Document

        result = analyzer.vectorize_image(source, model_version=index.model.model_id)
        index.check_model(model_of(analyzer.hub.embedder(index.model.model_id)))
        uri = source if isinstance(source, str) else None
        doc = Document(
            document_id, result.vector, uri=uri, width=result.width, height=result.height, fields=fields
        )
        index.upsert([doc])
        _indexes(request).wrote(index)
        return {"documentId": document_id, "width": result.width, "height": result.height}

    return JSONResponse(await _run(request, work), status_code=200)


@router.delete("/retrieval/indexes/{name}/documents/{document_id:path}", summary="Remove one image")
async def delete_document(request: Request, name: str, document_id: str) -> Response:
    _index_version(request)
    index = _indexes(request).get(request.app.state.analyzer, name)
    if not await _run(request, lambda: index.delete([document_id])):
        raise NotFoundError(f"The document '{document_id}' is not in the index '{name}'.")
    _indexes(request).wrote(index)
    return Response(status_code=204)


def _retriever(request: Request, name: str) -> rs.Retriever:
    analyzer: Analyzer = request.app.state.analyzer
    return rs.Retriever(analyzer, _indexes(request).get(analyzer, name))


@router.post("/retrieval/indexes/{name}:queryByText", summary="Search an index by text")
async def query_by_text(request: Request, name: str) -> JSONResponse:
    _index_version(request)
    text, filters, top, skip = shapes.parse_query_by_text(await read_capped(request, _JSON_LIMIT))
    retriever = _retriever(request, name)
    result = await _run(request, lambda: retriever.by_text(text, top, skip, filters or None))
    return JSONResponse(shapes.search_json(result))


@router.post(
    "/retrieval/indexes/{name}:queryByImage", summary="Search an index by an image or a region of it"
)
async def query_by_image(request: Request, name: str) -> JSONResponse:
    _index_version(request)
    q = request.query_params
    region = shapes.parse_region(q.get("region"))
    top = params.parse_int(q.get("top"), "top", 1, shapes.MAX_TOP, 10)
    skip = params.parse_int(q.get("skip"), "skip", 0, 100_000, 0)
    retriever = _retriever(request, name)
    source = await image_source(request, request.app.state.analyzer.settings.limits.max_bytes)
    result = await _run(request, lambda: retriever.by_image(source, top, skip, None, region))
    return JSONResponse(shapes.search_json(result))


@router.post("/retrieval/indexes/{name}:queryByVector", summary="Search an index by a vector")
async def query_by_vector(request: Request, name: str) -> JSONResponse:
    _index_version(request)
    vector, filters, top, skip = shapes.parse_query_by_vector(await read_capped(request, 16 * _JSON_LIMIT))
    retriever = _retriever(request, name)
    result = await _run(request, lambda: retriever.by_vector(vector, top, skip, filters or None))
    return JSONResponse(shapes.search_json(result))


@router.get("/retrieval/indexes/{name}/duplicates", summary="Groups of near-duplicate images")
async def duplicates(request: Request, name: str) -> JSONResponse:
    _index_version(request)
    raw = request.query_params.get("threshold", "0.95")
    try:
        threshold = float(raw)
    except ValueError:
        raise InvalidRequestError("threshold must be a number in (0, 1].") from None
    index = _indexes(request).get(request.app.state.analyzer, name)
    groups = await _run(request, lambda: rs.near_duplicates(index, threshold))
    return JSONResponse({"threshold": threshold, "value": [{"documentIds": g} for g in groups]})


def register(app: FastAPI) -> None:
    """Mount the routes under ``/computervision`` and close the indexes on shutdown."""
    app.state.retrieval_indexes = _Indexes()
    app.include_router(router, prefix="/computervision")
    app.router.on_shutdown.append(app.state.retrieval_indexes.close)
