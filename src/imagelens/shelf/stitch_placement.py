"""Stitching, steps 3-5: keep the largest connected group, place every image in one frame, blend.

A maximum spanning tree over inlier counts chains the pairwise transforms from a central reference image; for the
affine and similarity models one linear least-squares solve over every accepted pair then removes the drift of plain
chaining; feather blending (weights fall off towards each image's border) hides exposure steps at the seams.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from imagelens.errors import InvalidArgumentError
from imagelens.shelf.stitch_matching import FloatArray, PairFit, StitchModel, UInt8Image

# --- global placement ---------------------------------------------------------------------------------------------


def largest_component(n: int, edges: list[tuple[int, int]]) -> set[int]:
    neighbours: dict[int, set[int]] = {k: set() for k in range(n)}
    for i, j in edges:
        neighbours[i].add(j)
        neighbours[j].add(i)
    seen: set[int] = set()
    best: set[int] = set()
    for start in range(n):  # ties go to the component holding the earliest image
        if start in seen:
            continue
        comp, stack = {start}, [start]
        while stack:
            for nb in neighbours[stack.pop()]:
                if nb not in comp:
                    comp.add(nb)
                    stack.append(nb)
        seen |= comp
        if len(comp) > len(best):
            best = comp
    return best


def chain_transforms(
    used: tuple[int, ...], edges: dict[tuple[int, int], PairFit]
) -> tuple[int, dict[int, FloatArray]]:
    """Transforms into the reference frame, along a maximum spanning tree of inlier counts.

    The reference is the image with the most inliers to its neighbours: an inner image of the row, which halves the
    distance errors travel along the chain.
    """
    weight: dict[int, int] = dict.fromkeys(used, 0)
    adjacency: dict[int, list[tuple[int, int, FloatArray]]] = {k: [] for k in used}
    for (i, j), (h, src, _dst) in edges.items():
        if i in weight and j in weight:
            weight[i] += len(src)
            weight[j] += len(src)
            adjacency[i].append((len(src), j, h))  # h maps i -> j
            adjacency[j].append((len(src), i, np.asarray(np.linalg.inv(h), dtype=np.float64)))
    reference = max(used, key=lambda k: (weight[k], -k))
    transforms = {reference: np.eye(3)}
    frontier = [(w, nb, h_nb_to_cur, reference) for w, nb, h_nb_to_cur in _incoming(adjacency, reference)]
    while frontier and len(transforms) < len(used):
        frontier.sort(key=lambda e: (-e[0], e[1]))
        _w, node, h_node_to_parent, parent = frontier.pop(0)
        if node in transforms:
            continue
        transforms[node] = transforms[parent] @ h_node_to_parent
        frontier.extend((w, nb, h, node) for w, nb, h in _incoming(adjacency, node) if nb not in transforms)
    return reference, transforms


def _incoming(
    adjacency: dict[int, list[tuple[int, int, FloatArray]]], node: int
) -> list[tuple[int, int, FloatArray]]:
    """Edges as (weight, neighbour, transform neighbour -> node)."""
    return [(w, nb, np.asarray(np.linalg.inv(h), dtype=np.float64)) for w, nb, h in adjacency[node]]


def refine_linear(
    used: tuple[int, ...],
    reference: int,
    edges: dict[tuple[int, int], PairFit],
    initial: dict[int, FloatArray],
    model: StitchModel,
    per_edge: int = 300,
) -> dict[int, FloatArray]:
    """Solve all affine (or similarity) transforms at once from every accepted pair's inliers.

    ``A_i p = A_j q`` for each inlier match ``(p in i, q in j)`` is linear in the parameters, so one least-squares
    solve distributes the error over all the overlaps instead of accumulating it along a chain. The result is kept
    only if it lowers the mean residual.
    """
    free = [k for k in used if k != reference]
    if not free:
        return initial
    nparam = 6 if model == "affine" else 4
    col = {k: nparam * idx for idx, k in enumerate(free)}
    pairs = []
    for (i, j), (_h, src, dst) in edges.items():
        if i not in col and i != reference or j not in col and j != reference:
            continue
        take = np.linspace(0, len(src) - 1, min(per_edge, len(src))).round().astype(int)
        pairs.append((i, j, src[take], dst[take]))
    if not pairs:
        return initial
    blocks, rhs_blocks = [], []
    for i, j, src, dst in pairs:
        block = np.zeros((2 * len(src), nparam * len(free)))
        rhs = np.zeros(2 * len(src))
        for node, pts, sign in ((i, src, 1.0), (j, dst, -1.0)):
            if node == reference:  # its transform is the identity: a known term
                rhs -= sign * pts.reshape(-1)  # rows alternate x, y
            else:
                block[:, col[node] : col[node] + nparam] += sign * _design(pts, model)
        blocks.append(block)
        rhs_blocks.append(rhs)
    a = np.concatenate(blocks)
    b = np.concatenate(rhs_blocks)
    solution, *_ = np.linalg.lstsq(a, b, rcond=None)
    refined = {reference: np.eye(3)}
    for k in free:
        refined[k] = _params_to_matrix(
            np.asarray(solution[col[k] : col[k] + nparam], dtype=np.float64), model
        )

    def mean_residual(tr: dict[int, FloatArray]) -> float:
        from imagelens.geometry import apply_homography

        errs = [
            np.linalg.norm(apply_homography(tr[i], src) - apply_homography(tr[j], dst), axis=1)
            for i, j, src, dst in pairs
        ]
        return float(np.mean(np.concatenate(errs)))

    return refined if mean_residual(refined) <= mean_residual(initial) else initial


def _design(pts: FloatArray, model: StitchModel) -> FloatArray:
    """Rows (x then y for each point) of the linear map from transform parameters to transformed coordinates."""
    x, y = pts[:, 0], pts[:, 1]
    one, zero = np.ones_like(x), np.zeros_like(x)
    if model == "affine":  # [[a, b, c], [d, e, f]]
        rows_x = np.stack([x, y, one, zero, zero, zero], axis=1)
        rows_y = np.stack([zero, zero, zero, x, y, one], axis=1)
    else:  # similarity [[a, -b, c], [b, a, d]]
        rows_x = np.stack([x, -y, one, zero], axis=1)
        rows_y = np.stack([y, x, zero, one], axis=1)
    out = np.empty((2 * len(pts), rows_x.shape[1]))
    out[0::2], out[1::2] = rows_x, rows_y
    return out


def _params_to_matrix(p: FloatArray, model: StitchModel) -> FloatArray:
    if model == "affine":
        return np.array([[p[0], p[1], p[2]], [p[3], p[4], p[5]], [0.0, 0.0, 1.0]])
    a, b, c, d = p
    return np.array([[a, -b, c], [b, a, d], [0.0, 0.0, 1.0]])


# --- compositing --------------------------------------------------------------------------------------------------


def compose(
    images: list[UInt8Image], used: tuple[int, ...], transforms: dict[int, FloatArray], max_output_pixels: int
) -> tuple[UInt8Image, npt.NDArray[np.bool_], dict[int, FloatArray]]:
    """Warp every used image onto one canvas and feather-blend; returns the image, its coverage mask and the
    transforms into canvas pixels."""
    import cv2

    from imagelens.geometry import apply_homography

    corners = {}
    for k in used:
        h, w = images[k].shape[:2]
        quad = np.array([[-0.5, -0.5], [w - 0.5, -0.5], [w - 0.5, h - 0.5], [-0.5, h - 0.5]])
        corners[k] = apply_homography(transforms[k], quad)
    allc = np.concatenate(list(corners.values()))
    if not np.isfinite(allc).all():
        raise InvalidArgumentError("the estimated transforms are degenerate (an image maps to infinity)")
    lo, hi = allc.min(axis=0), allc.max(axis=0)
    # Extents are whole pixels for exact inputs; round so that sub-pixel fit noise does not add a blank column.
    width, height = (round(float(v)) for v in hi - lo)
    if width * height > max_output_pixels or width <= 0 or height <= 0:
        raise InvalidArgumentError(
            f"the stitched image would be {width}x{height} pixels (limit {max_output_pixels} pixels); "
            "the matches are probably wrong"
        )
    shift = np.array([[1.0, 0.0, -0.5 - lo[0]], [0.0, 1.0, -0.5 - lo[1]], [0.0, 0.0, 1.0]])
    acc = np.zeros((height, width, 3), dtype=np.float32)
    wsum = np.zeros((height, width), dtype=np.float32)
    placed = {}
    for k in used:
        m = shift @ transforms[k]
        placed[k] = m
        img = images[k]
        ih, iw = img.shape[:2]
        c = corners[k] - lo - 0.5
        x0, y0 = (max(0, int(math.floor(v + 0.5))) for v in c.min(axis=0))
        x1 = min(width, int(math.ceil(c[:, 0].max() + 0.5)))
        y1 = min(height, int(math.ceil(c[:, 1].max() + 0.5)))
        if x1 <= x0 or y1 <= y0:
            continue
        roi = np.array([[1.0, 0.0, -x0], [0.0, 1.0, -y0], [0.0, 0.0, 1.0]]) @ m
        # Feather weight: distance to the image border (1 on the border pixels), so overlaps fade smoothly.
        inside = np.pad(np.ones((ih, iw), np.uint8), 1)
        weight = cv2.distanceTransform(inside, cv2.DIST_L2, 3)[1:-1, 1:-1].astype(np.float32)
        size = (x1 - x0, y1 - y0)
        if np.allclose(roi[2], [0.0, 0.0, 1.0]):
            warped = cv2.warpAffine(img, roi[:2], size, flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_CONSTANT)
            wwarp = cv2.warpAffine(
                weight, roi[:2], size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
            )
        else:
            warped = cv2.warpPerspective(
                img, roi, size, flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_CONSTANT
            )
            wwarp = cv2.warpPerspective(
                weight, roi, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
            )
        acc[y0:y1, x0:x1] += warped.astype(np.float32) * wwarp[:, :, None]
        wsum[y0:y1, x0:x1] += wwarp
    mask = wsum > 1e-3
    out = np.zeros_like(acc)
    np.divide(acc, wsum[:, :, None], out=out, where=mask[:, :, None])
    return np.clip(out + 0.5, 0, 255).astype(np.uint8), mask, placed
