"""``faces``: a face detector against faces derived from COCO person keypoints (COCO has no face boxes).

The face set: every ``person`` annotation of a ``person_keypoints*.json`` whose nose and both eyes are labelled
(``v > 0``; ``visible_only``: ``v == 2``). A detected box **hits** such a face when it contains the three keypoints
and is not absurdly large for it (width at most :data:`MAX_SCALE` times the largest distance between the three
points, at least 8 px). Scoring, best score first, each detection:

* hits a face not hit yet -> true positive;
* else, when its centre lies inside the box of a person whose face is not in the set (keypoints missing: turned
  away, too small, a crowd), it is ignored (neither true nor false: that face cannot be scored);
* else -> false positive (a second box on a face already hit, a face on a poster or screen, no face at all).

``recall`` is at the model's operating threshold; ``AP`` is COCO's 101-point interpolated AP of that ranking.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from imagelens.detections import Detections
from imagelens.evaluation.coco import CocoFolder
from imagelens.evaluation.detection import operating_point
from imagelens.evaluation.report import EvalReport
from imagelens.evaluation.thresholds import PRCurve, pr_curve, threshold_for_precision

MAX_SCALE = 8.0
MIN_SIDE = 8.0
FACE_POINTS = (0, 1, 2)  # nose, left eye, right eye in COCO's 17 keypoints


def face_points(ann: dict[str, Any], visible_only: bool = False) -> npt.NDArray[np.float64] | None:
    """The (3, 2) nose/left-eye/right-eye points of a person, or None when any is not labelled."""
    kp = ann.get("keypoints") or []
    if len(kp) < 9:
        return None
    pts = np.asarray(kp[:9], np.float64).reshape(3, 3)
    v = pts[:, 2]
    if (visible_only and not np.all(v == 2)) or not np.all(v > 0):
        return None
    return pts[:, :2]


def hits(box: npt.NDArray[np.float64], pts: npt.NDArray[np.float64]) -> bool:
    x1, y1, x2, y2 = box
    inside = bool(np.all((pts[:, 0] >= x1) & (pts[:, 0] <= x2) & (pts[:, 1] >= y1) & (pts[:, 1] <= y2)))
    spread = max(float(np.max(np.linalg.norm(pts[:, None] - pts[None], axis=2))), MIN_SIDE / MAX_SCALE)
    return inside and (x2 - x1) <= MAX_SCALE * spread


def score_image(
    found: Detections, anns: list[dict[str, Any]], visible_only: bool
) -> tuple[list[float], list[bool], int, list[bool]]:
    """``(scores, is_tp, faces, hit per face)`` for one image (ignored detections left out)."""
    faces, ignore = [], []
    for ann in anns:
        pts = face_points(ann, visible_only)
        if pts is not None:
            faces.append(pts)
        elif ann.get("bbox"):
            x, y, w, h = ann["bbox"]
            ignore.append((x, y, x + w, y + h))
    hit = [False] * len(faces)
    scores: list[float] = []
    flags: list[bool] = []
    for box, score in zip(found.boxes, found.scores, strict=True):
        best = -1
        best_d = np.inf
        for j, pts in enumerate(faces):
            if not hit[j] and hits(box, pts):
                d = float(np.linalg.norm(pts.mean(axis=0) - [(box[0] + box[2]) / 2, (box[1] + box[3]) / 2]))
                if d < best_d:
                    best, best_d = j, d
        if best >= 0:
            hit[best] = True
            scores.append(float(score))
            flags.append(True)
            continue
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        if any(x1 <= cx <= x2 and y1 <= cy <= y2 for x1, y1, x2, y2 in ignore):
            continue
        scores.append(float(score))
        flags.append(False)
    return scores, flags, len(faces), hit


def evaluate_faces(
    detect: Callable[[npt.NDArray[np.uint8]], Detections],
    coco: CocoFolder,
    load: Callable[[str], npt.NDArray[np.uint8]],
    *,
    model_id: str,
    operating_threshold: float,
    visible_only: bool = False,
    target_precision: float = 0.9,
) -> tuple[EvalReport, dict[str, PRCurve]]:
    by_image = coco.annotations_by_image()
    person_cats = {k for k, v in coco.categories.items() if v == "person"}
    all_scores: list[float] = []
    all_flags: list[bool] = []
    positives = 0
    hit_at_operating = 0
    images_with_faces = 0
    ms: list[float] = []
    for image in coco.images:
        anns = [a for a in by_image.get(int(image["id"]), []) if int(a["category_id"]) in person_cats]
        rgb = load(str(coco.image_path(image)))
        t0 = time.perf_counter()
        found = detect(rgb)
        ms.append(1000.0 * (time.perf_counter() - t0))
        scores, flags, n_faces, _ = score_image(found, anns, visible_only)
        all_scores += scores
        all_flags += flags
        positives += n_faces
        images_with_faces += n_faces > 0
        _, _, _, hit = score_image(found.above(operating_threshold), anns, visible_only)
        hit_at_operating += sum(hit)
    curve = pr_curve(all_scores, all_flags, positives)
    precision, _ = operating_point(curve, operating_threshold)
    choice = threshold_for_precision(curve, target_precision)
    metrics: dict[str, float | int | None] = {
        "recall": hit_at_operating / positives if positives else None,
        "faces_found": hit_at_operating,
        "faces": positives,
        "AP": curve.average_precision(),
        "precision": precision,
        "operating_threshold": operating_threshold,
        "ms_per_image": float(np.mean(ms)) if ms else None,
    }
    report = EvalReport(
        feature="faces", model=model_id, data=str(coco.root), n=len(coco.images), metrics=metrics,
        threshold=choice.to_dict(),
        details={"images_with_faces": images_with_faces, "visible_only": visible_only, "max_scale": MAX_SCALE},
    )  # fmt: skip
    return report, {"faces": curve}
