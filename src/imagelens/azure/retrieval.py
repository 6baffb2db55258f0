"""Azure shapes for retrieval (no web framework).

- GA 4.0 (``api-version=2024-02-01``): ``retrieval:vectorizeImage`` / ``retrieval:vectorizeText`` answer
  ``{"modelVersion", "vector"}``; ``model-version`` is a query parameter.
- The retired video-retrieval preview (``2023-05-01-preview``) had named indexes (``PUT /retrieval/indexes/{name}``),
  ingestions of documents (``{"mode", "documentId", "documentUrl", "metadata"}``) and ``:queryByText`` with
  ``{"queryText", "filters": {"stringFilters": [{"fieldName", "values"}]}, "top", "skip"}`` answering
  ``{"value": [{"documentId", "documentKind", "relevance", ...}]}``. Those shapes are followed for images;
  ``:queryByImage``, ``:queryByVector`` and ``/duplicates`` are imagelens additions in the same style.
"""

from __future__ import annotations

import json
from typing import Any

from imagelens.errors import InvalidArgumentError, InvalidRequestError
from imagelens.retrieval.base import Filters, IndexStats
from imagelens.retrieval.ingest import IngestReport
from imagelens.retrieval.search import SearchResult
from imagelens.retrieval.vectorize import VectorizeResult
from imagelens.types import BoundingBox

API_VERSIONS_VECTORIZE = ("2023-02-01-preview", "2023-04-01-preview", "2024-02-01")
API_VERSIONS_INDEX = ("2023-05-01-preview", "2024-02-01")
MAX_TOP = 1000


def vectorize_json(result: VectorizeResult) -> dict[str, Any]:
    return {"modelVersion": result.model_version, "vector": [float(x) for x in result.vector]}


def index_json(stats: IndexStats) -> dict[str, Any]:
    return {
        "name": stats.name,
        "features": [{"name": "vision", "modelVersion": stats.model.model_id, "dimension": stats.model.dim}],
        "documentCount": stats.documents,
        "createdDateTime": stats.created,
        "lastModifiedDateTime": stats.updated,
        "eTag": f'"{stats.updated}"',
    }


def search_json(result: SearchResult) -> dict[str, Any]:
    return {
        "modelVersion": result.model_version,
        "value": [
            {
                "documentId": hit.document_id,
                "documentKind": "image",
                "relevance": round(hit.relevance, 6),
                "cosine": round(hit.cosine, 6),
                "documentUrl": hit.metadata.get("uri"),
                "metadata": _metadata_json(hit.metadata),
            }
            for hit in result.hits
        ],
    }


def _metadata_json(meta: Any) -> dict[str, Any]:
    out = {
        "sizeInBytes": meta.get("size"),
        "width": meta.get("width"),
        "height": meta.get("height"),
        "dateTaken": meta.get("taken"),
        "modifiedTime": meta.get("mtime"),
        "sha256": meta.get("sha256"),
    }
    out = {k: v for k, v in out.items() if v is not None}
    out.update(meta.get("fields") or {})
    return out


def ingestion_json(name: str, report: IngestReport, removed: int = 0) -> dict[str, Any]:
    return {
        "name": name,
        "state": "Completed" if not report.skipped else "PartiallySucceeded",
        "documentsAdded": report.added,
        "documentsUpdated": report.updated,
        "documentsUnchanged": report.unchanged,
        "documentsRemoved": removed,
        "documentsSkipped": [{"documentUrl": p, "reason": r} for p, r in report.skipped],
    }


def parse_json_object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        payload = json.loads(raw or b"null")
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InvalidRequestError("The request body is not valid JSON.") from None
    if not isinstance(payload, dict):
        raise InvalidRequestError(f"The JSON body must be an object ({what}).")
    return payload


def parse_text_body(raw: bytes) -> str:
    payload = parse_json_object(raw, '{"text": "..."}')
    text = {str(k).lower(): v for k, v in payload.items()}.get("text")
    if not isinstance(text, str):
        raise InvalidRequestError('The JSON body must contain a "text" string.')
    return text


def parse_filters(payload: dict[str, Any]) -> Filters:
    """``{"filters": {"stringFilters": [{"fieldName", "values"}], "dateTakenFrom", "dateTakenTo",
    "documentIdPrefix"}}``: string filters are ORed within a field and ANDed across fields."""
    raw = payload.get("filters") or {}
    if not isinstance(raw, dict):
        raise InvalidRequestError('"filters" must be an object.')
    equals: dict[str, Any] = {}
    for item in raw.get("stringFilters") or []:
        if not isinstance(item, dict) or not isinstance(item.get("fieldName"), str):
            raise InvalidRequestError('Each string filter needs "fieldName" and "values".')
        values = item.get("values")
        if not isinstance(values, list) or not values:
            raise InvalidRequestError(f'The filter on {item["fieldName"]!r} needs a non-empty "values" list.')
        equals[item["fieldName"]] = values
    for key in ("dateTakenFrom", "dateTakenTo", "documentIdPrefix"):
        if raw.get(key) is not None and not isinstance(raw.get(key), str):
            raise InvalidRequestError(f'"{key}" must be a string.')
    return Filters(equals, raw.get("dateTakenFrom"), raw.get("dateTakenTo"), raw.get("documentIdPrefix"))


def parse_paging(payload: dict[str, Any]) -> tuple[int, int]:
    top, skip = payload.get("top", 10), payload.get("skip", 0)
    if isinstance(top, bool) or not isinstance(top, int) or not 1 <= top <= MAX_TOP:
        raise InvalidArgumentError(f'"top" must be an integer between 1 and {MAX_TOP}.')
    if isinstance(skip, bool) or not isinstance(skip, int) or not 0 <= skip <= 100_000:
        raise InvalidArgumentError('"skip" must be an integer between 0 and 100000.')
    return top, skip


def parse_query_by_text(raw: bytes) -> tuple[str, Filters, int, int]:
    payload = parse_json_object(raw, '{"queryText": "...", "filters": {...}, "top": 10}')
    text = payload.get("queryText")
    if not isinstance(text, str):
        raise InvalidRequestError('The JSON body must contain a "queryText" string.')
    top, skip = parse_paging(payload)
    return text, parse_filters(payload), top, skip


def parse_query_by_vector(raw: bytes) -> tuple[list[float], Filters, int, int]:
    payload = parse_json_object(raw, '{"vector": [...], "top": 10}')
    vector = payload.get("vector")
    if not isinstance(vector, list) or not all(
        isinstance(x, int | float) and not isinstance(x, bool) for x in vector
    ):
        raise InvalidRequestError('The JSON body must contain a "vector" list of numbers.')
    top, skip = parse_paging(payload)
    return vector, parse_filters(payload), top, skip


def parse_region(value: str | None) -> BoundingBox | None:
    """``region=x,y,w,h`` in pixels of the query image."""
    if value is None or not value.strip():
        return None
    try:
        x, y, w, h = (float(p) for p in value.split(","))
    except ValueError:
        raise InvalidArgumentError("region must be 'x,y,w,h' (four numbers, pixels).") from None
    if w <= 0 or h <= 0:
        raise InvalidArgumentError("region width and height must be > 0.")
    return BoundingBox(x, y, w, h)


def parse_ingestion(raw: bytes) -> list[dict[str, Any]]:
    """``{"images": [{"mode": "add"|"update"|"remove", "documentId", "documentUrl", "metadata"}]}`` (``videos``
    is accepted too, as the preview named it)."""
    payload = parse_json_object(raw, '{"images": [{"mode", "documentId", "documentUrl", "metadata"}]}')
    items = payload.get("images", payload.get("videos"))
    if not isinstance(items, list) or not items:
        raise InvalidRequestError('The JSON body must contain a non-empty "images" list.')
    out = []
    for item in items:
        if not isinstance(item, dict):
            raise InvalidRequestError("Each image must be an object.")
        mode = str(item.get("mode", "add")).lower()
        if mode not in ("add", "update", "remove"):
            raise InvalidArgumentError(f"mode must be add, update or remove, got {item.get('mode')!r}.")
        url = item.get("documentUrl")
        doc_id = item.get("documentId") or url
        if not isinstance(doc_id, str) or not doc_id:
            raise InvalidRequestError('Each image needs "documentId" or "documentUrl".')
        if mode != "remove" and (not isinstance(url, str) or not url.startswith(("http://", "https://"))):
            raise InvalidRequestError(f'Image {doc_id!r}: "documentUrl" must be an http(s) URL.')
        metadata = item.get("metadata") or {}
        if not isinstance(metadata, dict):
            raise InvalidRequestError(f'Image {doc_id!r}: "metadata" must be an object.')
        out.append({"mode": mode, "documentId": doc_id, "documentUrl": url, "metadata": metadata})
    return out
