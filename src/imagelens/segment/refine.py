"""From a model's coarse mask to an alpha matte at full resolution, with memory bounded by the pixel count.

- ``guided``: the fast guided filter (He & Sun 2015, "Fast Guided Filter", arXiv:1505.00996) with the colour image
  as the guide: the local linear model ``alpha = a . I + b`` is fitted at a working size (long side
  ``WORK_SIDE``), then ``a`` and ``b`` are upsampled and applied to the full-resolution image one channel at a time,
  so the extra memory is a few float32 planes of the output size (about 16 bytes a pixel), whatever the model.
- ``pymatting``: closed-form matting (Levin et al. 2008, via the MIT ``pymatting`` package) on a trimap made from
  the coarse mask, solved at ``PYMATTING_SIDE`` and upsampled. Much slower; measured in benchmarks/segment_matting.md.
- ``none``: the coarse mask as is (bilinear upsampling already done by the adapter).
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from imagelens.errors import InvalidArgumentError

F32 = npt.NDArray[np.float32]
WORK_SIDE = 640
RADIUS = 6  # at the working size
EPS = 1e-3  # on [0, 1] intensities
PYMATTING_SIDE = 480


def _scaled(rgb: npt.NDArray[np.uint8], side: int) -> npt.NDArray[np.uint8]:
    h, w = rgb.shape[:2]
    scale = min(1.0, side / max(h, w))
    if scale >= 1.0:
        return rgb
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)


def _box(x: F32, r: int) -> F32:
    out = cv2.boxFilter(x, -1, (2 * r + 1, 2 * r + 1), normalize=True, borderType=cv2.BORDER_REFLECT)
    return np.asarray(out, dtype=np.float32)


def guided_filter(
    rgb: npt.NDArray[np.uint8],
    coarse: F32,
    radius: int = RADIUS,
    eps: float = EPS,
    work_side: int = WORK_SIDE,
) -> F32:
    """The coarse matte ``(H, W)`` refined against the colour image ``(H, W, 3)``; float32 in [0, 1]."""
    h, w = rgb.shape[:2]
    small = _scaled(rgb, work_side)
    sh, sw = small.shape[:2]
    guide = small.astype(np.float32) / 255.0
    p: F32 = np.asarray(
        cv2.resize(coarse, (sw, sh), interpolation=cv2.INTER_AREA) if (sh, sw) != (h, w) else coarse,
        dtype=np.float32,
    )
    mean_i = [_box(guide[..., c], radius) for c in range(3)]
    mean_p = _box(p, radius)
    cov_ip = [_box(guide[..., c] * p, radius) - mean_i[c] * mean_p for c in range(3)]
    eps32 = np.float32(eps)
    var = {}
    for i in range(3):
        for j in range(i, 3):
            var[i, j] = (
                _box(guide[..., i] * guide[..., j], radius) - mean_i[i] * mean_i[j] + (eps32 if i == j else 0)
            )
    # a = Sigma^-1 cov_ip, with the symmetric 3x3 inverse written out (adjugate / determinant): no per-pixel solve
    c00 = var[1, 1] * var[2, 2] - var[1, 2] * var[1, 2]
    c01 = var[0, 2] * var[1, 2] - var[0, 1] * var[2, 2]
    c02 = var[0, 1] * var[1, 2] - var[0, 2] * var[1, 1]
    c11 = var[0, 0] * var[2, 2] - var[0, 2] * var[0, 2]
    c12 = var[0, 1] * var[0, 2] - var[0, 0] * var[1, 2]
    c22 = var[0, 0] * var[1, 1] - var[0, 1] * var[0, 1]
    det = var[0, 0] * c00 + var[0, 1] * c01 + var[0, 2] * c02
    inv_det = np.float32(1.0) / det
    a = [
        (c00 * cov_ip[0] + c01 * cov_ip[1] + c02 * cov_ip[2]) * inv_det,
        (c01 * cov_ip[0] + c11 * cov_ip[1] + c12 * cov_ip[2]) * inv_det,
        (c02 * cov_ip[0] + c12 * cov_ip[1] + c22 * cov_ip[2]) * inv_det,
    ]
    b = mean_p - a[0] * mean_i[0] - a[1] * mean_i[1] - a[2] * mean_i[2]
    mean_a = [_box(a[c].astype(np.float32, copy=False), radius) for c in range(3)]
    mean_b = _box(b.astype(np.float32, copy=False), radius)
    del var, a, b, cov_ip
    out: F32 = np.asarray(cv2.resize(mean_b, (w, h), interpolation=cv2.INTER_LINEAR), dtype=np.float32)
    for c in range(3):  # one full-size plane at a time
        up: F32 = np.asarray(cv2.resize(mean_a[c], (w, h), interpolation=cv2.INTER_LINEAR), dtype=np.float32)
        up *= rgb[..., c]
        up *= np.float32(1.0 / 255.0)
        out += up
        del up
    np.clip(out, 0.0, 1.0, out=out)
    return out


def trimap_from_mask(coarse: F32, band: int) -> npt.NDArray[np.float64]:
    """1 sure foreground, 0 sure background, 0.5 unknown: a band of ``band`` px each side of the 0.5 contour."""
    fg = (coarse > 0.5).astype(np.uint8)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * band + 1, 2 * band + 1))
    sure_fg = cv2.erode(fg, kernel)
    sure_bg = cv2.erode(1 - fg, kernel)
    trimap = np.full(coarse.shape, 0.5, dtype=np.float64)
    trimap[sure_fg == 1] = 1.0
    trimap[sure_bg == 1] = 0.0
    return trimap


def pymatting_refine(rgb: npt.NDArray[np.uint8], coarse: F32, side: int = PYMATTING_SIDE) -> F32:
    try:
        from pymatting import estimate_alpha_cf
    except ImportError as exc:
        raise InvalidArgumentError(
            "refine='pymatting' needs the pymatting package (pip install pymatting); use refine='guided'"
        ) from exc
    h, w = rgb.shape[:2]
    small = _scaled(rgb, side)
    sh, sw = small.shape[:2]
    p: F32 = np.asarray(cv2.resize(coarse, (sw, sh), interpolation=cv2.INTER_AREA), dtype=np.float32)
    trimap = trimap_from_mask(p, band=max(2, round(max(sh, sw) / 60)))
    if not (trimap == 0.5).any() or (trimap == 1.0).sum() == 0 or (trimap == 0.0).sum() == 0:
        return coarse  # nothing to solve (all foreground or all background)
    alpha = estimate_alpha_cf(small.astype(np.float64) / 255.0, trimap)
    up = cv2.resize(alpha.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    return np.asarray(np.clip(up, 0.0, 1.0), dtype=np.float32)


def refine(rgb: npt.NDArray[np.uint8], coarse: F32, method: str) -> F32:
    if method == "none":
        return coarse
    if method == "guided":
        return guided_filter(rgb, coarse)
    if method == "pymatting":
        return pymatting_refine(rgb, coarse)
    raise InvalidArgumentError(f"refine must be guided, pymatting or none, got {method!r}")
