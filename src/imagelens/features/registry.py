"""The one list of analysis features. Every surface reads it: the library (:class:`~imagelens.analyzer.Analyzer`), the
CLI (``imagelens analyze --features``, its text and JSON output), the HTTP routes (Azure 4.0 ``features=`` and the
3.2 ``visualFeatures`` mapping) and the studio. Tests check that each surface covers every entry.

Adding a feature: write ``features/<name>.py`` with a class that has ``name``, ``field``, ``needs``, ``after`` and
``run(ctx)``, add one :class:`FeatureInfo` line below and an ``AnalysisResult`` field. Feature classes are imported
only when used, so listing the features is light.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import MappingProxyType

from imagelens.errors import NotSupportedVisualFeatureError
from imagelens.features.base import Feature


@dataclass(frozen=True, slots=True)
class FeatureInfo:
    """One feature: its ``features=`` token (Azure 4.0's name where Azure has one), the
    :class:`~imagelens.types.AnalysisResult` field it fills, where its class lives, whether Azure 4.0's
    ``imageanalysis:analyze`` accepts it, and a one-line summary for people."""

    name: str
    field: str
    target: str  # "module:Class"
    azure_40: bool
    summary: str


FEATURE_LIST: tuple[FeatureInfo, ...] = (
    FeatureInfo("read", "read", "imagelens.features.read:ReadFeature", True, "OCR: lines, words, polygons"),
    FeatureInfo(
        "smartCrops",
        "smart_crops",
        "imagelens.features.smart_crops:SmartCropsFeature",
        True,
        "smart crops for the requested aspect ratios",
    ),
    FeatureInfo(
        "caption", "caption", "imagelens.features.caption:CaptionFeature", True, "one sentence for the image"
    ),
    FeatureInfo(
        "denseCaptions",
        "dense_captions",
        "imagelens.features.dense_captions:DenseCaptionsFeature",
        True,
        "captions of the image and up to 9 regions",
    ),
    FeatureInfo("tags", "tags", "imagelens.features.tags:TagsFeature", True, "content tags with confidences"),
    FeatureInfo(
        "objects", "objects", "imagelens.features.objects:ObjectsFeature", True, "objects with boxes"
    ),
    FeatureInfo("people", "people", "imagelens.features.people:PeopleFeature", True, "people with boxes"),
    FeatureInfo(
        "faces", "faces", "imagelens.features.faces:FacesFeature", False, "face boxes (never identity)"
    ),
    FeatureInfo(
        "color", "color", "imagelens.features.color:ColorFeature", False, "dominant and accent colours"
    ),
    FeatureInfo(
        "categories",
        "categories",
        "imagelens.features.categories:CategoriesFeature",
        False,
        "Azure 3.2's 86 categories (with landmarks in their detail)",
    ),
    FeatureInfo(
        "adult",
        "adult",
        "imagelens.features.moderation:AdultFeature",
        False,
        "moderation: adult, racy and gory scores",
    ),
    FeatureInfo(
        "brands", "brands", "imagelens.features.brands:BrandsFeature", False, "brands and logos with boxes"
    ),
    FeatureInfo(
        "imageType",
        "image_type",
        "imagelens.features.image_type:ImageTypeFeature",
        False,
        "clip art (0-3) and line drawing (0/1)",
    ),
    FeatureInfo(
        "landmarks",
        "landmarks",
        "imagelens.features.landmarks:LandmarksFeature",
        False,
        "landmarks from a landmark list",
    ),
)

#: token -> its entry, in the order above.
FEATURES: MappingProxyType[str, FeatureInfo] = MappingProxyType({f.name: f for f in FEATURE_LIST})

#: What Azure 4.0's ``imageanalysis:analyze`` accepts, in Azure's order.
FEATURES_40: tuple[str, ...] = tuple(f.name for f in FEATURE_LIST if f.azure_40)

_BY_LOWER = {name.lower(): name for name in FEATURES}


def canonical_name(token: str) -> str | None:
    """The registered name for ``token`` matched without regard to case (Azure's documentation writes feature
    names in PascalCase: ``Caption``, ``SmartCrops``), or ``None``."""
    return _BY_LOWER.get(token.strip().lower())


def feature_info(name: str) -> FeatureInfo:
    """The entry for a token; NotSupportedVisualFeatureError for an unknown one (naming the right spelling when
    only the case differs)."""
    info = FEATURES.get(name)
    if info is None:
        canonical = canonical_name(name)
        hint = f" Did you mean '{canonical}'?" if canonical else ""
        raise NotSupportedVisualFeatureError(
            f"The visual feature '{name}' is not valid. Valid: {', '.join(FEATURES)}.{hint}"
        )
    return info


def available_features() -> list[str]:
    """Tokens whose module is installed in this version."""
    import importlib.util

    return [
        n for n, f in FEATURES.items() if importlib.util.find_spec(f.target.partition(":")[0]) is not None
    ]


def feature_class(name: str) -> type[Feature]:
    info = feature_info(name)
    module_name, _, class_name = info.target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        raise NotSupportedVisualFeatureError(
            f"The visual feature '{name}' is not supported by this imagelens version yet. "
            f"Supported: {', '.join(available_features())}."
        ) from None
    cls: type[Feature] = getattr(module, class_name)
    return cls
