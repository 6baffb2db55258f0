"""What a model is: data only, no loading code."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Role(StrEnum):
    """What a feature asks the hub for; settings map roles to model ids."""

    OCR = "ocr"
    IMAGE_TEXT_EMBEDDING = "image-text-embedding"
    CAPTIONER = "captioner"
    DETECTOR = "detector"
    FACE_DETECTOR = "face-detector"
    MATTING = "matting"
    OPEN_VOCAB_DETECTOR = "open-vocab-detector"
    IMAGE_CLASSIFIER = (
        "image-classifier"  # a head over an IMAGE_TEXT_EMBEDDING model's embeddings (custom models)
    )


@dataclass(frozen=True, slots=True)
class HubSource:
    """Weights on the Hugging Face Hub, pinned to a revision."""

    repo_id: str
    revision: str
    allow_patterns: tuple[str, ...] = ()
    size_bytes: int | None = None


@dataclass(frozen=True, slots=True)
class PackageSource:
    """Weights shipped inside an installed Python package (work offline out of the box)."""

    package: str
    size_bytes: int | None = None


Source = HubSource | PackageSource


@dataclass(frozen=True, slots=True)
class ModelSpec:
    id: str
    roles: tuple[Role, ...]
    adapter: str  # "module:Class", imported lazily
    source: Source
    license: str
    description: str = ""
    preprocess: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if ":" not in self.adapter:
            raise ValueError(f"adapter must be 'module:Class', got {self.adapter!r}")
        if not self.roles:
            raise ValueError(f"model {self.id!r} needs at least one role")
