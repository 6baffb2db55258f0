"""Dataset validation: every problem of a dataset in one report (ids, boxes, files, classes)."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from imagelens.customize.records import (
    Annotation,
    Dataset,
    DatasetKind,
    ImageRecord,
    Issue,
    IssueKind,
    read_image_size,
)
from imagelens.errors import InvalidArgumentError


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
