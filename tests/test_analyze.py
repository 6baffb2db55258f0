"""The Analyzer end to end on tiny random models (contracts, not accuracy)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from imagelens.analyzer import Analyzer, parse_features, plan_stages
from imagelens.azure.analysis import analysis_result_json
from imagelens.config import Settings
from imagelens.errors import InvalidRequestError, NotSupportedVisualFeatureError
from imagelens.features.base import AnalysisOptions
from imagelens.types import AnalysisResult, ReadResult

from .conftest import SAMPLE_IMAGE


def test_parse_features_validates_and_deduplicates() -> None:
    assert parse_features("read, smartCrops,read") == ("read", "smartCrops")
    assert parse_features("Read,SMARTCROPS,denseCaptions") == ("read", "smartCrops", "denseCaptions")
    with pytest.raises(NotSupportedVisualFeatureError, match="not valid"):
        parse_features("Reed")
    with pytest.raises(InvalidRequestError, match="At least one visual feature"):
        parse_features([])
    with pytest.raises(InvalidRequestError, match="At least one visual feature"):
        parse_features(" , ")


def test_a_feature_whose_module_is_absent_is_not_supported_yet(monkeypatch: pytest.MonkeyPatch) -> None:
    from types import MappingProxyType

    from imagelens.features import registry

    monkeypatch.setattr(
        registry,
        "FEATURES",
        MappingProxyType(
            {
                **registry.FEATURES,
                "future": registry.FeatureInfo(
                    "future", "future", "imagelens.features.no_such_module:F", False, "not built"
                ),
            }
        ),
    )
    with pytest.raises(
        NotSupportedVisualFeatureError, match="'future' is not supported by this imagelens version yet"
    ):
        parse_features(["future"])


def test_smart_crops_run_after_read() -> None:
    assert plan_stages(["smartCrops", "read"]) == [["read"], ["smartCrops"]]
    assert plan_stages(["smartCrops"]) == [["smartCrops"]]


def test_analyze_on_tiny_models(tiny_settings: Settings) -> None:
    analyzer = Analyzer(tiny_settings)
    result = analyzer.analyze(
        SAMPLE_IMAGE, ["read", "smartCrops"], AnalysisOptions(smartcrops_aspect_ratios=(0.9, 1.33))
    )
    assert isinstance(result, AnalysisResult)
    assert (result.metadata.width, result.metadata.height, result.metadata.format) == (1280, 720, "png")
    assert isinstance(result.read, ReadResult)
    assert result.caption is None and result.tags is None  # not requested
    assert [c.aspect_ratio for c in result.smart_crops or ()] == pytest.approx([0.9, 1.33], abs=0.01)
    assert {"load", "read", "smartCrops", "total"} <= set(result.timings_ms)
    again = analyzer.analyze(
        SAMPLE_IMAGE, ["read", "smartCrops"], AnalysisOptions(smartcrops_aspect_ratios=(0.9, 1.33))
    )
    assert again == result  # deterministic (timings are excluded from equality)


def test_wire_body_has_only_requested_blocks(tiny_settings: Settings) -> None:
    result = Analyzer(tiny_settings).analyze(np.full((120, 200, 3), 200, np.uint8), ["smartCrops"])
    body = analysis_result_json(result)
    assert set(body) == {"modelVersion", "metadata", "smartCropsResult"}
    assert body["metadata"] == {"width": 200, "height": 120}
    crop = body["smartCropsResult"]["values"][0]
    assert all(isinstance(v, int) for v in crop["boundingBox"].values())


@pytest.mark.realdata
def test_real_ocr_on_the_sample_image() -> None:
    """The default OCR model ships inside rapidocr: real text, offline."""
    result = Analyzer(Settings()).analyze(Path(SAMPLE_IMAGE), ["read"])
    assert result.read is not None
    text = result.read.text.upper()
    assert "TOTAL" in text and "18.65" in text
    body = analysis_result_json(result)
    assert len(body["readResult"]["blocks"]) == 1
    for line in body["readResult"]["blocks"][0]["lines"]:
        assert len(line["boundingPolygon"]) == 4
        for word in line["words"]:
            assert len(word["boundingPolygon"]) == 4
            assert 0.0 <= word["confidence"] <= 1.0


def test_unsupported_language_fails_before_any_model_loads(tiny_settings: Settings) -> None:
    from imagelens.errors import NotSupportedLanguageError

    analyzer = Analyzer(tiny_settings)
    for features in (["caption"], ["denseCaptions"], ["objects"], ["tags"]):
        with pytest.raises(NotSupportedLanguageError):
            analyzer.analyze(SAMPLE_IMAGE, features, AnalysisOptions(language="xx"))
    assert analyzer.hub.loaded_ids() == []
