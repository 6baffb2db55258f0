"""Synthetic datasets and tiny-model settings shared by the training, jobs and route tests (and checks of them).

Classification: one strongly coloured square filling 60-90 % of a 64x64 image on a dark random background, one
colour per class. The tiny RANDOM SigLIP's embeddings separate such images (measured while writing these tests:
leave-one-out nearest-centroid accuracy 0.97 on 4 colours x 10 images), but NOT small shapes on grey (0.66): the
classes are made separable in that embedding space on purpose, and the tests check the training machinery, not
SigLIP.

Detection: 64x64 grey images with one or two red or blue squares (14-28 px), boxes in pixels.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "green": (30, 200, 40),
    "blue": (30, 40, 220),
}
BOX_COLOURS: dict[str, tuple[int, int, int]] = {"red": (220, 30, 30), "blue": (30, 40, 220)}


def colour_image(colour: tuple[int, int, int], rng: np.random.Generator, size: int = 64) -> np.ndarray:
    img = np.zeros((size, size, 3), np.uint8)
    img[:] = rng.integers(0, 255, 3) // 3 + 40
    side = int(rng.integers(int(size * 0.62), int(size * 0.88)))
    x, y = (int(v) for v in rng.integers(0, size - side + 1, 2))
    img[y : y + side, x : x + side] = np.clip(np.asarray(colour) + rng.integers(-25, 25, 3), 0, 255)
    return img


def box_image(rng: np.random.Generator, size: int = 64) -> tuple[np.ndarray, list[tuple[str, list[float]]]]:
    img = np.full((size, size, 3), 128, np.uint8)
    boxes: list[tuple[str, list[float]]] = []
    names = list(BOX_COLOURS)
    for _ in range(int(rng.integers(1, 3))):
        name = names[int(rng.integers(0, len(names)))]
        side = int(rng.integers(14, 29))
        x, y = (int(v) for v in rng.integers(0, size - side + 1, 2))
        img[y : y + side, x : x + side] = BOX_COLOURS[name]
        boxes.append((name, [float(x), float(y), float(side), float(side)]))
    return img, boxes


def _save(img: np.ndarray, path: Path) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img).save(path)


def write_classification(folder: Path, per_class: int = 6, seed: int = 0, name: str = "train.json") -> Path:
    """A COCO classification file ``folder/name`` with images in ``folder/images``; returns the file."""
    rng = np.random.default_rng(seed)
    images, annotations = [], []
    categories = [{"id": i + 1, "name": n} for i, n in enumerate(COLOURS)]
    for cat in categories:
        for _ in range(per_class):
            image_id = len(images) + 1
            file_name = f"images/{Path(name).stem}_{image_id:03d}.png"
            _save(colour_image(COLOURS[cat["name"]], rng), folder / file_name)
            images.append({"id": image_id, "file_name": file_name, "width": 64, "height": 64})
            annotations.append({"id": image_id, "image_id": image_id, "category_id": cat["id"]})
    target = folder / name
    target.write_text(json.dumps({"images": images, "annotations": annotations, "categories": categories}))
    return target


def write_detection(folder: Path, count: int = 20, seed: int = 0, name: str = "boxes.json") -> Path:
    """A COCO detection file (pixel boxes) ``folder/name`` with images in ``folder/images``."""
    rng = np.random.default_rng(seed)
    ids = {n: i + 1 for i, n in enumerate(BOX_COLOURS)}
    images, annotations = [], []
    for image_id in range(1, count + 1):
        img, boxes = box_image(rng)
        file_name = f"images/{Path(name).stem}_{image_id:03d}.png"
        _save(img, folder / file_name)
        images.append({"id": image_id, "file_name": file_name, "width": 64, "height": 64})
        for label, bbox in boxes:
            annotations.append(
                {"id": len(annotations) + 1, "image_id": image_id, "category_id": ids[label], "bbox": bbox,
                 "area": bbox[2] * bbox[3], "iscrowd": 0}
            )  # fmt: skip
    categories = [{"id": i, "name": n} for n, i in ids.items()]
    target = folder / name
    target.write_text(json.dumps({"images": images, "annotations": annotations, "categories": categories}))
    return target


def make_settings(model_dir: Path, tmp: Path, **training: object) -> object:
    """Settings for customization tests: tiny models, a store and a data folder under ``tmp``, jobs in threads."""
    from imagelens.config import HubSettings, Settings, TrainingSettings

    (tmp / "data").mkdir(parents=True, exist_ok=True)
    return Settings(
        model_dir=model_dir,
        hub=HubSettings(offline=True),
        data_dir=tmp / "data",
        store_dir=tmp / "store",
        training=TrainingSettings(**{"isolation": "thread", **training}),
    )


# --- checks of the generators themselves --------------------------------------------------------------------------


def test_synthetic_datasets_are_valid(tmp_path: Path) -> None:
    from imagelens.customize.dataset import import_dataset

    cls, report = import_dataset(write_classification(tmp_path, per_class=2))
    assert report.ok and cls.kind == "classification" and len(cls.images) == 2 * len(COLOURS)
    det, report = import_dataset(write_detection(tmp_path, count=5))
    assert report.ok and det.kind == "detection" and len(det.images) == 5
    assert all(a.bbox[0] >= 0 and a.bbox[0] + a.bbox[2] <= 64 for a in det.annotations if a.bbox)


def test_generators_are_deterministic(tmp_path: Path) -> None:
    a = write_detection(tmp_path / "a", count=3, seed=7).read_text()
    b = write_detection(tmp_path / "b", count=3, seed=7).read_text()
    c = write_detection(tmp_path / "c", count=3, seed=8).read_text()
    assert a == b and a != c
