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

The steps live in :mod:`imagelens.shelf.stitch_matching` (1-2) and :mod:`imagelens.shelf.stitch_placement` (3-5);
this module holds the entry point, the result types and OpenCV's stitcher.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

from imagelens.errors import InvalidArgumentError
from imagelens.shelf.stitch_matching import (
    QUICK_MIN_MATCHES,
    FeatureKind,
    FloatArray,
    PairFit,
    PairMatch,
    StitchModel,
    UInt8Image,
    extract_features,
    match_pair,
    quick_matches,
)
from imagelens.shelf.stitch_placement import chain_transforms, compose, largest_component, refine_linear

__all__ = ["FeatureKind", "PairMatch", "StitchMethod", "StitchModel", "StitchResult", "stitch"]

StitchMethod = Literal["features", "opencv"]

MIN_IMAGES = 2
MAX_IMAGES = 20


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
    feats = [extract_features(img, features, work_side, max_features) for img in rgb]
    timings["features"] = (time.perf_counter() - start) * 1e3

    t = time.perf_counter()
    pairs: list[PairMatch] = []
    edges: dict[tuple[int, int], PairFit] = {}
    n = len(rgb)
    for i in range(1, n):
        for j in range(i - 1, -1, -1):  # nearest earlier image first: left neighbour, then the row above
            if i - j > 1:
                quick = quick_matches(feats[i], feats[j], features, ratio)
                if quick < QUICK_MIN_MATCHES:
                    pairs.append(
                        PairMatch(i, j, quick, 0, math.nan, False, "no overlap among the strongest keypoints")
                    )
                    continue
            info, fit = match_pair(
                i, j, feats[i], feats[j], features, model, ratio, min_inliers, max_scale_change, rgb[j].shape
            )
            pairs.append(info)
            if fit is not None:
                edges[(i, j)] = fit
    timings["matching"] = (time.perf_counter() - t) * 1e3

    component = largest_component(n, [(i, j) for i, j in edges])
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
    reference, transforms = chain_transforms(used, edges)
    if model != "homography":
        transforms = refine_linear(used, reference, edges, transforms, model)
    timings["transforms"] = (time.perf_counter() - t) * 1e3

    t = time.perf_counter()
    image, mask, placed = compose(rgb, used, transforms, max_output_pixels)
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
