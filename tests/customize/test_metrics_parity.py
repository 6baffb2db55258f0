"""Detection AP equals pycocotools' COCOeval (the reference, used only here) on random and edge-case inputs.

Run ``pytest tests/customize/test_metrics_parity.py -s`` to print the parity table recorded in
benchmarks/metrics_parity.md.
"""

from __future__ import annotations

import contextlib
import copy
import io
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imagelens.customize.metrics import evaluate_coco_detection

pytest.importorskip("pycocotools")

TOL = 1e-6
Coco = dict[str, Any]


def reference(gt: Coco, preds: list[dict[str, Any]]) -> dict[str, Any]:
    """COCOeval's mAP@[.5:.95], @.5, @.75 (from summarize), mAP@.3 (iouThrs=[0.3]) and the precision array."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    def run(iou_thrs: np.ndarray | None) -> COCOeval:
        coco_gt = COCO()
        coco_gt.dataset = copy.deepcopy(gt)
        coco_gt.createIndex()
        if preds:
            coco_dt = coco_gt.loadRes(copy.deepcopy(preds))
        else:  # loadRes cannot take an empty list
            coco_dt = COCO()
            coco_dt.dataset = {"images": gt["images"], "categories": gt["categories"], "annotations": []}
            coco_dt.createIndex()
        ev = COCOeval(coco_gt, coco_dt, "bbox")
        if iou_thrs is not None:
            ev.params.iouThrs = iou_thrs
        ev.evaluate()
        ev.accumulate()
        return ev

    with contextlib.redirect_stdout(io.StringIO()):
        ev = run(None)
        ev.summarize()
        ev30 = run(np.array([0.3]))
    p30 = ev30.eval["precision"][0, :, :, 0, 2]
    return {
        "map50_95": ev.stats[0],
        "map50": ev.stats[1],
        "map75": ev.stats[2],
        "map30": float(np.mean(p30[p30 > -1])) if np.any(p30 > -1) else -1.0,
        "precision": ev.eval["precision"][:, :, :, 0, 2],
    }


def differences(gt: Coco, preds: list[dict[str, Any]]) -> dict[str, float]:
    """|ours - COCOeval| per summary number; a quantity COCOeval leaves undefined (-1) must be None here."""
    ref = reference(gt, preds)
    ours = evaluate_coco_detection(gt, preds)
    out = {}
    for key in ("map50_95", "map50", "map75", "map30"):
        value = getattr(ours, key)
        if ref[key] == -1:
            assert value is None, f"{key}: COCOeval has no value (-1) but we returned {value}"
            out[key] = 0.0
        else:
            assert value is not None, f"{key}: COCOeval gives {ref[key]} but we returned None"
            out[key] = abs(value - ref[key])
    out["precision"] = float(np.max(np.abs(ours.precision[1:] - ref["precision"]), initial=0.0))
    return out


def random_case(rng: np.random.Generator) -> tuple[Coco, list[dict[str, Any]]]:
    """Jittered copies of ground-truth boxes (some relabelled), random false positives, tied scores, crowd boxes,
    images and categories without ground truth."""
    n_img, n_cat = int(rng.integers(1, 7)), int(rng.integers(1, 5))
    images = [
        {"id": int(i), "width": 200, "height": 200} for i in rng.permutation(np.arange(1, n_img + 1) * 3)
    ]
    cats = [{"id": c + 1, "name": f"c{c + 1}"} for c in range(n_cat)]
    anns: list[dict[str, Any]] = []
    preds: list[dict[str, Any]] = []
    for im in images:
        for _ in range(int(rng.integers(0, 7))):
            x, y = rng.uniform(0, 150, 2)
            w, h = rng.uniform(2, 60, 2)
            cat = int(rng.integers(1, n_cat + 1))
            crowd = int(rng.random() < 0.08)
            anns.append(
                {"id": len(anns) + 1, "image_id": im["id"], "category_id": cat, "bbox": [x, y, w, h],
                 "area": w * h, "iscrowd": crowd}
            )  # fmt: skip
            for _ in range(int(rng.integers(0, 3))):
                j = rng.normal(0, 0.15, 4) * [w, h, w, h]
                label = cat if rng.random() < 0.8 else int(rng.integers(1, n_cat + 1))
                score = float(np.round(rng.random(), 1)) if rng.random() < 0.5 else float(rng.random())
                preds.append(
                    {"image_id": im["id"], "category_id": label,
                     "bbox": [x + j[0], y + j[1], max(w + j[2], 0.5), max(h + j[3], 0.5)], "score": score}
                )  # fmt: skip
        for _ in range(int(rng.integers(0, 4))):
            x, y = rng.uniform(0, 150, 2)
            w, h = rng.uniform(2, 60, 2)
            preds.append(
                {"image_id": im["id"], "category_id": int(rng.integers(1, n_cat + 1)), "bbox": [x, y, w, h],
                 "score": float(rng.random())}
            )  # fmt: skip
    order = rng.permutation(len(preds))
    return {"images": images, "categories": cats, "annotations": anns}, [preds[i] for i in order]


def parity_over_random_trials(trials: int, seed: int = 0) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    worst = {"map50_95": 0.0, "map50": 0.0, "map75": 0.0, "map30": 0.0, "precision": 0.0}
    for _ in range(trials):
        gt, preds = random_case(rng)
        for key, value in differences(gt, preds).items():
            worst[key] = max(worst[key], value)
    return worst


def test_random_trials_match_cocoeval() -> None:
    worst = parity_over_random_trials(150, seed=0)
    print(f"\nparity over 150 random trials, max |ours - COCOeval|: {worst}")
    assert all(v <= TOL for v in worst.values()), worst


box = st.tuples(
    st.integers(0, 8), st.integers(0, 8), st.integers(1, 10), st.integers(1, 10)
)  # a coarse grid makes exact IoU ties (and IoU exactly on a threshold) common


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    gt_boxes=st.lists(st.tuples(st.integers(1, 2), st.integers(1, 2), box, st.booleans()), max_size=8),
    pred_boxes=st.lists(st.tuples(st.integers(1, 2), st.integers(1, 2), box, st.integers(0, 4)), max_size=12),
)
def test_property_grid_boxes_match_cocoeval(
    gt_boxes: list[tuple[int, int, tuple[int, int, int, int], bool]],
    pred_boxes: list[tuple[int, int, tuple[int, int, int, int], int]],
) -> None:
    gt = {
        "images": [{"id": i} for i in (1, 2, 3)],
        "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}],
        "annotations": [
            {
                "id": n + 1,
                "image_id": im,
                "category_id": c,
                "bbox": list(b),
                "area": b[2] * b[3],
                "iscrowd": int(cr and n % 3 == 0),
            }
            for n, (im, c, b, cr) in enumerate(gt_boxes)
        ],
    }
    preds = [
        {"image_id": im, "category_id": c, "bbox": list(b), "score": s / 4} for im, c, b, s in pred_boxes
    ]
    diff = differences(gt, preds)
    assert all(v <= TOL for v in diff.values()), diff


def _gt(
    anns: list[tuple[int, int, list[float]]],
    n_images: int = 2,
    n_cats: int = 2,
    crowd: frozenset[int] = frozenset(),
) -> Coco:
    return {
        "images": [{"id": i + 1} for i in range(n_images)],
        "categories": [{"id": c + 1, "name": f"c{c + 1}"} for c in range(n_cats)],
        "annotations": [
            {
                "id": n + 1,
                "image_id": im,
                "category_id": c,
                "bbox": b,
                "area": b[2] * b[3],
                "iscrowd": int(n in crowd),
            }
            for n, (im, c, b) in enumerate(anns)
        ],
    }


BASE = [(1, 1, [10.0, 10.0, 20.0, 20.0]), (1, 2, [50.0, 50.0, 30.0, 10.0]), (2, 1, [0.0, 0.0, 5.0, 5.0])]


def _perfect(gt: Coco) -> list[dict[str, Any]]:
    return [
        {"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": 0.9}
        for a in gt["annotations"]
    ]


def _edge_cases() -> dict[str, tuple[Coco, list[dict[str, Any]]]]:
    gt = _gt(BASE)
    perfect = _perfect(gt)
    many = [
        {"image_id": 1, "category_id": 1, "bbox": [10.0 + i, 10.0, 20.0, 20.0], "score": 1 - i / 200}
        for i in range(150)
    ]
    return {
        "no predictions": (gt, []),
        "perfect": (gt, perfect),
        "all wrong category": (gt, [{**p, "category_id": 3 - p["category_id"]} for p in perfect]),
        "all wrong place": (gt, [{**p, "bbox": [150.0, 150.0, 5.0, 5.0]} for p in perfect]),
        "duplicates": (gt, perfect + perfect + [{**p, "score": 0.95} for p in perfect]),
        "category without ground truth": (
            _gt(BASE, n_cats=3),
            perfect + [{"image_id": 1, "category_id": 3, "bbox": [1.0, 1.0, 4.0, 4.0], "score": 0.99}],
        ),
        "image without ground truth": (
            _gt(BASE, n_images=3),
            perfect + [{"image_id": 3, "category_id": 1, "bbox": [1.0, 1.0, 4.0, 4.0], "score": 0.99}],
        ),
        "crowd box": (
            _gt([*BASE, (1, 1, [60.0, 0.0, 40.0, 40.0])], crowd=frozenset({3})),
            perfect + [{"image_id": 1, "category_id": 1, "bbox": [62.0, 2.0, 10.0, 10.0], "score": 0.97}] * 3,
        ),
        "only crowd ground truth": (
            _gt([(1, 1, [0.0, 0.0, 10.0, 10.0])], crowd=frozenset({0})),
            [{"image_id": 1, "category_id": 1, "bbox": [0.0, 0.0, 10.0, 10.0], "score": 0.5}],
        ),
        "no ground truth at all": (
            _gt([]),
            [{"image_id": 1, "category_id": 1, "bbox": [0.0, 0.0, 10.0, 10.0], "score": 0.5}],
        ),
        "more than 100 detections": (gt, many),
        "tied scores": (
            gt,
            [{**p, "score": 0.5} for p in perfect]
            + [{"image_id": 1, "category_id": 1, "bbox": [12.0, 10.0, 20.0, 20.0], "score": 0.5}],
        ),
        "IoU exactly 0.5": (
            _gt([(1, 1, [0.0, 0.0, 10.0, 10.0])]),
            [{"image_id": 1, "category_id": 1, "bbox": [0.0, 0.0, 20.0, 10.0], "score": 0.5}],
        ),
        "IoU tie between two ground truths (0.30)": (
            _gt([(1, 1, [0.0, 0.0, 10.0, 10.0]), (1, 1, [10.0, 0.0, 10.0, 10.0])]),
            [
                {"image_id": 1, "category_id": 1, "bbox": [5.0, 0.0, 10.0, 10.0], "score": 0.9},
                {"image_id": 1, "category_id": 1, "bbox": [0.0, 0.0, 10.0, 10.0], "score": 0.8},
            ],
        ),  # fmt: skip
        "IoU tie between two ground truths (0.82)": (
            _gt([(1, 1, [0.0, 0.0, 10.0, 10.0]), (1, 1, [2.0, 0.0, 10.0, 10.0])]),
            [
                {"image_id": 1, "category_id": 1, "bbox": [1.0, 0.0, 10.0, 10.0], "score": 0.9},
                {"image_id": 1, "category_id": 1, "bbox": [0.0, 0.0, 10.0, 10.0], "score": 0.8},
            ],
        ),  # fmt: skip
        "huge area ignored": (
            _gt([(1, 1, [0.0, 0.0, 2e5, 2e5])]),
            [{"image_id": 1, "category_id": 1, "bbox": [0.0, 0.0, 2e5, 2e5], "score": 0.5}],
        ),
    }


@pytest.mark.parametrize("case", list(_edge_cases()))
def test_edge_case_matches_cocoeval(case: str) -> None:
    gt, preds = _edge_cases()[case]
    diff = differences(gt, preds)
    assert all(v <= TOL for v in diff.values()), (case, diff)


def test_edge_case_values_are_what_they_should_be() -> None:
    """Not only equal to COCOeval: perfect is 1, nothing predicted or all wrong is 0, no ground truth is None."""
    cases = _edge_cases()
    assert evaluate_coco_detection(*cases["perfect"]).map50_95 == pytest.approx(1.0)
    assert evaluate_coco_detection(*cases["no predictions"]).map50_95 == 0.0
    assert evaluate_coco_detection(*cases["all wrong place"]).map50 == 0.0
    assert evaluate_coco_detection(*cases["no ground truth at all"]).map50 is None
    assert evaluate_coco_detection(*cases["only crowd ground truth"]).map50 is None
    with_extra = evaluate_coco_detection(*cases["category without ground truth"])
    assert with_extra.per_class[2].ap50 is None and with_extra.map50 == pytest.approx(1.0)
