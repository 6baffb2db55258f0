"""Which features exist, by their Azure ``features=`` token. Classes are imported only when used."""

from __future__ import annotations

import importlib
from types import MappingProxyType

from imagelens.errors import NotSupportedVisualFeatureError
from imagelens.features.base import Feature

# Azure token -> "module:Class"
FEATURES: MappingProxyType[str, str] = MappingProxyType(
    {
        "read": "imagelens.features.read:ReadFeature",
        "smartCrops": "imagelens.features.smart_crops:SmartCropsFeature",
        "caption": "imagelens.features.caption:CaptionFeature",
        "denseCaptions": "imagelens.features.dense_captions:DenseCaptionsFeature",
        "tags": "imagelens.features.tags:TagsFeature",
        "objects": "imagelens.features.objects:ObjectsFeature",
        "people": "imagelens.features.people:PeopleFeature",
        "faces": "imagelens.features.faces:FacesFeature",
        "color": "imagelens.features.color:ColorFeature",
    }
)


def _not_yet(name: str) -> NotSupportedVisualFeatureError:
    return NotSupportedVisualFeatureError(
        f"The visual feature '{name}' is not supported by this imagelens version yet. "
        f"Supported: {', '.join(sorted(available_features()))}."
    )


def available_features() -> list[str]:
    """Tokens whose module is installed in this version."""
    import importlib.util

    return [n for n, t in FEATURES.items() if importlib.util.find_spec(t.partition(":")[0]) is not None]


def feature_class(name: str) -> type[Feature]:
    target = FEATURES.get(name)
    if target is None:
        raise NotSupportedVisualFeatureError(
            f"The visual feature '{name}' is not valid. Valid: {', '.join(sorted(FEATURES))} "
            "(feature names are case-sensitive)."
        )
    module_name, _, class_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        raise _not_yet(name) from None
    cls: type[Feature] = getattr(module, class_name)
    return cls
