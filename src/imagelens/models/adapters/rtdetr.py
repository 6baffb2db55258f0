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

Stages: ``preprocess`` (pixels -> tensor input) -> ``forward`` (the only torch call, under ``inference_mode``) ->
``postprocess`` (numpy). The module is read-only after loading, so one adapter serves the hub's threads.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import numpy as np
import numpy.typing as npt

from imagelens.errors import InvalidArgumentError, ModelUnavailableError
from imagelens.geometry import clip_xyxy, nms
from imagelens.models.adapters.base import mark_tiny
from imagelens.models.spec import ModelSpec

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

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
class DetectorParams:
    """Tuning from ``spec.options``.

    ``score_threshold`` filters ``objects``; ``person_threshold`` filters ``people``, lower, as Azure's people
    feature reports less certain persons than its objects feature does. One forward pass serves both: the adapter
    keeps every pair above the lower of the two and each feature filters. ``nms_iou``: class-aware NMS after the
    threshold (``None``: off, the models are trained NMS-free).
    """

    score_threshold: float = 0.5
    person_threshold: float = 0.3
    max_detections: int = 100
    nms_iou: float | None = None
    person_label: str = "person"

    def __post_init__(self) -> None:
        for name in ("score_threshold", "person_threshold"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise InvalidArgumentError(f"{name} must be in [0, 1], got {value!r}")
        if self.max_detections < 1:
            raise InvalidArgumentError(f"max_detections must be >= 1, got {self.max_detections!r}")
        if self.nms_iou is not None and not 0.0 < self.nms_iou <= 1.0:
            raise InvalidArgumentError(f"nms_iou must be in (0, 1] or None, got {self.nms_iou!r}")

    @property
    def min_threshold(self) -> float:
        return min(self.score_threshold, self.person_threshold)

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> DetectorParams:
        names = {"score_threshold", "person_threshold", "max_detections", "nms_iou", "person_label"}
        return cls(**{k: v for k, v in options.items() if k in names})


@dataclass(frozen=True, slots=True, eq=False)
class Detections:
    """(query, class) pairs above a threshold, best first: boxes ``x1, y1, x2, y2`` in original pixels (after EXIF
    rotation), scores in [0, 1], class ids, the query each came from, and the model's class names."""

    boxes: FloatArray
    scores: FloatArray
    labels: IntArray
    queries: IntArray
    label_names: tuple[str, ...]

    def __post_init__(self) -> None:
        n = len(self.scores)
        if self.boxes.shape != (n, 4) or self.labels.shape != (n,) or self.queries.shape != (n,):
            raise ValueError(
                f"boxes (N, 4), labels (N,), queries (N,) must match {n} scores; got {self.boxes.shape}, "
                f"{self.labels.shape}, {self.queries.shape}"
            )

    def __len__(self) -> int:
        return len(self.scores)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.label_names[int(i)] for i in self.labels)

    def select(self, index: npt.ArrayLike) -> Detections:
        """A subset (boolean mask or indices), order kept."""
        idx = np.asarray(index)
        return Detections(
            self.boxes[idx], self.scores[idx], self.labels[idx], self.queries[idx], self.label_names
        )


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


def sigmoid(x: npt.ArrayLike) -> FloatArray:
    """A sigmoid that cannot overflow (``exp`` of a large negative logit warns; ``tanh`` does not)."""
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(x, dtype=np.float64)))


def decode_detections(
    logits: npt.ArrayLike,
    boxes_cxcywh: npt.ArrayLike,
    width: int,
    height: int,
    *,
    threshold: float,
    max_detections: int,
    label_names: Sequence[str],
    nms_iou: float | None = None,
) -> Detections:
    """Raw DETR outputs for one image -> :class:`Detections` in pixels of a ``width`` x ``height`` image.

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
    if num_classes != len(label_names):
        raise ValueError(f"the model has {num_classes} classes but {len(label_names)} label names")
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
        labels=labels[nonempty].astype(np.int64),
        queries=queries[nonempty].astype(np.int64),
        label_names=tuple(label_names),
    )
    if nms_iou is not None and len(det):
        kept = [
            np.flatnonzero(det.labels == c)[
                nms(det.boxes[det.labels == c], det.scores[det.labels == c], nms_iou)
            ]
            for c in np.unique(det.labels)
        ]
        det = det.select(np.sort(np.concatenate(kept)))  # ``det`` is sorted, so sorted indices keep the order
    return det.select(np.arange(min(len(det), max_detections)))


class RTDetrAdapter:
    """A loaded RT-DETR(v2) or D-FINE checkpoint; ``detect(rgb)`` gives :class:`Detections`."""

    def __init__(
        self,
        spec: ModelSpec,
        model: Any,
        processing: ImageProcessing,
        label_names: tuple[str, ...],
        params: DetectorParams,
    ) -> None:
        self.spec = spec
        self.params = params
        self.processing = processing
        self.label_names = label_names
        self._model = model

    @classmethod
    def load(cls, path: Path | None, spec: ModelSpec) -> Self:
        import torch
        from transformers import AutoModelForObjectDetection

        if path is None:
            raise ModelUnavailableError(
                spec.id, "detector weights are not shipped in a package; no folder was given"
            )
        root = Path(path)
        config_file = root / PREPROCESSOR_FILE
        if not config_file.is_file():
            raise ModelUnavailableError(spec.id, f"{PREPROCESSOR_FILE} is missing from {root}")
        processing = ImageProcessing.from_config(json.loads(config_file.read_text(encoding="utf-8")))
        model = AutoModelForObjectDetection.from_pretrained(str(root), dtype=torch.float32).eval()
        model.requires_grad_(False)
        id2label = {int(k): str(v) for k, v in model.config.id2label.items()}
        label_names = tuple(id2label.get(i, f"class_{i}") for i in range(len(id2label)))
        return cls(spec, model, processing, label_names, DetectorParams.from_options(spec.options))

    # --- stages ---------------------------------------------------------------------------------------------------

    def preprocess(self, image: npt.NDArray[np.uint8]) -> tuple[npt.NDArray[np.float32], int, int]:
        """``(pixel_values, width, height)``: the network input and the original size boxes are mapped back to."""
        arr = np.asarray(image)
        if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
            raise InvalidArgumentError(f"expected a uint8 RGB array (H, W, 3), got {arr.dtype} {arr.shape}")
        return self.processing.apply(arr), int(arr.shape[1]), int(arr.shape[0])

    def forward(self, pixel_values: npt.NDArray[np.float32], width: int, height: int) -> RawDetections:
        import torch

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
            label_names=self.label_names,
            nms_iou=self.params.nms_iou,
        )

    def detect(self, image: npt.NDArray[np.uint8], threshold: float | None = None) -> Detections:
        """Everything above ``threshold`` (default: the lower of the objects and people thresholds)."""
        return self.postprocess(self.forward(*self.preprocess(image)), threshold)

    def close(self) -> None:
        self._model = None

    # --- tiny random model for tests ------------------------------------------------------------------------------

    @classmethod
    def write_tiny(cls, path: Path, spec: ModelSpec, seed: int = 0) -> None:
        """A tiny random RT-DETRv2 (or D-FINE, ``options["architecture"] == "d_fine"``) with the 80 COCO names and
        a 64x64 image-processor config, saved with ``save_pretrained`` as the Hub checkpoints are, then the marker.

        The stock init gives every class the prior score 0.01 and every query its anchor box: the class and box
        heads are re-drawn with a larger std so queries differ, then :func:`_calibrate_tiny_scores` places the mean
        scores so that both the objects and the people thresholds keep something.
        """
        import torch
        from transformers import RTDetrImageProcessorPil

        root = Path(path)
        root.mkdir(parents=True, exist_ok=True)
        arch = str(spec.options.get("architecture", "rt_detr_v2"))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = _tiny_model(arch)
            generator = torch.Generator().manual_seed(seed)
            with torch.no_grad():
                for name, param in model.named_parameters():
                    if ("class_embed" in name or "enc_score_head" in name) and name.endswith("weight"):
                        param.normal_(0.0, 0.25, generator=generator)
                    elif "bbox_embed" in name and ".layers.2." in name:
                        param.normal_(0.0, 0.2, generator=generator)
                _calibrate_tiny_scores(model, generator)
        model.save_pretrained(str(root))
        RTDetrImageProcessorPil(size={"height": 64, "width": 64}).save_pretrained(str(root))
        mark_tiny(root, spec, seed)


def _calibrate_tiny_scores(model: Any, generator: Any) -> None:
    """Shift the last class head's biases so that, on a grey image, "person" scores about 0.5 on average and the
    other classes draw mean logits from N(-3.5, 1): a random network otherwise ranks classes by chance, and a
    seed whose persons all score 0.01 would leave the people tests nothing to check."""
    import torch

    with torch.no_grad():
        logits = model(pixel_values=torch.full((1, 3, 64, 64), 0.5)).logits[0]
        target = torch.empty(logits.shape[1]).normal_(-3.5, 1.0, generator=generator)
        target[COCO_NAMES.index("person")] = 0.0
        shift = target - logits.mean(dim=0)
        last = max(
            int(n.split("class_embed.")[1].split(".")[0])
            for n, _ in model.named_parameters()
            if "class_embed." in n
        )
        biases = {
            id(p): p
            for n, p in model.named_parameters(remove_duplicate=False)
            if n.endswith(f"class_embed.{last}.bias")
        }
        for bias in biases.values():
            bias += shift


def _tiny_model(architecture: str) -> Any:
    """A random RT-DETRv2 or D-FINE of ~50k parameters (the smallest shapes transformers accepts: 2 decoder
    layers, because the box heads of layers 1.. are tied to layer 0's)."""
    id2label = dict(enumerate(COCO_NAMES))
    stages = ["stage2", "stage3", "stage4"]
    common: dict[str, Any] = dict(
        d_model=16,
        encoder_hidden_dim=16,
        encoder_in_channels=[16, 16, 16],
        encoder_ffn_dim=32,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        decoder_ffn_dim=32,
        decoder_layers=2,
        decoder_in_channels=[16, 16, 16],
        num_queries=30,
        num_denoising=0,
        id2label=id2label,
        label2id={v: k for k, v in id2label.items()},
    )
    if architecture == "rt_detr_v2":
        from transformers import RTDetrResNetConfig, RTDetrV2Config, RTDetrV2ForObjectDetection

        resnet: dict[str, Any] = dict(
            embedding_size=8,
            hidden_sizes=[8, 16, 16, 16],
            depths=[1, 1, 1, 1],
            layer_type="basic",
            out_features=stages,
        )
        return RTDetrV2ForObjectDetection(
            RTDetrV2Config(backbone_config=RTDetrResNetConfig(**resnet), **common)
        ).eval()
    if architecture == "d_fine":
        from transformers import DFineConfig, DFineForObjectDetection, HGNetV2Config

        hgnet: dict[str, Any] = dict(
            embedding_size=8,
            depths=[1, 1, 1, 1],
            hidden_sizes=[16, 16, 16, 16],
            stem_channels=[3, 8, 8],
            stage_in_channels=[8, 16, 16, 16],
            stage_mid_channels=[8, 8, 8, 8],
            stage_out_channels=[16, 16, 16, 16],
            stage_num_blocks=[1, 1, 1, 1],
            stage_numb_of_layers=[1, 1, 1, 1],
            out_features=stages,
        )
        config = DFineConfig(
            backbone_config=HGNetV2Config(**hgnet),
            lqe_hidden_dim=8,
            depth_mult=0.34,
            hidden_expansion=0.5,
            **common,
        )
        return DFineForObjectDetection(config).eval()
    raise InvalidArgumentError(f"architecture must be 'rt_detr_v2' or 'd_fine', got {architecture!r}")
