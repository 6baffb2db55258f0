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

The API reference of the preview (learn.microsoft.com "Video Retrieval API reference", 2023-11) also defines, and
this module parses: in ``SearchQueryTextRequestModel`` ``moderation``, ``additionalIndexNames``, ``dedup``,
``dedupMaxDocumentCount``, ``disableMetadataSearch``; in ``SearchFiltersModel`` ``datetimeFilters``
(``{"fieldName", "startTime", "endTime"}``); in ``CreateIngestionRequestModel`` ``moderation``,
``generateInsightIntervals``, ``documentAuthenticationKind`` (``none`` | ``managedIdentity``),
``filterDefectedFrames``. A field the preview does not define is refused (400) rather than ignored, and so is a
defined one that is not built here (``NotSupportedFeature``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from imagelens.errors import InvalidArgumentError, InvalidRequestError, NotSupportedFeatureError
from imagelens.video import options as opt
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
        "metadata": opt.public_metadata(record.metadata),
        "userData": record.user_data,
        "duration": timespan(record.duration_s or 0.0),
        "segmentCount": record.segments,
        "warnings": list(record.warnings),
        "createdDateTime": record.created,
        "lastModifiedDateTime": record.updated,
        **({"moderation": m} if (m := opt.moderation_summary(record.metadata)) is not None else {}),
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
                **({"additionalMetadata": {"indexName": h.index_name}} if h.index_name else {}),
            }
            for h in hits
        ]
    }


QUERY_FIELDS = (
    "queryText", "top", "skip", "filters", "moderation", "additionalIndexNames", "dedup", "dedupMaxDocumentCount",
    "disableMetadataSearch",
)  # fmt: skip
#: ``documentIds`` is an imagelens addition (the reference's SearchFiltersModel has the other three)
FILTER_FIELDS = ("stringFilters", "datetimeFilters", "featureFilters", "documentIds")
INGESTION_FIELDS = (
    "videos", "moderation", "generateInsightIntervals", "documentAuthenticationKind", "filterDefectedFrames",
    "includeSpeechTranscript",
)  # fmt: skip
VIDEO_FIELDS = ("mode", "documentId", "documentUrl", "metadata", "userData")


def check_fields(body: Mapping[str, Any], known: Sequence[str], where: str) -> None:
    unknown = [k for k in body if k not in known]
    if unknown:
        raise InvalidArgumentError(
            f"Unknown field(s) {', '.join(repr(k) for k in unknown)} in {where}; the fields are: {', '.join(known)}."
        )


def _bool(body: Mapping[str, Any], key: str, default: bool = False) -> bool:
    value = body.get(key, default)
    if not isinstance(value, bool):
        raise InvalidArgumentError(f"'{key}' must be true or false.")
    return value


def _names(value: Any, what: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise InvalidArgumentError(f"{what} must be a list of names.")
    return list(dict.fromkeys(value))


def parse_datetime_filters(items: Any) -> list[opt.DatetimeFilter] | None:
    if items is None:
        return None
    if not isinstance(items, list):
        raise InvalidArgumentError(
            "filters.datetimeFilters must be a list of {fieldName, startTime, endTime}."
        )
    out = []
    for n, item in enumerate(items):
        where = f"filters.datetimeFilters[{n}]"
        if not isinstance(item, dict) or not isinstance(item.get("fieldName"), str) or not item["fieldName"]:
            raise InvalidArgumentError(f"{where} needs a 'fieldName'.")
        check_fields(item, ("fieldName", "startTime", "endTime"), where)
        start = (
            None
            if item.get("startTime") is None
            else opt.parse_datetime(item["startTime"], f"{where}.startTime")
        )
        end = None if item.get("endTime") is None else opt.parse_datetime(item["endTime"], f"{where}.endTime")
        if start is None and end is None:
            raise InvalidArgumentError(f"{where} needs a 'startTime', an 'endTime' or both.")
        if start is not None and end is not None and start > end:
            raise InvalidArgumentError(f"{where}: startTime is after endTime.")
        out.append(opt.DatetimeFilter(item["fieldName"], start, end))
    return out


def parse_filters(filters: Any) -> VideoQuery:
    if filters is None:
        return VideoQuery()
    if not isinstance(filters, dict):
        raise InvalidArgumentError("'filters' must be an object.")
    check_fields(filters, FILTER_FIELDS, "filters")
    strings: dict[str, list[str]] = {}
    raw_strings = filters.get("stringFilters") or []
    if not isinstance(raw_strings, list):
        raise InvalidArgumentError("filters.stringFilters must be a list of {fieldName, values}.")
    for n, item in enumerate(raw_strings):
        if not isinstance(item, dict) or not isinstance(item.get("fieldName"), str):
            raise InvalidArgumentError(f"filters.stringFilters[{n}] needs a 'fieldName'.")
        check_fields(item, ("fieldName", "values"), f"filters.stringFilters[{n}]")
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
    return VideoQuery(
        document_ids=ids,
        string_filters=strings or None,
        feature_filters=features,
        datetime_filters=parse_datetime_filters(filters.get("datetimeFilters")),
    )


def _int(body: Mapping[str, Any], key: str, low: int, high: int, default: int) -> int:
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidArgumentError(f"'{key}' must be an integer between {low} and {high}.")
    return value


def parse_query_by_text(raw: bytes) -> tuple[str, int, int, VideoQuery]:
    body = loads(raw)
    if not isinstance(body, dict):
        raise InvalidArgumentError("The query body must be a JSON object with 'queryText'.")
    check_fields(body, QUERY_FIELDS, "the query")
    text = body.get("queryText")
    if not isinstance(text, str):
        raise InvalidArgumentError("'queryText' must be a string.")
    dedup_max = body.get("dedupMaxDocumentCount")
    if dedup_max is not None:
        dedup_max = _int(body, "dedupMaxDocumentCount", 1, MAX_TOP, 0)
    query = replace(
        parse_filters(body.get("filters")),
        moderation=_bool(body, "moderation"),
        dedup=_bool(body, "dedup"),
        dedup_max=dedup_max,
        metadata_search=not _bool(body, "disableMetadataSearch"),
        additional_indexes=tuple(_names(body.get("additionalIndexNames"), "'additionalIndexNames'")),
    )
    return text, _int(body, "top", 1, MAX_TOP, 10), _int(body, "skip", 0, 100_000, 0), query


_IMAGE_PARAMS = (
    "api-version", "top", "skip", "documentIds", "featureFilters", "moderation", "dedup", "dedupMaxDocumentCount",
    "additionalIndexNames",
)  # fmt: skip


def _flag(params: Mapping[str, str], key: str) -> bool:
    value = params.get(key, "false").lower()
    if value not in ("true", "false"):
        raise InvalidArgumentError(f"{key} must be true or false.")
    return value == "true"


def parse_query_params(params: Mapping[str, str]) -> tuple[int, int, VideoQuery]:
    """``:queryByImage``'s query parameters: ``top``, ``skip``, ``documentIds``, ``featureFilters`` and
    ``additionalIndexNames`` (comma-separated), ``moderation``, ``dedup`` (true/false), ``dedupMaxDocumentCount``."""
    check_fields(params, _IMAGE_PARAMS, "the query parameters")
    try:
        top, skip = int(params.get("top", "10")), int(params.get("skip", "0"))
        dedup_max = int(params["dedupMaxDocumentCount"]) if "dedupMaxDocumentCount" in params else None
    except ValueError:
        raise InvalidArgumentError("top, skip and dedupMaxDocumentCount must be integers.") from None
    if not 1 <= top <= MAX_TOP or not 0 <= skip <= 100_000:
        raise InvalidArgumentError(f"top must be 1-{MAX_TOP} and skip 0-100000.")
    if dedup_max is not None and not 1 <= dedup_max <= MAX_TOP:
        raise InvalidArgumentError(f"dedupMaxDocumentCount must be 1-{MAX_TOP}.")

    def listed(key: str) -> list[str] | None:
        value = params.get(key)
        return [i for i in value.split(",") if i] if value else None

    return (
        top,
        skip,
        VideoQuery(
            document_ids=listed("documentIds"),
            feature_filters=listed("featureFilters"),
            moderation=_flag(params, "moderation"),
            dedup=_flag(params, "dedup"),
            dedup_max=dedup_max,
            additional_indexes=tuple(listed("additionalIndexNames") or ()),
        ),
    )


def check_ingestion(body: Any, index_name: str, info: Mapping[str, Any]) -> None:
    """The ingestion body's options as the preview defined them: unknown fields refused, the ones not built here
    refused by name (NotSupportedFeature), metadata checked against the index's schema. (The ``videos`` list itself
    is checked by :func:`imagelens.video.jobs.parse_ingestion`.)"""
    if not isinstance(body, dict):
        return  # parse_ingestion answers it
    check_fields(body, INGESTION_FIELDS, "the ingestion")
    _bool(body, "moderation")
    if _bool(body, "generateInsightIntervals"):
        raise NotSupportedFeatureError(
            "generateInsightIntervals is not supported here: the preview never documented what an insight interval "
            "is. Leave it out (or false)."
        )
    if _bool(body, "filterDefectedFrames"):
        raise NotSupportedFeatureError(
            "filterDefectedFrames is not supported here (no blur / low-light / over-exposure frame filter is "
            "built). Leave it out (or false)."
        )
    kind = body.get("documentAuthenticationKind", "none")
    if kind == "managedIdentity":
        raise NotSupportedFeatureError(
            "documentAuthenticationKind 'managedIdentity' is not supported here (no Azure identity): use "
            "'none' with an http(s) URL this server may fetch, or a file in IMAGELENS_DATA_DIR."
        )
    if kind != "none":
        raise InvalidArgumentError(
            f"documentAuthenticationKind must be 'none' or 'managedIdentity', got {kind!r}."
        )
    for n, item in enumerate(body.get("videos") or []):
        if isinstance(item, dict):
            check_fields(item, VIDEO_FIELDS, f"videos[{n}]")
            if isinstance(item.get("metadata"), dict):
                opt.check_metadata_values(index_name, info, item["metadata"], f"videos[{n}].metadata")
