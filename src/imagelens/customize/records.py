"""The in-memory form of a custom-model dataset, and where its image files may be.

A :class:`Dataset` holds images, categories and annotations with boxes **in pixels** ``[x, y, width, height]``
whatever the source wrote (Azure's COCO files use normalized boxes; :mod:`imagelens.customize.coco` converts).
Loaders are lenient: what cannot be parsed is recorded as an :class:`Issue` and left out, so that one
:func:`~imagelens.customize.validation.validate_dataset` call reports every problem at once.

Image files must stay inside the dataset folder: absolute names, ``..`` that climbs out, and symlinks that point
outside are refused (a dataset file is input from someone else; reading ``/etc/passwd`` as a training image
should not be possible).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from imagelens.errors import InvalidArgumentError

DatasetKind = Literal["classification", "detection"]
BoxFormat = Literal["pixels", "normalized"]
Severity = Literal["error", "warning"]

IMAGE_URL_SCHEMES = ("http://", "https://")


class IssueKind(StrEnum):
    """What can be wrong with a dataset; each value is a row of the validation table."""

    INVALID_FIELD = "invalid_field"  # a field is missing or has the wrong type
    DUPLICATE_ID = "duplicate_id"
    DUPLICATE_NAME = "duplicate_name"  # two categories with one name
    DUPLICATE_FILE = "duplicate_file"  # warning: one file under two image ids (leaks across a split)
    UNKNOWN_IMAGE = "unknown_image"  # annotation.image_id not among the images
    UNKNOWN_CATEGORY = "unknown_category"  # annotation.category_id not among the categories
    PATH_ESCAPE = "path_escape"  # absolute path, '..' or a symlink leading out of the dataset folder
    MISSING_IMAGE = "missing_image"
    UNREADABLE_IMAGE = "unreadable_image"
    SIZE_MISMATCH = "size_mismatch"  # declared width/height differ from the file
    MISSING_SIZE = "missing_size"  # normalized boxes on an image whose size is unknown
    INVALID_BOX = "invalid_box"  # width or height <= 0
    BOX_OUT_OF_BOUNDS = "box_out_of_bounds"
    UNLABELED_IMAGE = "unlabeled_image"  # classification image without a category
    MULTIPLE_LABELS = "multiple_labels"  # classification image with two categories
    NO_ANNOTATIONS = "no_annotations"  # warning: detection image without boxes (a background image)
    EMPTY_CLASS = "empty_class"
    TOO_FEW_IMAGES = "too_few_images"


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem, with the ids and field it concerns."""

    kind: IssueKind
    message: str
    severity: Severity = "error"
    image_id: int | str | None = None
    annotation_id: int | str | None = None
    category_id: int | str | None = None
    field: str | None = None

    def where(self) -> str:
        parts = []
        if self.annotation_id is not None:
            parts.append(f"annotation {self.annotation_id}")
        if self.image_id is not None:
            parts.append(f"image {self.image_id}")
        if self.category_id is not None:
            parts.append(f"category {self.category_id}")
        if self.field is not None:
            parts.append(f"field {self.field}")
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": str(self.kind),
            "severity": self.severity,
            "image_id": self.image_id,
            "annotation_id": self.annotation_id,
            "category_id": self.category_id,
            "field": self.field,
            "message": self.message,
        }


@dataclass(frozen=True, slots=True)
class Category:
    id: int
    name: str
    supercategory: str | None = None


@dataclass(frozen=True, slots=True)
class ImageRecord:
    """An image: a local file inside the dataset folder, or a URL kept as is (never fetched here).

    ``file_name`` is the name as written in the source with '/' separators; ``path`` its resolved location.
    ``width``/``height`` are in pixels after EXIF rotation, ``None`` when unknown.
    """

    id: int
    file_name: str
    path: Path | None = None
    url: str | None = None
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True, slots=True)
class Annotation:
    """A label: a category for a whole image (classification) or a box in pixels ``[x, y, w, h]`` (detection).

    ``extra`` keeps source fields we do not interpret (e.g. VOC's ``truncated``/``difficult``) for export.
    """

    id: int
    image_id: int
    category_id: int
    bbox: tuple[float, float, float, float] | None = None
    iscrowd: bool = False
    area: float | None = None
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True, slots=True)
class Dataset:
    """A classification or detection dataset. ``root`` is the folder image paths must stay inside."""

    kind: DatasetKind
    categories: tuple[Category, ...]
    images: tuple[ImageRecord, ...]
    annotations: tuple[Annotation, ...]
    root: Path | None = None
    source: Path | None = None
    bbox_format: BoxFormat | None = None  # how the source wrote its boxes (detected or declared)
    load_issues: tuple[Issue, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in ("classification", "detection"):
            raise InvalidArgumentError(
                f"dataset kind must be 'classification' or 'detection', got {self.kind!r}"
            )

    def category_names(self) -> dict[int, str]:
        return {c.id: c.name for c in self.categories}

    def image_labels(self) -> dict[int, int]:
        """Classification: image id -> category id (the first annotation of each image)."""
        out: dict[int, int] = {}
        for a in self.annotations:
            out.setdefault(a.image_id, a.category_id)
        return out

    def images_per_category(self) -> dict[int, int]:
        """Number of distinct images that have at least one annotation of each category."""
        seen: dict[int, set[int]] = defaultdict(set)
        for a in self.annotations:
            seen[a.category_id].add(a.image_id)
        return {c.id: len(seen.get(c.id, ())) for c in self.categories}

    def subset(self, image_ids: Iterable[int]) -> Dataset:
        """The images with these ids (in dataset order), their annotations, every category."""
        keep = set(image_ids)
        return replace(
            self,
            images=tuple(im for im in self.images if im.id in keep),
            annotations=tuple(a for a in self.annotations if a.image_id in keep),
            load_issues=(),
        )

    def summary(self) -> dict[str, Any]:
        counts = Counter(a.category_id for a in self.annotations)
        per_image = self.images_per_category()
        return {
            "kind": self.kind,
            "root": str(self.root) if self.root else None,
            "bbox_format": self.bbox_format,
            "images": len(self.images),
            "annotations": len(self.annotations),
            "categories": [
                {"id": c.id, "name": c.name, "annotations": counts.get(c.id, 0), "images": per_image[c.id]}
                for c in self.categories
            ],
        }


# --- paths ------------------------------------------------------------------------------------------------------


def safe_join(root: Path, relative: str) -> Path:
    """``root / relative`` resolved, refusing anything that ends up outside ``root``.

    Backslashes count as separators (datasets written on Windows). Refused: absolute paths, drive letters,
    ``..`` that climbs out, NUL bytes, and symlinks (anywhere on the way) whose target lies outside ``root``.
    """
    name = relative.replace("\\", "/")
    if not name or "\x00" in name:
        raise InvalidArgumentError(f"image path {relative!r} is empty or contains a NUL byte")
    pure = PurePosixPath(name)
    if pure.is_absolute() or (len(name) >= 2 and name[1] == ":"):
        raise InvalidArgumentError(
            f"image path {relative!r} is absolute; expected a path relative to the dataset folder {root}"
        )
    base = root.resolve()
    target = base.joinpath(*pure.parts).resolve()
    if not target.is_relative_to(base):
        raise InvalidArgumentError(
            f"image path {relative!r} leads outside the dataset folder {base} (to {target}); refused"
        )
    return target


def is_url(text: str) -> bool:
    return text.lower().startswith(IMAGE_URL_SCHEMES)


def read_image_size(path: Path) -> tuple[int, int]:
    """(width, height) after EXIF rotation, from the file header only (no full decode)."""
    from PIL import Image

    with Image.open(path) as im:
        width, height = im.size
        orientation = im.getexif().get(0x0112, 1)
    if orientation in (5, 6, 7, 8):  # rotated by 90 or 270 degrees
        width, height = height, width
    return int(width), int(height)


def image_record(
    image_id: int,
    file_name: str,
    url: str | None,
    root: Path,
    width: int | None = None,
    height: int | None = None,
) -> tuple[ImageRecord, list[Issue]]:
    """An ImageRecord for a local name (checked to stay inside ``root``) or a URL, and the problems found."""
    issues: list[Issue] = []
    if url is not None and not is_url(url):
        issues.append(
            Issue(
                IssueKind.INVALID_FIELD,
                f"image URL {url!r} is not http(s)",
                image_id=image_id,
                field="coco_url",
            )
        )
        url = None
    if file_name and is_url(file_name):
        return ImageRecord(image_id, file_name, None, file_name, width, height), issues
    if not file_name:
        if url is not None:
            return ImageRecord(image_id, url.rsplit("/", 1)[-1], None, url, width, height), issues
        issues.append(
            Issue(
                IssueKind.INVALID_FIELD,
                "image has no file_name and no URL",
                image_id=image_id,
                field="file_name",
            )
        )
        return ImageRecord(image_id, "", None, None, width, height), issues
    try:
        path = safe_join(root, file_name)
    except InvalidArgumentError as exc:
        issues.append(Issue(IssueKind.PATH_ESCAPE, exc.message, image_id=image_id, field="file_name"))
        return ImageRecord(image_id, file_name, None, None, width, height), issues
    name = file_name.replace("\\", "/")
    if url is not None and not path.is_file():
        return ImageRecord(image_id, name, None, url, width, height), issues  # only the URL is usable
    return ImageRecord(image_id, name, path, url, width, height), issues
