"""Which registry features each Azure surface names, derived from :mod:`imagelens.features.registry`.

- Image Analysis 4.0 ``features=``: the registry entries marked ``azure_40`` (:data:`FEATURES_40`), under their
  registry names (Azure's own spelling);
- Computer Vision 3.2 ``visualFeatures=``: :data:`VISUAL_FEATURES_32` maps each of Azure's names to the registry
  features that compute it (``None``: not built here yet); 3.2's ``read``/``ocr`` routes use ``read`` directly.

Every name on the right-hand side is a registry name, and every registry feature is reachable from at least one
surface (tests check both).
"""

from __future__ import annotations

from collections.abc import Iterable
from types import MappingProxyType

from imagelens.errors import InvalidArgumentError, NotSupportedVisualFeatureError
from imagelens.features.registry import FEATURES_40

__all__ = [
    "CELEBRITIES_DECLINED",
    "DETAILS_32",
    "FEATURES_40",
    "ROUTE_FEATURES_32",
    "VISUAL_FEATURES_32",
    "VISUAL_FEATURES_32_NAMES",
    "DEFAULT_VISUAL_FEATURES_32",
    "celebrities_warning",
    "check_details_32",
    "detail_features_32",
    "check_features_40",
    "moderation_warning",
    "plan_visual_features_32",
]

# Azure's 3.2 visualFeatures (its spelling, for messages) -> the registry features they need (None: not built yet).
_VISUAL_FEATURES_32: dict[str, tuple[str, ...] | None] = {
    "Categories": ("categories",),
    "Tags": ("tags",),
    "Description": ("caption", "tags"),
    "Faces": ("faces",),
    "ImageType": ("imageType",),
    "Color": ("color",),
    "Adult": ("adult",),
    "Objects": ("objects",),
    "Brands": ("brands",),
}
#: Azure's 3.2 ``visualFeatures`` names, as it spells them.
VISUAL_FEATURES_32_NAMES: tuple[str, ...] = tuple(_VISUAL_FEATURES_32)
#: lower-cased 3.2 ``visualFeatures`` name -> the registry features it needs (``None``: not built here yet).
VISUAL_FEATURES_32: MappingProxyType[str, tuple[str, ...] | None] = MappingProxyType(
    {name.lower(): needs for name, needs in _VISUAL_FEATURES_32.items()}
)
#: 3.2 routes that run one registry feature directly (``POST /ocr`` and ``POST /read/analyze``).
ROUTE_FEATURES_32: MappingProxyType[str, str] = MappingProxyType({"ocr": "read", "read/analyze": "read"})
DETAILS_32 = ("Celebrities", "Landmarks")
CELEBRITIES_DECLINED = (
    "Celebrity recognition is declined by design: imagelens never identifies people from their faces."
)


def check_features_40(names: Iterable[str]) -> None:
    """NotSupportedVisualFeatureError for a registry feature that Azure 4.0 does not have (faces, color)."""
    for name in names:
        if name not in FEATURES_40:
            raise NotSupportedVisualFeatureError(
                f"The visual feature '{name}' is not valid for Image Analysis 4.0. Valid: {', '.join(FEATURES_40)}."
            )


def celebrities_warning() -> dict[str, str]:
    """The warning a request for celebrities gets (its answer lists none)."""
    return {"code": "CelebrityRecognitionDeclined", "message": CELEBRITIES_DECLINED}


def moderation_warning(withheld: Iterable[str]) -> dict[str, str]:
    """The warning of an answer whose other features the moderation gate withheld (its ``adult`` block says why)."""
    return {
        "code": "ContentWithheldByModeration",
        "message": "The image is at or above the operator's moderation threshold; withheld: "
        + ", ".join(withheld)
        + ".",
    }


def check_details_32(details: Iterable[str]) -> list[dict[str, str]]:
    """3.2 ``details=`` (any case) -> the warnings for the answer. Celebrities are declined by design: the request
    still succeeds, with no celebrities and a warning; Landmarks run the ``landmarks`` feature
    (:func:`detail_features_32`)."""
    warnings: list[dict[str, str]] = []
    for detail in details:
        lowered = detail.lower()
        if lowered == "celebrities":
            if not warnings:
                warnings.append(celebrities_warning())
            continue
        if lowered not in {d.lower() for d in DETAILS_32}:
            raise InvalidArgumentError(f"The detail '{detail}' is not valid. Valid: {', '.join(DETAILS_32)}.")
    return warnings


def detail_features_32(details: Iterable[str], tokens: Iterable[str]) -> list[str]:
    """The registry features that 3.2 ``details=`` adds to ``tokens``: ``landmarks`` for Landmarks when the
    categories are computed (Azure puts landmarks in the categories' ``detail``; without Categories there is no
    place for them, so nothing is added)."""
    wanted = {d.lower() for d in details}
    if "landmarks" in wanted and "categories" in set(tokens):
        return ["landmarks"]
    return []


#: What 3.2 analyze computes when ``visualFeatures`` is omitted (Azure's default, from its 3.2 spec).
DEFAULT_VISUAL_FEATURES_32 = ("Categories",)


def plan_visual_features_32(features: Iterable[str]) -> tuple[list[str], list[str]]:
    """3.2 visual features -> (their lower-cased names, the registry features that compute them, in order)."""
    wanted: list[str] = []
    tokens: list[str] = []
    features = list(features) or list(DEFAULT_VISUAL_FEATURES_32)
    for feature in features:
        key = feature.lower()
        if key not in VISUAL_FEATURES_32:
            raise InvalidArgumentError(
                f"The visual feature '{feature}' is not valid. Valid: {', '.join(VISUAL_FEATURES_32_NAMES)}."
            )
        needs = VISUAL_FEATURES_32[key]
        if needs is None:
            default = " (Azure's default when 'visualFeatures' is omitted)" if key == "categories" else ""
            raise NotSupportedVisualFeatureError(
                f"The visual feature '{feature}'{default} is not supported by this imagelens version yet. Supported: "
                + ", ".join(n for n in VISUAL_FEATURES_32_NAMES if VISUAL_FEATURES_32[n.lower()] is not None)
                + "."
            )
        wanted.append(key)
        tokens.extend(t for t in needs if t not in tokens)
    return wanted, tokens
