"""The one list of features: every entry is a real feature class that fills a real AnalysisResult field."""

from __future__ import annotations

import dataclasses

import pytest

from imagelens.errors import NotSupportedVisualFeatureError
from imagelens.features.registry import (
    FEATURE_LIST,
    FEATURES,
    FEATURES_40,
    canonical_name,
    feature_class,
    feature_info,
)
from imagelens.models.spec import Role
from imagelens.types import AnalysisResult

RESULT_FIELDS = {f.name for f in dataclasses.fields(AnalysisResult)}


@pytest.mark.parametrize("info", FEATURE_LIST, ids=lambda i: i.name)
def test_each_entry_names_its_class_and_a_result_field(info: object) -> None:
    assert info in FEATURE_LIST
    cls = feature_class(info.name)  # type: ignore[attr-defined]
    assert cls.name == info.name  # type: ignore[attr-defined]
    assert cls.field == info.field and info.field in RESULT_FIELDS  # type: ignore[attr-defined]
    assert all(isinstance(r, Role) for r in cls.needs)
    assert all(dep in FEATURES for dep in cls.after), f"{cls.name} runs after an unknown feature"
    assert callable(cls.run) and info.summary  # type: ignore[attr-defined]


def test_names_and_fields_are_unique_and_azure_40_is_a_subset() -> None:
    assert len({f.name for f in FEATURE_LIST}) == len(FEATURE_LIST)
    assert len({f.field for f in FEATURE_LIST}) == len(FEATURE_LIST)
    assert set(FEATURES_40) <= set(FEATURES)
    # Azure 4.0's seven features, and no more
    assert set(FEATURES_40) == {"tags", "caption", "denseCaptions", "objects", "read", "smartCrops", "people"}


def test_unknown_and_miscased_names_get_a_clear_error() -> None:
    with pytest.raises(NotSupportedVisualFeatureError, match="'nope' is not valid"):
        feature_info("nope")
    with pytest.raises(NotSupportedVisualFeatureError, match="Did you mean 'smartCrops'"):
        feature_info("SmartCrops")
    assert canonical_name(" SMARTCROPS ") == "smartCrops" and canonical_name("x") is None
