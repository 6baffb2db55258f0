"""YuNet (OpenCV Zoo, MIT) face detector: one ONNX file run by onnxruntime, decoded here.

We decode the twelve raw heads ourselves rather than going through ``cv2.FaceDetectorYN`` because the decoding is
the part worth testing (known raw outputs -> known boxes), onnxruntime is already the project's ONNX runtime, and it
accepts both exports in the wild: a graph with a fixed input size (letterboxed into it) and one with a free input
size (padded to a multiple of 32, as OpenCV does). The decoding is OpenCV's (``modules/objdetect/src/face_detect.cpp``):

* per stride ``s`` in (8, 16, 32) and grid cell ``(row, col)``: ``score = sqrt(clip(cls) * clip(obj))``;
* centre ``((col + dx) * s, (row + dy) * s)``, size ``(exp(dw) * s, exp(dh) * s)``;
* then greedy NMS and a cap on the number of faces.

Only boxes and scores leave this module: the five landmarks are dropped and nothing describes who a face is.
Stages: ``preprocess`` (resize, BGR, pad) -> ``forward`` (onnxruntime, the only backend call) -> ``postprocess``
(decode, NMS, back to original pixels). The session is thread-safe, so one adapter serves the hub's threads.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import numpy as np
import numpy.typing as npt

from imagelens.errors import InvalidArgumentError, ModelUnavailableError
from imagelens.geometry import clip_xyxy, iou_matrix
from imagelens.models.adapters.base import mark_tiny
from imagelens.models.spec import ModelSpec

FloatArray = npt.NDArray[np.float64]

STRIDES: tuple[int, ...] = (8, 16, 32)
#: The output names OpenCV's FaceDetectorYN asks the network for, in its order.
OUTPUT_NAMES: tuple[str, ...] = tuple(
    f"{head}_{s}" for head in ("cls", "obj", "bbox", "kps") for s in STRIDES
)
DIVISOR = 32
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
class FaceDetections:
    """Face boxes (``x1, y1, x2, y2``, original pixels after EXIF rotation) and scores, best first."""

    boxes: FloatArray
    scores: FloatArray

    def __post_init__(self) -> None:
        if self.boxes.shape != (len(self.scores), 4):
            raise ValueError(f"boxes must have shape ({len(self.scores)}, 4), got {self.boxes.shape}")

    def __len__(self) -> int:
        return len(self.scores)


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
) -> tuple[FloatArray, FloatArray]:
    """Raw YuNet heads -> ``(boxes xyxy, scores)`` in network-input pixels, before NMS, in grid order.

    ``outputs`` maps the names in :data:`OUTPUT_NAMES` to arrays of shape ``(1, rows * cols, k)`` with ``k`` 1 for
    cls/obj, 4 for bbox, 10 for kps; ``rows = input_height // stride``. Raises ValueError on other shapes.
    """
    boxes: list[FloatArray] = []
    scores: list[FloatArray] = []
    for s in STRIDES:
        rows, cols = input_height // s, input_width // s
        cells = rows * cols
        cls_ = _head(outputs, f"cls_{s}", cells, 1)[:, 0]
        obj = _head(outputs, f"obj_{s}", cells, 1)[:, 0]
        bbox = _head(outputs, f"bbox_{s}", cells, 4)
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
    if not boxes:
        return np.zeros((0, 4)), np.zeros(0)
    return np.concatenate(boxes), np.concatenate(scores)


def _head(outputs: Mapping[str, npt.ArrayLike], name: str, cells: int, k: int) -> FloatArray:
    if name not in outputs:
        raise ValueError(f"YuNet output '{name}' is missing; got {sorted(outputs)}")
    arr = np.asarray(outputs[name], dtype=np.float64)
    if arr.size != cells * k:
        raise ValueError(f"YuNet output '{name}' must hold (1, {cells}, {k}) values, got shape {arr.shape}")
    return arr.reshape(cells, k)


def select_faces(
    boxes: FloatArray, scores: FloatArray, params: FaceParams, scale: float, width: int, height: int
) -> FaceDetections:
    """NMS, the cap on faces, and the map back to original pixels (clipped to the image); drops empty boxes."""
    order = np.argsort(-scores, kind="stable")[:PRE_NMS_TOP_K]
    boxes, scores = boxes[order], scores[order]
    keep = greedy_nms(boxes, params.nms_iou, params.max_faces)
    out = clip_xyxy(boxes[keep] / scale, width, height)
    kept_scores = scores[keep]
    nonempty = (out[:, 2] > out[:, 0]) & (out[:, 3] > out[:, 1])
    return FaceDetections(boxes=out[nonempty], scores=kept_scores[nonempty])


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
    """A loaded YuNet model; ``detect(rgb)`` gives :class:`FaceDetections`."""

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
        #: ``(width, height)`` when the graph fixes its input size, else None (free size, padded to 32).
        self.fixed_size: tuple[int, int] | None = (
            (w, h) if isinstance(w, int) and isinstance(h, int) else None
        )
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

    def postprocess(self, outputs: Mapping[str, npt.ArrayLike], prepared: Prepared) -> FaceDetections:
        in_w, in_h = prepared.input_size
        boxes, scores = decode_yunet(outputs, in_w, in_h, self.params.score_threshold)
        return select_faces(boxes, scores, self.params, prepared.scale, prepared.width, prepared.height)

    def detect(self, image: npt.NDArray[np.uint8]) -> FaceDetections:
        prepared = self.preprocess(image)
        return self.postprocess(self.forward(prepared), prepared)

    def close(self) -> None:
        self._session = None

    # --- tiny random model for tests ------------------------------------------------------------------------------

    @classmethod
    def write_tiny(cls, path: Path, spec: ModelSpec, seed: int = 0) -> None:
        """A random ONNX graph with YuNet's input and twelve outputs (names, layouts, free input size), then the
        tiny marker. ``cv2.FaceDetectorYN`` accepts it as it accepts the real model."""
        import onnx

        model = tiny_yunet_graph(np.random.default_rng(seed))
        onnx.checker.check_model(model)
        root = Path(path)
        root.mkdir(parents=True, exist_ok=True)
        onnx.save_model(model, str(root / str(spec.options.get("file", "face_detection_yunet_2023mar.onnx"))))
        mark_tiny(root, spec, seed)


def tiny_yunet_graph(
    rng: np.random.Generator, fixed_size: tuple[int, int] | None = None, hidden: int = 4
) -> Any:
    """input (1, 3, H, W) BGR 0-255 -> per stride s: a conv with kernel = stride = s, ReLU, then 1x1 heads
    (cls, obj with a sigmoid; bbox; kps), each reshaped to (1, H/s * W/s, k) as YuNet lays them out.

    ``fixed_size`` ``(width, height)`` pins the input size, like exports made with a fixed dummy input.
    """
    from onnx import TensorProto, helper, numpy_helper

    def tensor(name: str, shape: tuple[int, ...], std: float, mean: float = 0.0) -> Any:
        return numpy_helper.from_array(rng.normal(mean, std, size=shape).astype(np.float32), name)

    h_dim: int | str = fixed_size[1] if fixed_size else "H"
    w_dim: int | str = fixed_size[0] if fixed_size else "W"
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, h_dim, w_dim])
    inits = [numpy_helper.from_array(np.asarray([1.0 / 255.0], np.float32), "inv255")]
    nodes = [helper.make_node("Mul", ["input", "inv255"], ["x01"])]
    outputs = []
    heads = {"cls": 1, "obj": 1, "bbox": 4, "kps": 10}
    for s in STRIDES:
        inits += [tensor(f"w{s}", (hidden, 3, s, s), 2.0 / s), tensor(f"b{s}", (hidden,), 0.5)]
        nodes += [
            helper.make_node("Conv", ["x01", f"w{s}", f"b{s}"], [f"c{s}"], strides=[s, s]),
            helper.make_node("Relu", [f"c{s}"], [f"f{s}"]),
        ]
        for head, k in heads.items():
            name = f"{head}_{s}"
            # scores centred near 0.5 so a usual threshold keeps some cells; bbox sizes around one to a few strides
            w_std = 1.0 if head in ("cls", "obj") else 0.3
            inits += [tensor(f"{name}_w", (k, hidden, 1, 1), w_std), tensor(f"{name}_b", (k,), 0.5, 0.5)]
            inits.append(numpy_helper.from_array(np.asarray([1, -1, k], np.int64), f"{name}_shape"))
            raw = f"{name}_raw"
            nodes.append(helper.make_node("Conv", [f"f{s}", f"{name}_w", f"{name}_b"], [raw]))
            if head in ("cls", "obj"):
                nodes.append(helper.make_node("Sigmoid", [raw], [f"{name}_sig"]))
                raw = f"{name}_sig"
            nodes += [
                helper.make_node("Transpose", [raw], [f"{name}_t"], perm=[0, 2, 3, 1]),
                helper.make_node("Reshape", [f"{name}_t", f"{name}_shape"], [name]),
            ]
            outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, None, k]))
    order = {n: i for i, n in enumerate(OUTPUT_NAMES)}
    outputs.sort(key=lambda o: order[o.name])
    graph = helper.make_graph(nodes, "tiny_yunet", [x], outputs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="imagelens")
    model.ir_version = 8
    return model
