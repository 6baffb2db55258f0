"""The preview's query options as plain functions: datetime filters, text search over ``searchable`` metadata,
moderation verdicts (what is withheld) and dedup. No web framework; :mod:`imagelens.video.query` applies them.

Moderation verdicts live with the video, in its metadata under the reserved key :data:`MODERATION_KEY` (hidden from
the documents' ``metadata`` by the Azure shapes, refused in ingestion requests), so they follow the video through
whichever store holds it: ``{"checked": [best_s ...], "flagged": [best_s ...], "categories": [...]}``, the key frames
(``best`` times, rounded to ms) that were checked and those that were flagged.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from imagelens.errors import InvalidArgumentError

MODERATION_KEY = "imagelens:moderation"
_TOKEN = re.compile(r"\w+", re.UNICODE)
#: ``best`` times are stored rounded to 1 ms; two within this are the same key frame
_SAME_TIME = 0.0015


# --- datetime filters --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DatetimeFilter:
    """Azure's ``DatetimeFilterModel``: ``field_name`` (a metadata field of type ``datetime``) between ``start`` and
    ``end`` (each optional, inclusive)."""

    field_name: str
    start: datetime | None = None
    end: datetime | None = None

    def accepts(self, value: Any) -> bool:
        when = try_datetime(value)
        if when is None:
            return False
        return (self.start is None or when >= self.start) and (self.end is None or when <= self.end)


def try_datetime(value: Any) -> datetime | None:
    """An ISO 8601 date or date-time (``Z`` or an offset; none means UTC) as an aware datetime, else None."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def parse_datetime(value: Any, what: str) -> datetime:
    parsed = try_datetime(value)
    if parsed is None:
        raise InvalidArgumentError(
            f"{what} must be an ISO 8601 date or date-time (e.g. 2023-05-01T13:30:00Z), got {value!r}."
        )
    return parsed


# --- the index's metadata schema ---------------------------------------------------------------------------------


def schema_fields(info: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """The index's declared metadata fields by lower-case name."""
    schema = info.get("metadataSchema") or {}
    return {str(f["name"]).lower(): f for f in schema.get("fields", []) if isinstance(f, Mapping)}


def check_filters_against_schema(
    index_name: str,
    info: Mapping[str, Any],
    string_filters: Mapping[str, Sequence[str]] | None,
    datetime_filters: Sequence[DatetimeFilter] | None,
) -> None:
    """A datetime filter needs a field declared ``"type": "datetime"``; a filter on a field declared
    ``"filterable": false`` (or of the other type) is refused. (String filters on undeclared fields stay allowed:
    metadata is free-form.)"""
    fields = schema_fields(info)
    for f in datetime_filters or ():
        declared = fields.get(f.field_name.lower())
        if declared is None or declared.get("type") != "datetime":
            raise InvalidArgumentError(
                f"filters.datetimeFilters: '{f.field_name}' is not a metadata field of type 'datetime' in the index "
                f"'{index_name}' (declare it in metadataSchema.fields)."
            )
        if not declared.get("filterable", True):
            raise InvalidArgumentError(f"The metadata field '{f.field_name}' is not filterable.")
    for name in string_filters or {}:
        declared = fields.get(name.lower())
        if declared is None:
            continue
        if declared.get("type", "string") != "string":
            raise InvalidArgumentError(
                f"filters.stringFilters: '{name}' is a datetime field; use filters.datetimeFilters."
            )
        if not declared.get("filterable", True):
            raise InvalidArgumentError(f"The metadata field '{name}' is not filterable.")


def check_metadata_values(
    index_name: str, info: Mapping[str, Any], metadata: Mapping[str, Any], where: str
) -> None:
    """An ingestion's metadata: no reserved key; a value of a declared ``datetime`` field must parse."""
    if MODERATION_KEY in metadata:
        raise InvalidArgumentError(f"{where}: the metadata key '{MODERATION_KEY}' is reserved.")
    fields = schema_fields(info)
    for key, value in metadata.items():
        declared = fields.get(str(key).lower())
        if declared is not None and declared.get("type") == "datetime" and try_datetime(value) is None:
            raise InvalidArgumentError(
                f"{where}: '{key}' is a datetime field of the index '{index_name}'; its value must be an ISO 8601 "
                f"date or date-time, got {value!r}."
            )


def passes_filters(
    metadata: Mapping[str, Any],
    string_filters: Mapping[str, Sequence[str]] | None,
    datetime_filters: Sequence[DatetimeFilter] | None,
) -> bool:
    meta = {str(k).lower(): v for k, v in metadata.items() if k != MODERATION_KEY}
    for name, values in (string_filters or {}).items():
        if str(meta.get(name.lower())) not in {str(v) for v in values}:
            return False
    return all(f.accepts(meta.get(f.field_name.lower())) for f in datetime_filters or ())


# --- text search over searchable metadata --------------------------------------------------------------------------


def terms(text: str) -> list[str]:
    """A text's distinct lower-case word tokens (letters/digits), in order."""
    return list(dict.fromkeys(t.lower() for t in _TOKEN.findall(text)))


def metadata_match(info: Mapping[str, Any], metadata: Mapping[str, Any], query_terms: Sequence[str]) -> float:
    """The fraction of ``query_terms`` found as whole words in the video's ``searchable`` metadata values (0 when
    the index declares no searchable field)."""
    if not query_terms:
        return 0.0
    searchable = {n for n, f in schema_fields(info).items() if f.get("searchable")}
    if not searchable:
        return 0.0
    words: set[str] = set()
    for key, value in metadata.items():
        if str(key).lower() in searchable and value is not None:
            words.update(terms(str(value)))
    return sum(t in words for t in query_terms) / len(query_terms)


def boosted(relevance: float, match: float) -> float:
    """A hit's relevance raised by its video's metadata match ``m``: ``r + (1 - r) * m / 2`` (``m`` = 0: unchanged;
    every query word in the metadata: halfway to 1), so metadata matches rank above equal-looking frames while
    their own order (by the frames) stays."""
    return relevance + (1.0 - relevance) * match / 2.0


# --- moderation ----------------------------------------------------------------------------------------------------


def public_metadata(metadata: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in metadata.items() if k != MODERATION_KEY}


def server_metadata(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """What the server keeps in a video's metadata (its moderation verdicts): the part a user's update never
    replaces."""
    return {k: v for k, v in metadata.items() if k == MODERATION_KEY}


def moderation_summary(metadata: Mapping[str, Any]) -> dict[str, Any] | None:
    verdicts = metadata.get(MODERATION_KEY)
    if not isinstance(verdicts, Mapping):
        return None
    return {
        "keyFramesChecked": len(verdicts.get("checked", [])),
        "keyFramesFlagged": len(verdicts.get("flagged", [])),
        "categories": list(verdicts.get("categories", [])),
    }


def withheld(metadata: Mapping[str, Any], best_s: float, require: bool) -> bool:
    """Whether a segment (by its key frame time) is withheld: its key frame was flagged, or was never checked in a
    video ingested with moderation (fail closed); in a video ingested without moderation, only when the query
    ``require`` s moderation."""
    verdicts = metadata.get(MODERATION_KEY)
    if not isinstance(verdicts, Mapping):
        return require
    if any(abs(best_s - t) < _SAME_TIME for t in verdicts.get("flagged", ())):
        return True
    return not any(abs(best_s - t) < _SAME_TIME for t in verdicts.get("checked", ()))


# --- dedup ---------------------------------------------------------------------------------------------------------


def dedup_order(vectors: Sequence[npt.NDArray[np.float32]], threshold: float) -> list[int]:
    """Indices to keep, in order: an item is dropped when its cosine to an item already kept is at least
    ``threshold`` (items come best first, so the better of two similar ones stays)."""
    kept: list[int] = []
    unit: list[npt.NDArray[np.float32]] = []
    for i, v in enumerate(vectors):
        u = np.asarray(v, np.float32)
        norm = float(np.linalg.norm(u))
        u = u / norm if norm > 0 else u
        if unit and float(np.max(np.stack(unit) @ u)) >= threshold:
            continue
        kept.append(i)
        unit.append(u)
    return kept
