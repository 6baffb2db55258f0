"""Loading a dataset from a file or folder (COCO JSON or CSV), and loading plus validating in one call.

The dataset's parts each have their own module; the names below are re-exported so that
``from imagelens.customize.dataset import Dataset, import_dataset, validate_dataset, split_dataset`` keeps working:

* :mod:`~imagelens.customize.records`: the Dataset types and the image path rules;
* :mod:`~imagelens.customize.validation`: :func:`validate_dataset` and its report;
* :mod:`~imagelens.customize.splitting`: :func:`split_dataset`;
* :mod:`~imagelens.customize.csv_dataset` and :mod:`~imagelens.customize.coco`: the two file formats.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from imagelens.customize.coco import load_coco
from imagelens.customize.csv_dataset import load_classification_csv
from imagelens.customize.records import (
    Annotation,
    BoxFormat,
    Category,
    Dataset,
    DatasetKind,
    ImageRecord,
    Issue,
    IssueKind,
    read_image_size,
    safe_join,
)
from imagelens.customize.splitting import split_dataset
from imagelens.customize.validation import ValidationReport, validate_dataset, with_image_sizes
from imagelens.errors import InvalidArgumentError

__all__ = [
    "Annotation",
    "BoxFormat",
    "Category",
    "Dataset",
    "DatasetKind",
    "ImageRecord",
    "Issue",
    "IssueKind",
    "ValidationReport",
    "import_dataset",
    "load_classification_csv",
    "load_dataset",
    "read_image_size",
    "safe_join",
    "split_dataset",
    "validate_dataset",
    "with_image_sizes",
]


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
