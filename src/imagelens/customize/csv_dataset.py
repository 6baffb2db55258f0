"""Classification datasets from a CSV file: one image path and one label per row."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from imagelens.customize.records import (
    Annotation,
    Category,
    Dataset,
    ImageRecord,
    Issue,
    IssueKind,
    image_record,
)
from imagelens.errors import InvalidArgumentError

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
        record, problems = image_record(number, name, None, root)
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
