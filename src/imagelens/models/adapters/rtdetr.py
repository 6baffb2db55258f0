"""COCO object detectors of the DETR family with real scores: RT-DETRv2 and D-FINE (Apache-2.0), via transformers.

Both are NMS-free set predictors: each of ``num_queries`` queries gives one box and one sigmoid score per class
(they are trained with a focal / varifocal loss, so ``sigmoid(logit)`` is the model's own per-class confidence;
we report it unchanged). Post-processing follows the reference one (RT-DETR's ``PostProcessor``, transformers'
``post_process_object_detection``): the top ``num_queries`` (query, class) pairs of the flattened score matrix,
a score threshold, boxes from normalised ``cx, cy, w, h`` to pixels. We add what a service needs: boxes in the
ORIGINAL image's pixels, clipped to it, empty ones dropped, an optional class-aware NMS, and a cap.

Preprocessing is our own few lines of numpy/Pillow reading the checkpoint's ``preprocessor_config.json`` (resize
with the configured Pillow filter, rescale, optional normalise) rather than transformers' image processor, so
serving needs no torchvision; a test checks it matches ``RTDetrImageProcessorPil`` exactly.

Stages: ``preprocess`` (pixels -> tensor input) -> ``forward`` (the network: in OpenVINO f32 where it is installed,
see :mod:`.detr_openvino`, else torch under ``inference_mode``) -> ``postprocess`` (numpy). The network is read-only
after loading, so one adapter serves the hub's threads.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import numpy as np
import numpy.typing as npt

from imagelens import deadline as deadlines
from imagelens.detections import Detections
from imagelens.errors import InvalidArgumentError
from imagelens.geometry import clip_xyxy
from imagelens.models.adapters.base import checkpoint_folder
from imagelens.models.adapters.deadline_hooks import check_in_layers
from imagelens.models.adapters.detr_openvino import OpenVinoDetr, openvino_network, prepare_network
from imagelens.models.roles import DetectorParams
from imagelens.models.spec import ModelSpec
from imagelens.numeric import sigmoid

#: The 80 COCO detection classes in the contiguous order RT-DETR / D-FINE checkpoints use (``id2label`` 0..79).
COCO_NAMES: tuple[str, ...] = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors", "teddy bear",
    "hair drier", "toothbrush",
)  # fmt: skip

PREPROCESSOR_FILE = "preprocessor_config.json"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True, slots=True)
class ImageProcessing:
    """The parts of a transformers ``RTDetrImageProcessor`` config that change the pixels."""

    height: int = 640
    width: int = 640
    resample: int = 2  # PIL.Image.Resampling.BILINEAR
    do_resize: bool = True
    do_rescale: bool = True
    rescale_factor: float = 1.0 / 255.0
    do_normalize: bool = False
    image_mean: tuple[float, ...] = IMAGENET_MEAN
    image_std: tuple[float, ...] = IMAGENET_STD

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ImageProcessing:
        """Reads a saved ``preprocessor_config.json``; refuses what it cannot reproduce instead of guessing."""
        size = dict(config.get("size") or {"height": 640, "width": 640})
        if set(size) != {"height", "width"}:
            raise ValueError(f"only a fixed {{'height', 'width'}} resize is supported, got size={size}")
        height, width = int(size["height"]), int(size["width"])
        pad_size = config.get("pad_size")
        if config.get("do_pad") and pad_size not in (None, {"height": height, "width": width}):
            raise ValueError(f"padding to {pad_size} after resizing to {width}x{height} is not supported")
        return cls(
            height=height,
            width=width,
            resample=int(config.get("resample", 2)),
            do_resize=bool(config.get("do_resize", True)),
            do_rescale=bool(config.get("do_rescale", True)),
            rescale_factor=float(config.get("rescale_factor", 1.0 / 255.0)),
            do_normalize=bool(config.get("do_normalize", False)),
            image_mean=tuple(float(v) for v in config.get("image_mean", IMAGENET_MEAN)),
            image_std=tuple(float(v) for v in config.get("image_std", IMAGENET_STD)),
        )

    def apply(self, image: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        """RGB uint8 (H, W, 3) -> float32 (1, 3, height, width), stretched to the fixed size as the processor does."""
        from PIL import Image

        arr = image
        if self.do_resize and arr.shape[:2] != (self.height, self.width):
            pil = Image.fromarray(np.ascontiguousarray(arr))
            arr = np.asarray(pil.resize((self.width, self.height), resample=Image.Resampling(self.resample)))
        out: npt.NDArray[np.float32] = arr.astype(np.float32)
        if self.do_rescale:
            out *= np.float32(self.rescale_factor)
        if self.do_normalize:
            out -= np.asarray(self.image_mean, np.float32)
            out /= np.asarray(self.image_std, np.float32)
        return np.ascontiguousarray(out.transpose(2, 0, 1)[None])


@dataclass(frozen=True, slots=True)
class RawDetections:
    """What the network says for one image: class logits (Q, C) and normalised ``cx, cy, w, h`` boxes (Q, 4)."""

    logits: npt.NDArray[np.float32]
    boxes: npt.NDArray[np.float32]
    width: int
    height: int


def decode_detections(
    logits: npt.ArrayLike,
    boxes_cxcywh: npt.ArrayLike,
    width: int,
    height: int,
    *,
    threshold: float,
    max_detections: int,
    class_names: Sequence[str],
    nms_iou: float | None = None,
) -> Detections:
    """Raw DETR outputs for one image -> :class:`~imagelens.detections.Detections` in pixels of a ``width`` x
    ``height`` image, with the query each (query, class) pair came from in ``data["query"]``.

    ``logits`` (Q, C) are per-class sigmoid logits; ``boxes_cxcywh`` (Q, 4) are relative to the image (the network
    input is the whole image stretched, so the same fractions hold in the original). Takes the top Q (query, class)
    pairs by score, keeps those ``>= threshold``, clips boxes to the image and drops empty ones, applies class-aware
    NMS when ``nms_iou`` is set, and returns at most ``max_detections``, best first (ties: lower query, then class).
    """
    lg = np.asarray(logits, dtype=np.float64)
    bx = np.asarray(boxes_cxcywh, dtype=np.float64)
    if lg.ndim != 2 or bx.shape != (lg.shape[0], 4):
        raise ValueError(f"expected logits (Q, C) and boxes (Q, 4), got {lg.shape} and {bx.shape}")
    num_queries, num_classes = lg.shape
    if num_classes != len(class_names):
        raise ValueError(f"the model has {num_classes} classes but {len(class_names)} class names")
    scores = sigmoid(lg).ravel()
    order = np.argsort(-scores, kind="stable")[:num_queries]
    order = order[scores[order] >= threshold]
    queries, labels = np.divmod(order, num_classes)
    cx, cy, w, h = bx[queries].T
    xyxy = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1) * np.asarray(
        [width, height, width, height], dtype=np.float64
    )
    xyxy = clip_xyxy(xyxy, width, height)
    nonempty = (xyxy[:, 2] > xyxy[:, 0]) & (xyxy[:, 3] > xyxy[:, 1])
    det = Detections(
        boxes=xyxy[nonempty],
        scores=scores[order][nonempty],
        class_ids=labels[nonempty],
        class_names=tuple(class_names),
        data={"query": queries[nonempty].astype(np.int64)},
    )
    if nms_iou is not None:
        det = det.nms(nms_iou)  # class-aware; a stable re-sort keeps the tie order
    return det.head(max_detections)


class RTDetrAdapter:
    """A loaded RT-DETR(v2) or D-FINE checkpoint: a :class:`~imagelens.models.roles.Detector` whose
    ``detect(rgb)`` gives :class:`~imagelens.detections.Detections` with ``data["query"]``."""

    spec: ModelSpec
    params: DetectorParams
    processing: ImageProcessing
    #: The checkpoint's classes (``id2label`` in id order).
    class_names: tuple[str, ...]

    def __init__(
        self,
        spec: ModelSpec,
        model: Any,
        processing: ImageProcessing,
        class_names: tuple[str, ...],
        params: DetectorParams,
        network: OpenVinoDetr | None = None,
    ) -> None:
        self.spec = spec
        self.params = params
        self.processing = processing
        self.class_names = class_names
        self._model = model  # the torch model, or None when ``network`` (OpenVINO) runs instead
        #: the network in OpenVINO (detr_openvino.py), or None: torch's
        self.network = network

    @classmethod
    def prepare(cls, path: Path | None, spec: ModelSpec) -> str | None:
        """Export the network to OpenVINO now, where it will run there (what a first load would otherwise do),
        without loading the model; what was done, or ``None``."""
        root, processing = _checkpoint(path, spec)
        ir = prepare_network(root, spec.id, processing.height, processing.width)
        return None if ir is None else f"network in OpenVINO: {ir.parent}"

    @classmethod
    def load(cls, path: Path | None, spec: ModelSpec) -> Self:
        import torch
        from transformers import AutoModelForObjectDetection

        root, processing = _checkpoint(path, spec)
        params = DetectorParams.from_options(spec.options)
        network = openvino_network(root, spec.id, processing.height, processing.width)
        if network is not None:
            config = json.loads((root / "config.json").read_text(encoding="utf-8"))
            names = _class_names({int(k): str(v) for k, v in dict(config.get("id2label") or {}).items()})
            return cls(spec, None, processing, names, params, network)
        model = AutoModelForObjectDetection.from_pretrained(str(root), dtype=torch.float32).eval()
        model.requires_grad_(False)
        check_in_layers(model)  # a forward pass stops at the request's deadline
        names = _class_names({int(k): str(v) for k, v in model.config.id2label.items()})
        return cls(spec, model, processing, names, params)

    # --- stages ---------------------------------------------------------------------------------------------------

    def preprocess(self, image: npt.NDArray[np.uint8]) -> tuple[npt.NDArray[np.float32], int, int]:
        """``(pixel_values, width, height)``: the network input and the original size boxes are mapped back to."""
        arr = np.asarray(image)
        if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
            raise InvalidArgumentError(f"expected a uint8 RGB array (H, W, 3), got {arr.dtype} {arr.shape}")
        return self.processing.apply(arr), int(arr.shape[1]), int(arr.shape[0])

    def forward(self, pixel_values: npt.NDArray[np.float32], width: int, height: int) -> RawDetections:
        import torch

        if self.network is not None:
            deadlines.check()  # OpenVINO runs the network in one call: the deadline is checked around it
            logits, boxes = self.network(pixel_values)
            deadlines.check()
            return RawDetections(logits=logits, boxes=boxes, width=width, height=height)
        with torch.inference_mode():
            out = self._model(pixel_values=torch.from_numpy(pixel_values))
        return RawDetections(
            logits=out.logits[0].float().numpy(),
            boxes=out.pred_boxes[0].float().numpy(),
            width=width,
            height=height,
        )

    def postprocess(self, raw: RawDetections, threshold: float | None = None) -> Detections:
        return decode_detections(
            raw.logits,
            raw.boxes,
            raw.width,
            raw.height,
            threshold=self.params.min_threshold if threshold is None else threshold,
            max_detections=self.params.max_detections,
            class_names=self.class_names,
            nms_iou=self.params.nms_iou,
        )

    def detect(self, rgb: npt.NDArray[np.uint8], threshold: float | None = None) -> Detections:
        """Every (query, class) pair scoring at least ``threshold`` (default: the lower of the objects and people
        thresholds), best first."""
        return self.postprocess(self.forward(*self.preprocess(rgb)), threshold)

    def close(self) -> None:
        self._model = None
        self.network = None


def _checkpoint(path: Path | None, spec: ModelSpec) -> tuple[Path, ImageProcessing]:
    """The checkpoint's folder and its preprocessing; a clear error when they are missing."""
    root = checkpoint_folder(path, spec, "detector", PREPROCESSOR_FILE)
    config = json.loads((root / PREPROCESSOR_FILE).read_text(encoding="utf-8"))
    return root, ImageProcessing.from_config(config)


def _class_names(id2label: Mapping[int, str]) -> tuple[str, ...]:
    """A checkpoint's ``id2label`` as names in id order (a missing id is ``class_<id>``)."""
    return tuple(id2label.get(i, f"class_{i}") for i in range(len(id2label)))


if TYPE_CHECKING:  # mypy checks the adapter against its role's Protocol
    from imagelens.models.roles import Detector

    _conforms: type[Detector] = RTDetrAdapter
