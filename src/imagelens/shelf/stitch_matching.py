"""Stitching, step 1-2: keypoints per image and a RANSAC transform for each candidate pair.

SIFT (or ORB) keypoints at a working resolution, Lowe's ratio test, then an affine, similarity or homography fit
accepted only with enough inliers and a plausible scale. A cheap match among the strongest keypoints first tells
whether two images overlap at all, which keeps trying every earlier image (grids) affordable with 20 images.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    import cv2

StitchModel = Literal["affine", "similarity", "homography"]
FeatureKind = Literal["sift", "orb"]

QUICK_KEYPOINTS = 500
QUICK_MIN_MATCHES = 8

UInt8Image = npt.NDArray[np.uint8]
FloatArray = npt.NDArray[np.float64]
PairFit = tuple[FloatArray, FloatArray, FloatArray]
"""An accepted pair's transform (3x3, source -> target) and its inlier points in the source and the target."""


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
class Features:
    points: FloatArray
    descriptors: Any
    strong: npt.NDArray[np.intp]
    """Indices of the strongest keypoints, for the quick overlap check."""


def extract_features(image: UInt8Image, kind: FeatureKind, work_side: int, max_features: int) -> Features:
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
    return Features(points=pts, descriptors=descriptors, strong=strong)


def quick_matches(fi: Features, fj: Features, kind: FeatureKind, ratio: float) -> int:
    """Ratio-test matches among the strongest keypoints only: a cheap test that two images overlap at all, which
    keeps trying every earlier image (needed for grids) affordable with 20 images."""
    import cv2

    if fi.descriptors is None or fj.descriptors is None or len(fi.strong) < 2 or len(fj.strong) < 2:
        return 0
    matcher = cv2.BFMatcher(cv2.NORM_L2 if kind == "sift" else cv2.NORM_HAMMING)
    knn = matcher.knnMatch(fi.descriptors[fi.strong], fj.descriptors[fj.strong], k=2)
    return sum(1 for m in knn if len(m) == 2 and m[0].distance < ratio * m[1].distance)


def match_pair(
    i: int,
    j: int,
    fi: Features,
    fj: Features,
    kind: FeatureKind,
    model: StitchModel,
    ratio: float,
    min_inliers: int,
    max_scale_change: float,
    target_shape: tuple[int, ...],
) -> tuple[PairMatch, PairFit | None]:
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
