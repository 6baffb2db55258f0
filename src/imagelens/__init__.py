"""imagelens: self-hosted image analysis, wire-compatible with Azure AI Vision.

    >>> import imagelens
    >>> result = imagelens.analyze("receipt.jpg", features=["read", "smartCrops"])
    >>> print(result.read.text)

Importing this package is light: no torch, onnxruntime or fastapi until a feature needs them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from imagelens.errors import ImageLensError
from imagelens.types import (
    AnalysisResult,
    BoundingBox,
    Caption,
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

__version__ = "0.1.0"

if TYPE_CHECKING:
    from imagelens.analyzer import Analyzer, analyze
    from imagelens.config import Settings
    from imagelens.features.base import AnalysisOptions
    from imagelens.io import LoadedImage, load_image

_LAZY = {
    "Analyzer": "imagelens.analyzer",
    "analyze": "imagelens.analyzer",
    "Settings": "imagelens.config",
    "AnalysisOptions": "imagelens.features.base",
    "LoadedImage": "imagelens.io",
    "load_image": "imagelens.io",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'imagelens' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = [
    "AnalysisOptions",
    "AnalysisResult",
    "Analyzer",
    "BoundingBox",
    "Caption",
    "DenseCaption",
    "DetectedObject",
    "Face",
    "ImageLensError",
    "ImageMetadata",
    "LoadedImage",
    "Line",
    "Person",
    "Point",
    "Polygon",
    "ReadResult",
    "Settings",
    "SmartCrop",
    "Tag",
    "TextBlock",
    "Word",
    "__version__",
    "analyze",
    "load_image",
]
