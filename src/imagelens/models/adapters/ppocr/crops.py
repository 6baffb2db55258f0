"""Pixels for the recogniser: a detected line straightened to a rectangle, the recogniser's input tensor and which
of its columns hold ink; polygons back in the image; where the rapidocr package keeps its bundled models."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import numpy.typing as npt

from imagelens.geometry import quad_to_polygon
from imagelens.models.adapters.ppocr.pipeline import REC_HEIGHT, FloatArray
from imagelens.models.adapters.ppocr.words import ink_columns
from imagelens.types import Point, Polygon


def package_model_dir() -> Path:
    spec = importlib.util.find_spec("rapidocr")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError("rapidocr is not installed")
    return Path(spec.origin).parent / "models"


def crop_line(bgr: npt.NDArray[np.uint8], quad: npt.NDArray[np.float64]) -> npt.NDArray[np.uint8]:
    """The line's pixels, straightened to a rectangle as wide as the quad's top/bottom edges and as tall as its sides."""
    import cv2

    pts = quad.astype(np.float32)
    crop_w = max(1, int(max(np.linalg.norm(pts[0] - pts[1]), np.linalg.norm(pts[2] - pts[3]))))
    crop_h = max(1, int(max(np.linalg.norm(pts[0] - pts[3]), np.linalg.norm(pts[1] - pts[2]))))
    target = np.asarray([[0, 0], [crop_w, 0], [crop_w, crop_h], [0, crop_h]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(pts, target)
    crop = cv2.warpPerspective(
        bgr, matrix, (crop_w, crop_h), borderMode=cv2.BORDER_REPLICATE, flags=cv2.INTER_CUBIC
    )
    return np.asarray(crop, dtype=np.uint8)


def rec_input(crop: npt.NDArray[np.uint8], batch_w: int) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
    """PP-OCR recogniser input (height 48, aspect kept, normalised to [-1, 1], right-padded with zeros) and which of
    its pixel columns hold ink."""
    import cv2

    h, w = crop.shape[:2]
    resized_w = max(1, min(batch_w, math.ceil(REC_HEIGHT * w / max(1, h))))
    resized = cv2.resize(crop, (resized_w, REC_HEIGHT))
    out = np.zeros((3, REC_HEIGHT, batch_w), dtype=np.float32)
    out[:, :, :resized_w] = (resized.astype(np.float32).transpose(2, 0, 1) / 255.0 - 0.5) / 0.5
    gray = np.asarray(cv2.cvtColor(resized, cv2.COLOR_BGR2GRAY), dtype=np.uint8)
    return out, ink_columns(gray)


def clipped_polygon(quad: npt.ArrayLike, width: int, height: int) -> Polygon:
    pts = np.asarray(quad, dtype=np.float64).copy()
    pts[:, 0] = np.clip(pts[:, 0], 0, width)
    pts[:, 1] = np.clip(pts[:, 1], 0, height)
    poly = quad_to_polygon(pts)
    return Polygon(tuple(Point(round(pt.x, 1), round(pt.y, 1)) for pt in poly.points))
