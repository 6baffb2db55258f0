"""YuNet (OpenCV Zoo, MIT) face detector: one ONNX file run by onnxruntime, decoded here.

We decode the twelve raw heads ourselves rather than going through ``cv2.FaceDetectorYN`` because the decoding is
the part worth testing (known raw outputs -> known boxes), onnxruntime is already the project's ONNX runtime, and it
accepts both exports in the wild: a graph with a fixed input size (letterboxed into it) and one with a free input
size (padded to a multiple of 32, as OpenCV does). The decoding is OpenCV's (``modules/objdetect/src/face_detect.cpp``):

* per stride ``s`` in (8, 16, 32) and grid cell ``(row, col)``: ``score = sqrt(clip(cls) * clip(obj))``;
* centre ``((col + dx) * s, (row + dy) * s)``, size ``(exp(dw) * s, exp(dh) * s)``;
* five landmarks (right eye, left eye, nose tip, right and left mouth corners) at ``((col + lx) * s, (row + ly) * s)``;
* then greedy NMS and a cap on the number of faces.

Boxes, scores and the five landmarks (as ``keypoints``) leave this module as a
:class:`~imagelens.detections.Detections` of the one class ``"face"``; nothing describes who a face is.
Stages: ``preprocess`` (resize, BGR, pad) -> ``forward`` (onnxruntime, the only backend call) -> ``postprocess``
(decode, NMS, back to original pixels). The session is thread-safe, so one adapter serves the hub's threads.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import numpy as np
import numpy.typing as npt

from imagelens.detections import Detections
from imagelens.errors import InvalidArgumentError, ModelUnavailableError
from imagelens.geometry import clip_xyxy, iou_matrix
from imagelens.models.spec import ModelSpec

FloatArray = npt.NDArray[np.float64]

STRIDES: tuple[int, ...] = (8, 16, 32)
#: The output names OpenCV's FaceDetectorYN asks the network for, in its order.
OUTPUT_NAMES: tuple[str, ...] = tuple(
    f"{head}_{s}" for head in ("cls", "obj", "bbox", "kps") for s in STRIDES
)
DIVISOR = 32
#: The one class of a face detector's :class:`~imagelens.detections.Detections`.
FACE_CLASSES: tuple[str, ...] = ("face",)
#: Landmarks per face, in YuNet's order.
LANDMARKS: tuple[str, ...] = ("right_eye", "left_eye", "nose_tip", "right_mouth_corner", "left_mouth_corner")
#: Candidates kept (best first) before NMS: bounds the NMS work on pathological inputs (noise, huge crowds).
PRE_NMS_TOP_K = 2000
#: ``exp`` of a log-size above this is already far outside any image; clipping keeps numpy quiet.
_MAX_LOG_SIZE = 12.0


@dataclass(frozen=True, slots=True)
class FaceParams:
    """Tuning from ``spec.options``. ``max_side``: longer side of the network input for free-size graphs (YuNet is
    trained for faces of about 10-300 px; bigger images are downscaled and boxes scaled back)."""

    score_threshold: float = 0.7
    nms_iou: float = 0.3
    max_faces: int = 100
    max_side: int = 640

    def __post_init__(self) -> None:
        if not 0.0 <= self.score_threshold <= 1.0:
            raise InvalidArgumentError(f"score_threshold must be in [0, 1], got {self.score_threshold!r}")
        if not 0.0 < self.nms_iou <= 1.0:
            raise InvalidArgumentError(f"nms_iou must be in (0, 1], got {self.nms_iou!r}")
        if self.max_faces < 1 or self.max_side < DIVISOR:
            raise InvalidArgumentError(
                f"max_faces must be >= 1 and max_side >= {DIVISOR}, got {self.max_faces!r} and {self.max_side!r}"
            )

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> FaceParams:
        names = {"score_threshold", "nms_iou", "max_faces", "max_side"}
        return cls(**{k: v for k, v in options.items() if k in names})


@dataclass(frozen=True, slots=True)
class Prepared:
    """The network input and how to map its pixels back: ``original = input / scale``."""

    blob: npt.NDArray[np.float32]
    scale: float
    width: int
    height: int

    @property
    def input_size(self) -> tuple[int, int]:
        """``(width, height)`` of the (padded) network input."""
        return int(self.blob.shape[3]), int(self.blob.shape[2])


def decode_yunet(
    outputs: Mapping[str, npt.ArrayLike],
    input_width: int,
    input_height: int,
    score_threshold: float,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Raw YuNet heads -> ``(boxes xyxy (N, 4), scores (N,), landmarks (N, 5, 2))`` in network-input pixels, before
    NMS, in grid order.

    ``outputs`` maps the names in :data:`OUTPUT_NAMES` to arrays of shape ``(1, rows * cols, k)`` with ``k`` 1 for
    cls/obj, 4 for bbox, 10 for kps; ``rows = input_height // stride``. Raises ValueError on other shapes.
    """
    boxes: list[FloatArray] = []
    scores: list[FloatArray] = []
    landmarks: list[FloatArray] = []
    for s in STRIDES:
        rows, cols = input_height // s, input_width // s
        cells = rows * cols
        cls_ = _head(outputs, f"cls_{s}", cells, 1)[:, 0]
        obj = _head(outputs, f"obj_{s}", cells, 1)[:, 0]
        bbox = _head(outputs, f"bbox_{s}", cells, 4)
        kps = _head(outputs, f"kps_{s}", cells, 2 * len(LANDMARKS))
        score = np.sqrt(np.clip(cls_, 0.0, 1.0) * np.clip(obj, 0.0, 1.0))
        keep = np.flatnonzero(score >= score_threshold)
        if not len(keep):
            continue
        row, col = np.divmod(keep, cols)
        b = bbox[keep]
        cx = (col + b[:, 0]) * s
        cy = (row + b[:, 1]) * s
        w = np.exp(np.clip(b[:, 2], -_MAX_LOG_SIZE, _MAX_LOG_SIZE)) * s
        h = np.exp(np.clip(b[:, 3], -_MAX_LOG_SIZE, _MAX_LOG_SIZE)) * s
        boxes.append(np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1))
        scores.append(score[keep])
        offsets = kps[keep].reshape(-1, len(LANDMARKS), 2)
        landmarks.append((offsets + np.stack([col, row], axis=1)[:, None, :]) * s)
    if not boxes:
        return np.zeros((0, 4)), np.zeros(0), np.zeros((0, len(LANDMARKS), 2))
    return np.concatenate(boxes), np.concatenate(scores), np.concatenate(landmarks)


def _head(outputs: Mapping[str, npt.ArrayLike], name: str, cells: int, k: int) -> FloatArray:
    if name not in outputs:
        raise ValueError(f"YuNet output '{name}' is missing; got {sorted(outputs)}")
    arr = np.asarray(outputs[name], dtype=np.float64)
    if arr.size != cells * k:
        raise ValueError(f"YuNet output '{name}' must hold (1, {cells}, {k}) values, got shape {arr.shape}")
    return arr.reshape(cells, k)


def select_faces(
    boxes: FloatArray,
    scores: FloatArray,
    params: FaceParams,
    scale: float,
    width: int,
    height: int,
    landmarks: FloatArray | None = None,
) -> Detections:
    """NMS, the cap on faces, and the map back to original pixels (boxes clipped to the image, landmarks not:
    a landmark of a face cut by the border may lie outside it); drops empty boxes."""
    order = np.argsort(-scores, kind="stable")[:PRE_NMS_TOP_K]
    boxes, scores = boxes[order], scores[order]
    keep = greedy_nms(boxes, params.nms_iou, params.max_faces)
    out = clip_xyxy(boxes[keep] / scale, width, height)
    nonempty = (out[:, 2] > out[:, 0]) & (out[:, 3] > out[:, 1])
    kept = keep[nonempty]
    return Detections(
        boxes=out[nonempty],
        scores=scores[kept],
        class_ids=np.zeros(len(kept), np.int64),
        class_names=FACE_CLASSES,
        keypoints=None if landmarks is None else landmarks[order][kept] / scale,
    )


def greedy_nms(boxes_sorted: FloatArray, iou_threshold: float, max_keep: int) -> npt.NDArray[np.int64]:
    """Greedy NMS over boxes already sorted best first, stopping after ``max_keep`` kept boxes.

    Same result as :func:`imagelens.geometry.nms` truncated to ``max_keep``, but it computes IoU only against the
    boxes it keeps (``O(kept x N)``), not the full ``N x N`` matrix: a crowd or a noisy input can put thousands of
    cells above the score threshold.
    """
    alive = np.ones(len(boxes_sorted), dtype=bool)
    keep: list[int] = []
    while len(keep) < max_keep:
        candidates = np.flatnonzero(alive)
        if not len(candidates):
            break
        i = int(candidates[0])
        keep.append(i)
        alive[i] = False
        rest = candidates[1:]
        if len(rest):
            alive[rest[iou_matrix(boxes_sorted[i : i + 1], boxes_sorted[rest])[0] > iou_threshold]] = False
    return np.asarray(keep, dtype=np.int64)


class YuNetAdapter:
    """A loaded YuNet model: a :class:`~imagelens.models.roles.FaceDetector` whose ``detect(rgb)`` gives
    :class:`~imagelens.detections.Detections` (class ``"face"``, five landmarks as ``keypoints``)."""

    spec: ModelSpec
    params: FaceParams
    #: ``(width, height)`` when the graph fixes its input size, else None (free size, padded to 32).
    fixed_size: tuple[int, int] | None

    def __init__(self, spec: ModelSpec, session: Any, params: FaceParams) -> None:
        self.spec = spec
        self.params = params
        self._session = session
        inp = session.get_inputs()[0]
        self._input_name: str = inp.name
        shape = list(inp.shape)
        if len(shape) != 4:
            raise ValueError(f"YuNet input must be (N, 3, H, W), got {shape}")
        h, w = shape[2], shape[3]
        self.fixed_size = (w, h) if isinstance(w, int) and isinstance(h, int) else None
        missing = set(OUTPUT_NAMES) - {o.name for o in session.get_outputs()}
        if missing:
            raise ValueError(f"not a YuNet graph: outputs {sorted(missing)} are missing")

    @classmethod
    def load(cls, path: Path | None, spec: ModelSpec) -> Self:
        import onnxruntime as ort

        if path is None:
            raise ModelUnavailableError(
                spec.id, "YuNet weights are not shipped in a package; no folder was given"
            )
        file = Path(path) / str(spec.options.get("file", "face_detection_yunet_2023mar.onnx"))
        if not file.is_file():
            raise ModelUnavailableError(spec.id, f"the file {file.name} is missing from {path}")
        options = ort.SessionOptions()
        options.log_severity_level = 3
        session = ort.InferenceSession(str(file), sess_options=options, providers=["CPUExecutionProvider"])
        return cls(spec, session, FaceParams.from_options(spec.options))

    # --- stages ---------------------------------------------------------------------------------------------------

    def preprocess(self, image: npt.NDArray[np.uint8]) -> Prepared:
        """RGB uint8 (H, W, 3) -> BGR float blob (1, 3, H', W'), raw 0-255 values as YuNet was trained on.

        Fixed-size graphs: letterboxed (aspect kept, padded bottom-right). Free-size graphs: downscaled so the long
        side is at most ``max_side``, then padded bottom-right to a multiple of 32 (never upscaled: YuNet finds small
        faces at their own size).
        """
        import cv2

        arr = np.asarray(image)
        if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
            raise InvalidArgumentError(f"expected a uint8 RGB array (H, W, 3), got {arr.dtype} {arr.shape}")
        height, width = arr.shape[:2]
        if self.fixed_size is not None:
            pad_w, pad_h = self.fixed_size
            scale = min(pad_w / width, pad_h / height)
        else:
            scale = min(1.0, self.params.max_side / max(width, height))
        new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
        if self.fixed_size is None:
            pad_w = math.ceil(new_w / DIVISOR) * DIVISOR
            pad_h = math.ceil(new_h / DIVISOR) * DIVISOR
        bgr: npt.NDArray[Any] = arr[:, :, ::-1]
        if (new_w, new_h) != (width, height):
            bgr = cv2.resize(
                bgr, (new_w, new_h), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
            )
        blob = np.zeros((1, 3, pad_h, pad_w), dtype=np.float32)
        blob[0, :, :new_h, :new_w] = bgr.transpose(2, 0, 1)
        # the real scale per axis differs from ``scale`` by rounding; use the mean of the two (sub-pixel)
        real_scale = (new_w / width + new_h / height) / 2
        return Prepared(blob=blob, scale=real_scale, width=width, height=height)

    def forward(self, prepared: Prepared) -> dict[str, npt.NDArray[np.float32]]:
        values = self._session.run(list(OUTPUT_NAMES), {self._input_name: prepared.blob})
        return dict(zip(OUTPUT_NAMES, values, strict=True))

    def postprocess(self, outputs: Mapping[str, npt.ArrayLike], prepared: Prepared) -> Detections:
        in_w, in_h = prepared.input_size
        boxes, scores, landmarks = decode_yunet(outputs, in_w, in_h, self.params.score_threshold)
        return select_faces(
            boxes, scores, self.params, prepared.scale, prepared.width, prepared.height, landmarks
        )

    def detect(self, rgb: npt.NDArray[np.uint8]) -> Detections:
        """Faces, best first, in pixels of ``rgb``."""
        prepared = self.preprocess(rgb)
        return self.postprocess(self.forward(prepared), prepared)

    def close(self) -> None:
        self._session = None


if TYPE_CHECKING:  # mypy checks the adapter against its role's Protocol
    from imagelens.models.roles import FaceDetector

    _conforms: type[FaceDetector] = YuNetAdapter
