"""The evaluations on a tiny synthetic COCO folder with known detections: mAP equal to pycocotools, crowd regions
ignored in the threshold matching, the face proxy (hits, ignored persons, false positives), word and tag matching,
the segment report's shape, and the fewshot recipe on the tiny embedder."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from imagelens.detections import Detections
from imagelens.errors import InvalidArgumentError
from imagelens.evaluation.coco import load_coco
from imagelens.evaluation.detection import evaluate_detector
from imagelens.evaluation.faces import evaluate_faces, hits, score_image
from imagelens.evaluation.features import evaluate_tags, segment_report, sroie_truth, word_flags
from imagelens.evaluation.run import load_rgb

NAMES = ("person", "bicycle", "car")


def detector_for(coco_dir: Path, per_file: dict[str, list[tuple[list[float], float, int]]]) -> object:
    keys = {}
    for name, dets in per_file.items():
        keys[load_rgb(str(coco_dir / "images" / name)).tobytes()[:64]] = dets

    def detect(rgb: np.ndarray) -> Detections:
        dets = keys.get(rgb.tobytes()[:64], [])
        return Detections(
            boxes=np.asarray([d[0] for d in dets], np.float64).reshape(-1, 4),
            scores=np.asarray([d[1] for d in dets], np.float64),
            class_ids=np.asarray([d[2] for d in dets], np.int64),
            class_names=NAMES,
        )

    return detect


DETS = {
    "1.jpg": [([10, 5, 50, 55], 0.9, 0), ([55, 30, 75, 50], 0.8, 2), ([0, 0, 5, 5], 0.4, 2)],
    "2.jpg": [([0, 0, 30, 30], 0.7, 0)],  # on the crowd region only
    "3.jpg": [([41, 11, 70, 55], 0.6, 0), ([0, 0, 10, 10], 0.3, 0)],
}


def test_objects_map_equals_pycocotools_and_threshold_ignores_crowd(coco_dir: Path) -> None:
    coco = load_coco(coco_dir)
    report, curves = evaluate_detector(
        detector_for(coco_dir, DETS), coco, load_rgb, feature="objects", model_id="m", operating_threshold=0.5,
        check_pycocotools=pytest.importorskip("pycocotools") is not None,
    )  # fmt: skip
    m = report.metrics
    assert m["pycocotools_max_abs_diff"] is not None and m["pycocotools_max_abs_diff"] < 1e-6
    assert m["mAP"] == pytest.approx(m["pycocotools_mAP"], abs=1e-6)
    curve = curves["objects IoU 0.5"]
    assert curve.num_positives == 3  # 2 persons + 1 car, the crowd region is no positive
    # the detection on the crowd region is left out: 5 scored detections, 3 right
    assert curve.recall[-1] == pytest.approx(1.0) and curve.precision[-1] == pytest.approx(3 / 5)
    assert m["precision"] == pytest.approx(1.0) and m["recall"] == pytest.approx(1.0)
    assert report.threshold["threshold"] == pytest.approx(0.6) and report.to_dict()["n"] == 3


def test_people_keeps_the_person_class_only(coco_dir: Path) -> None:
    report, curves = evaluate_detector(
        detector_for(coco_dir, DETS), load_coco(coco_dir), load_rgb, feature="people", model_id="m",
        operating_threshold=0.3,
    )  # fmt: skip
    assert curves["people IoU 0.5"].num_positives == 2
    assert report.metrics["AP50"] == pytest.approx(1.0)
    with pytest.raises(InvalidArgumentError):
        evaluate_detector(detector_for(coco_dir, DETS), load_coco(coco_dir), load_rgb, feature="faces",
                          model_id="m", operating_threshold=0.3)  # fmt: skip


def test_face_proxy_hits_ignores_and_false_positives() -> None:
    pts = np.asarray([[30, 20], [35, 15], [25, 15]], np.float64)
    assert hits(np.asarray([20, 8, 40, 28.0]), pts)
    assert not hits(np.asarray([20, 16, 40, 28.0]), pts)  # an eye outside
    assert not hits(np.asarray([0, 0, 200, 200.0]), pts)  # far too large for the face
    anns = [
        {"bbox": [10, 5, 40, 50], "keypoints": [30, 20, 2, 35, 15, 2, 25, 15, 2]},
        {"bbox": [60, 0, 20, 20], "keypoints": [0] * 9},  # a person whose face cannot be scored
    ]
    found = Detections(
        boxes=np.asarray([[20, 8, 40, 28], [21, 8, 40, 28], [62, 2, 70, 10], [0, 40, 8, 48]], np.float64),
        scores=np.asarray([0.9, 0.8, 0.7, 0.6]),
        class_ids=np.zeros(4, np.int64),
        class_names=("face",),
    )
    scores, flags, faces, hit = score_image(found, anns, visible_only=False)
    assert faces == 1 and hit == [True]
    assert scores == [0.9, 0.8, 0.6] and flags == [True, False, False]  # duplicate is wrong; 0.7 ignored
    _, _, none, _ = score_image(found, [{**anns[0], "keypoints": [30, 20, 1, 35, 15, 2, 25, 15, 2]}], True)
    assert none == 0  # visible_only: the nose is labelled but not visible


def test_faces_report(coco_dir: Path) -> None:
    coco = load_coco(coco_dir, ("person_keypoints",))

    def detect(rgb: np.ndarray) -> Detections:
        return Detections(boxes=np.asarray([[20, 8, 40, 28]], np.float64), scores=np.asarray([0.8]),
                          class_ids=np.zeros(1, np.int64), class_names=("face",))  # fmt: skip

    report, curves = evaluate_faces(detect, coco, load_rgb, model_id="f", operating_threshold=0.7)
    assert report.metrics["faces"] == 1 and report.metrics["faces_found"] == 1
    assert report.metrics["recall"] == 1.0
    # image 2: the box is inside the crowd person (no keypoints): ignored; image 3: not inside person 4 -> wrong
    assert curves["faces"].precision[-1] == pytest.approx(1 / 2)


def test_word_and_tag_matching(coco_dir: Path, tmp_path: Path) -> None:
    scores, flags = word_flags(Counter({"total": 1, "rm": 2}), [("TOTAL RM", 0.9), ("rm rm", 0.5)])
    assert flags == [True, True, True, False] and scores == [0.9, 0.9, 0.5, 0.5]
    (tmp_path / "img").mkdir()
    (tmp_path / "box").mkdir()
    (tmp_path / "img" / "001.jpg").write_bytes(b"")
    (tmp_path / "box" / "001.csv").write_text("1,2,3,4,5,6,7,8,TOTAL, 12.00\n")
    assert sroie_truth(tmp_path)[0][1] == ["TOTAL, 12.00"]
    with pytest.raises(InvalidArgumentError):
        sroie_truth(tmp_path / "img")

    def tag(rgb: np.ndarray) -> list[tuple[str, float]]:
        return [("man", 0.9), ("Car", 0.8), ("sky", 0.7), ("person", 0.6), ("automobile", 0.5)]

    report, curves = evaluate_tags(tag, load_coco(coco_dir), load_rgb, model_id="t", operating_threshold=0.5)
    # every image: person right (all have person boxes), car right only in image 1; sky and 'automobile' unscored
    assert curves["tags"].num_positives == 4
    assert report.metrics["precision"] == pytest.approx(4 / 6) and report.metrics["recall"] == pytest.approx(
        1.0
    )


def test_segment_report_shape() -> None:
    raw = {"model": "s", "data": "d", "refine": "none", "ms_per_image": 3.0,
           "person": {"miou": 0.5, "images": 2, "per_image": {"a": 0.4, "b": 0.6}},
           "salient": {"miou": 0.7, "images": 1, "per_image": {"b": 0.7}}}  # fmt: skip
    out = segment_report(raw).to_dict()
    assert out["n"] == 2 and out["metrics"]["mIoU"] == 0.5 and out["metrics"]["salient_mIoU"] == 0.7
    assert out["threshold"] == {}


def test_load_coco_errors(tmp_path: Path, coco_dir: Path) -> None:
    with pytest.raises(InvalidArgumentError):
        load_coco(tmp_path / "absent")
    with pytest.raises(InvalidArgumentError):
        load_coco(coco_dir, ("captions",))
    bad = tmp_path / "bad"
    (bad / "annotations").mkdir(parents=True)
    (bad / "annotations" / "instances_x.json").write_text(
        json.dumps({"images": [{"id": 1, "file_name": "x.jpg"}]})
    )
    with pytest.raises(InvalidArgumentError, match="images"):
        load_coco(bad)


def test_fewshot_through_the_training_recipe_on_the_tiny_embedder(small_hub: object, tmp_path: Path) -> None:
    from PIL import Image

    from imagelens.evaluation.fewshot import evaluate_fewshot

    rows = ["split,path,label"]
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for label, colour in (("red", (220, 20, 20)), ("blue", (20, 20, 220))):
            for i in range(3):
                img = np.clip(np.asarray(colour) + rng.integers(-15, 15, (24, 24, 3)), 0, 255).astype(
                    np.uint8
                )
                name = f"{split}/{label}{i}.png"
                (tmp_path / split).mkdir(exist_ok=True)
                Image.fromarray(img).save(tmp_path / name)
                rows.append(f"{split},{name},{label}")
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    report = evaluate_fewshot(
        small_hub, tmp_path / "labels.csv", model_id="coral-mobilenet-v1-embedding", shots=2
    )  # type: ignore[arg-type]
    d = report.to_dict()
    assert d["model"] == "coral-mobilenet-v1-embedding" and d["n"] == 6
    assert d["metrics"]["ways"] == 2 and d["metrics"]["shots"] == 2
    assert 0.0 <= d["metrics"]["accuracy"] <= 1.0
