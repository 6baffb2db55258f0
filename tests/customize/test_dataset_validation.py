"""Dataset validation: one row per problem kind, path traversal refused, everything reported at once."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from imagelens.customize.coco import load_coco
from imagelens.customize.dataset import IssueKind, import_dataset, safe_join, validate_dataset
from imagelens.errors import InvalidArgumentError

Coco = dict[str, Any]
Mutation = Callable[[Coco, Path], None]


def _base() -> Coco:
    """Three 64x48 images; 'cat' on images 1 and 2, 'dog' on images 2 and 3: valid as it is."""
    return {
        "images": [
            {"id": i, "file_name": f"images/{n}.png", "width": 64, "height": 48}
            for i, n in ((1, "a"), (2, "b"), (3, "c"))
        ],
        "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 20, 20], "iscrowd": 0},
            {"id": 2, "image_id": 2, "category_id": 1, "bbox": [5, 5, 30, 30], "iscrowd": 0},
            {"id": 3, "image_id": 2, "category_id": 2, "bbox": [30, 10, 30, 30], "iscrowd": 0},
            {"id": 4, "image_id": 3, "category_id": 2, "bbox": [0, 0, 64, 48], "iscrowd": 0},
        ],
    }


def _classification(coco: Coco) -> None:
    for a in coco["annotations"]:
        a.pop("bbox")
        a.pop("iscrowd")
    coco["annotations"] = [a for a in coco["annotations"] if a["id"] != 3]
    coco["images"].append({"id": 4, "file_name": "images/d.png"})
    coco["annotations"].append({"id": 6, "image_id": 4, "category_id": 2})


def _set(path: str, value: Any) -> Mutation:
    """Set coco[list][index][key] = value, path like 'annotations.0.bbox'."""

    def mutate(coco: Coco, root: Path) -> None:
        section, index, key = path.split(".")
        coco[section][int(index)][key] = value

    return mutate


def _write_garbage(coco: Coco, root: Path) -> None:
    (root / "images" / "c.png").write_bytes(b"this is not an image")


def _outside(coco: Coco, root: Path) -> None:
    (root.parent / "outside.png").write_bytes(b"secret")
    coco["images"][2]["file_name"] = "../outside.png"


def _url_image_normalized(coco: Coco, root: Path) -> None:
    for a in coco["annotations"]:
        x, y, w, h = a["bbox"]
        a["bbox"] = [x / 64, y / 48, w / 64, h / 48]
    coco["images"].append({"id": 4, "coco_url": "https://example.com/x.png"})  # no size and no local file
    coco["annotations"].append({"id": 5, "image_id": 4, "category_id": 1, "bbox": [0.1, 0.1, 0.2, 0.2]})


def _add_annotation(**fields: Any) -> Mutation:
    def mutate(coco: Coco, root: Path) -> None:
        coco["annotations"].append({"id": 5, "image_id": 2, "category_id": 1, "bbox": [1, 1, 5, 5], **fields})

    return mutate


def _multiple_labels(coco: Coco, root: Path) -> None:
    _classification(coco)
    coco["annotations"].append({"id": 7, "image_id": 1, "category_id": 2})


def _unlabeled(coco: Coco, root: Path) -> None:
    _classification(coco)
    coco["images"].append({"id": 5, "file_name": "images/e.png"})


def _background_image(coco: Coco, root: Path) -> None:
    coco["images"].append({"id": 4, "file_name": "images/d.png", "width": 64, "height": 48})


def _empty_class(coco: Coco, root: Path) -> None:
    coco["categories"].append({"id": 3, "name": "bird"})


def _too_few(coco: Coco, root: Path) -> None:
    coco["annotations"] = [a for a in coco["annotations"] if a["id"] != 3]


def _duplicate_file(coco: Coco, root: Path) -> None:
    coco["images"].append({"id": 4, "file_name": "images/a.png", "width": 64, "height": 48})
    coco["annotations"].append({"id": 5, "image_id": 4, "category_id": 2, "bbox": [1, 1, 5, 5], "iscrowd": 0})


# kind -> (mutation, severity, expected ids: image, annotation, category, field)
TABLE: dict[IssueKind, tuple[Mutation, str, tuple[Any, Any, Any, Any]]] = {
    IssueKind.INVALID_FIELD: (_add_annotation(bbox=[1, 2, "wide", 20]), "error", (2, 5, None, "bbox")),
    IssueKind.DUPLICATE_ID: (_set("annotations.1.id", 1), "error", (None, 1, None, "id")),
    IssueKind.DUPLICATE_NAME: (_set("categories.1.name", "cat"), "error", (None, None, None, "name")),
    IssueKind.DUPLICATE_FILE: (_duplicate_file, "warning", (4, None, None, "file_name")),
    IssueKind.UNKNOWN_IMAGE: (_set("annotations.2.image_id", 9), "error", (9, 3, None, "image_id")),
    IssueKind.UNKNOWN_CATEGORY: (_add_annotation(category_id=7), "error", (None, 5, 7, "category_id")),
    IssueKind.PATH_ESCAPE: (_outside, "error", (3, None, None, "file_name")),
    IssueKind.MISSING_IMAGE: (
        _set("images.2.file_name", "images/nope.png"),
        "error",
        (3, None, None, "file_name"),
    ),
    IssueKind.UNREADABLE_IMAGE: (_write_garbage, "error", (3, None, None, "file_name")),
    IssueKind.SIZE_MISMATCH: (_set("images.1.width", 100), "error", (2, None, None, "width/height")),
    IssueKind.MISSING_SIZE: (_url_image_normalized, "error", (4, 5, None, "bbox")),
    IssueKind.INVALID_BOX: (_set("annotations.0.bbox", [1, 2, 0, 20]), "error", (1, 1, None, "bbox")),
    IssueKind.BOX_OUT_OF_BOUNDS: (
        _set("annotations.0.bbox", [50, 30, 20, 10]),
        "error",
        (1, 1, None, "bbox"),
    ),
    IssueKind.UNLABELED_IMAGE: (_unlabeled, "error", (5, None, None, "category_id")),
    IssueKind.MULTIPLE_LABELS: (_multiple_labels, "error", (1, None, None, "category_id")),
    IssueKind.NO_ANNOTATIONS: (_background_image, "warning", (4, None, None, None)),
    IssueKind.EMPTY_CLASS: (_empty_class, "error", (None, None, 3, None)),
    IssueKind.TOO_FEW_IMAGES: (_too_few, "error", (None, None, 2, None)),
}


def _make(tmp_path: Path, write_image: Callable[..., Path], mutate: Mutation | None = None) -> Path:
    root = tmp_path / "ds"
    for name in ("a", "b", "c", "d", "e"):
        write_image(root / "images" / f"{name}.png", 64, 48)
    coco = _base()
    if mutate is not None:
        mutate(coco, root)
    path = root / "annotations.json"
    path.write_text(json.dumps(coco))
    return path


def test_table_covers_every_issue_kind() -> None:
    assert set(TABLE) == set(IssueKind)


def test_base_dataset_is_valid(tmp_path: Path, write_image: Callable[..., Path]) -> None:
    dataset, report = import_dataset(_make(tmp_path, write_image))
    assert report.issues == () and dataset.kind == "detection" and dataset.bbox_format == "pixels"
    assert dataset.root == (tmp_path / "ds").resolve()


@pytest.mark.parametrize("kind", list(TABLE), ids=str)
def test_each_problem_is_reported_with_its_ids(
    tmp_path: Path, write_image: Callable[..., Path], kind: IssueKind
) -> None:
    mutate, severity, (image_id, annotation_id, category_id, field) = TABLE[kind]
    dataset = load_coco(_make(tmp_path, write_image, mutate))
    report = validate_dataset(dataset)
    # only this kind, apart from incidental warnings (an image whose only box was unusable has no boxes left)
    assert {i.kind for i in report.issues if i.severity == "error" or i.kind == kind} == {kind}, [
        i.to_dict() for i in report.issues
    ]
    issue = next(i for i in report.issues if i.kind == kind)
    assert issue.severity == severity
    assert (issue.image_id, issue.annotation_id, issue.category_id, issue.field) == (
        image_id,
        annotation_id,
        category_id,
        field,
    )
    assert issue.message
    if severity == "error":
        with pytest.raises(InvalidArgumentError, match=str(kind)) as info:
            report.raise_for_errors()
        assert info.value.detail["issues"][0]["kind"] == str(kind)
    else:
        report.raise_for_errors()  # warnings alone do not stop an import


def test_all_problems_are_collected_in_one_report(tmp_path: Path, write_image: Callable[..., Path]) -> None:
    def many(coco: Coco, root: Path) -> None:
        for kind in (
            IssueKind.UNKNOWN_CATEGORY,
            IssueKind.BOX_OUT_OF_BOUNDS,
            IssueKind.MISSING_IMAGE,
            IssueKind.EMPTY_CLASS,
        ):
            TABLE[kind][0](coco, root)

    with pytest.raises(InvalidArgumentError) as info:
        import_dataset(_make(tmp_path, write_image, many))
    message = info.value.message
    for kind in ("unknown_category", "box_out_of_bounds", "missing_image", "empty_class"):
        assert kind in message
    assert "annotation 5" in message and "field category_id" in message


@pytest.mark.parametrize(
    "name",
    [
        "../outside.png",
        "images/../../outside.png",
        "..\\outside.png",
        "/etc/hostname",
        "C:\\Windows\\win.ini",
        "images/escape.png",
    ],
)
def test_paths_leaving_the_dataset_folder_are_refused(
    tmp_path: Path, write_image: Callable[..., Path], name: str
) -> None:
    outside = write_image(tmp_path / "outside.png", 64, 48)

    def escape(coco: Coco, root: Path) -> None:
        os.symlink(outside, root / "images" / "escape.png")  # a symlink inside, pointing outside
        coco["images"][0]["file_name"] = name

    path = _make(tmp_path, write_image, escape)
    with pytest.raises(InvalidArgumentError, match="outside the dataset folder|absolute"):
        safe_join(path.parent, name)
    report = validate_dataset(load_coco(path))
    assert [(i.kind, i.image_id) for i in report.errors] == [(IssueKind.PATH_ESCAPE, 1)]


def test_paths_that_stay_inside_are_accepted(tmp_path: Path, write_image: Callable[..., Path]) -> None:
    root = tmp_path / "ds"
    target = write_image(root / "images" / "a.png")
    os.symlink(target, root / "link.png")
    assert safe_join(root, "images/../images/a.png") == target.resolve()
    assert safe_join(root, "images\\a.png") == target.resolve()
    assert safe_join(root, "link.png") == target.resolve()


def test_image_root_option_and_auto_detection(tmp_path: Path, write_image: Callable[..., Path]) -> None:
    # VOC-like layout: annotations/x.json with file names relative to ../JPEGImages.
    write_image(tmp_path / "JPEGImages" / "a.png", 64, 48)
    coco = {
        "images": [{"id": 1, "file_name": "a.png"}],
        "categories": [{"id": 1, "name": "x"}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5]}],
    }
    ann = tmp_path / "annotations" / "x.json"
    ann.parent.mkdir()
    ann.write_text(json.dumps(coco))
    assert load_coco(ann).root == (tmp_path / "JPEGImages").resolve()
    explicit = load_coco(ann, image_root=tmp_path / "annotations")
    report = validate_dataset(explicit, min_images_per_class=0)
    assert [(i.kind, i.image_id) for i in report.errors] == [(IssueKind.MISSING_IMAGE, 1)]


def test_not_json_or_not_coco_raises_at_once(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(InvalidArgumentError, match="not valid JSON"):
        load_coco(bad)
    bad.write_text("[1, 2]")
    with pytest.raises(InvalidArgumentError, match="COCO object"):
        load_coco(bad)
    with pytest.raises(InvalidArgumentError, match="not found"):
        load_coco(tmp_path / "missing.json")


def test_url_images_are_kept_as_urls(tmp_path: Path, write_image: Callable[..., Path]) -> None:
    def urls(coco: Coco, root: Path) -> None:
        coco["images"][0] = {
            "id": 1,
            "file_name": "images/gone.png",
            "coco_url": "http://example.com/a.png",
            "width": 64,
            "height": 48,
        }
        coco["images"][1] = {"id": 2, "absolute_url": "https://example.com/b.png", "width": 64, "height": 48}
        coco["images"][2]["coco_url"] = "file:///etc/passwd"

    dataset = load_coco(_make(tmp_path, write_image, urls))
    first, second, third = dataset.images
    assert (first.path, first.url) == (None, "http://example.com/a.png")
    assert (second.path, second.url, second.file_name) == (None, "https://example.com/b.png", "b.png")
    assert third.url is None and third.path is not None  # the bad URL is refused, the local file still used
    report = validate_dataset(dataset)
    assert [(i.kind, i.image_id, i.field) for i in report.errors] == [
        (IssueKind.INVALID_FIELD, 3, "coco_url")
    ]
