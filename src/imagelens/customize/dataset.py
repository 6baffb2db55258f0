"""Datasets for custom models: the in-memory form, validation, a deterministic split, and a CSV importer.

A :class:`Dataset` holds images, categories and annotations with boxes **in pixels** ``[x, y, width, height]``
whatever the source wrote (Azure's COCO files use normalized boxes; :mod:`imagelens.customize.coco` converts).
Loaders are lenient: what cannot be parsed is recorded as an :class:`Issue` and left out, so that one
:func:`validate_dataset` call reports every problem at once instead of stopping at the first.

Image files must stay inside the dataset folder: absolute names, ``..`` that climbs out, and symlinks that point
outside are refused (a dataset file is input from someone else; reading ``/etc/passwd`` as a training image
should not be possible).
"""

from __future__ import annotations

import csv
import hashlib
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
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


# --- validation -------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ValidationReport:
    """Every problem found in a dataset. ``errors`` make it unusable for training; ``warnings`` do not."""

    issues: tuple[Issue, ...]
    kind: DatasetKind
    num_images: int
    num_annotations: int
    num_categories: int

    @property
    def errors(self) -> tuple[Issue, ...]:
        return tuple(i for i in self.issues if i.severity == "error")

    @property
    def warnings(self) -> tuple[Issue, ...]:
        return tuple(i for i in self.issues if i.severity == "warning")

    @property
    def ok(self) -> bool:
        return not self.errors

    def counts(self) -> dict[str, int]:
        return dict(Counter(str(i.kind) for i in self.issues))

    def summary(self, max_per_kind: int = 3) -> str:
        """Readable text: the totals, then a few examples of each kind of error."""
        errors = self.errors
        if not errors:
            return f"dataset is valid ({self.num_images} images, {self.num_annotations} annotations, " + (
                f"{len(self.warnings)} warnings)"
            )
        by_kind: dict[str, list[Issue]] = defaultdict(list)
        for issue in errors:
            by_kind[str(issue.kind)].append(issue)
        lines = [f"dataset has {len(errors)} error(s):"]
        for kind, items in by_kind.items():
            lines.append(f"  {kind} ({len(items)}):")
            for issue in items[:max_per_kind]:
                where = issue.where()
                lines.append(f"    - {where + ': ' if where else ''}{issue.message}")
            if len(items) > max_per_kind:
                lines.append(f"    - ... and {len(items) - max_per_kind} more")
        return "\n".join(lines)

    def raise_for_errors(self) -> None:
        """Raise InvalidArgumentError with the summary (and every issue in ``detail``) when any error exists."""
        if self.errors:
            raise InvalidArgumentError(self.summary(), {"issues": [i.to_dict() for i in self.errors]})

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "kind": self.kind,
            "images": self.num_images,
            "annotations": self.num_annotations,
            "categories": self.num_categories,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "counts": self.counts(),
            "issues": [i.to_dict() for i in self.issues],
        }


def _duplicates(ids: Iterable[Any]) -> list[Any]:
    return [k for k, n in Counter(ids).items() if n > 1]


def validate_dataset(
    dataset: Dataset,
    *,
    min_images_per_class: int = 2,
    check_files: bool = True,
    box_tolerance: float = 1.0,
) -> ValidationReport:
    """Collect every problem of ``dataset`` (loader issues included) into one report.

    ``min_images_per_class``: fewer images than this for a class is an error (training cannot hold one out).
    ``check_files``: open each local image header to check it exists, is an image, and has the declared size.
    ``box_tolerance``: pixels a box may extend past the image edge (rounding in converted datasets).
    """
    issues: list[Issue] = list(dataset.load_issues)
    flagged_images = {i.image_id for i in dataset.load_issues if i.field == "file_name"}

    for cid in _duplicates(c.id for c in dataset.categories):
        issues.append(
            Issue(IssueKind.DUPLICATE_ID, f"category id {cid} is used twice", category_id=cid, field="id")
        )
    for name in _duplicates(c.name for c in dataset.categories):
        issues.append(Issue(IssueKind.DUPLICATE_NAME, f"two categories are named {name!r}", field="name"))
    for iid in _duplicates(im.id for im in dataset.images):
        issues.append(
            Issue(IssueKind.DUPLICATE_ID, f"image id {iid} is used twice", image_id=iid, field="id")
        )
    for aid in _duplicates(a.id for a in dataset.annotations):
        issues.append(
            Issue(IssueKind.DUPLICATE_ID, f"annotation id {aid} is used twice", annotation_id=aid, field="id")
        )
    first_of: dict[Path, int] = {}
    for im in dataset.images:
        if im.path is None:
            continue
        first = first_of.setdefault(im.path, im.id)
        if first != im.id:
            issues.append(
                Issue(
                    IssueKind.DUPLICATE_FILE,
                    f"file {im.file_name!r} is also image {first}; one file under two ids leaks across a split",
                    severity="warning",
                    image_id=im.id,
                    field="file_name",
                )
            )

    images = {im.id: im for im in dataset.images}
    categories = {c.id: c for c in dataset.categories}
    file_issues: list[Issue] = []
    if check_files:  # first, so that boxes on images without a declared size are checked against the file
        for im in dataset.images:
            if im.id in flagged_images:
                continue
            problems, size = _check_file(im)
            file_issues.extend(problems)
            if size is not None and (im.width is None or im.height is None):
                images[im.id] = replace(im, width=size[0], height=size[1])
    labels: dict[int, set[int]] = defaultdict(set)
    for a in dataset.annotations:
        if a.image_id not in images:
            issues.append(
                Issue(
                    IssueKind.UNKNOWN_IMAGE,
                    f"image_id {a.image_id} is not among the {len(images)} images",
                    annotation_id=a.id,
                    image_id=a.image_id,
                    field="image_id",
                )
            )
        if a.category_id not in categories:
            issues.append(
                Issue(
                    IssueKind.UNKNOWN_CATEGORY,
                    f"category_id {a.category_id} is not one of {sorted(categories)}",
                    annotation_id=a.id,
                    category_id=a.category_id,
                    field="category_id",
                )
            )
        labels[a.image_id].add(a.category_id)
        if dataset.kind == "detection":
            issues.extend(_check_box(a, images.get(a.image_id), box_tolerance))

    for im in dataset.images:
        found = labels.get(im.id, set())
        if dataset.kind == "classification":
            if not found:
                issues.append(
                    Issue(
                        IssueKind.UNLABELED_IMAGE,
                        "image has no category",
                        image_id=im.id,
                        field="category_id",
                    )
                )
            elif len(found) > 1:
                issues.append(
                    Issue(
                        IssueKind.MULTIPLE_LABELS,
                        f"image has {len(found)} categories {sorted(found)}; classification needs exactly one",
                        image_id=im.id,
                        field="category_id",
                    )
                )
        elif not found:
            issues.append(
                Issue(
                    IssueKind.NO_ANNOTATIONS,
                    "image has no boxes (used as a background image)",
                    severity="warning",
                    image_id=im.id,
                )
            )

    per_class = dataset.images_per_category()
    for c in dataset.categories:
        n = per_class.get(c.id, 0)
        if n == 0:
            issues.append(
                Issue(IssueKind.EMPTY_CLASS, f"category {c.name!r} has no annotation", category_id=c.id)
            )
        elif n < min_images_per_class:
            issues.append(
                Issue(
                    IssueKind.TOO_FEW_IMAGES,
                    f"category {c.name!r} has {n} image(s); at least {min_images_per_class} are needed",
                    category_id=c.id,
                )
            )

    issues.extend(file_issues)
    return ValidationReport(
        issues=tuple(issues),
        kind=dataset.kind,
        num_images=len(dataset.images),
        num_annotations=len(dataset.annotations),
        num_categories=len(dataset.categories),
    )


def _check_box(a: Annotation, image: ImageRecord | None, tolerance: float) -> list[Issue]:
    if a.bbox is None:
        return [
            Issue(
                IssueKind.INVALID_FIELD, "detection annotation has no bbox", annotation_id=a.id, field="bbox"
            )
        ]
    x, y, w, h = a.bbox
    if not all(math.isfinite(v) for v in a.bbox) or w <= 0 or h <= 0:
        return [
            Issue(
                IssueKind.INVALID_BOX,
                f"bbox {list(a.bbox)} needs finite numbers and width, height > 0",
                annotation_id=a.id,
                image_id=a.image_id,
                field="bbox",
            )
        ]
    if image is None or image.width is None or image.height is None:
        return []
    if (
        x < -tolerance
        or y < -tolerance
        or x + w > image.width + tolerance
        or y + h > image.height + tolerance
    ):
        return [
            Issue(
                IssueKind.BOX_OUT_OF_BOUNDS,
                f"bbox [x={x:g}, y={y:g}, w={w:g}, h={h:g}] extends outside the {image.width}x{image.height} image "
                f"(x2={x + w:g}, y2={y + h:g}; tolerance {tolerance:g} px)",
                annotation_id=a.id,
                image_id=a.image_id,
                field="bbox",
            )
        ]
    return []


def _check_file(im: ImageRecord) -> tuple[list[Issue], tuple[int, int] | None]:
    """Problems with an image's file, and its size (after EXIF rotation) when it could be read."""
    if im.path is None:
        if im.url is None:
            return [
                Issue(
                    IssueKind.MISSING_IMAGE,
                    "image has neither a file nor a URL",
                    image_id=im.id,
                    field="file_name",
                )
            ], None
        return [], None
    if not im.path.is_file():
        return [
            Issue(IssueKind.MISSING_IMAGE, f"file not found: {im.path}", image_id=im.id, field="file_name")
        ], None
    try:
        width, height = read_image_size(im.path)
    except Exception as exc:  # PIL raises several types for a file that is not an image
        return [
            Issue(
                IssueKind.UNREADABLE_IMAGE,
                f"{im.path.name} is not a readable image: {exc}",
                image_id=im.id,
                field="file_name",
            )
        ], None
    if (im.width is not None and im.width != width) or (im.height is not None and im.height != height):
        hint = " (swapped: EXIF orientation?)" if (im.width, im.height) == (height, width) else ""
        return [
            Issue(
                IssueKind.SIZE_MISMATCH,
                f"declared size {im.width}x{im.height} but the file is {width}x{height} after EXIF rotation{hint}",
                image_id=im.id,
                field="width/height",
            )
        ], (width, height)
    return [], (width, height)


def with_image_sizes(dataset: Dataset) -> Dataset:
    """The dataset with missing width/height read from the local files (headers only)."""
    images = []
    for im in dataset.images:
        if (im.width is None or im.height is None) and im.path is not None and im.path.is_file():
            try:
                width, height = read_image_size(im.path)
            except Exception:  # left unknown; validation reports the unreadable file
                images.append(im)
                continue
            im = replace(im, width=width, height=height)
        images.append(im)
    return replace(dataset, images=tuple(images))


# --- split ------------------------------------------------------------------------------------------------------


def _stratum(dataset: Dataset) -> dict[int, int | None]:
    """Image id -> the class it is stratified by: its label, or for detection its rarest class."""
    per_class = dataset.images_per_category()
    classes: dict[int, set[int]] = defaultdict(set)
    for a in dataset.annotations:
        classes[a.image_id].add(a.category_id)
    out: dict[int, int | None] = {}
    for im in dataset.images:
        found = classes.get(im.id)
        out[im.id] = min(found, key=lambda c: (per_class.get(c, 0), c)) if found else None
    return out


def split_dataset(
    dataset: Dataset, *, validation_fraction: float = 0.2, seed: int = 0
) -> tuple[Dataset, Dataset]:
    """(train, validation), stratified by class and deterministic.

    Each image belongs to one stratum: its category (classification) or its rarest category (detection; images
    without boxes form their own stratum). Inside a stratum images are ordered by a hash of the seed and the file
    name, and the first ``round(n * fraction)`` go to validation, at least one and at most ``n - 1`` when the
    stratum has two or more images (a single image stays in train). Hashing instead of shuffling keeps the split
    independent of file order, and adding images does not move the others.
    """
    if not 0.0 < validation_fraction < 1.0:
        raise InvalidArgumentError(f"validation_fraction must be in (0, 1), got {validation_fraction}")
    strata: dict[int | None, list[ImageRecord]] = defaultdict(list)
    key = _stratum(dataset)
    for im in dataset.images:
        strata[key[im.id]].append(im)

    def order(im: ImageRecord) -> str:
        name = im.file_name or im.url or str(im.id)
        return hashlib.sha256(f"{seed}\x00{name}\x00{im.id}".encode()).hexdigest()

    validation: set[int] = set()
    for members in strata.values():
        n = len(members)
        k = math.floor(n * validation_fraction + 0.5)
        k = min(max(k, 1), n - 1) if n >= 2 else 0
        validation.update(im.id for im in sorted(members, key=order)[:k])
    train = [im.id for im in dataset.images if im.id not in validation]
    return dataset.subset(train), dataset.subset(validation)


# --- CSV (one image per row, classification) --------------------------------------------------------------------

PATH_COLUMNS = ("path", "file_name", "filename", "file", "image", "image_path")
LABEL_COLUMNS = ("label", "fine_label", "category", "category_name", "class", "class_name", "tag")


def _pick(header: Sequence[str], wanted: str | None, candidates: Sequence[str], what: str) -> str:
    if wanted is not None:
        if wanted not in header:
            raise InvalidArgumentError(
                f"CSV has no column {wanted!r} for the {what}; columns: {list(header)}"
            )
        return wanted
    for name in candidates:
        if name in header:
            return name
    raise InvalidArgumentError(
        f"CSV has no {what} column; expected one of {list(candidates)}, got {list(header)}"
    )


def load_classification_csv(
    path: str | Path,
    *,
    image_root: str | Path | None = None,
    path_column: str | None = None,
    label_column: str | None = None,
    label_id_column: str | None = None,
    split: str | None = None,
    split_column: str = "split",
) -> Dataset:
    """A classification dataset from a CSV with one row per image: an image path and a label.

    Columns are found by name (path: ``path``/``file_name``/...; label: ``label``/``fine_label``/``category``/...;
    ids: ``<label column>_id`` when present, e.g. the Grocery Store layout ``split, path, fine_label_id,
    fine_label, ...``). Without an id column categories are numbered 1..K in name order. ``split`` keeps only rows
    whose ``split_column`` equals it. Paths are relative to ``image_root`` (default: the CSV's folder).
    """
    csv_path = Path(path)
    if not csv_path.is_file():
        raise InvalidArgumentError(f"CSV file not found: {csv_path}")
    root = Path(image_root) if image_root is not None else csv_path.parent
    with csv_path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        header = list(reader.fieldnames or [])
        rows = list(reader)
    path_col = _pick(header, path_column, PATH_COLUMNS, "image path")
    label_col = _pick(header, label_column, LABEL_COLUMNS, "label")
    if label_id_column is None and f"{label_col}_id" in header:
        label_id_column = f"{label_col}_id"
    if label_id_column is not None and label_id_column not in header:
        raise InvalidArgumentError(f"CSV has no column {label_id_column!r}; columns: {header}")
    if split is not None:
        if split_column not in header:
            raise InvalidArgumentError(f"CSV has no {split_column!r} column to select split {split!r}")
        rows = [r for r in rows if r.get(split_column) == split]
        if not rows:
            raise InvalidArgumentError(f"no CSV row has {split_column} == {split!r}")

    issues: list[Issue] = []
    names_to_id: dict[str, int] = {}
    if label_id_column is not None:
        for line, row in enumerate(rows, start=2):
            name, raw = (row.get(label_col) or "").strip(), (row.get(label_id_column) or "").strip()
            if not name:
                continue
            try:
                cid = int(raw)
            except ValueError:
                issues.append(
                    Issue(
                        IssueKind.INVALID_FIELD,
                        f"row {line}: {label_id_column}={raw!r} is not an integer",
                        field=label_id_column,
                    )
                )
                continue
            if names_to_id.setdefault(name, cid) != cid:
                issues.append(
                    Issue(
                        IssueKind.INVALID_FIELD,
                        f"row {line}: label {name!r} has id {cid} here but {names_to_id[name]} earlier",
                        category_id=cid,
                        field=label_id_column,
                    )
                )
    else:
        for i, name in enumerate(sorted({(r.get(label_col) or "").strip() for r in rows} - {""}), start=1):
            names_to_id[name] = i
    categories = tuple(Category(cid, name) for name, cid in sorted(names_to_id.items(), key=lambda kv: kv[1]))

    images: list[ImageRecord] = []
    annotations: list[Annotation] = []
    for number, row in enumerate(rows, start=1):
        line = number + 1
        name = (row.get(path_col) or "").strip()
        label = (row.get(label_col) or "").strip()
        record, problems = _image_record(number, name, None, root)
        issues.extend(replace(p, message=f"row {line}: {p.message}") for p in problems)
        images.append(record)
        if label:
            if label in names_to_id:
                annotations.append(Annotation(id=number, image_id=number, category_id=names_to_id[label]))
        else:
            issues.append(
                Issue(
                    IssueKind.UNLABELED_IMAGE,
                    f"row {line}: empty {label_col!r}",
                    image_id=number,
                    field=label_col,
                )
            )
    return Dataset(
        kind="classification",
        categories=categories,
        images=tuple(images),
        annotations=tuple(annotations),
        root=root.resolve(),
        source=csv_path.resolve(),
        load_issues=tuple(issues),
    )


def _image_record(
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


def load_dataset(
    source: str | Path,
    *,
    image_root: str | Path | None = None,
    kind: DatasetKind | Literal["auto"] = "auto",
    bbox_format: BoxFormat | Literal["auto"] = "auto",
    split: str | None = None,
) -> Dataset:
    """Load a COCO JSON file, a CSV (one image and label per row), or a folder holding ``annotations.json``,
    ``labels.csv`` or a single ``*.json``."""
    path = Path(source)
    if path.is_dir():
        candidates = [path / "annotations.json", path / "labels.csv"]
        found = [p for p in candidates if p.is_file()] or sorted(path.glob("*.json"))
        if len(found) != 1:
            raise InvalidArgumentError(
                f"folder {path} must hold annotations.json, labels.csv or exactly one .json file; "
                f"found {[p.name for p in found] or 'none'}"
            )
        path = found[0]
    if not path.is_file():
        raise InvalidArgumentError(f"dataset file not found: {path}")
    if path.suffix.lower() == ".csv":
        if kind == "detection":
            raise InvalidArgumentError(
                "a CSV dataset is classification only (one label per image), got kind=detection"
            )
        return load_classification_csv(path, image_root=image_root, split=split)
    if path.suffix.lower() != ".json":
        raise InvalidArgumentError(f"dataset file must be .json (COCO) or .csv, got {path.name!r}")
    if split is not None:
        raise InvalidArgumentError("split selects rows of a CSV; a COCO file has no split column")
    from imagelens.customize.coco import load_coco

    return load_coco(path, image_root=image_root, kind=kind, bbox_format=bbox_format)


def import_dataset(
    source: str | Path,
    *,
    image_root: str | Path | None = None,
    kind: DatasetKind | Literal["auto"] = "auto",
    bbox_format: BoxFormat | Literal["auto"] = "auto",
    split: str | None = None,
    min_images_per_class: int = 2,
    check_files: bool = True,
    strict: bool = True,
) -> tuple[Dataset, ValidationReport]:
    """Load and validate; with ``strict`` raise InvalidArgumentError listing every error when any exists."""
    dataset = load_dataset(source, image_root=image_root, kind=kind, bbox_format=bbox_format, split=split)
    report = validate_dataset(dataset, min_images_per_class=min_images_per_class, check_files=check_files)
    if strict:
        report.raise_for_errors()
    return dataset, report
