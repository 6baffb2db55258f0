"""Parsing and the pure pieces of the query options: ISO 8601 dates, datetime filters, metadata words, moderation
verdicts, dedup, and the Azure bodies (strict: unknown fields refused)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from imagelens.azure import video as shapes
from imagelens.errors import InvalidArgumentError
from imagelens.video import options as opt


def test_iso_dates() -> None:
    assert opt.try_datetime("2023-05-01") == datetime(2023, 5, 1, tzinfo=UTC)
    assert opt.try_datetime("2023-05-01T10:00:00Z") == datetime(2023, 5, 1, 10, tzinfo=UTC)
    assert opt.try_datetime("2023-05-01T12:00:00+02:00") == datetime(2023, 5, 1, 10, tzinfo=UTC)
    assert opt.try_datetime("2023-05-01T10:00:00.5z") == datetime(2023, 5, 1, 10, 0, 0, 500000, tzinfo=UTC)
    for bad in ("", "yesterday", "2023-13-01", None, 20230501):
        assert opt.try_datetime(bad) is None
    with pytest.raises(InvalidArgumentError, match="ISO 8601"):
        opt.parse_datetime("soon", "startTime")


def test_datetime_filter_bounds_are_inclusive() -> None:
    f = opt.DatetimeFilter(
        "t", opt.parse_datetime("2023-05-01", "s"), opt.parse_datetime("2023-05-31T23:59:59Z", "e")
    )
    assert f.accepts("2023-05-01T00:00:00Z") and f.accepts("2023-05-31T23:59:59Z") and f.accepts("2023-05-10")
    assert not f.accepts("2023-04-30T23:59:59Z") and not f.accepts("2023-06-01") and not f.accepts("junk")
    assert not f.accepts(None)
    meta = {"T": "2023-05-02", "cam": "x"}
    assert opt.passes_filters(meta, {"CAM": ["x", "y"]}, [f])
    assert not opt.passes_filters(meta, {"cam": ["y"]}, [f])
    assert not opt.passes_filters({"cam": "x"}, None, [f])  # no value: no match


def test_metadata_words() -> None:
    info = {
        "metadataSchema": {
            "fields": [{"name": "Title", "searchable": True}, {"name": "cam", "searchable": False}]
        }
    }
    meta = {"title": "The Harbour, at dawn", "cam": "north"}
    assert opt.terms("Harbour at DAWN harbour") == ["harbour", "at", "dawn"]
    assert opt.metadata_match(info, meta, opt.terms("harbour dawn")) == 1.0
    assert opt.metadata_match(info, meta, opt.terms("harbour north")) == 0.5  # 'cam' is not searchable
    assert opt.metadata_match(info, meta, opt.terms("harb")) == 0.0  # whole words only
    assert opt.metadata_match({}, meta, ["harbour"]) == 0.0
    assert opt.boosted(0.2, 0.0) == 0.2 and opt.boosted(0.2, 1.0) == pytest.approx(0.6)


def test_moderation_verdicts() -> None:
    verdicts = {opt.MODERATION_KEY: {"checked": [1.0, 3.5], "flagged": [3.5], "categories": ["adult"]}}
    assert not opt.withheld(verdicts, 1.0, require=True)  # checked and clean
    assert opt.withheld(verdicts, 3.5001, require=False)  # flagged: always withheld
    assert opt.withheld(verdicts, 7.0, require=False)  # in a moderated video but unchecked: fail closed
    assert not opt.withheld({}, 7.0, require=False) and opt.withheld({}, 7.0, require=True)
    assert opt.public_metadata({**verdicts, "a": 1}) == {"a": 1}
    assert opt.moderation_summary(verdicts) == {
        "keyFramesChecked": 2,
        "keyFramesFlagged": 1,
        "categories": ["adult"],
    }
    assert opt.moderation_summary({}) is None


def test_dedup_keeps_the_better_of_similar_items() -> None:
    a, b = np.array([1.0, 0.0], np.float32), np.array([0.0, 1.0], np.float32)
    near_a = np.array([0.95, 0.05], np.float32)
    assert opt.dedup_order([a, near_a, b, a * 3], 0.9) == [0, 2]
    assert opt.dedup_order([a, near_a, b], 0.9999) == [0, 1, 2]
    assert opt.dedup_order([], 0.9) == []


def test_query_body_parsing() -> None:
    raw = (
        b'{"queryText": "a dog", "top": 3, "skip": 1, "moderation": true, "dedup": true, "dedupMaxDocumentCount": 2,'
        b' "disableMetadataSearch": true, "additionalIndexNames": ["x", "x", "y"], "filters": {"featureFilters":'
        b' ["vision"], "stringFilters": [{"fieldName": "cam", "values": ["1"]}], "datetimeFilters": [{"fieldName":'
        b' "t", "endTime": "2023-01-01"}]}}'
    )
    text, top, skip, q = shapes.parse_query_by_text(raw)
    assert (text, top, skip) == ("a dog", 3, 1)
    assert q.moderation and q.dedup and q.dedup_max == 2 and not q.metadata_search
    assert list(q.additional_indexes) == ["x", "y"] and q.feature_filters == ["vision"]
    assert q.string_filters == {"cam": ["1"]}
    assert q.datetime_filters == [opt.DatetimeFilter("t", None, datetime(2023, 1, 1, tzinfo=UTC))]
    _, _, _, default = shapes.parse_query_by_text(b'{"queryText": "x"}')
    assert (
        not default.moderation and not default.dedup and default.metadata_search and default.dedup_max is None
    )
    for bad, words in (
        (b'{"queryText": "x", "rerank": true}', "'rerank'"),
        (b'{"queryText": "x", "dedup": "true"}', "'dedup'"),
        (b'{"queryText": "x", "additionalIndexNames": "y"}', "additionalIndexNames"),
        (
            b'{"queryText": "x", "filters": {"stringFilters": [{"fieldName": "a", "values": ["1"], "op": "ne"}]}}',
            "'op'",
        ),
        (b'{"queryText": "x", "filters": {"datetimeFilters": {"fieldName": "t"}}}', "datetimeFilters"),
    ):
        with pytest.raises(InvalidArgumentError, match=words):
            shapes.parse_query_by_text(bad)


def test_image_query_parameters() -> None:
    top, skip, q = shapes.parse_query_params(
        {"api-version": "x", "top": "2", "dedup": "true", "moderation": "false", "featureFilters": "vision",
         "additionalIndexNames": "a,b", "dedupMaxDocumentCount": "1"}
    )  # fmt: skip
    assert (top, skip, q.dedup, q.moderation, q.dedup_max) == (2, 0, True, False, 1)
    assert q.feature_filters == ["vision"] and list(q.additional_indexes) == ["a", "b"]
    with pytest.raises(InvalidArgumentError, match="dedup must be true or false"):
        shapes.parse_query_params({"dedup": "1"})
    with pytest.raises(InvalidArgumentError, match="'queryText'"):
        shapes.parse_query_params({"queryText": "x"})
