"""pycocotools' ``COCOeval`` (bbox, area range "all") step by step, on numpy columns.

The same IoU formula (crowd boxes use the detection's area as the union), the same greedy matching (highest score
first, ties in score keep input order, ties in IoU go to the later ground-truth box, crowd and ignored boxes last),
and the same 101-point interpolated precision, so that the numbers equal COCOeval's on the same input.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from imagelens.customize.metrics._columns import BoolArray, FloatArray, IntArray

# Bit-identical to pycocotools' Params: a match needs IoU >= threshold, so the exact floats matter at ties.
COCO_IOU_THRESHOLDS: FloatArray = np.linspace(
    0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1, endpoint=True
)
COCO_RECALL_THRESHOLDS: FloatArray = np.linspace(
    0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1, endpoint=True
)
AREA_RANGE_ALL = (0.0, 1e5**2)


def coco_box_iou(dt: FloatArray, gt: FloatArray, gt_crowd: BoolArray) -> FloatArray:
    """IoU matrix (len(dt), len(gt)) with pycocotools' arithmetic, ``[x, y, w, h]`` boxes.

    Kept here rather than in geometry.py because it is COCO's variant: for a crowd ground-truth box the union is
    the detection's own area. Written operation for operation like pycocotools' C ``bbIou`` so that IoUs that land
    exactly on a threshold compare the same way.
    """
    if len(dt) == 0 or len(gt) == 0:
        return np.zeros((len(dt), len(gt)), dtype=np.float64)
    dx, dy, dw, dh = (dt[:, i : i + 1] for i in range(4))
    gx, gy, gw, gh = (gt[None, :, i] for i in range(4))
    da = dw * dh
    ga = gw * gh
    iw = np.minimum(dw + dx, gw + gx) - np.maximum(dx, gx)
    ih = np.minimum(dh + dy, gh + gy) - np.maximum(dy, gy)
    inter = iw * ih
    union = np.where(gt_crowd[None, :], da, da + ga - inter)
    ok = (iw > 0) & (ih > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(ok, inter / np.where(ok, union, 1.0), 0.0)
    return out


def _last_argmax(values: FloatArray) -> IntArray:
    """Index of the last maximum in each row (COCOeval moves its match on ``>=``, so later ties win)."""
    g = values.shape[1]
    return (g - 1 - np.argmax(values[:, ::-1], axis=1)).astype(np.int64)


def match_image(
    dt_boxes: FloatArray,
    dt_scores: FloatArray,
    gt_boxes: FloatArray,
    gt_crowd: BoolArray,
    gt_area: FloatArray,
    thresholds: FloatArray,
    max_detections: int,
) -> tuple[FloatArray, BoolArray, BoolArray, BoolArray]:
    """COCOeval.evaluateImg for one (image, category): scores, matched (T, D), ignored (T, D), gt ignored (G,)."""
    lo, hi = AREA_RANGE_ALL
    gt_ignore = gt_crowd | (gt_area < lo) | (gt_area > hi)
    g_order = np.argsort(gt_ignore, kind="stable")  # regular boxes first, ignored last
    gt_ignore = gt_ignore[g_order]
    crowd = gt_crowd[g_order]
    d_order = np.argsort(-dt_scores, kind="stable")[:max_detections]
    dt_boxes = dt_boxes[d_order]
    scores = dt_scores[d_order]
    n_t, n_d, n_g = len(thresholds), len(dt_boxes), len(g_order)
    dt_matched = np.zeros((n_t, n_d), dtype=bool)
    dt_ignore = np.zeros((n_t, n_d), dtype=bool)
    if n_d and n_g:
        ious = coco_box_iou(dt_boxes, gt_boxes[g_order], crowd)
        gt_taken = np.zeros((n_t, n_g), dtype=bool)
        floor = np.minimum(thresholds, 1 - 1e-10)[:, None]
        regular = ~gt_ignore
        rows = np.arange(n_t)
        for d in range(n_d):
            row = ious[d][None, :]
            ok = (~gt_taken | crowd[None, :]) & (row >= floor)
            ok_regular = ok & regular[None, :]
            ok_ignored = ok & gt_ignore[None, :]
            has_regular = ok_regular.any(axis=1)
            has_ignored = ok_ignored.any(axis=1)
            if not (has_regular.any() or has_ignored.any()):
                continue
            pick_regular = _last_argmax(np.where(ok_regular, row, -1.0))
            pick_ignored = _last_argmax(np.where(ok_ignored, row, -1.0))
            m = np.where(has_regular, pick_regular, np.where(has_ignored, pick_ignored, -1))
            hit = m >= 0
            dt_matched[hit, d] = True
            dt_ignore[hit, d] = gt_ignore[m[hit]]
            gt_taken[rows[hit], m[hit]] = True
    dt_area = dt_boxes[:, 2] * dt_boxes[:, 3]
    outside = (dt_area < lo) | (dt_area > hi)
    dt_ignore |= ~dt_matched & outside[None, :]
    return scores, dt_matched, dt_ignore, gt_ignore


def accumulate(
    per_image: Sequence[tuple[FloatArray, BoolArray, BoolArray, BoolArray]], n_t: int
) -> tuple[FloatArray, FloatArray, int]:
    """COCOeval.accumulate for one category: precision (T, R), recall (T,), number of non-ignored ground truths."""
    n_r = len(COCO_RECALL_THRESHOLDS)
    precision = -np.ones((n_t, n_r))
    recall = -np.ones(n_t)
    if not per_image:
        return precision, recall, 0
    scores = np.concatenate([e[0] for e in per_image])
    order = np.argsort(-scores, kind="stable")
    matched = np.concatenate([e[1] for e in per_image], axis=1)[:, order]
    ignored = np.concatenate([e[2] for e in per_image], axis=1)[:, order]
    npig = int(np.count_nonzero(~np.concatenate([e[3] for e in per_image])))
    if npig == 0:
        return precision, recall, 0
    tp_sum = np.cumsum(matched & ~ignored, axis=1).astype(float)
    fp_sum = np.cumsum(~matched & ~ignored, axis=1).astype(float)
    nd = tp_sum.shape[1]
    for t in range(n_t):
        tp, fp = tp_sum[t], fp_sum[t]
        rc = tp / npig
        pr = tp / (fp + tp + np.spacing(1))
        recall[t] = rc[-1] if nd else 0.0
        if nd == 0:
            precision[t] = 0.0
            continue
        pr = np.maximum.accumulate(pr[::-1])[::-1]  # precision envelope, as COCOeval's backward loop
        inds = np.searchsorted(rc, COCO_RECALL_THRESHOLDS, side="left")
        precision[t] = np.where(inds < nd, pr[np.minimum(inds, nd - 1)], 0.0)
    return precision, recall, npig


def group_rows(image_ids: IntArray, category_ids: IntArray) -> dict[tuple[int, int], IntArray]:
    """Row indices per (image, category), each in input order (COCOeval keeps file order within a group)."""
    if len(image_ids) == 0:
        return {}
    order = np.lexsort((np.arange(len(image_ids)), image_ids, category_ids))
    keys = np.stack([category_ids[order], image_ids[order]], axis=1)
    cuts = np.flatnonzero(np.any(np.diff(keys, axis=0) != 0, axis=1)) + 1
    out: dict[tuple[int, int], IntArray] = {}
    for chunk in np.split(order, cuts):
        out[(int(image_ids[chunk[0]]), int(category_ids[chunk[0]]))] = chunk
    return out


def mean_valid(values: FloatArray) -> float | None:
    valid = values[values > -1]
    return float(np.mean(valid)) if valid.size else None
