"""Smart crops, area of interest and thumbnails: one saliency-based algorithm, no models.

Everything here works on an *importance map*: a small float image (long side 256) saying how much each region
matters. It is built from

* saliency computed from the pixels (spectral residual saliency with numpy's FFT, edge energy and colour contrast
  against the mean colour, times a mild centre prior, plus a small floor so a flat image still crops centred), and
* boxes of content we know matters (faces strongest, then people, text lines, objects) when those features ran.
  A box adds a *mass* proportional to the whole map's saliency mass (not a density), so a small face weighs as much
  as a large one: what matters for a crop is whether the face is in it, not how many pixels it covers.

The three v3.2/v4.0 capabilities then read that map:

* :func:`best_crop` / :func:`smart_crops`: the largest crop of a given aspect ratio that keeps the most importance,
  found exhaustively with a summed-area table (every position at map resolution, then refined to the pixel);
  weighted boxes cut by the crop edge are penalised so a face is kept whole or left out, never halved.
* :func:`area_of_interest`: the box, of any shape, holding ~90 % of the importance above the background level.
* :func:`thumbnail`: ``best_crop`` at the thumbnail's ratio (or a centred crop), resized to exactly that size.

Coordinates in and out are pixels of the original image; crops are integer boxes inside it.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Sequence
from types import MappingProxyType

import numpy as np
import numpy.typing as npt

from imagelens.errors import InvalidArgumentError
from imagelens.types import BoundingBox, SmartCrop

FloatMap = npt.NDArray[np.float32]
UInt8Image = npt.NDArray[np.uint8]

#: Azure's accepted range for ``smartcrops-aspect-ratios`` (width / height, inclusive) and how many it takes.
MIN_ASPECT_RATIO = 0.75
MAX_ASPECT_RATIO = 1.8
MAX_ASPECT_RATIOS = 10
#: Range of the ratio chosen when none is requested (Azure: "between 0.5 and 2.0").
DEFAULT_MIN_ASPECT_RATIO = 0.5
DEFAULT_MAX_ASPECT_RATIO = 2.0
#: v3.2 generateThumbnail limits, in pixels.
THUMBNAIL_MAX_SIDE = 1024

#: Weight of each kind of known content. A box of weight ``w`` adds ``w * BOX_MASS_SHARE`` times the saliency
#: mass of the whole image, so one face (4 x 0.25) weighs as much as everything the pixels say.
BOX_WEIGHTS: MappingProxyType[str, float] = MappingProxyType(
    {"face": 4.0, "person": 2.0, "text": 1.5, "object": 1.0}
)
BOX_MASS_SHARE = 0.25

#: Long side of the importance map. 256 keeps a 4000 x 3000 image well under a second and is finer than any
#: crop decision needs (one map cell is < 0.4 % of the image side).
MAP_LONG_SIDE = 256
#: Blend of the saliency cues; each is scaled to [0, 1] first.
_W_SPECTRAL, _W_EDGES, _W_COLOUR = 0.4, 0.35, 0.25
#: Importance everywhere, so a featureless image (or region) still prefers the centre, and ties are broken there.
_FLOOR = 0.02
#: The centre prior goes from 1 at the centre to about ``1 - _CENTRE_DEPTH`` at the corners: mild on purpose.
_CENTRE_DEPTH = 0.25
#: A weighted box cut by the crop edge costs its own mass times ``min(1, _CUT_SLOPE * share cut off)``: cut in half
#: it costs all of its mass (so half a face < no face < whole face); a sliver cut off costs twice what it held.
#: Steeper slopes kept fewer boxes whole where boxes crowd an image (COCO val2017 first 128, its boxes as objects,
#: ratios 0.75/1/1.8: 73.1 % of boxes kept whole at slope 2, 72.7 % at 4, 72.5 % at 10).
_PARTIAL_PENALTY = 1.0
_CUT_SLOPE = 2.0
#: Smaller crops tried after the largest one, and how much of its importance a smaller one must keep (see best_crop).
_SHRINK_SCALES = (0.9, 0.8)
_SHRINK_KEEP = 0.97
#: Share of the (background-subtracted) importance the area of interest holds.
_AOI_MASS = 0.9
#: A map whose peak is below this multiple of its median has nothing standing out (the centre prior alone spans
#: 1 / (1 - _CENTRE_DEPTH) = 1.33): its area of interest is the whole image.
_AOI_MIN_PEAK = 1.5


# --- input checks ------------------------------------------------------------------------------------------------


def _as_rgb(rgb: npt.ArrayLike) -> UInt8Image:
    """The image as uint8 H x W x 3 (grey and RGBA accepted); InvalidArgumentError otherwise."""
    arr = np.asarray(rgb)
    if arr.dtype != np.uint8:
        raise InvalidArgumentError(f"image must be a uint8 array, got dtype {arr.dtype}")
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    elif arr.ndim == 3 and arr.shape[2] == 4:
        arr = arr[:, :, :3]
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise InvalidArgumentError(f"image must have shape (H, W, 3), got {np.asarray(rgb).shape}")
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise InvalidArgumentError(
            f"image must be at least 1 x 1 pixels, got {arr.shape[1]} x {arr.shape[0]}"
        )
    return np.ascontiguousarray(arr)


def _check_size(width: int, height: int) -> tuple[int, int]:
    for name, value in (("width", width), ("height", height)):
        if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
            raise InvalidArgumentError(f"image {name} must be a positive integer, got {value!r}")
    return int(width), int(height)


def _check_ratio(aspect_ratio: float) -> float:
    if isinstance(aspect_ratio, bool) or not isinstance(aspect_ratio, numbers.Real):
        raise InvalidArgumentError(f"aspect ratio must be a number, got {aspect_ratio!r}")
    value = float(aspect_ratio)
    if not math.isfinite(value) or value <= 0:
        raise InvalidArgumentError(f"aspect ratio must be a positive finite number, got {aspect_ratio!r}")
    return value


def _boxes_array(boxes: Sequence[BoundingBox], width: int, height: int) -> npt.NDArray[np.float64]:
    """Boxes as (N, 4) ``x1, y1, x2, y2``, grown to whole pixels and clipped to the image.

    Growing to whole pixels matters because crops are whole pixels: a face whose edge sits at y = 1.998 covers a
    sliver of row 1, and only a crop that starts at row 1 keeps it whole.
    """
    if not boxes:
        return np.zeros((0, 4), dtype=np.float64)
    arr = np.asarray([b.xyxy() for b in boxes], dtype=np.float64).reshape(-1, 4)
    if not np.all(np.isfinite(arr)):
        raise InvalidArgumentError("content boxes must have finite coordinates")
    arr[:, :2] = np.floor(arr[:, :2] + 1e-6)
    arr[:, 2:] = np.ceil(arr[:, 2:] - 1e-6)
    arr[:, [0, 2]] = np.clip(arr[:, [0, 2]], 0, width)
    arr[:, [1, 3]] = np.clip(arr[:, [1, 3]], 0, height)
    return arr


def _check_importance(importance: npt.ArrayLike) -> npt.NDArray[np.float64]:
    arr = np.asarray(importance, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise InvalidArgumentError(f"importance map must be a non-empty 2-D array, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)) or arr.min() < 0:
        raise InvalidArgumentError("importance map must be finite and non-negative")
    return arr


def validate_aspect_ratios(aspect_ratios: Iterable[float] | None) -> tuple[float, ...] | None:
    """Azure's rules for ``smartcrops-aspect-ratios``: at most 10 values, each in [0.75, 1.8].

    ``None`` or an empty sequence means "none requested" (one crop at a ratio we choose). Order and repeats are
    kept: one crop per value given.
    """
    if aspect_ratios is None:
        return None
    if isinstance(aspect_ratios, (str, bytes)) or not isinstance(aspect_ratios, Iterable):
        raise InvalidArgumentError(
            f"smartcrops-aspect-ratios must be a list of numbers, got {type(aspect_ratios).__name__}"
        )
    values = tuple(aspect_ratios)
    if not values:
        return None
    if len(values) > MAX_ASPECT_RATIOS:
        raise InvalidArgumentError(
            f"Too many smartcrops-aspect-ratios: at most {MAX_ASPECT_RATIOS} are accepted, got {len(values)}."
        )
    out: list[float] = []
    for value in values:
        ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(float(value))
        if not ok or not (MIN_ASPECT_RATIO <= float(value) <= MAX_ASPECT_RATIO):
            raise InvalidArgumentError(
                f"Invalid smartcrops-aspect-ratios value {value!r}: each aspect ratio (width / height) must be "
                f"between {MIN_ASPECT_RATIO} and {MAX_ASPECT_RATIO} inclusive."
            )
        out.append(float(value))
    return tuple(out)


# --- the importance map --------------------------------------------------------------------------------------------


def _spectral_residual(grey: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Hou & Zhang's spectral residual saliency, on a 64-pixel version of ``grey``, scaled to [0, 1].

    The log amplitude spectrum of natural images is smooth; what sticks out of it (the residual) is what is
    unexpected in the image. Back in image space with the original phase, it lights up the salient blobs.
    """
    import cv2

    h, w = grey.shape
    scale = 64.0 / max(h, w)
    small = cv2.resize(
        grey, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA
    )
    spectrum = np.fft.fft2(small.astype(np.float64))
    amplitude = np.abs(spectrum)
    log_amp = np.log(amplitude + 1e-3 * float(amplitude.mean()) + 1e-12)
    residual = log_amp - cv2.blur(log_amp, (3, 3), borderType=cv2.BORDER_REPLICATE)
    sal = np.abs(np.fft.ifft2(np.exp(residual + 1j * np.angle(spectrum)))) ** 2
    sal = cv2.GaussianBlur(sal.astype(np.float32), (0, 0), 2.5)
    sal = cv2.resize(sal, (w, h), interpolation=cv2.INTER_LINEAR)
    peak = float(sal.max())
    return (sal / peak).astype(np.float32) if peak > 0 else np.zeros_like(sal)


def _saliency(small: UInt8Image) -> npt.NDArray[np.float32]:
    """Pixel saliency in [0, 1] from three cues; an image without contrast gets (nearly) none."""
    import cv2

    h, w = small.shape[:2]
    blur_sigma = max(1.0, 0.015 * max(h, w))
    rgb = small.astype(np.float32) / 255.0
    grey = np.asarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), dtype=np.float32)

    # Spectral residual is scale-free, so gate it by how much contrast the image has at all (noise stays quiet).
    smooth = cv2.blur(grey, (3, 3))
    gate = min(1.0, float(smooth.max() - smooth.min()) / 0.08)
    spectral = _spectral_residual(grey) * gate if gate > 0 else np.zeros_like(grey)

    # Edge energy, spread over its neighbourhood so that textured objects become regions, not outlines.
    dx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3)
    dy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)
    energy = np.minimum(np.sqrt(dx * dx + dy * dy) / 4.0, 1.0)
    edges = np.asarray(cv2.GaussianBlur(energy, (0, 0), blur_sigma), dtype=np.float32)
    edges /= max(float(edges.max()), 0.05)

    # Colour contrast (Achanta's frequency-tuned saliency): distance in Lab from the image's mean colour.
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab)
    lab_blur = cv2.GaussianBlur(lab, (0, 0), 1.0)
    colour = np.sqrt(((lab_blur - lab.reshape(-1, 3).mean(axis=0)) ** 2).sum(axis=2)).astype(np.float32)
    colour /= max(float(colour.max()), 10.0)

    sal = _W_SPECTRAL * spectral + _W_EDGES * edges + _W_COLOUR * colour
    return cv2.GaussianBlur(sal.astype(np.float32), (0, 0), blur_sigma / 2)


def _centre_prior(h: int, w: int) -> npt.NDArray[np.float32]:
    ys = (np.arange(h, dtype=np.float32) + 0.5) / h - 0.5
    xs = (np.arange(w, dtype=np.float32) + 0.5) / w - 0.5
    g = np.exp(-(ys[:, None] ** 2 + xs[None, :] ** 2) / (2 * 0.35**2))
    return (1.0 - _CENTRE_DEPTH + _CENTRE_DEPTH * g).astype(np.float32)


def _coverage(lo: float, hi: float, n: int) -> npt.NDArray[np.float64]:
    """How much of each unit cell ``[i, i + 1)``, i < n, the interval ``[lo, hi)`` covers (anti-aliased raster)."""
    edges = np.arange(n + 1, dtype=np.float64)
    return np.clip(np.minimum(edges[1:], hi) - np.maximum(edges[:-1], lo), 0.0, 1.0)


def importance_map(
    rgb: npt.ArrayLike,
    *,
    boxes: Sequence[BoundingBox] = (),
    weights: Sequence[float] = (),
    long_side: int = MAP_LONG_SIDE,
) -> FloatMap:
    """How much each region of ``rgb`` matters, as a float32 map whose long side is ``long_side`` (or less).

    ``boxes`` (pixels of ``rgb``) are known important content with their ``weights`` (see :data:`BOX_WEIGHTS`;
    1.0 each when ``weights`` is empty). Each adds ``weight * BOX_MASS_SHARE`` times the pixel saliency mass,
    spread evenly over the box. The map is non-negative; its absolute scale has no meaning.
    """
    import cv2

    img = _as_rgb(rgb)
    height, width = img.shape[:2]
    if weights and len(weights) != len(boxes):
        raise InvalidArgumentError(f"got {len(boxes)} content boxes but {len(weights)} weights")
    w = np.asarray(weights if weights else [1.0] * len(boxes), dtype=np.float64)
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise InvalidArgumentError(f"content box weights must be finite and >= 0, got {list(weights)!r}")

    scale = min(1.0, long_side / max(height, width))
    mw, mh = max(1, round(width * scale)), max(1, round(height * scale))
    small = (
        img
        if (mw, mh) == (width, height)
        else np.asarray(cv2.resize(img, (mw, mh), interpolation=cv2.INTER_AREA), dtype=np.uint8)
    )
    prior = _centre_prior(mh, mw)
    imp = ((_saliency(small) + _FLOOR) * prior).astype(np.float64)

    total = float(imp.sum())
    sx, sy = mw / width, mh / height
    for (x1, y1, x2, y2), weight in zip(_boxes_array(boxes, width, height), w, strict=True):
        cover = np.outer(_coverage(y1 * sy, y2 * sy, mh), _coverage(x1 * sx, x2 * sx, mw))
        area = float(cover.sum())
        if area > 0 and weight > 0:
            imp += cover * (weight * BOX_MASS_SHARE * total / area)
    return imp.astype(np.float32)


# --- crops ---------------------------------------------------------------------------------------------------------


def _summed_area(importance: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    sat = np.zeros((importance.shape[0] + 1, importance.shape[1] + 1), dtype=np.float64)
    sat[1:, 1:] = importance.cumsum(axis=0).cumsum(axis=1)
    return sat


def _cell_weights(
    coords: npt.NDArray[np.float64], n_cells: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Lower summed-area-table index and interpolation weight for map coordinates in ``[0, n_cells]``."""
    u = np.clip(coords, 0.0, float(n_cells))
    i0 = np.minimum(np.floor(u).astype(np.int64), max(n_cells - 1, 0))
    return i0, u - i0


def _sat_grid(
    sat: npt.NDArray[np.float64], us: npt.NDArray[np.float64], vs: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """The summed-area table at every (row ``us[i]``, column ``vs[j]``), bilinearly interpolated.

    With importance constant inside each map cell, the summed-area table is exactly bilinear inside a cell, so this
    gives the exact importance of boxes whose edges fall between cell borders (crops are in original pixels).
    """
    mh, mw = sat.shape[0] - 1, sat.shape[1] - 1
    iy, ty = _cell_weights(us, mh)
    ix, tx = _cell_weights(vs, mw)
    iy1, ix1 = np.minimum(iy + 1, mh), np.minimum(ix + 1, mw)
    top = sat[iy][:, ix] * (1.0 - tx) + sat[iy][:, ix1] * tx
    bottom = sat[iy1][:, ix] * (1.0 - tx) + sat[iy1][:, ix1] * tx
    return top * (1.0 - ty)[:, None] + bottom * ty[:, None]


class _Scorer:
    """Importance kept by crops of one size at many positions, minus penalties for weighted boxes cut in half."""

    def __init__(
        self, importance: npt.NDArray[np.float64], width: int, height: int, boxes: npt.NDArray[np.float64]
    ):
        self.sat = _summed_area(importance)
        self.mh, self.mw = importance.shape
        self.sx, self.sy = self.mw / width, self.mh / height
        self.boxes = boxes
        if len(boxes):
            # Mass inside each box, read from the map itself (it already carries the box weights).
            self.box_mass = np.array([self.mass(*b) for b in boxes])
        else:
            self.box_mass = np.zeros(0)

    def mass(self, x1: float, y1: float, x2: float, y2: float) -> float:
        """Importance inside one box given in original pixels."""
        return float(self.grid(np.array([x1]), np.array([y1]), x2 - x1, y2 - y1, penalise=False)[0, 0])

    def grid(
        self,
        xs: npt.NDArray[np.float64],
        ys: npt.NDArray[np.float64],
        cw: float,
        ch: float,
        *,
        penalise: bool = True,
    ) -> npt.NDArray[np.float64]:
        """Scores (len(ys) x len(xs)) of the crops ``[x, x + cw) x [y, y + ch)``: four summed-area lookups each."""
        x0, x1 = xs * self.sx, (xs + cw) * self.sx
        y0, y1 = ys * self.sy, (ys + ch) * self.sy
        sat = self.sat
        score = (
            _sat_grid(sat, y1, x1) - _sat_grid(sat, y0, x1) - _sat_grid(sat, y1, x0) + _sat_grid(sat, y0, x0)
        )
        if penalise and len(self.boxes):
            score -= self._partial_penalty(xs, ys, cw, ch)
        return score

    def _partial_penalty(
        self, xs: npt.NDArray[np.float64], ys: npt.NDArray[np.float64], cw: float, ch: float
    ) -> npt.NDArray[np.float64]:
        """``penalty * mass * min(1, slope * min(f, 1 - f))`` per box, with f the share of the box inside the crop
        relative to the most of it a crop this size can hold: whole (or as whole as it can be) and out cost nothing."""
        total = np.zeros((len(ys), len(xs)), dtype=np.float64)
        for (bx1, by1, bx2, by2), mass in zip(self.boxes, self.box_mass, strict=True):
            bw, bh = bx2 - bx1, by2 - by1
            if bw <= 0 or bh <= 0 or mass <= 0:
                continue
            ox = np.clip(np.minimum(xs + cw, bx2) - np.maximum(xs, bx1), 0.0, None) / min(bw, cw)
            oy = np.clip(np.minimum(ys + ch, by2) - np.maximum(ys, by1), 0.0, None) / min(bh, ch)
            f = np.clip(np.outer(oy, ox), 0.0, 1.0)
            total += _PARTIAL_PENALTY * mass * np.minimum(1.0, _CUT_SLOPE * np.minimum(f, 1.0 - f))
        return total


def _largest_size(width: int, height: int, aspect_ratio: float) -> tuple[int, int]:
    """The largest integer (w, h) inside the image with w / h as close to ``aspect_ratio`` as rounding allows."""
    if width / height >= aspect_ratio:
        return min(width, max(1, round(height * aspect_ratio))), height
    return width, min(height, max(1, round(width / aspect_ratio)))


def _positions(span: int, step: int) -> npt.NDArray[np.float64]:
    """Integer offsets 0..span every ``step``, always including ``span``."""
    pos = np.arange(0, span + 1, max(1, step), dtype=np.int64)
    if pos[-1] != span:
        pos = np.append(pos, span)
    return pos.astype(np.float64)


def _argmax_central(
    score: npt.NDArray[np.float64],
    xs: npt.NDArray[np.float64],
    ys: npt.NDArray[np.float64],
    cx: float,
    cy: float,
) -> tuple[int, int]:
    """Index of the best score; among (near) ties, the position closest to the centre: deterministic."""
    best = float(score.max())
    tol = 1e-9 * max(1.0, abs(best))
    ties = np.argwhere(score >= best - tol)
    dist = (xs[ties[:, 1]] - cx) ** 2 + (ys[ties[:, 0]] - cy) ** 2
    iy, ix = ties[int(np.argmin(dist))]
    return int(iy), int(ix)


def _search(scorer: _Scorer, width: int, height: int, cw: int, ch: int) -> tuple[float, int, int]:
    """Best position of a ``cw x ch`` crop: every map cell's worth of offset, then every pixel around the best."""
    step_x = max(1, int(1.0 / scorer.sx))
    step_y = max(1, int(1.0 / scorer.sy))
    cx, cy = (width - cw) / 2, (height - ch) / 2
    xs, ys = _positions(width - cw, step_x), _positions(height - ch, step_y)
    iy, ix = _argmax_central(scorer.grid(xs, ys, cw, ch), xs, ys, cx, cy)
    x0, y0 = int(xs[ix]), int(ys[iy])
    fx = np.arange(max(0, x0 - step_x), min(width - cw, x0 + step_x) + 1, dtype=np.float64)
    fy = np.arange(max(0, y0 - step_y), min(height - ch, y0 + step_y) + 1, dtype=np.float64)
    fine = scorer.grid(fx, fy, cw, ch)
    iy, ix = _argmax_central(fine, fx, fy, cx, cy)
    return float(fine[iy, ix]), int(fx[ix]), int(fy[iy])


def best_crop(
    importance: npt.ArrayLike,
    width: int,
    height: int,
    aspect_ratio: float,
    *,
    boxes: Sequence[BoundingBox] = (),
    allow_smaller: bool = True,
) -> BoundingBox:
    """The crop of ``aspect_ratio`` (width / height) over a ``width x height`` image that keeps the most importance.

    The crop is the largest one of that ratio (integer pixels, inside the image, the ratio exact up to rounding one
    side to a whole pixel), placed where it holds the most of ``importance`` (any map size; it is scaled to the
    image). When the ratio is the image's own up to a pixel (``|width - ratio * height| <= 1``), that is the whole
    image. ``boxes`` are the weighted content boxes the
    map was built with: a crop edge through one of them is penalised, so a box that fits is kept whole.

    Smaller crops (90 % and 80 % of the largest's side) are taken only when they clearly help: one replaces the
    larger crop when it still keeps at least 97 % of the larger crop's score, i.e. the strip it drops held almost
    nothing, so the subject gets tighter framing at no loss. Pass ``allow_smaller=False`` for the largest crop.
    """
    imp = _check_importance(importance)
    width, height = _check_size(width, height)
    ratio = _check_ratio(aspect_ratio)
    if abs(width - ratio * height) <= 1.0:  # the image's own ratio, up to a pixel: nothing to crop
        return BoundingBox(0.0, 0.0, float(width), float(height))
    cw, ch = _largest_size(width, height, ratio)

    scorer = _Scorer(imp, width, height, _boxes_array(boxes, width, height))
    score, x, y = _search(scorer, width, height, cw, ch)
    best = (x, y, cw, ch)
    if allow_smaller:
        for scale in _SHRINK_SCALES:
            sw, sh = _largest_size(max(1, round(cw * scale)), max(1, round(ch * scale)), ratio)
            if (sw, sh) == (best[2], best[3]):
                continue
            s_score, sx, sy = _search(scorer, width, height, sw, sh)
            if s_score < _SHRINK_KEEP * score:
                break
            score, best = s_score, (sx, sy, sw, sh)
    x, y, cw, ch = best
    return BoundingBox(float(x), float(y), float(cw), float(ch))


def centred_crop(width: int, height: int, aspect_ratio: float) -> BoundingBox:
    """The largest crop of ``aspect_ratio`` centred in the image (integer pixels): the non-smart thumbnail."""
    width, height = _check_size(width, height)
    cw, ch = _largest_size(width, height, _check_ratio(aspect_ratio))
    return BoundingBox(float((width - cw) // 2), float((height - ch) // 2), float(cw), float(ch))


# --- area of interest and the default ratio ------------------------------------------------------------------------


def area_of_interest_from_map(
    importance: npt.ArrayLike,
    width: int,
    height: int,
    *,
    boxes: Sequence[BoundingBox] = (),
    mass: float = _AOI_MASS,
) -> BoundingBox:
    """The box (any aspect ratio, integer pixels) holding ``mass`` of the importance above the background level.

    The background level is the map's median, subtracted first: otherwise the floor and diffuse texture spread the
    mass everywhere and the answer would be "most of the image". The box is found by peeling, one map row or column
    at a time, whichever outer line holds the least, while what is left still holds ``mass`` of the total. It is
    then grown to include every weighted box. A map whose peak is under 1.5 x its median (nothing stands out)
    gives the whole image.
    """
    imp = _check_importance(importance)
    width, height = _check_size(width, height)
    if not (0.0 < mass <= 1.0):
        raise InvalidArgumentError(f"mass must be in (0, 1], got {mass!r}")
    median = float(np.median(imp))
    fg = np.clip(imp - median, 0.0, None)
    total = float(fg.sum())
    mh, mw = fg.shape
    if total <= 0 or float(imp.max()) < _AOI_MIN_PEAK * median:
        return BoundingBox(0.0, 0.0, float(width), float(height))

    sat = _summed_area(fg)

    def box_sum(x0: int, y0: int, x1: int, y1: int) -> float:
        return float(sat[y1, x1] - sat[y0, x1] - sat[y1, x0] + sat[y0, x0])

    x0, y0, x1, y1 = 0, 0, mw, mh
    kept, target = total, mass * total
    while x1 - x0 > 1 or y1 - y0 > 1:
        options = []
        if y1 - y0 > 1:
            options += [(box_sum(x0, y0, x1, y0 + 1), 0), (box_sum(x0, y1 - 1, x1, y1), 1)]
        if x1 - x0 > 1:
            options += [(box_sum(x0, y0, x0 + 1, y1), 2), (box_sum(x1 - 1, y0, x1, y1), 3)]
        line, side = min(options)
        if kept - line < target:
            break
        kept -= line
        if side == 0:
            y0 += 1
        elif side == 1:
            y1 -= 1
        elif side == 2:
            x0 += 1
        else:
            x1 -= 1

    sx, sy = mw / width, mh / height
    bx1, by1 = math.floor(x0 / sx), math.floor(y0 / sy)
    bx2, by2 = math.ceil(x1 / sx), math.ceil(y1 / sy)
    for ux1, uy1, ux2, uy2 in _boxes_array(boxes, width, height):
        if ux2 > ux1 and uy2 > uy1:
            bx1, by1 = min(bx1, math.floor(ux1)), min(by1, math.floor(uy1))
            bx2, by2 = max(bx2, math.ceil(ux2)), max(by2, math.ceil(uy2))
    bx1, by1 = max(0, bx1), max(0, by1)
    bx2, by2 = min(width, max(bx2, bx1 + 1)), min(height, max(by2, by1 + 1))
    return BoundingBox.from_xyxy(float(bx1), float(by1), float(bx2), float(by2))


def choose_aspect_ratio(
    importance: npt.ArrayLike, width: int, height: int, *, boxes: Sequence[BoundingBox] = ()
) -> float:
    """The ratio used when none is requested: the area of interest's own shape, clamped to [0.5, 2.0].

    Azure describes the default crop as the one "that best fits the image's region of interest"; taking the
    region's shape does exactly that, and a crop of that ratio placed by :func:`best_crop` frames it. Rounded to
    two decimals (what Azure reports). An image with nothing standing out gets its own ratio, clamped.
    """
    aoi = area_of_interest_from_map(importance, width, height, boxes=boxes)
    ratio = aoi.w / aoi.h
    return round(min(DEFAULT_MAX_ASPECT_RATIO, max(DEFAULT_MIN_ASPECT_RATIO, ratio)), 2)


# --- the public one-call functions ---------------------------------------------------------------------------------


def smart_crops_from_map(
    importance: npt.ArrayLike,
    width: int,
    height: int,
    aspect_ratios: Iterable[float] | None,
    *,
    boxes: Sequence[BoundingBox] = (),
) -> tuple[SmartCrop, ...]:
    """One :class:`SmartCrop` per requested ratio (validated), or one at :func:`choose_aspect_ratio`.

    ``SmartCrop.aspect_ratio`` is the requested value (so callers can match crops to requests); the box's own
    ratio equals it up to rounding a side to a whole pixel.
    """
    ratios = validate_aspect_ratios(aspect_ratios)
    if ratios is None:
        ratios = (choose_aspect_ratio(importance, width, height, boxes=boxes),)
    return tuple(
        SmartCrop(aspect_ratio=r, box=best_crop(importance, width, height, r, boxes=boxes)) for r in ratios
    )


def smart_crops(
    rgb: npt.ArrayLike,
    aspect_ratios: Iterable[float] | None = None,
    *,
    boxes: Sequence[BoundingBox] = (),
    weights: Sequence[float] = (),
) -> tuple[SmartCrop, ...]:
    """Azure v4.0 ``smartCrops`` on an RGB array: one crop per ratio in [0.75, 1.8] (at most 10), or one default."""
    ratios = validate_aspect_ratios(aspect_ratios)  # fail fast, before any pixel work
    img = _as_rgb(rgb)
    imp = importance_map(img, boxes=boxes, weights=weights)
    return smart_crops_from_map(imp, img.shape[1], img.shape[0], ratios, boxes=boxes)


def area_of_interest(rgb: npt.ArrayLike, *, boxes: Sequence[BoundingBox] = ()) -> BoundingBox:
    """Azure v3.2 ``areaOfInterest``: the region holding the important content, any aspect ratio.

    The tight part comes from pixel saliency alone; known content ``boxes`` (faces, people ...) are then included
    whole. Weighting them into the map instead would let one face's mass peel a salient object in half.
    """
    img = _as_rgb(rgb)
    return area_of_interest_from_map(importance_map(img), img.shape[1], img.shape[0], boxes=boxes)


def _check_thumbnail_side(name: str, value: int) -> int:
    if (
        not isinstance(value, numbers.Integral)
        or isinstance(value, bool)
        or not (1 <= value <= THUMBNAIL_MAX_SIDE)
    ):
        raise InvalidArgumentError(
            f"Thumbnail {name} must be an integer between 1 and {THUMBNAIL_MAX_SIDE} pixels, got {value!r}."
        )
    return int(value)


def check_thumbnail_size(width: int, height: int) -> tuple[int, int]:
    """``(width, height)`` checked (integers in ``1..THUMBNAIL_MAX_SIDE``), before any pixel is read."""
    return _check_thumbnail_side("width", width), _check_thumbnail_side("height", height)


def thumbnail(
    rgb: npt.ArrayLike,
    width: int,
    height: int,
    *,
    smart: bool = True,
    boxes: Sequence[BoundingBox] = (),
    weights: Sequence[float] = (),
) -> UInt8Image:
    """Azure v3.2 ``generateThumbnail``: exactly ``height x width x 3`` uint8.

    ``smart``: the :func:`best_crop` at ``width / height``; otherwise the centred crop of that ratio. The crop is
    then resized (``INTER_AREA`` when shrinking, which avoids aliasing; bicubic when enlarging).
    """
    import cv2

    width = _check_thumbnail_side("width", width)
    height = _check_thumbnail_side("height", height)
    img = _as_rgb(rgb)
    ih, iw = img.shape[:2]
    ratio = width / height
    if smart:
        box = best_crop(importance_map(img, boxes=boxes, weights=weights), iw, ih, ratio, boxes=boxes)
    else:
        box = centred_crop(iw, ih, ratio)
    x, y, cw, ch = int(box.x), int(box.y), int(box.w), int(box.h)
    crop = img[y : y + ch, x : x + cw]
    shrinking = cw >= width and ch >= height
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC
    out = cv2.resize(crop, (width, height), interpolation=interpolation)
    return np.ascontiguousarray(out.reshape(height, width, 3), dtype=np.uint8)
