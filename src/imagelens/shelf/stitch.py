"""Stitch overlapping photos of a flat shelf into one image.

A shelf is (close to) a plane photographed by a camera that moves sideways, so the images are related by affine maps
(OpenCV calls this the SCANS model), not by the rotations of a panorama camera. The default pipeline is:

1. SIFT keypoints on each image at a working resolution (``work_side`` pixels on the long side), Lowe's ratio test;
2. a RANSAC affine (or similarity, or homography) fit for every candidate pair, accepted only with enough inliers
   and a plausible scale; pairs are tried in the given order (left to right, then top to bottom), so both a single
   row and a grid of rows work;
3. the largest group of connected images is kept (the others are reported as dropped: ``StitchResult.used``);
   a maximum spanning tree over inlier counts chains the transforms from a central reference image;
4. for the affine and similarity models every accepted pair then constrains a linear least-squares refinement of all
   transforms at once, which removes the drift of plain chaining in a grid;
5. feather blending (weights fall off towards each image's border) hides exposure steps at the seams.

Working from pairwise matches lets it stitch with 20-30 % overlap, where ``cv2.Stitcher`` (SCANS), available as
``method="opencv"``, usually needs about half the image to overlap.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from imagelens.errors import InvalidArgumentError

if TYPE_CHECKING:
    import cv2

StitchModel = Literal["affine", "similarity", "homography"]
StitchMethod = Literal["features", "opencv"]
FeatureKind = Literal["sift", "orb"]

MIN_IMAGES = 2
MAX_IMAGES = 20
QUICK_KEYPOINTS = 500
QUICK_MIN_MATCHES = 8

UInt8Image = npt.NDArray[np.uint8]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class PairMatch:
    """What matching one image against another found. Indices are positions in the input list."""

    source: int
    target: int
    matches: int
    """Keypoint matches that passed the ratio test."""
    inliers: int
    """Matches consistent with the fitted transform (RANSAC inliers)."""
    reprojection_error_px: float
    """RMS distance of the inliers after the fit, in pixels of the target image; NaN when no fit was made."""
    accepted: bool
    reason: str = ""
    """Why the pair was rejected; empty when accepted."""

    @property
    def inlier_ratio(self) -> float:
        return self.inliers / self.matches if self.matches else 0.0


@dataclass(frozen=True, slots=True, eq=False)
class StitchResult:
    """The stitched image and how it was made.

    ``transforms[k]`` maps pixel coordinates (OpenCV convention, pixel centres on integers) of input ``used[k]``
    into ``image``; ``mask`` is True where at least one input contributed.
    """

    image: UInt8Image
    used: tuple[int, ...]
    dropped: tuple[int, ...]
    pairs: tuple[PairMatch, ...]
    transforms: tuple[FloatArray, ...]
    mask: npt.NDArray[np.bool_]
    method: str
    model: str
    reference: int
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def height(self) -> int:
        return int(self.image.shape[0])


@dataclass(frozen=True, slots=True, eq=False)
class _Features:
    points: FloatArray
    descriptors: Any
    strong: npt.NDArray[np.intp]
    """Indices of the strongest keypoints, for the quick overlap check."""


def stitch(
    images: Sequence[npt.ArrayLike],
    *,
    method: StitchMethod = "features",
    model: StitchModel = "affine",
    features: FeatureKind = "sift",
    work_side: int = 1000,
    max_features: int = 4000,
    ratio: float = 0.75,
    min_inliers: int = 20,
    max_scale_change: float = 2.0,
    require_all: bool = False,
    max_output_pixels: int = 16000 * 16000,
) -> StitchResult:
    """Stitch 2-20 overlapping RGB images, given left to right then top to bottom, into one image.

    Images that match no other image are dropped and listed in ``StitchResult.dropped`` (``require_all=True`` makes
    that an error). Raises :class:`InvalidArgumentError` for fewer than 2 or more than 20 images, for images that
    are not HxWx3 uint8, and when no two images overlap.
    """
    import time

    start = time.perf_counter()
    rgb = _validate_images(images)
    if method == "opencv":
        return _stitch_opencv(rgb, require_all=require_all, start=start)
    if method != "features":
        raise InvalidArgumentError(f"method must be 'features' or 'opencv', got {method!r}")
    if model not in ("affine", "similarity", "homography"):
        raise InvalidArgumentError(f"model must be 'affine', 'similarity' or 'homography', got {model!r}")
    if features not in ("sift", "orb"):
        raise InvalidArgumentError(f"features must be 'sift' or 'orb', got {features!r}")

    timings: dict[str, float] = {}
    feats = [_extract(img, features, work_side, max_features) for img in rgb]
    timings["features"] = (time.perf_counter() - start) * 1e3

    t = time.perf_counter()
    pairs: list[PairMatch] = []
    edges: dict[tuple[int, int], tuple[FloatArray, FloatArray, FloatArray]] = {}
    n = len(rgb)
    for i in range(1, n):
        for j in range(i - 1, -1, -1):  # nearest earlier image first: left neighbour, then the row above
            if i - j > 1:
                quick = _quick_matches(feats[i], feats[j], features, ratio)
                if quick < QUICK_MIN_MATCHES:
                    pairs.append(
                        PairMatch(i, j, quick, 0, math.nan, False, "no overlap among the strongest keypoints")
                    )
                    continue
            info, fit = _match_pair(
                i, j, feats[i], feats[j], features, model, ratio, min_inliers, max_scale_change, rgb[j].shape
            )
            pairs.append(info)
            if fit is not None:
                edges[(i, j)] = fit
    timings["matching"] = (time.perf_counter() - t) * 1e3

    component = _largest_component(n, [(i, j) for i, j in edges])
    if len(component) < 2:
        best = max(pairs, key=lambda p: p.inliers)
        raise InvalidArgumentError(
            "the images do not overlap: no pair shares enough matching features "
            f"(best pair {best.source}-{best.target}: {best.inliers} inliers, need {min_inliers}; {best.reason})",
            {"pairs": [(p.source, p.target, p.inliers) for p in pairs]},
        )
    dropped = tuple(k for k in range(n) if k not in component)
    if dropped and require_all:
        raise InvalidArgumentError(
            f"images {list(dropped)} do not overlap with the others (need {min_inliers} inlier matches with a "
            "neighbour); pass require_all=False to stitch without them"
        )

    t = time.perf_counter()
    used = tuple(sorted(component))
    reference, transforms = _chain_transforms(used, edges)
    if model != "homography":
        transforms = _refine_linear(used, reference, edges, transforms, model)
    timings["transforms"] = (time.perf_counter() - t) * 1e3

    t = time.perf_counter()
    image, mask, placed = _compose(rgb, used, transforms, max_output_pixels)
    timings["blend"] = (time.perf_counter() - t) * 1e3
    timings["total"] = (time.perf_counter() - start) * 1e3
    return StitchResult(
        image=image,
        used=used,
        dropped=dropped,
        pairs=tuple(pairs),
        transforms=tuple(placed[k] for k in used),
        mask=mask,
        method="features",
        model=model,
        reference=reference,
        timings_ms=timings,
    )


# --- input -------------------------------------------------------------------------------------------------------


def _validate_images(images: Sequence[npt.ArrayLike]) -> list[UInt8Image]:
    if isinstance(images, np.ndarray) and images.ndim == 3:
        raise InvalidArgumentError("stitch needs a sequence of images, got a single image array")
    count = len(images)
    if count < MIN_IMAGES:
        raise InvalidArgumentError(f"stitching needs at least {MIN_IMAGES} images, got {count}")
    if count > MAX_IMAGES:
        raise InvalidArgumentError(f"stitching takes at most {MAX_IMAGES} images, got {count}")
    out = []
    for k, img in enumerate(images):
        arr = np.asarray(img)
        if arr.dtype != np.uint8:
            raise InvalidArgumentError(f"image {k} must be uint8, got {arr.dtype}")
        if arr.ndim == 2:
            arr = np.repeat(arr[:, :, None], 3, axis=2)
        if arr.ndim != 3 or arr.shape[2] not in (3, 4):
            raise InvalidArgumentError(f"image {k} must be HxWx3 RGB, got shape {arr.shape}")
        if min(arr.shape[:2]) < 16:
            raise InvalidArgumentError(f"image {k} is too small to match ({arr.shape[1]}x{arr.shape[0]})")
        out.append(np.ascontiguousarray(arr[:, :, :3]))
    return out


# --- features and pairwise fits -----------------------------------------------------------------------------------


def _extract(image: UInt8Image, kind: FeatureKind, work_side: int, max_features: int) -> _Features:
    import cv2

    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    scale = min(1.0, work_side / max(gray.shape))
    if scale < 1.0:
        size = (max(1, round(gray.shape[1] * scale)), max(1, round(gray.shape[0] * scale)))
        gray = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
    detector: cv2.Feature2D
    if kind == "sift":
        detector = cv2.SIFT_create(nfeatures=max_features)  # type: ignore[attr-defined]
    else:
        detector = cv2.ORB_create(nfeatures=max_features)  # type: ignore[attr-defined]
    keypoints, descriptors = detector.detectAndCompute(gray, None)
    pts = np.array([kp.pt for kp in keypoints], dtype=np.float64).reshape(-1, 2)
    pts = (pts + 0.5) / scale - 0.5  # back to full-resolution pixel centres
    response = np.array([kp.response for kp in keypoints], dtype=np.float64)
    strong = np.argsort(-response, kind="stable")[:QUICK_KEYPOINTS]
    return _Features(points=pts, descriptors=descriptors, strong=strong)


def _quick_matches(fi: _Features, fj: _Features, kind: FeatureKind, ratio: float) -> int:
    """Ratio-test matches among the strongest keypoints only: a cheap test that two images overlap at all, which
    keeps trying every earlier image (needed for grids) affordable with 20 images."""
    import cv2

    if fi.descriptors is None or fj.descriptors is None or len(fi.strong) < 2 or len(fj.strong) < 2:
        return 0
    matcher = cv2.BFMatcher(cv2.NORM_L2 if kind == "sift" else cv2.NORM_HAMMING)
    knn = matcher.knnMatch(fi.descriptors[fi.strong], fj.descriptors[fj.strong], k=2)
    return sum(1 for m in knn if len(m) == 2 and m[0].distance < ratio * m[1].distance)


def _match_pair(
    i: int,
    j: int,
    fi: _Features,
    fj: _Features,
    kind: FeatureKind,
    model: StitchModel,
    ratio: float,
    min_inliers: int,
    max_scale_change: float,
    target_shape: tuple[int, ...],
) -> tuple[PairMatch, tuple[FloatArray, FloatArray, FloatArray] | None]:
    """Fit the transform taking image ``i`` onto image ``j``; returns the statistics and, when accepted,
    ``(transform 3x3, inlier points in i, inlier points in j)``."""
    import cv2

    def reject(matches: int, inliers: int, err: float, reason: str) -> tuple[PairMatch, None]:
        return PairMatch(i, j, matches, inliers, err, accepted=False, reason=reason), None

    if fi.descriptors is None or fj.descriptors is None or len(fi.points) < 3 or len(fj.points) < 3:
        return reject(0, 0, math.nan, "too few keypoints")
    norm = cv2.NORM_L2 if kind == "sift" else cv2.NORM_HAMMING
    matcher = cv2.BFMatcher(norm)
    knn = matcher.knnMatch(fi.descriptors, fj.descriptors, k=2)
    good = [m[0] for m in knn if len(m) == 2 and m[0].distance < ratio * m[1].distance]
    if len(good) < max(min_inliers, 4):
        return reject(len(good), 0, math.nan, f"only {len(good)} feature matches")
    src = fi.points[[m.queryIdx for m in good]]
    dst = fj.points[[m.trainIdx for m in good]]
    threshold = 3.0 * max(1.0, max(target_shape[:2]) / 1000.0)
    src32, dst32 = src.astype(np.float32), dst.astype(np.float32)
    if model == "affine":
        matrix, inl = cv2.estimateAffine2D(
            src32, dst32, method=cv2.RANSAC, ransacReprojThreshold=threshold, maxIters=5000, confidence=0.999
        )
    elif model == "similarity":
        matrix, inl = cv2.estimateAffinePartial2D(
            src32, dst32, method=cv2.RANSAC, ransacReprojThreshold=threshold, maxIters=5000, confidence=0.999
        )
    else:
        matrix, inl = cv2.findHomography(src32, dst32, cv2.RANSAC, threshold, maxIters=5000, confidence=0.999)
    if matrix is None or inl is None:
        return reject(len(good), 0, math.nan, "no transform fits the matches")
    h = np.vstack([matrix, [0.0, 0.0, 1.0]]) if matrix.shape == (2, 3) else matrix.astype(np.float64)
    inliers = inl.ravel().astype(bool)
    count = int(inliers.sum())
    from imagelens.geometry import apply_homography

    residual = apply_homography(h, src[inliers]) - dst[inliers]
    err = float(np.sqrt(np.mean(np.sum(residual**2, axis=1)))) if count else math.nan
    if count < min_inliers:
        return reject(len(good), count, err, f"only {count} inliers")
    singular = np.linalg.svd(h[:2, :2], compute_uv=False)
    if (
        np.linalg.det(h[:2, :2]) <= 0
        or singular.max() > max_scale_change
        or singular.min() < 1 / max_scale_change
    ):
        return reject(
            len(good), count, err, f"implausible scale or flip (singular values {np.round(singular, 3)})"
        )
    if model == "homography" and np.abs(h[2, :2]).max() * max(target_shape[:2]) > 0.5:
        return reject(len(good), count, err, "implausibly strong perspective")
    info = PairMatch(i, j, len(good), count, err, accepted=True)
    return info, (h, src[inliers], dst[inliers])


# --- global placement ---------------------------------------------------------------------------------------------


def _largest_component(n: int, edges: list[tuple[int, int]]) -> set[int]:
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


def _chain_transforms(
    used: tuple[int, ...], edges: dict[tuple[int, int], tuple[FloatArray, FloatArray, FloatArray]]
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


def _refine_linear(
    used: tuple[int, ...],
    reference: int,
    edges: dict[tuple[int, int], tuple[FloatArray, FloatArray, FloatArray]],
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


def _compose(
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


# --- OpenCV's stitcher --------------------------------------------------------------------------------------------

_OPENCV_STATUS = {
    1: "not enough overlapping images (ERR_NEED_MORE_IMGS): the images do not overlap enough",
    2: "homography estimation failed (ERR_HOMOGRAPHY_EST_FAIL)",
    3: "camera parameter adjustment failed (ERR_CAMERA_PARAMS_ADJUST_FAIL)",
}


def _stitch_opencv(images: list[UInt8Image], *, require_all: bool, start: float) -> StitchResult:
    import time

    import cv2

    stitcher = cv2.Stitcher_create(cv2.Stitcher_SCANS)  # type: ignore[attr-defined]
    status, pano = stitcher.stitch([cv2.cvtColor(img, cv2.COLOR_RGB2BGR) for img in images])
    if status != cv2.Stitcher_OK or pano is None:
        reason = _OPENCV_STATUS.get(int(status), f"status {int(status)}")
        raise InvalidArgumentError(f"OpenCV's stitcher failed: {reason}")
    used = tuple(int(k) for k in np.asarray(stitcher.component()).ravel())
    dropped = tuple(k for k in range(len(images)) if k not in used)
    if dropped and require_all:
        raise InvalidArgumentError(f"images {list(dropped)} do not overlap with the others")
    image = cv2.cvtColor(pano, cv2.COLOR_BGR2RGB)
    mask = image.max(axis=2) > 0
    return StitchResult(
        image=image,
        used=tuple(sorted(used)),
        dropped=dropped,
        pairs=(),
        transforms=(),
        mask=mask,
        method="opencv",
        model="affine",
        reference=-1,
        timings_ms={"total": (time.perf_counter() - start) * 1e3},
    )
