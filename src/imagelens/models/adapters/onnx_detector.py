"""Small COCO detectors exported to ONNX with anchor-free grid heads: YOLOX-style and NanoDet-style (Apache-2.0),
run by onnxruntime on a CPU. One adapter, the head chosen by ``spec.options["head"]``.

Stages: ``preprocess`` (letterbox into a square input, channel order, normalisation) -> ``forward`` (onnxruntime,
the only backend call) -> ``postprocess`` (grid decode, one class per grid point, class-aware NMS, back to
original pixels). The decodings are the reference ones:

* ``yolox``: one output ``(1, N, 5 + C)`` over the grid points of strides 8, 16, 32 (row-major each), per row
  ``[dx, dy, dw, dh, obj, cls_0 .. cls_C-1]`` (obj and cls already sigmoid): centre ``((gx + dx) s, (gy + dy) s)``,
  size ``(exp(dw) s, exp(dh) s)``, score of class k ``obj * cls_k`` (YOLOX's ``postprocess``: the best class per
  point). Input: BGR 0-255, top-left letterbox on 114.
* ``nanodet``: per stride one class tensor ``(1, n, C)`` (sigmoid) and one box-distribution tensor
  ``(1, n, 4 (reg_max + 1))``, paired by their number of points, not by output order (GFL): the point of cell
  ``(gx, gy)`` is ``(gx s + (s - 1) / 2, gy s + (s - 1) / 2)``; each side's distance is the expectation of a
  softmax over ``reg_max + 1`` bins, times ``s``. Input: BGR, ``(x - mean) / std``, centred letterbox on 0.

Options: ``file``, ``head``, ``input_size``, ``letterbox`` (``"top-left"`` or ``"center"``), ``pad_value``,
``resize`` (``"linear"`` or ``"area"``), ``mean``/``std`` (BGR order; none: raw 0-255), ``strides``, ``reg_max``,
``nms_iou`` and the :class:`~imagelens.models.roles.DetectorParams` thresholds. Classes: the contiguous COCO 80.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import numpy as np
import numpy.typing as npt

from imagelens.detections import Detections
from imagelens.errors import InvalidArgumentError, ModelUnavailableError
from imagelens.geometry import clip_xyxy
from imagelens.models.adapters.rtdetr import COCO_NAMES
from imagelens.models.adapters.yunet import greedy_nms
from imagelens.models.roles import DetectorParams
from imagelens.models.spec import ModelSpec

FloatArray = npt.NDArray[np.float64]
HEADS = ("yolox", "nanodet")
#: Candidates kept (best first) before NMS: bounds the work on a noisy input at a low threshold.
PRE_NMS_TOP_K = 1000
_MAX_LOG_SIZE = 12.0


@dataclass(frozen=True, slots=True)
class GridPreprocess:
    """How an image becomes the square network input, and back: ``original = (input - offset) / scale``."""

    size: int = 416
    letterbox: str = "top-left"
    pad_value: float = 114.0
    resize: str = "linear"
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None

    def __post_init__(self) -> None:
        if self.letterbox not in ("top-left", "center") or self.resize not in ("linear", "area"):
            raise InvalidArgumentError(
                f"letterbox must be 'top-left' or 'center' and resize 'linear' or 'area', got "
                f"{self.letterbox!r} and {self.resize!r}"
            )
        if self.size < 32:
            raise InvalidArgumentError(f"input_size must be >= 32, got {self.size}")

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> GridPreprocess:
        mean, std = options.get("mean"), options.get("std")
        return cls(
            size=int(options.get("input_size", 416)),
            letterbox=str(options.get("letterbox", "top-left")),
            pad_value=float(options.get("pad_value", 114.0)),
            resize=str(options.get("resize", "linear")),
            mean=None if mean is None else tuple(float(v) for v in mean),  # type: ignore[arg-type]
            std=None if std is None else tuple(float(v) for v in std),  # type: ignore[arg-type]
        )

    def apply(self, rgb: npt.NDArray[np.uint8]) -> tuple[npt.NDArray[np.float32], float, tuple[float, float]]:
        """``(blob (1, 3, S, S), scale, (offset x, offset y))`` for an RGB uint8 image."""
        import cv2

        height, width = rgb.shape[:2]
        scale = min(self.size / height, self.size / width)
        new_w, new_h = max(1, int(width * scale)), max(1, int(height * scale))
        bgr = np.ascontiguousarray(rgb[:, :, ::-1])
        interpolation = cv2.INTER_AREA if self.resize == "area" else cv2.INTER_LINEAR
        small = (
            cv2.resize(bgr, (new_w, new_h), interpolation=interpolation)
            if (new_w, new_h) != (width, height)
            else bgr
        )
        if self.letterbox == "center":
            left, top = int((self.size - new_w) * 0.5), int((self.size - new_h) * 0.5)
        else:
            left, top = 0, 0
        canvas = np.full((self.size, self.size, 3), self.pad_value, dtype=np.float32)
        canvas[top : top + new_h, left : left + new_w] = small
        if self.mean is not None:
            canvas -= np.asarray(self.mean, np.float32)
        if self.std is not None:
            canvas /= np.asarray(self.std, np.float32)
        blob = np.ascontiguousarray(canvas.transpose(2, 0, 1)[None])
        return blob, (new_w / width + new_h / height) / 2, (float(left), float(top))


def grid_points(size: int, stride: int) -> tuple[FloatArray, FloatArray]:
    """``(gx, gy)`` of every cell of a square ``size`` input at ``stride``, row-major."""
    cells = math.ceil(size / stride)
    gy, gx = np.divmod(np.arange(cells * cells, dtype=np.float64), cells)
    return gx, gy


def decode_yolox(
    output: npt.ArrayLike, size: int, strides: Sequence[int]
) -> tuple[FloatArray, FloatArray, npt.NDArray[np.int64]]:
    """YOLOX's ``(1, N, 5 + C)`` -> ``(boxes xyxy (N, 4), best score (N,), its class (N,))`` in input pixels."""
    rows = np.asarray(output, dtype=np.float64)
    rows = rows.reshape(-1, rows.shape[-1])
    gxs, gys, ss = [], [], []
    for s in strides:
        gx, gy = grid_points(size, s)
        gxs.append(gx)
        gys.append(gy)
        ss.append(np.full(len(gx), float(s)))
    gx, gy, st = np.concatenate(gxs), np.concatenate(gys), np.concatenate(ss)
    if len(rows) != len(gx) or rows.shape[1] < 6:
        raise ValueError(f"YOLOX output must be (1, {len(gx)}, 5 + classes) for {size} px, got {rows.shape}")
    cx, cy = (gx + rows[:, 0]) * st, (gy + rows[:, 1]) * st
    w = np.exp(np.clip(rows[:, 2], -_MAX_LOG_SIZE, _MAX_LOG_SIZE)) * st
    h = np.exp(np.clip(rows[:, 3], -_MAX_LOG_SIZE, _MAX_LOG_SIZE)) * st
    scores = rows[:, 4:5] * rows[:, 5:]
    labels = np.argmax(scores, axis=1)
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    return boxes, scores[np.arange(len(rows)), labels], labels.astype(np.int64)


def decode_nanodet(
    outputs: Sequence[npt.ArrayLike], size: int, strides: Sequence[int], reg_max: int, num_classes: int
) -> tuple[FloatArray, FloatArray, npt.NDArray[np.int64]]:
    """NanoDet's per-stride class and distribution tensors (any order) -> boxes, best score, class (input px)."""
    bins = reg_max + 1
    by_points: dict[int, dict[str, FloatArray]] = {}
    for out in outputs:
        arr = np.asarray(out, dtype=np.float64)
        arr = arr.reshape(-1, arr.shape[-1])
        kind = "cls" if arr.shape[1] == num_classes else "reg" if arr.shape[1] == 4 * bins else None
        if kind is None:
            raise ValueError(f"NanoDet output with {arr.shape[1]} values per point is neither {num_classes} classes "
                             f"nor 4 x {bins} bins")  # fmt: skip
        by_points.setdefault(len(arr), {})[kind] = arr
    boxes, scores, labels = [], [], []
    for s in strides:
        gx, gy = grid_points(size, s)
        pair = by_points.get(len(gx), {})
        if set(pair) != {"cls", "reg"}:
            raise ValueError(f"NanoDet outputs for stride {s} ({len(gx)} points) are missing")
        logits = pair["reg"].reshape(-1, 4, bins)
        prob = np.exp(logits - logits.max(axis=2, keepdims=True))
        prob /= prob.sum(axis=2, keepdims=True)
        dist = (prob * np.arange(bins)).sum(axis=2) * s  # left, top, right, bottom
        px, py = gx * s + (s - 1) / 2, gy * s + (s - 1) / 2
        boxes.append(np.stack([px - dist[:, 0], py - dist[:, 1], px + dist[:, 2], py + dist[:, 3]], axis=1))
        label = np.argmax(pair["cls"], axis=1)
        scores.append(pair["cls"][np.arange(len(label)), label])
        labels.append(label)
    return (
        np.clip(np.concatenate(boxes), 0, size),
        np.concatenate(scores),
        np.concatenate(labels).astype(np.int64),
    )


def select(
    boxes: FloatArray,
    scores: FloatArray,
    labels: npt.NDArray[np.int64],
    *,
    threshold: float,
    nms_iou: float | None,
    max_detections: int,
    scale: float,
    offset: tuple[float, float],
    width: int,
    height: int,
    class_names: Sequence[str],
) -> Detections:
    """Threshold, class-aware NMS, the cap, and the map back to the ``width`` x ``height`` image, best first."""
    keep = np.flatnonzero(scores >= threshold)
    order = keep[np.argsort(-scores[keep], kind="stable")][:PRE_NMS_TOP_K]
    b, sc, lb = boxes[order], scores[order], labels[order]
    if nms_iou is not None and len(b):
        shift = (lb.astype(np.float64) * (4.0 * (b.max() + 1.0)))[:, None]  # classes far apart: never overlap
        kept = greedy_nms(b + shift, nms_iou, max_detections)
        b, sc, lb = b[kept], sc[kept], lb[kept]
    b, sc, lb = b[:max_detections], sc[:max_detections], lb[:max_detections]
    out = (b - np.asarray([offset[0], offset[1], offset[0], offset[1]])) / scale
    out = clip_xyxy(out, width, height)
    nonempty = (out[:, 2] > out[:, 0]) & (out[:, 3] > out[:, 1])
    return Detections(
        boxes=out[nonempty], scores=sc[nonempty], class_ids=lb[nonempty], class_names=tuple(class_names)
    )


@dataclass(frozen=True, slots=True)
class Prepared:
    blob: npt.NDArray[np.float32]
    scale: float
    offset: tuple[float, float]
    width: int
    height: int


class OnnxGridDetector:
    """A :class:`~imagelens.models.roles.Detector` for YOLOX- and NanoDet-style ONNX exports."""

    spec: ModelSpec
    params: DetectorParams
    prep: GridPreprocess
    head: str
    strides: tuple[int, ...]
    reg_max: int
    class_names: tuple[str, ...]

    def __init__(self, spec: ModelSpec, session: Any) -> None:
        self.spec = spec
        options = spec.options
        self.params = DetectorParams.from_options(options)
        self.prep = GridPreprocess.from_options(options)
        self.head = str(options.get("head", "yolox"))
        if self.head not in HEADS:
            raise InvalidArgumentError(f"{spec.id}: head must be one of {HEADS}, got {self.head!r}")
        self.strides = tuple(int(s) for s in options.get("strides", (8, 16, 32)))
        self.reg_max = int(options.get("reg_max", 7))
        self.class_names = tuple(options.get("class_names") or COCO_NAMES)
        self._session = session
        inp = session.get_inputs()[0]
        self._input_name: str = inp.name
        self._output_names = [o.name for o in session.get_outputs()]

    @classmethod
    def load(cls, path: Path | None, spec: ModelSpec) -> Self:
        import onnxruntime as ort

        if path is None:
            raise ModelUnavailableError(
                spec.id, "the weights are not shipped in a package; no folder was given"
            )
        name = str(spec.options.get("file") or "")
        file = Path(path) / name if name else None
        if file is None or not file.is_file():
            found = sorted(Path(path).glob("*.onnx"))
            if not found:
                raise ModelUnavailableError(spec.id, f"no .onnx file ({name or 'any'}) in {path}")
            file = found[0]
        options = ort.SessionOptions()
        options.log_severity_level = (
            3  # NanoDet exports list their weights as optional inputs: a harmless warning
        )
        threads = spec.options.get("threads")
        if threads:
            options.intra_op_num_threads = int(threads)
        session = ort.InferenceSession(str(file), sess_options=options, providers=["CPUExecutionProvider"])
        return cls(spec, session)

    # --- stages ---------------------------------------------------------------------------------------------------

    def preprocess(self, rgb: npt.NDArray[np.uint8]) -> Prepared:
        arr = np.asarray(rgb)
        if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8 or 0 in arr.shape[:2]:
            raise InvalidArgumentError(f"expected a uint8 RGB array (H, W, 3), got {arr.dtype} {arr.shape}")
        blob, scale, offset = self.prep.apply(arr)
        return Prepared(blob, scale, offset, int(arr.shape[1]), int(arr.shape[0]))

    def forward(self, prepared: Prepared) -> list[npt.NDArray[np.float32]]:
        return list(self._session.run(self._output_names, {self._input_name: prepared.blob}))

    def postprocess(
        self, outputs: Sequence[npt.ArrayLike], prepared: Prepared, threshold: float | None = None
    ) -> Detections:
        size = self.prep.size
        if self.head == "yolox":
            boxes, scores, labels = decode_yolox(outputs[0], size, self.strides)
        else:
            boxes, scores, labels = decode_nanodet(
                outputs, size, self.strides, self.reg_max, len(self.class_names)
            )
        return select(
            boxes, scores, labels,
            threshold=self.params.min_threshold if threshold is None else threshold,
            nms_iou=self.params.nms_iou, max_detections=self.params.max_detections,
            scale=prepared.scale, offset=prepared.offset, width=prepared.width, height=prepared.height,
            class_names=self.class_names,
        )  # fmt: skip

    def detect(self, rgb: npt.NDArray[np.uint8], threshold: float | None = None) -> Detections:
        """Every detection (one class per grid point) scoring at least ``threshold``, best first."""
        prepared = self.preprocess(rgb)
        return self.postprocess(self.forward(prepared), prepared, threshold)

    def close(self) -> None:
        self._session = None


if TYPE_CHECKING:  # mypy checks the adapter against its role's Protocol
    from imagelens.models.roles import Detector

    _conforms: type[Detector] = OnnxGridDetector
