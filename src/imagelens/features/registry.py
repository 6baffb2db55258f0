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
    }
)

# Azure tokens whose capability has not landed here yet: a clear "not supported", never a fake result.
NOT_YET: frozenset[str] = frozenset({"caption", "denseCaptions", "tags", "objects", "people", "faces"})


def feature_class(name: str) -> type[Feature]:
    target = FEATURES.get(name)
    if target is None:
        if name in NOT_YET:
            raise NotSupportedVisualFeatureError(
                f"The visual feature '{name}' is not supported by this imagelens version yet. "
                f"Supported: {', '.join(sorted(FEATURES))}."
            )
        raise NotSupportedVisualFeatureError(
            f"The visual feature '{name}' is not valid. Supported: {', '.join(sorted(FEATURES))} "
            "(feature names are case-sensitive)."
        )
    module_name, _, class_name = target.partition(":")
    cls: type[Feature] = getattr(importlib.import_module(module_name), class_name)
    return cls
