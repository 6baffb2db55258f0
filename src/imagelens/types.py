"""Result types: frozen dataclasses, in pixels of the original image after EXIF rotation.

``None`` on an :class:`AnalysisResult` field means "not requested"; an empty tuple means "requested, nothing found".
No heavy imports here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


def _check_confidence(value: float, what: str) -> None:
    if not (0.0 <= value <= 1.0) or math.isnan(value):
        raise ValueError(f"{what} must be in [0, 1], got {value!r}")


@dataclass(frozen=True, slots=True)
class Point:
    x: float
    y: float


@dataclass(frozen=True, slots=True)
class BoundingBox:
    """Axis-aligned box: top-left corner and size, in pixels."""

    x: float
    y: float
    w: float
    h: float

    def __post_init__(self) -> None:
        if self.w < 0 or self.h < 0:
            raise ValueError(f"box width and height must be >= 0, got w={self.w!r}, h={self.h!r}")

    @property
    def x2(self) -> float:
        return self.x + self.w

    @property
    def y2(self) -> float:
        return self.y + self.h

    @property
    def area(self) -> float:
        return self.w * self.h

    @classmethod
    def from_xyxy(cls, x1: float, y1: float, x2: float, y2: float) -> BoundingBox:
        return cls(float(x1), float(y1), float(x2 - x1), float(y2 - y1))

    def xyxy(self) -> tuple[float, float, float, float]:
        return (self.x, self.y, self.x2, self.y2)


@dataclass(frozen=True, slots=True)
class Polygon:
    """A closed polygon; text polygons have 4 points, clockwise from the top-left."""

    points: tuple[Point, ...]

    def __post_init__(self) -> None:
        if len(self.points) < 3:
            raise ValueError(f"a polygon needs at least 3 points, got {len(self.points)}")

    def bounding_box(self) -> BoundingBox:
        xs = [p.x for p in self.points]
        ys = [p.y for p in self.points]
        return BoundingBox.from_xyxy(min(xs), min(ys), max(xs), max(ys))


@dataclass(frozen=True, slots=True)
class Tag:
    name: str
    confidence: float

    def __post_init__(self) -> None:
        _check_confidence(self.confidence, f"confidence of tag {self.name!r}")


@dataclass(frozen=True, slots=True)
class DetectedObject:
    box: BoundingBox
    tags: tuple[Tag, ...]


@dataclass(frozen=True, slots=True)
class Caption:
    text: str
    confidence: float

    def __post_init__(self) -> None:
        _check_confidence(self.confidence, "caption confidence")


@dataclass(frozen=True, slots=True)
class DenseCaption:
    text: str
    confidence: float
    box: BoundingBox

    def __post_init__(self) -> None:
        _check_confidence(self.confidence, "dense caption confidence")


@dataclass(frozen=True, slots=True)
class Word:
    text: str
    polygon: Polygon
    confidence: float

    def __post_init__(self) -> None:
        _check_confidence(self.confidence, f"confidence of word {self.text!r}")


@dataclass(frozen=True, slots=True)
class Line:
    text: str
    polygon: Polygon
    words: tuple[Word, ...]


@dataclass(frozen=True, slots=True)
class TextBlock:
    lines: tuple[Line, ...]


@dataclass(frozen=True, slots=True)
class ReadResult:
    blocks: tuple[TextBlock, ...]

    @property
    def lines(self) -> tuple[Line, ...]:
        return tuple(line for block in self.blocks for line in block.lines)

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)


@dataclass(frozen=True, slots=True)
class Person:
    box: BoundingBox
    confidence: float

    def __post_init__(self) -> None:
        _check_confidence(self.confidence, "person confidence")


@dataclass(frozen=True, slots=True)
class Face:
    """A face box. Never identity, age or gender."""

    box: BoundingBox
    confidence: float

    def __post_init__(self) -> None:
        _check_confidence(self.confidence, "face confidence")


@dataclass(frozen=True, slots=True)
class SmartCrop:
    aspect_ratio: float
    box: BoundingBox


@dataclass(frozen=True, slots=True)
class ColorInfo:
    """v3.2 ``color``: Azure's colour names, the accent colour as hex (no ``#``), black-and-white or not."""

    dominant_foreground: str
    dominant_background: str
    dominant_colors: tuple[str, ...]
    accent_color: str
    is_bw: bool

    def __post_init__(self) -> None:
        if len(self.accent_color) != 6:
            raise ValueError(f"accent colour must be 6 hex digits, got {self.accent_color!r}")


@dataclass(frozen=True, slots=True)
class Landmark:
    """A landmark recognised in the image (Azure 3.2 ``detail.landmarks``): its name and a confidence in [0, 1]."""

    name: str
    confidence: float

    def __post_init__(self) -> None:
        _check_confidence(self.confidence, "landmark confidence")


@dataclass(frozen=True, slots=True)
class Category:
    """One of Azure 3.2's 86 categories (``people_``, ``animal_dog``: ``<parent>_<detail>``), its score in [0, 1],
    and the landmarks found when the category is one that carries them (``building_``, ``outdoor_``)."""

    name: str
    score: float
    landmarks: tuple[Landmark, ...] = ()

    def __post_init__(self) -> None:
        _check_confidence(self.score, "category score")


@dataclass(frozen=True, slots=True)
class Moderation:
    """Azure 3.2 ``adult``: a score in [0, 1] for each of adult, racy and gory content, and whether each is at or
    above the operator's threshold (the booleans). Scores are what the configured model measured; what they were
    calibrated on is documented with the model (docs/moderation.md)."""

    adult_score: float
    racy_score: float
    gore_score: float
    is_adult: bool
    is_racy: bool
    is_gory: bool

    def __post_init__(self) -> None:
        for name in ("adult_score", "racy_score", "gore_score"):
            _check_confidence(getattr(self, name), name)


@dataclass(frozen=True, slots=True)
class Brand:
    """A brand (logo or brand word) with its box in pixels and a confidence in [0, 1]."""

    name: str
    confidence: float
    box: BoundingBox

    def __post_init__(self) -> None:
        _check_confidence(self.confidence, "brand confidence")


@dataclass(frozen=True, slots=True)
class ImageType:
    """Azure 3.2 ``imageType``: ``clip_art_type`` 0 (not clip art), 1 (ambiguous), 2 (normal clip art), 3 (good clip
    art); ``line_drawing_type`` 0 or 1."""

    clip_art_type: int
    line_drawing_type: int

    def __post_init__(self) -> None:
        if self.clip_art_type not in (0, 1, 2, 3):
            raise ValueError(f"clip_art_type must be 0-3, got {self.clip_art_type!r}")
        if self.line_drawing_type not in (0, 1):
            raise ValueError(f"line_drawing_type must be 0 or 1, got {self.line_drawing_type!r}")


@dataclass(frozen=True, slots=True)
class ImageMetadata:
    width: int
    height: int
    format: str

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"image size must be positive, got {self.width}x{self.height}")


@dataclass(frozen=True, slots=True)
class CustomModelResult:
    """What a trained custom model found (Azure's ``customModelResult``): whole-image tags from a classifier, best
    first, or objects from a detector. The kind the model does not produce is an empty tuple."""

    tags: tuple[Tag, ...] = ()
    objects: tuple[DetectedObject, ...] = ()


@dataclass(frozen=True, slots=True)
class AnalysisResult:
    """What :func:`imagelens.analyze` returns. ``None``: not requested; ``()``: requested, nothing found."""

    model_version: str
    metadata: ImageMetadata
    caption: Caption | None = None
    dense_captions: tuple[DenseCaption, ...] | None = None
    tags: tuple[Tag, ...] | None = None
    objects: tuple[DetectedObject, ...] | None = None
    people: tuple[Person, ...] | None = None
    faces: tuple[Face, ...] | None = None
    read: ReadResult | None = None
    smart_crops: tuple[SmartCrop, ...] | None = None
    color: ColorInfo | None = None
    custom_model: CustomModelResult | None = None
    categories: tuple[Category, ...] | None = None
    adult: Moderation | None = None
    brands: tuple[Brand, ...] | None = None
    image_type: ImageType | None = None
    landmarks: tuple[Landmark, ...] | None = None
    #: features the moderation gate withheld (not computed: the image was flagged, see ``adult``); () otherwise
    withheld: tuple[str, ...] = ()
    timings_ms: dict[str, float] = field(default_factory=dict, compare=False)
