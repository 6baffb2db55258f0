"""COCO and CSV import/export, normalized (Azure) boxes, the deterministic stratified split, real datasets."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from imagelens.customize.coco import (
    detect_bbox_format,
    load_coco,
    parse_coco,
    to_coco,
    write_coco,
    write_dataset,
)
from imagelens.customize.dataset import (
    Annotation,
    Category,
    Dataset,
    ImageRecord,
    import_dataset,
    load_classification_csv,
    load_dataset,
    split_dataset,
    validate_dataset,
)
from imagelens.errors import InvalidArgumentError


def _detection(tmp_path: Path, write_image: Callable[..., Path]) -> Path:
    root = tmp_path / "ds"
    write_image(root / "a.png", 100, 50)
    write_image(root / "b.png", 80, 40)
    coco = {
        "images": [
            {"id": 1, "file_name": "a.png", "width": 100, "height": 50},
            {"id": 2, "file_name": "b.png"},
        ],
        "categories": [{"id": 3, "name": "cell", "supercategory": "blood"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 3, "bbox": [10, 5, 20, 10], "iscrowd": 0, "difficult": 1},
            {"id": 2, "image_id": 2, "category_id": 3, "bbox": [0, 0, 80, 40], "iscrowd": 0},
        ],
    }
    (root / "annotations.json").write_text(json.dumps(coco))
    return root / "annotations.json"


def test_normalized_boxes_are_detected_and_converted_to_pixels(
    tmp_path: Path, write_image: Callable[..., Path]
) -> None:
    pixels = load_coco(_detection(tmp_path, write_image))
    azure = to_coco(pixels, bbox_format="normalized")
    assert azure["annotations"][0]["bbox"] == [0.1, 0.1, 0.2, 0.2]
    assert detect_bbox_format([a["bbox"] for a in azure["annotations"]]) == "normalized"
    back = parse_coco(azure, root=pixels.root)  # type: ignore[arg-type]
    assert back.bbox_format == "normalized"
    for a, b in zip(pixels.annotations, back.annotations, strict=True):
        assert a.bbox == pytest.approx(b.bbox)
    # Image 2 has no declared size: it was read from the file header (80x40) for the conversion.
    assert back.annotations[1].bbox == pytest.approx((0, 0, 80, 40))
    declared = parse_coco(azure, root=pixels.root, bbox_format="pixels")  # type: ignore[arg-type]
    assert declared.bbox_format == "pixels" and declared.annotations[0].bbox == pytest.approx(
        (0.1, 0.1, 0.2, 0.2)
    )


def test_pixel_export_round_trips_and_keeps_extra_fields(
    tmp_path: Path, write_image: Callable[..., Path]
) -> None:
    original = load_coco(_detection(tmp_path, write_image))
    out = write_coco(original, tmp_path / "out" / "copy.json")
    data = json.loads(out.read_text())
    assert data["annotations"][0]["difficult"] == 1 and data["categories"][0]["supercategory"] == "blood"
    again = parse_coco(data, root=original.root)  # type: ignore[arg-type]

    def key(a: Annotation) -> tuple[object, ...]:
        return (a.id, a.image_id, a.category_id, a.bbox, a.iscrowd, dict(a.extra))

    assert [key(a) for a in again.annotations] == [key(a) for a in original.annotations]
    assert again.annotations[0].area == 200.0  # written as w * h when the source had none
    assert again.categories == original.categories
    assert [im.path for im in again.images] == [im.path for im in original.images]


def test_normalized_export_needs_every_image_size() -> None:
    ds = Dataset(
        "detection", (Category(1, "x"),), (ImageRecord(1, "a.png"),), (Annotation(1, 1, 1, (0, 0, 1, 1)),)
    )
    with pytest.raises(InvalidArgumentError, match="size of image 1"):
        to_coco(ds, bbox_format="normalized")


def test_write_dataset_makes_a_self_contained_folder(
    tmp_path: Path, write_image: Callable[..., Path]
) -> None:
    dataset, _ = import_dataset(_detection(tmp_path, write_image), min_images_per_class=1)
    target = write_dataset(dataset, tmp_path / "copy")
    assert (tmp_path / "copy" / "images" / "a.png").is_file()
    copy, report = import_dataset(target, min_images_per_class=1)
    assert report.ok and [a.bbox for a in copy.annotations] == [a.bbox for a in dataset.annotations]
    with pytest.raises(InvalidArgumentError, match="exists"):
        write_dataset(dataset, tmp_path / "copy")


def _classification(n_per_class: dict[str, int]) -> Dataset:
    cats = tuple(Category(i + 1, name) for i, name in enumerate(n_per_class))
    images, anns = [], []
    for cat in cats:
        for _ in range(n_per_class[cat.name]):
            n = len(images) + 1
            images.append(ImageRecord(n, f"{cat.name}/{n}.jpg"))
            anns.append(Annotation(n, n, cat.id))
    return Dataset("classification", cats, tuple(images), tuple(anns))


def test_split_is_stratified_deterministic_and_order_independent() -> None:
    ds = _classification({"a": 10, "b": 10, "c": 5, "d": 2, "e": 1})
    train, val = split_dataset(ds, validation_fraction=0.2, seed=7)
    val_counts = Counter(val.image_labels().values())
    assert val_counts == {
        1: 2,
        2: 2,
        3: 1,
        4: 1,
    }  # 20 % of 10, 10, 5; 2 -> at least one; a single image stays in train
    assert {im.id for im in train.images}.isdisjoint(im.id for im in val.images)
    assert len(train.images) + len(val.images) == len(ds.images)
    assert {a.image_id for a in val.annotations} == {im.id for im in val.images}
    again = split_dataset(ds, validation_fraction=0.2, seed=7)[1]
    shuffled = Dataset(ds.kind, ds.categories, ds.images[::-1], ds.annotations[::-1])
    assert {im.id for im in again.images} == {im.id for im in val.images}
    assert {im.id for im in split_dataset(shuffled, validation_fraction=0.2, seed=7)[1].images} == {
        im.id for im in val.images
    }
    other = {im.id for im in split_dataset(ds, validation_fraction=0.2, seed=8)[1].images}
    assert other != {im.id for im in val.images}


def test_split_of_detection_uses_the_rarest_class() -> None:
    cats = (Category(1, "common"), Category(2, "rare"))
    images = tuple(ImageRecord(i, f"{i}.jpg") for i in range(1, 11))
    anns = [Annotation(i, i, 1, (0, 0, 1, 1)) for i in range(1, 11)]
    anns += [Annotation(100 + i, i, 2, (0, 0, 1, 1)) for i in (1, 2, 3, 4)]
    train, val = split_dataset(Dataset("detection", cats, images, tuple(anns)), validation_fraction=0.25)
    for part in (train, val):
        assert part.images_per_category()[2] >= 1  # the rare class is on both sides


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 2.0])
def test_split_fraction_must_be_between_0_and_1(fraction: float) -> None:
    with pytest.raises(InvalidArgumentError, match=r"in \(0, 1\)"):
        split_dataset(_classification({"a": 4}), validation_fraction=fraction)


def test_csv_importer_finds_columns_and_numbers_classes(
    tmp_path: Path, write_image: Callable[..., Path]
) -> None:
    for name in ("x/1.png", "x/2.png", "y/3.png", "y/4.png"):
        write_image(tmp_path / name)
    (tmp_path / "labels.csv").write_text(
        "file_name,class,split\nx/1.png,zebra,train\nx/2.png,zebra,val\ny/3.png,ant,train\ny/4.png,ant,val\n"
    )
    ds = load_dataset(tmp_path)
    assert [(c.id, c.name) for c in ds.categories] == [(1, "ant"), (2, "zebra")]
    assert ds.image_labels() == {1: 2, 2: 2, 3: 1, 4: 1}
    assert validate_dataset(ds).ok
    only_train = load_classification_csv(tmp_path / "labels.csv", split="train")
    assert [im.file_name for im in only_train.images] == ["x/1.png", "y/3.png"]
    exported = to_coco(ds)
    assert exported["images"][0]["file_name"] == "x/1.png" and "bbox" not in exported["annotations"][0]


def test_csv_problems_are_reported(tmp_path: Path) -> None:
    (tmp_path / "bad.csv").write_text("path,label\n../escape.png,a\n")
    report = validate_dataset(load_classification_csv(tmp_path / "bad.csv"))
    assert "path_escape" in report.counts()
    (tmp_path / "nolabel.csv").write_text("path,colour\na.png,red\n")
    with pytest.raises(InvalidArgumentError, match="no label column"):
        load_classification_csv(tmp_path / "nolabel.csv")
    with pytest.raises(InvalidArgumentError, match="no CSV row has split == 'test'"):
        (tmp_path / "s.csv").write_text("path,label,split\na.png,x,train\n")
        load_classification_csv(tmp_path / "s.csv", split="test")


@pytest.mark.realdata
@pytest.mark.parametrize(
    ("split", "images", "boxes", "per_class"),
    [("train40", 40, 705, (606, 45, 54)), ("test", 72, 945, (805, 71, 69))],
)
def test_bccd_imports_and_validates_cleanly(
    bccd_dir: Path, split: str, images: int, boxes: int, per_class: tuple[int, ...]
) -> None:
    dataset, report = import_dataset(bccd_dir / "annotations" / f"instances_{split}.json")
    assert report.issues == ()
    assert dataset.kind == "detection" and dataset.bbox_format == "pixels"
    assert (
        dataset.root == (bccd_dir / "JPEGImages").resolve()
    )  # found next to annotations/ without --image-root
    assert (len(dataset.images), len(dataset.annotations)) == (images, boxes)
    counts = Counter(a.category_id for a in dataset.annotations)
    assert (counts[1], counts[2], counts[3]) == per_class
    assert [c.name for c in dataset.categories] == ["RBC", "WBC", "Platelets"]
    train, val = split_dataset(dataset, validation_fraction=0.2, seed=0)
    assert all(n >= 1 for n in val.images_per_category().values())


@pytest.mark.realdata
def test_grocery_csv_imports_and_validates_cleanly(grocery_dir: Path) -> None:
    dataset, report = import_dataset(grocery_dir / "labels.csv")
    assert report.issues == ()
    assert dataset.kind == "classification" and len(dataset.images) == 200 and len(dataset.categories) == 10
    assert set(dataset.images_per_category().values()) == {20}
    names = dataset.category_names()
    assert names[6] == "Banana"  # upstream ids are kept
    train, _ = import_dataset(grocery_dir / "labels.csv", split="train")
    assert len(train.images) == 100 and set(train.images_per_category().values()) == {10}
