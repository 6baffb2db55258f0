"""imagelens.azure: the feature lists every surface reads come from the registry, and the analysis JSON renders
every field of an AnalysisResult (faces and colour included)."""

from __future__ import annotations

import dataclasses

import pytest

from imagelens.azure import analysis, features, v32
from imagelens.azure.analysis import RESULT_KEYS, analysis_result_json
from imagelens.config import Settings
from imagelens.errors import InvalidArgumentError, NotSupportedVisualFeatureError
from imagelens.features.registry import FEATURE_LIST, FEATURES
from imagelens.types import (
    AnalysisResult,
    BoundingBox,
    Caption,
    ColorInfo,
    CustomModelResult,
    DenseCaption,
    DetectedObject,
    Face,
    ImageMetadata,
    Line,
    Person,
    Point,
    Polygon,
    ReadResult,
    SmartCrop,
    Tag,
    TextBlock,
    Word,
)

from ..conftest import SAMPLE_IMAGE

# --- one list of features -----------------------------------------------------------------------------------------


def _surface_lists() -> dict[str, set[str]]:
    """Every registry name each Azure surface can reach."""
    v32_names = {name for needs in features.VISUAL_FEATURES_32.values() for name in needs or ()}
    return {
        "4.0 features=": set(features.FEATURES_40),
        "3.2 visualFeatures=": v32_names,
        "3.2 routes": set(features.ROUTE_FEATURES_32.values()),
    }


def test_every_surface_list_names_only_registry_features() -> None:
    for surface, names in _surface_lists().items():
        assert names <= set(FEATURES), f"{surface} names {names - set(FEATURES)}, not in the registry"


def test_every_azure_feature_is_reachable_over_http() -> None:
    """Azure's features are reachable on its routes; imagelens-only features (faces, color) where Azure 3.2 has them,
    and always from the library and the CLI (which read the registry itself)."""
    reachable = set().union(*_surface_lists().values())
    assert set(features.FEATURES_40) <= reachable
    assert {"faces", "color"} <= reachable


def test_azure_40_list_is_the_registry_flag() -> None:
    assert tuple(f.name for f in FEATURE_LIST if f.azure_40) == features.FEATURES_40
    from imagelens.azure import params

    assert not hasattr(params, "FEATURES_40")  # one list, not two
    for name in FEATURES:
        if name in features.FEATURES_40:
            features.check_features_40([name])
        else:
            with pytest.raises(NotSupportedVisualFeatureError, match="not valid for Image Analysis 4.0"):
                features.check_features_40([name])


def test_v32_plan_maps_to_registry_names() -> None:
    wanted, tokens = features.plan_visual_features_32(["Description", "tags", "FACES", "Color"])
    assert wanted == ["description", "tags", "faces", "color"]
    assert tokens == ["caption", "tags", "faces", "color"]
    assert features.plan_visual_features_32(["Adult", "imagetype", "Brands"]) == (
        ["adult", "imagetype", "brands"],
        ["adult", "imageType", "brands"],
    )
    with pytest.raises(InvalidArgumentError, match="Valid: Categories, Tags, Description"):
        features.plan_visual_features_32(["Bogus"])
    # omitted visualFeatures means Azure's default, Categories
    assert features.plan_visual_features_32([]) == (["categories"], ["categories"])
    # celebrities: declined by design, yet the request succeeds with a warning; landmarks add the landmarks feature
    assert features.check_details_32(["celebrities", "Celebrities"]) == [features.celebrities_warning()]
    assert features.check_details_32([]) == [] == features.check_details_32(["Landmarks"])
    assert features.detail_features_32(["Landmarks"], ["categories"]) == ["landmarks"]
    assert features.detail_features_32(["landmarks"], ["tags"]) == []  # no categories: nowhere to put them
    with pytest.raises(InvalidArgumentError, match="not valid"):
        features.check_details_32(["Bogus"])


# --- the analysis JSON --------------------------------------------------------------------------------------------


def _box(x: float = 10, y: float = 20) -> BoundingBox:
    return BoundingBox(x, y, 30, 40)


def _polygon() -> Polygon:
    return Polygon((Point(1, 2), Point(9, 2), Point(9, 6), Point(1, 6)))


def _full_result() -> AnalysisResult:
    tag = Tag("cat", 0.9)
    word = Word("hi", _polygon(), 0.8)
    return AnalysisResult(
        model_version="m",
        metadata=ImageMetadata(200, 100, "png"),
        caption=Caption("a cat", 0.7),
        dense_captions=(DenseCaption("a cat", 0.6, _box()),),
        tags=(tag,),
        objects=(DetectedObject(_box(), (tag,)),),
        people=(Person(_box(), 0.5),),
        faces=(Face(_box(50, 5), 0.95),),
        read=ReadResult((TextBlock((Line("hi", _polygon(), (word,)),)),)),
        smart_crops=(SmartCrop(1.0, _box()),),
        color=ColorInfo("Black", "White", ("Black", "White"), "1A2B3C", False),
        custom_model=CustomModelResult(tags=(tag,)),
    )


def test_result_keys_cover_every_analysis_result_field() -> None:
    always = {"model_version", "metadata", "timings_ms"}
    fields = {f.name for f in dataclasses.fields(AnalysisResult)} - always
    assert set(RESULT_KEYS) <= fields
    assert {info.field for info in FEATURE_LIST} <= fields  # every registry feature has a field
    # a field without a hand-written block still renders (see test_a_new_field_renders_generically)


def test_a_new_field_renders_generically() -> None:
    """A feature added with only its module, its registry line and its result field still appears in the JSON."""

    @dataclasses.dataclass(frozen=True)
    class Region:
        box: BoundingBox
        score: float
        dominant_label: str

    extended = dataclasses.make_dataclass(
        "Extended",
        [("brightness", float | None, None), ("hot_regions", tuple | None, None)],
        bases=(AnalysisResult,),
        frozen=True,
    )
    result = extended(
        model_version="v",
        metadata=ImageMetadata(200, 100, "png"),
        brightness=0.25,
        hot_regions=(Region(BoundingBox(190.4, -5, 30, 40), 0.5, "sky"),),
    )
    body = analysis_result_json(result)
    assert body["brightnessResult"] == 0.25
    assert body["hotRegionsResult"] == {
        "values": [{"box": {"x": 190, "y": 0, "w": 10, "h": 35}, "score": 0.5, "dominantLabel": "sky"}]
    }
    assert "brightnessResult" not in analysis_result_json(
        extended(model_version="v", metadata=result.metadata)
    )


def test_every_field_is_rendered_when_set() -> None:
    result = _full_result()
    body = analysis_result_json(result)
    for field_name, key in RESULT_KEYS.items():
        assert getattr(result, field_name) is not None
        assert key in body, f"{field_name} is set but {key} is missing"
    assert body["facesResult"] == {
        "values": [{"boundingBox": {"x": 50, "y": 5, "w": 30, "h": 40}, "confidence": 0.95}]
    }
    assert body["colorResult"] == {
        "dominantColorForeground": "Black",
        "dominantColorBackground": "White",
        "dominantColors": ["Black", "White"],
        "accentColor": "1A2B3C",
        "isBwImg": False,
    }
    # and nothing that was not requested
    bare = analysis_result_json(dataclasses.replace(result, **dict.fromkeys(RESULT_KEYS)))
    assert set(bare) == {"modelVersion", "metadata"}


def test_face_boxes_are_clamped_into_the_image() -> None:
    face = Face(BoundingBox(190, -5, 30, 40), 0.5)
    assert analysis.face_json(face, 200, 100)["boundingBox"] == {"x": 190, "y": 0, "w": 10, "h": 35}


def test_v32_colour_has_exactly_azures_keys() -> None:
    color = _full_result().color
    assert color is not None
    body = v32.color_json(color)
    assert set(body) == {"dominantColorForeground", "dominantColorBackground", "dominantColors", "accentColor",
                         "isBWImg"}  # fmt: skip
    assert body["isBWImg"] is False and "isBwImg" not in body


def test_cli_json_has_faces_and_colour(tiny_settings: Settings) -> None:
    """What ``imagelens analyze --features faces,color --json`` prints (real tiny models)."""
    from imagelens.analyzer import Analyzer

    result = Analyzer(tiny_settings).analyze(SAMPLE_IMAGE, ["faces", "color"])
    body = analysis_result_json(result)
    assert {"facesResult", "colorResult"} <= set(body)
    assert isinstance(body["facesResult"]["values"], list)
    assert len(body["colorResult"]["accentColor"]) == 6
