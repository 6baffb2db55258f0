"""COCO files in and out: plain COCO (boxes in pixels) and Azure's flavour (normalized boxes, ``absolute_url``).

Azure AI Vision's model customization takes COCO files whose ``bbox`` is ``[left, top, width, height]`` as
fractions of the image size, and whose images may live at ``coco_url``/``absolute_url`` instead of a local
``file_name``. :func:`load_coco` accepts both (``bbox_format="auto"`` decides from the numbers, and says which in
``Dataset.bbox_format``) and always returns boxes in pixels.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from imagelens.customize.records import (
    Annotation,
    BoxFormat,
    Category,
    Dataset,
    DatasetKind,
    ImageRecord,
    Issue,
    IssueKind,
    image_record,
    is_url,
    read_image_size,
    safe_join,
)
from imagelens.customize.validation import with_image_sizes
from imagelens.errors import InvalidArgumentError

# Where images usually sit relative to a COCO file: next to it, in images/, or in a sibling folder (VOC layout).
ROOT_CANDIDATES = (".", "images", "..", "../images", "../JPEGImages")
NORMALIZED_SLACK = 1e-6


def detect_bbox_format(boxes: Sequence[Sequence[float]]) -> BoxFormat:
    """'normalized' when every box lies within the unit square (Azure's convention), else 'pixels'.

    A pixel dataset whose boxes are all under one pixel would be misread; pass ``bbox_format`` explicitly then.
    """
    if not boxes:
        return "pixels"
    limit = 1.0 + NORMALIZED_SLACK
    for x, y, w, h in boxes:
        if x < -NORMALIZED_SLACK or y < -NORMALIZED_SLACK or x + w > limit or y + h > limit:
            return "pixels"
    return "normalized"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)) and math.isfinite(value)


def _choose_root(annotation_dir: Path, names: Sequence[str]) -> Path:
    """The candidate folder in which most of the first local file names exist (the annotation folder if none)."""
    sample = [n for n in names if n and not is_url(n)][:50]
    best, best_hits = annotation_dir, 0
    for rel in ROOT_CANDIDATES:
        candidate = (annotation_dir / rel).resolve()
        if not candidate.is_dir():
            continue
        hits = 0
        for name in sample:
            try:
                hits += safe_join(candidate, name).is_file()
            except InvalidArgumentError:
                continue
        if hits > best_hits:
            best, best_hits = candidate, hits
    return best


def load_coco(
    path: str | Path,
    *,
    image_root: str | Path | None = None,
    kind: DatasetKind | Literal["auto"] = "auto",
    bbox_format: BoxFormat | Literal["auto"] = "auto",
) -> Dataset:
    """Read a COCO JSON file into a :class:`Dataset` (problems go to ``load_issues``; see ``validate_dataset``).

    Images are looked up by ``file_name`` under ``image_root``; without one, under the first of the annotation
    file's folder, ``images/``, its parent, ``../images`` and ``../JPEGImages`` that holds the files (BCCD keeps
    ``annotations/*.json`` next to ``JPEGImages/``). A missing local file with a ``coco_url``/``absolute_url``
    becomes a URL image. Raises InvalidArgumentError only when the file is not COCO JSON at all.
    """
    json_path = Path(path)
    try:
        data = json.loads(json_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidArgumentError(f"COCO file not found: {json_path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidArgumentError(f"{json_path} is not valid JSON: {exc}") from None
    if not isinstance(data, Mapping):
        raise InvalidArgumentError(f"{json_path} must hold a COCO object, got a JSON {type(data).__name__}")
    if image_root is not None:
        root = Path(image_root).resolve()
        if not root.is_dir():
            raise InvalidArgumentError(f"image root is not a folder: {root}")
    else:
        raw = data.get("images")
        entries: list[Any] = raw if isinstance(raw, list) else []
        names = [str(im.get("file_name", "")) for im in entries if isinstance(im, Mapping)]
        root = _choose_root(json_path.resolve().parent, names)
    return parse_coco(data, root=root, kind=kind, bbox_format=bbox_format, source=json_path.resolve())


def parse_coco(
    data: Mapping[str, Any],
    *,
    root: Path,
    kind: DatasetKind | Literal["auto"] = "auto",
    bbox_format: BoxFormat | Literal["auto"] = "auto",
    source: Path | None = None,
) -> Dataset:
    """A :class:`Dataset` from a COCO dict; entries that cannot be read are left out and reported."""
    issues: list[Issue] = []
    lists: dict[str, list[Any]] = {}
    for key in ("images", "annotations", "categories"):
        value = data.get(key)
        if not isinstance(value, list):
            issues.append(Issue(IssueKind.INVALID_FIELD, f"top-level '{key}' must be a list", field=key))
            value = []
        lists[key] = value

    categories: list[Category] = []
    for i, cat in enumerate(lists["categories"]):
        if not isinstance(cat, Mapping) or not _is_int(cat.get("id")):
            issues.append(
                Issue(IssueKind.INVALID_FIELD, f"categories[{i}] needs an integer 'id'", field="id")
            )
            continue
        name = cat.get("name")
        if not isinstance(name, str) or not name.strip():
            issues.append(
                Issue(
                    IssueKind.INVALID_FIELD,
                    "category needs a non-empty 'name'",
                    category_id=cat["id"],
                    field="name",
                )
            )
            continue
        sup = cat.get("supercategory")
        categories.append(Category(cat["id"], name.strip(), sup if isinstance(sup, str) else None))

    images = _parse_images(lists["images"], root, issues)
    raw_boxes = _parse_annotations(lists["annotations"], issues)
    has_boxes = any(box is not None for _, box in raw_boxes)
    resolved_kind: DatasetKind = ("detection" if has_boxes else "classification") if kind == "auto" else kind
    boxes = [box for _, box in raw_boxes if box is not None]
    fmt: BoxFormat | None = None
    if resolved_kind == "detection":
        fmt = detect_bbox_format(boxes) if bbox_format == "auto" else bbox_format

    by_id = {im.id: im for im in images}
    annotations: list[Annotation] = []
    for ann, box in raw_boxes:
        if resolved_kind == "classification":
            annotations.append(
                Annotation(ann["id"], ann["image_id"], ann["category_id"], None, False, None, ann["extra"])
            )
            continue
        if box is not None and fmt == "normalized":
            image = by_id.get(ann["image_id"])
            size = _size_for(image)
            if image is not None and size is None:
                issues.append(
                    Issue(
                        IssueKind.MISSING_SIZE,
                        "normalized bbox needs the image size: the image has no width/height and no readable file",
                        annotation_id=ann["id"],
                        image_id=ann["image_id"],
                        field="bbox",
                    )
                )
                continue
            if size is not None:
                w, h = size
                box = (box[0] * w, box[1] * h, box[2] * w, box[3] * h)
        area = ann["area"] if fmt == "pixels" else None
        annotations.append(
            Annotation(
                ann["id"], ann["image_id"], ann["category_id"], box, ann["iscrowd"], area, ann["extra"]
            )
        )
    return Dataset(
        kind=resolved_kind,
        categories=tuple(categories),
        images=tuple(images),
        annotations=tuple(annotations),
        root=root,
        source=source,
        bbox_format=fmt,
        load_issues=tuple(issues),
    )


def _size_for(image: ImageRecord | None) -> tuple[int, int] | None:
    if image is None:
        return None
    if image.width is not None and image.height is not None:
        return image.width, image.height
    if image.path is not None and image.path.is_file():
        try:
            return read_image_size(image.path)
        except Exception:  # validation reports the unreadable file
            return None
    return None


def _parse_images(entries: list[Any], root: Path, issues: list[Issue]) -> list[ImageRecord]:
    images: list[ImageRecord] = []
    for i, im in enumerate(entries):
        if not isinstance(im, Mapping) or not _is_int(im.get("id")):
            issues.append(Issue(IssueKind.INVALID_FIELD, f"images[{i}] needs an integer 'id'", field="id"))
            continue
        size: list[int | None] = []
        for key in ("width", "height"):
            value = im.get(key)
            if value is not None and not (_is_int(value) and value > 0):
                issues.append(
                    Issue(
                        IssueKind.INVALID_FIELD,
                        f"{key} must be a positive integer, got {value!r}",
                        image_id=im["id"],
                        field=key,
                    )
                )
                value = None
            size.append(value)
        url = im.get("absolute_url") or im.get("coco_url")
        name = im.get("file_name") or ""
        if not isinstance(name, str) or (url is not None and not isinstance(url, str)):
            issues.append(
                Issue(
                    IssueKind.INVALID_FIELD,
                    "file_name and URLs must be strings",
                    image_id=im["id"],
                    field="file_name",
                )
            )
            continue
        record, problems = image_record(im["id"], name, url, root, size[0], size[1])
        issues.extend(problems)
        images.append(record)
    return images


def _parse_annotations(
    entries: list[Any], issues: list[Issue]
) -> list[tuple[dict[str, Any], tuple[float, float, float, float] | None]]:
    out: list[tuple[dict[str, Any], tuple[float, float, float, float] | None]] = []
    known = {"id", "image_id", "category_id", "bbox", "iscrowd", "area", "segmentation"}
    for i, ann in enumerate(entries):
        if not isinstance(ann, Mapping):
            issues.append(
                Issue(IssueKind.INVALID_FIELD, f"annotations[{i}] must be an object", field="annotations")
            )
            continue
        aid = ann.get("id", f"#{i}")
        bad = [key for key in ("id", "image_id", "category_id") if not _is_int(ann.get(key))]
        if bad:
            for key in bad:
                issues.append(
                    Issue(
                        IssueKind.INVALID_FIELD,
                        f"{key} must be an integer, got {ann.get(key)!r}",
                        annotation_id=aid if _is_int(aid) else str(aid),
                        field=key,
                    )
                )
            continue
        box: tuple[float, float, float, float] | None = None
        raw = ann.get("bbox")
        if raw is not None and raw != []:
            if not isinstance(raw, list) or len(raw) != 4 or not all(_is_number(v) for v in raw):
                issues.append(
                    Issue(
                        IssueKind.INVALID_FIELD,
                        f"bbox must be 4 finite numbers [x, y, width, height], got {raw!r}",
                        annotation_id=ann["id"],
                        image_id=ann["image_id"],
                        field="bbox",
                    )
                )
                continue
            box = (float(raw[0]), float(raw[1]), float(raw[2]), float(raw[3]))
        area = ann.get("area")
        record = {
            "id": ann["id"],
            "image_id": ann["image_id"],
            "category_id": ann["category_id"],
            "iscrowd": bool(ann.get("iscrowd", 0)),
            "area": float(area) if area is not None and _is_number(area) else None,
            "extra": {k: v for k, v in ann.items() if k not in known},
        }
        out.append((record, box))
    return out


# --- export -----------------------------------------------------------------------------------------------------


def to_coco(dataset: Dataset, *, bbox_format: BoxFormat = "pixels") -> dict[str, Any]:
    """A COCO dict, ``file_name`` relative to ``dataset.root``, ``area`` written (pycocotools needs it).

    ``bbox_format="normalized"`` writes Azure's flavour: it needs every image size (read from the local file when
    the source did not declare it) and adds ``absolute_url`` for URL images."""
    if bbox_format not in ("pixels", "normalized"):
        raise InvalidArgumentError(f"bbox_format must be 'pixels' or 'normalized', got {bbox_format!r}")
    if bbox_format == "normalized":
        dataset = with_image_sizes(dataset)  # sizes not declared in the source come from the file headers
    sizes = {im.id: (im.width, im.height) for im in dataset.images}
    images = []
    for im in dataset.images:
        entry: dict[str, Any] = {"id": im.id, "file_name": _relative_name(dataset, im)}
        if im.width is not None and im.height is not None:
            entry["width"], entry["height"] = im.width, im.height
        if im.url is not None:
            entry["coco_url"] = im.url
            if bbox_format == "normalized":
                entry["absolute_url"] = im.url
        images.append(entry)
    annotations = []
    for a in dataset.annotations:
        entry = {"id": a.id, "image_id": a.image_id, "category_id": a.category_id}
        if a.bbox is not None:
            x, y, w, h = a.bbox
            area = a.area if a.area is not None else w * h
            if bbox_format == "normalized":
                iw, ih = sizes.get(a.image_id, (None, None))
                if iw is None or ih is None:
                    raise InvalidArgumentError(
                        f"annotation {a.id}: normalized export needs the size of image {a.image_id}, which is unknown"
                    )
                x, y, w, h = x / iw, y / ih, w / iw, h / ih
                area = w * h
            entry.update({"bbox": [x, y, w, h], "area": area, "iscrowd": int(a.iscrowd)})
        entry.update({k: v for k, v in a.extra.items() if k not in entry})
        annotations.append(entry)
    categories = []
    for c in dataset.categories:
        cat: dict[str, Any] = {"id": c.id, "name": c.name}
        if c.supercategory is not None:
            cat["supercategory"] = c.supercategory
        categories.append(cat)
    return {
        "info": {"description": f"exported by imagelens ({dataset.kind}, bbox {bbox_format})"},
        "images": images,
        "annotations": annotations,
        "categories": categories,
    }


def _relative_name(dataset: Dataset, im: ImageRecord) -> str:
    if im.path is not None and dataset.root is not None:
        try:
            return im.path.relative_to(dataset.root.resolve()).as_posix()
        except ValueError:
            pass
    return im.file_name


def write_coco(dataset: Dataset, path: str | Path, *, bbox_format: BoxFormat = "pixels") -> Path:
    """Write :func:`to_coco` as JSON; ``file_name`` stays relative to ``dataset.root``."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(to_coco(dataset, bbox_format=bbox_format), indent=1), encoding="utf-8")
    return out


def write_dataset(
    dataset: Dataset, folder: str | Path, *, bbox_format: BoxFormat = "pixels", overwrite: bool = False
) -> Path:
    """A self-contained dataset folder: local images copied to ``images/`` (same relative paths) and
    ``annotations.json`` next to it. URL images stay URLs. Returns the annotation file."""
    out = Path(folder)
    target = out / "annotations.json"
    if target.exists() and not overwrite:
        raise InvalidArgumentError(f"{target} exists; choose an empty folder or pass overwrite")
    image_dir = out / "images"
    for im in dataset.images:
        if im.path is None:
            continue
        dest = safe_join(image_dir, _relative_name(dataset, im))
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(im.path, dest)
    out.mkdir(parents=True, exist_ok=True)
    data = to_coco(dataset, bbox_format=bbox_format)
    for entry, im in zip(data["images"], dataset.images, strict=True):
        if im.path is not None:
            entry["file_name"] = "images/" + entry["file_name"]
    target.write_text(json.dumps(data, indent=1), encoding="utf-8")
    return target
