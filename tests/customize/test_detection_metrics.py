"""Detection metrics on hand-computed examples, input checks, and the array API."""

from __future__ import annotations

import numpy as np
import pytest

from imagelens.customize.metrics import (
    DetectionGroundTruth,
    DetectionPredictions,
    coco_box_iou,
    evaluate_coco_detection,
    evaluate_detection,
)
from imagelens.errors import InvalidArgumentError


def _gt(*boxes: list[float], image_id: int = 1, category_id: int = 1) -> dict:
    return {
        "images": [{"id": image_id}],
        "categories": [{"id": category_id, "name": "cell"}],
        "annotations": [
            {"id": i + 1, "image_id": image_id, "category_id": category_id, "bbox": b, "iscrowd": 0}
            for i, b in enumerate(boxes)
        ],
    }


def _pred(box: list[float], score: float, image_id: int = 1, category_id: int = 1) -> dict:
    return {"image_id": image_id, "category_id": category_id, "bbox": box, "score": score}


def test_false_positive_ranked_first_halves_ap() -> None:
    # FP (0.9) then TP (0.8): precision envelope 0.5 at every recall threshold -> AP 0.5 at every IoU.
    m = evaluate_coco_detection(
        _gt([0, 0, 10, 10]), [_pred([50, 50, 10, 10], 0.9), _pred([0, 0, 10, 10], 0.8)]
    )
    assert m.map50 == pytest.approx(0.5)
    assert m.map50_95 == pytest.approx(0.5)
    assert m.per_class[0].recall50 == 1.0


def test_two_ground_truths_tp_fp_tp() -> None:
    # recall [.5, .5, 1], precision [1, .5, 2/3] -> envelope [1, 2/3, 2/3];
    # 51 recall thresholds <= 0.5 get 1.0, the other 50 get 2/3.
    gt = _gt([0, 0, 10, 10], [20, 20, 10, 10])
    preds = [_pred([0, 0, 10, 10], 0.9), _pred([60, 60, 5, 5], 0.8), _pred([20, 20, 10, 10], 0.7)]
    expected = (51 * 1.0 + 50 * (2 / 3)) / 101
    m = evaluate_coco_detection(gt, preds)
    assert m.map50 == pytest.approx(expected)
    assert m.map30 == pytest.approx(expected)
    assert m.per_class[0].num_ground_truth == 2 and m.per_class[0].num_predictions == 3


def test_iou_threshold_decides_between_map30_and_map50() -> None:
    # IoU of [0,0,10,10] and [0,0,25,10] is 0.4: a hit at 0.30, a miss at 0.50.
    m = evaluate_coco_detection(_gt([0, 0, 10, 10]), [_pred([0, 0, 25, 10], 0.5)])
    assert m.map30 == pytest.approx(1.0)
    assert m.map50 == 0.0 and m.map75 == 0.0 and m.map50_95 == 0.0


def test_max_detections_keeps_the_best_per_image() -> None:
    gt = _gt([0, 0, 10, 10])
    low_true = [_pred([90, 90, 5, 5], 0.9)] * 3 + [_pred([0, 0, 10, 10], 0.1)]
    assert evaluate_coco_detection(gt, low_true, max_detections=3).map50 == 0.0
    assert evaluate_coco_detection(gt, low_true, max_detections=4).map50 == pytest.approx(0.25)


def test_crowd_iou_uses_detection_area() -> None:
    dt = np.array([[0.0, 0.0, 10.0, 10.0]])
    gt = np.array([[0.0, 0.0, 100.0, 100.0], [0.0, 0.0, 100.0, 100.0]])
    ious = coco_box_iou(dt, gt, np.array([True, False]))
    assert ious[0, 0] == 1.0  # the detection lies inside the crowd region
    assert ious[0, 1] == pytest.approx(0.01)


def test_array_api_matches_coco_dict_api_and_order_does_not_matter() -> None:
    rng = np.random.default_rng(3)
    boxes = np.c_[rng.uniform(0, 50, (12, 2)), rng.uniform(5, 20, (12, 2))]
    gt = DetectionGroundTruth.create(
        image_ids=np.repeat([1, 2, 3], 4), category_ids=np.tile([1, 2], 6), boxes=boxes
    )
    pboxes = boxes + rng.normal(0, 1.5, boxes.shape)
    scores = rng.random(12)
    preds = DetectionPredictions.create(np.repeat([1, 2, 3], 4), np.tile([1, 2], 6), pboxes, scores)
    a = evaluate_detection(gt, preds)
    perm = rng.permutation(12)
    b = evaluate_detection(
        gt,
        DetectionPredictions.create(
            preds.image_ids[perm], preds.category_ids[perm], pboxes[perm], scores[perm]
        ),
    )
    assert a.map50_95 == pytest.approx(b.map50_95, abs=1e-12)
    coco = {
        "images": [{"id": i} for i in (1, 2, 3)],
        "categories": [{"id": 1, "name": "1"}, {"id": 2, "name": "2"}],
        "annotations": [
            {"id": n + 1, "image_id": int(i), "category_id": int(c), "bbox": box.tolist(), "iscrowd": 0}
            for n, (i, c, box) in enumerate(zip(gt.image_ids, gt.category_ids, boxes, strict=True))
        ],
    }
    results = [
        {"image_id": int(i), "category_id": int(c), "bbox": box.tolist(), "score": float(s)}
        for i, c, box, s in zip(preds.image_ids, preds.category_ids, pboxes, scores, strict=True)
    ]
    assert evaluate_coco_detection(coco, results).map50_95 == pytest.approx(a.map50_95, abs=1e-12)


def test_predictions_of_unknown_categories_are_ignored_and_counted() -> None:
    m = evaluate_coco_detection(
        _gt([0, 0, 10, 10]), [_pred([0, 0, 10, 10], 0.9), _pred([0, 0, 10, 10], 0.95, category_id=7)]
    )
    assert m.map50 == pytest.approx(1.0)
    assert m.ignored_predictions == 1
    assert [c.category_id for c in m.per_class] == [1]


@pytest.mark.parametrize(
    ("preds", "fragment"),
    [
        ([_pred([0, 0, 10, 10], 0.9, image_id=99)], "not in the ground truth"),
        ([{"image_id": 1, "category_id": 1, "bbox": [0, 0, 10], "score": 0.5}], "predictions[0].bbox"),
        (
            [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "score": "high"}],
            "predictions[0].score",
        ),
        ([{"image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10]}], "no 'score' field"),
        ({"image_id": 1}, "must be a JSON list"),
    ],
)
def test_bad_predictions_are_refused_with_the_entry_named(preds: object, fragment: str) -> None:
    with pytest.raises(InvalidArgumentError, match=fragment.replace("[", r"\[").replace("]", r"\]")):
        evaluate_coco_detection(_gt([0, 0, 10, 10]), preds)  # type: ignore[arg-type]


def test_bad_ground_truth_is_refused() -> None:
    with pytest.raises(InvalidArgumentError, match="'images' and 'annotations'"):
        evaluate_coco_detection({"annotations": []}, [])
    bad = _gt([0, 0, 10, 10])
    bad["annotations"][0]["bbox"] = [0, 0, float("nan"), 1]
    with pytest.raises(InvalidArgumentError, match="annotation 1 field bbox"):
        evaluate_coco_detection(bad, [])
    with pytest.raises(InvalidArgumentError, match=r"shape \(N, 4\)"):
        DetectionGroundTruth.create([1], [1], [[0, 0, 1]])
    with pytest.raises(InvalidArgumentError, match="must have 2 entries"):
        DetectionPredictions.create([1], [1, 1], [[0, 0, 1, 1], [0, 0, 1, 1]], [0.1, 0.2])


def test_to_dict_has_the_cli_keys() -> None:
    out = evaluate_coco_detection(_gt([0, 0, 10, 10]), [_pred([0, 0, 10, 10], 0.9)]).to_dict()
    assert {"map30", "map50", "map75", "map50_95", "per_class"} <= set(out)
    assert out["per_class"][0]["name"] == "cell"
