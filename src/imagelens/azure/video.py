"""Azure shapes of the (retired) video-retrieval preview, ``api-version=2023-05-01-preview`` (no web framework).

As documented (learn.microsoft.com, "Do video retrieval using vectorization", 2023): an index is
``{"name", "metadataSchema": {"language", "fields": [{"name", "searchable", "filterable", "type"}]}, "userData",
"features": [{"name": "vision" | "speech", "modelVersion", "domain"}], "eTag", "createdDateTime",
"lastModifiedDateTime"}``; an ingestion body ``{"videos": [{"mode", "documentId", "documentUrl", "metadata",
"userData"}]}`` answers ``{"name", "state", "createdDateTime", "lastModifiedDateTime"}`` (here also
``fileStatusDetails``); ``:queryByText`` takes ``{"queryText", "filters": {"stringFilters": [{"fieldName",
"values"}], "featureFilters", "documentIds"}, "top", "skip", "dedup"}`` and answers ``{"value": [{"documentId",
"documentKind", "start", "end", "best", "relevance"}]}`` with times as ``hh:mm:ss.fffffff``. ``:queryByImage``
(an image body) is an imagelens addition in the same shape.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from imagelens.errors import InvalidArgumentError, InvalidRequestError
from imagelens.video.query import VideoHit, VideoQuery
from imagelens.video.store import VideoRecord

API_VERSION = "2023-05-01-preview"
MAX_TOP = 1000
_FIELD_TYPES = ("string", "datetime")


def timespan(seconds: float) -> str:
    """Seconds as .NET's TimeSpan text, Azure's time format: ``00:07:07.8400000``."""
    ticks = max(0, int(round(seconds * 10_000_000)))
    whole, frac = divmod(ticks, 10_000_000)
    h, rest = divmod(whole, 3600)
    m, s = divmod(rest, 60)
    return f"{h:02d}:{m:02d}:{s:02d}.{frac:07d}"


def loads(raw: bytes) -> Any:
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise InvalidRequestError("The request body is not valid JSON.") from None


def check_metadata_schema(schema: Any) -> dict[str, Any] | None:
    if schema is None:
        return None
    if not isinstance(schema, dict) or not isinstance(schema.get("fields", []), list):
        raise InvalidArgumentError("'metadataSchema' must be an object with a 'fields' list.")
    fields = []
    for n, item in enumerate(schema.get("fields", [])):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"]:
            raise InvalidArgumentError(f"metadataSchema.fields[{n}] needs a 'name'.")
        kind = item.get("type", "string")
        if kind not in _FIELD_TYPES:
            raise InvalidArgumentError(f"metadataSchema.fields[{n}].type must be 'string' or 'datetime'.")
        fields.append(
            {
                "name": item["name"].lower(),
                "searchable": bool(item.get("searchable", False)),
                "filterable": bool(item.get("filterable", True)),
                "type": kind,
            }
        )
    return {"language": schema.get("language", "en"), "fields": fields}


def parse_create(raw: bytes) -> dict[str, Any]:
    body = loads(raw) or {}
    if not isinstance(body, dict):
        raise InvalidArgumentError("The index body must be a JSON object.")
    return {
        "features": body.get("features"),
        "metadata_schema": check_metadata_schema(body.get("metadataSchema")),
        "user_data": body.get("userData"),
    }


def is_video_create(raw: bytes) -> bool:
    """A create body in the video preview's shape (``features`` or ``metadataSchema``)."""
    try:
        body = json.loads(raw) if raw.strip() else None
    except (ValueError, UnicodeDecodeError):
        return True  # the video route answers the error
    return isinstance(body, dict) and ("features" in body or "metadataSchema" in body)


def parse_patch(raw: bytes) -> dict[str, Any]:
    body = loads(raw)
    if not isinstance(body, dict):
        raise InvalidArgumentError("The update body must be a JSON object (metadataSchema, userData).")
    if "features" in body:
        raise InvalidArgumentError("An index's features cannot be changed; create another index.")
    return {
        "metadata_schema": check_metadata_schema(body.get("metadataSchema")),
        "user_data": body.get("userData"),
    }


def index_json(name: str, info: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "metadataSchema": info.get("metadataSchema", {"language": "en", "fields": []}),
        "userData": info.get("userData", {}),
        "features": info.get("features", []),
        "eTag": f'"{info.get("updated", "")}"',
        "createdDateTime": info.get("created"),
        "lastModifiedDateTime": info.get("updated"),
        "documentCount": info.get("documents", 0),
    }


def ingestion_json(job: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": job["name"],
        "state": job["state"],
        "createdDateTime": job["created"],
        "lastModifiedDateTime": job["updated"],
        "fileStatusDetails": list(job.get("details", [])),
    }
    if job.get("error"):
        out["error"] = {"code": "IngestionFailed", "message": job["error"]}
    if job.get("progress") and job["state"] == "Running":  # the document in work (imagelens extension)
        out["progress"] = job["progress"]
    return out


def document_json(record: VideoRecord) -> dict[str, Any]:
    return {
        "documentId": record.document_id,
        "documentUrl": record.url,
        "metadata": dict(record.metadata),
        "userData": record.user_data,
        "duration": timespan(record.duration_s or 0.0),
        "segmentCount": record.segments,
        "warnings": list(record.warnings),
        "createdDateTime": record.created,
        "lastModifiedDateTime": record.updated,
    }


def hits_json(hits: Sequence[VideoHit]) -> dict[str, Any]:
    return {
        "value": [
            {
                "documentId": h.document_id,
                "documentKind": h.document_kind,
                "start": timespan(h.start_s),
                "end": timespan(h.end_s),
                "best": timespan(h.best_s),
                "relevance": round(h.relevance, 6),
                **({"text": h.text} if h.text else {}),
            }
            for h in hits
        ]
    }


def parse_filters(filters: Any) -> VideoQuery:
    if filters is None:
        return VideoQuery()
    if not isinstance(filters, dict):
        raise InvalidArgumentError("'filters' must be an object.")
    strings: dict[str, list[str]] = {}
    for n, item in enumerate(filters.get("stringFilters") or []):
        if not isinstance(item, dict) or not isinstance(item.get("fieldName"), str):
            raise InvalidArgumentError(f"filters.stringFilters[{n}] needs a 'fieldName'.")
        values = item.get("values")
        if not isinstance(values, list) or not values:
            raise InvalidArgumentError(f"filters.stringFilters[{n}].values must be a non-empty list.")
        strings[item["fieldName"]] = [str(v) for v in values]
    features = filters.get("featureFilters")
    if features is not None and (
        not isinstance(features, list) or not all(isinstance(f, str) for f in features)
    ):
        raise InvalidArgumentError("filters.featureFilters must be a list of feature names.")
    ids = filters.get("documentIds")
    if ids is not None and (not isinstance(ids, list) or not all(isinstance(i, str) for i in ids)):
        raise InvalidArgumentError("filters.documentIds must be a list of strings.")
    return VideoQuery(document_ids=ids, string_filters=strings or None, feature_filters=features)


def _int(body: Mapping[str, Any], key: str, low: int, high: int, default: int) -> int:
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidArgumentError(f"'{key}' must be an integer between {low} and {high}.")
    return value


def parse_query_by_text(raw: bytes) -> tuple[str, int, int, VideoQuery]:
    body = loads(raw)
    if not isinstance(body, dict):
        raise InvalidArgumentError("The query body must be a JSON object with 'queryText'.")
    text = body.get("queryText")
    if not isinstance(text, str):
        raise InvalidArgumentError("'queryText' must be a string.")
    return (
        text,
        _int(body, "top", 1, MAX_TOP, 10),
        _int(body, "skip", 0, 100_000, 0),
        parse_filters(body.get("filters")),
    )


def parse_query_params(params: Mapping[str, str]) -> tuple[int, int, VideoQuery]:
    """``:queryByImage``'s query parameters: ``top``, ``skip``, ``documentIds`` (comma-separated)."""
    try:
        top, skip = int(params.get("top", "10")), int(params.get("skip", "0"))
    except ValueError:
        raise InvalidArgumentError("top and skip must be integers.") from None
    if not 1 <= top <= MAX_TOP or not 0 <= skip <= 100_000:
        raise InvalidArgumentError(f"top must be 1-{MAX_TOP} and skip 0-100000.")
    ids = params.get("documentIds")
    return top, skip, VideoQuery(document_ids=[i for i in ids.split(",") if i] if ids else None)
