"""Open-vocabulary object detection with OWLv2 (``google/owlv2-base-patch16-ensemble``, Apache-2.0), via transformers.

OWLv2 scores every image patch (3600 at 960 px) against free-text queries: ``sigmoid(logit)`` per (patch, query),
one box per patch. We use it as a *generic product detector*: a handful of prompts ("a product on a shelf",
"a bottle", ...), each box labelled with its best prompt, then class-agnostic NMS, because "a bottle" and
"a product on a shelf" are usually the same object and a shelf needs one box per facing.

Geometry, the part that is easy to get wrong: the processor pads the image at the bottom and right to a square
of side ``max(width, height)`` *before* resizing it to the network size, so the model's normalised boxes are
relative to that square, not to the image. Pixels are therefore ``box * max(width, height)`` on both axes
(not ``* width`` and ``* height``); boxes in the padding are clipped away.

Preprocessing is our own numpy/scipy copy of ``Owlv2ImageProcessorPil`` (rescale, pad with zeros, resize with a
Gaussian anti-aliasing filter and linear ``scipy.ndimage.zoom``, normalise), in float32 to halve the memory of
large photos; a test checks it against transformers. Text queries are embedded once per prompt set and cached,
so a request costs one vision pass.

Stages: ``preprocess`` (pixels -> tensor input) -> ``forward`` (the only torch call) -> ``postprocess`` (numpy).
"""

from __future__ import annotations

import json
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import numpy as np
import numpy.typing as npt

from imagelens.errors import InvalidArgumentError, ModelUnavailableError
from imagelens.geometry import clip_xyxy, nms
from imagelens.models.adapters.base import mark_tiny
from imagelens.models.adapters.tiny_tokenizers import byte_level_clip_tokenizer
from imagelens.models.spec import ModelSpec

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

PREPROCESSOR_FILE = "preprocessor_config.json"
OPENAI_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

#: Label -> prompt. Labels are what results report; prompts are what the text encoder reads.
DEFAULT_PROMPTS: Mapping[str, str] = {
    "product": "a product on a shelf",
    "bottle": "a bottle",
    "box": "a box",
    "can": "a can",
    "package": "a package",
}
MAX_PROMPTS = 64
_ARTICLE = re.compile(r"^(a|an|the)\s+", re.IGNORECASE)


# --- prompts and parameters ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Query:
    """One text query: the ``label`` results carry and the ``prompt`` the text encoder reads."""

    label: str
    prompt: str


def parse_prompts(value: Mapping[str, str] | Sequence[str] | str) -> tuple[Query, ...]:
    """Queries from ``{label: prompt}``, or from prompts alone (label = the prompt without a leading article:
    ``"a bottle"`` -> ``"bottle"``), or from ``"label=prompt"`` strings. Labels must be unique."""
    if isinstance(value, str):
        value = [value]
    if isinstance(value, Mapping):
        pairs = [(str(k), v) for k, v in value.items()]
    elif isinstance(value, Sequence):
        pairs = []
        for item in value:
            if not isinstance(item, str):
                raise InvalidArgumentError(f"prompts must be strings, got {item!r}")
            label, sep, prompt = item.partition("=")
            if sep and label.strip() and prompt.strip():
                pairs.append((label.strip(), prompt))
            else:
                pairs.append((_ARTICLE.sub("", item.strip()), item))
    else:
        raise InvalidArgumentError(
            f"prompts must be a mapping label -> prompt or a list of prompts, got {value!r}"
        )
    if not 1 <= len(pairs) <= MAX_PROMPTS:
        raise InvalidArgumentError(f"between 1 and {MAX_PROMPTS} prompts are needed, got {len(pairs)}")
    queries = []
    for label, prompt in pairs:
        if not isinstance(prompt, str) or not prompt.strip() or not label.strip():
            raise InvalidArgumentError(
                f"a prompt and its label must be non-empty strings, got {label!r}: {prompt!r}"
            )
        queries.append(Query(label.strip(), " ".join(prompt.split())))
    labels = [q.label for q in queries]
    if len(set(labels)) != len(labels):
        dup = next(lbl for lbl in labels if labels.count(lbl) > 1)
        raise InvalidArgumentError(f"prompt labels must be unique; {dup!r} appears {labels.count(dup)} times")
    return tuple(queries)


@dataclass(frozen=True, slots=True)
class OpenVocabParams:
    """Tuning from ``spec.options``.

    ``score_threshold`` is on ``sigmoid(logit)`` of the best query (OWL-ViT's own demos use 0.1; text-query scores
    of a correct box are often only 0.2-0.4). ``nms_iou``: class-agnostic NMS (``None``: off). ``max_detections``
    is high because a shelf photo holds many facings.
    """

    queries: tuple[Query, ...] = parse_prompts(DEFAULT_PROMPTS)
    score_threshold: float = 0.1
    nms_iou: float | None = 0.5
    max_detections: int = 300

    def __post_init__(self) -> None:
        if not 0.0 <= self.score_threshold <= 1.0:
            raise InvalidArgumentError(f"score_threshold must be in [0, 1], got {self.score_threshold!r}")
        if self.nms_iou is not None and not 0.0 < self.nms_iou <= 1.0:
            raise InvalidArgumentError(f"nms_iou must be in (0, 1] or None, got {self.nms_iou!r}")
        if self.max_detections < 1:
            raise InvalidArgumentError(f"max_detections must be >= 1, got {self.max_detections!r}")

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> OpenVocabParams:
        kwargs: dict[str, Any] = {
            k: options[k] for k in ("score_threshold", "nms_iou", "max_detections") if k in options
        }
        if "prompts" in options:
            kwargs["queries"] = parse_prompts(options["prompts"])
        return cls(**kwargs)


# --- detections ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False)
class OpenVocabDetections:
    """Boxes ``x1, y1, x2, y2`` in original pixels (after EXIF rotation), best first; ``scores`` in [0, 1] for the
    best query; ``labels`` index ``label_names`` (the query labels); ``patches`` name the patch each box came from."""

    boxes: FloatArray
    scores: FloatArray
    labels: IntArray
    patches: IntArray
    label_names: tuple[str, ...]

    def __post_init__(self) -> None:
        n = len(self.scores)
        if self.boxes.shape != (n, 4) or self.labels.shape != (n,) or self.patches.shape != (n,):
            raise ValueError(
                f"boxes (N, 4), labels (N,), patches (N,) must match {n} scores; got {self.boxes.shape}, "
                f"{self.labels.shape}, {self.patches.shape}"
            )

    def __len__(self) -> int:
        return len(self.scores)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.label_names[int(i)] for i in self.labels)

    def select(self, index: npt.ArrayLike) -> OpenVocabDetections:
        """A subset (boolean mask or indices), order kept."""
        idx = np.asarray(index)
        return OpenVocabDetections(
            self.boxes[idx], self.scores[idx], self.labels[idx], self.patches[idx], self.label_names
        )


def sigmoid(x: npt.ArrayLike) -> FloatArray:
    """Overflow-free sigmoid (masked queries carry float32's most negative logit)."""
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(x, dtype=np.float64)))


def decode_open_vocab(
    logits: npt.ArrayLike,
    boxes_cxcywh: npt.ArrayLike,
    width: int,
    height: int,
    *,
    threshold: float,
    label_names: Sequence[str],
    nms_iou: float | None = 0.5,
    max_detections: int = 300,
) -> OpenVocabDetections:
    """Raw OWLv2 outputs for one image -> detections in pixels of the ``width`` x ``height`` original.

    ``logits`` (P, Q): per patch and query; ``boxes_cxcywh`` (P, 4) normalised to the zero-padded square of side
    ``max(width, height)``. Each patch keeps its best query; patches scoring ``>= threshold`` are scaled by that
    side and clipped to the image. Boxes centred in the padding (the model looking at the zero fill) and boxes
    under a pixel wide or high after clipping are dropped. Then class-agnostic NMS and the cap. Ties keep the
    lower patch index first, so results are deterministic.
    """
    lg = np.asarray(logits, dtype=np.float64)
    bx = np.asarray(boxes_cxcywh, dtype=np.float64)
    if lg.ndim != 2 or bx.shape != (lg.shape[0], 4):
        raise ValueError(f"expected logits (P, Q) and boxes (P, 4), got {lg.shape} and {bx.shape}")
    if lg.shape[1] != len(label_names):
        raise ValueError(f"{lg.shape[1]} queries but {len(label_names)} label names")
    if width < 1 or height < 1:
        raise ValueError(f"width and height must be >= 1, got {width}x{height}")
    best = np.argmax(lg, axis=1)
    scores = sigmoid(lg[np.arange(len(lg)), best])
    order = np.argsort(-scores, kind="stable")
    order = order[scores[order] >= threshold]
    side = float(max(width, height))
    cx, cy, w, h = (bx[order] * side).T
    xyxy = clip_xyxy(
        np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1).reshape(-1, 4), width, height
    )
    centred_inside = (cx >= 0) & (cx < width) & (cy >= 0) & (cy < height)
    nonempty = centred_inside & (xyxy[:, 2] - xyxy[:, 0] >= 1.0) & (xyxy[:, 3] - xyxy[:, 1] >= 1.0)
    det = OpenVocabDetections(
        boxes=xyxy[nonempty],
        scores=scores[order][nonempty],
        labels=best[order][nonempty].astype(np.int64),
        patches=order[nonempty].astype(np.int64),
        label_names=tuple(label_names),
    )
    if nms_iou is not None and len(det):
        det = det.select(np.sort(nms(det.boxes, det.scores, nms_iou)))  # sorted indices keep best-first order
    return det.select(np.arange(min(len(det), max_detections)))


# --- preprocessing ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OwlImageProcessing:
    """The parts of an ``Owlv2ImageProcessor`` config that change the pixels: rescale, zero-pad to a square at the
    bottom and right, resize to ``size`` with anti-aliasing, normalise."""

    size: int = 960
    rescale_factor: float = 1.0 / 255.0
    image_mean: tuple[float, float, float] = OPENAI_CLIP_MEAN
    image_std: tuple[float, float, float] = OPENAI_CLIP_STD

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> OwlImageProcessing:
        """Reads a saved ``preprocessor_config.json``; refuses what it cannot reproduce instead of guessing."""
        size = dict(config.get("size") or {"height": 960, "width": 960})
        if set(size) != {"height", "width"} or size["height"] != size["width"]:
            raise ValueError(f"only a square {{'height', 'width'}} size is supported, got size={size}")
        for flag in ("do_rescale", "do_pad", "do_resize", "do_normalize"):
            if config.get(flag, True) is False:
                raise ValueError(f"{flag}=false is not supported (OWLv2 checkpoints set it true)")
        return cls(
            size=int(size["height"]),
            rescale_factor=float(config.get("rescale_factor", 1.0 / 255.0)),
            image_mean=tuple(config.get("image_mean", OPENAI_CLIP_MEAN)),  # type: ignore[arg-type]
            image_std=tuple(config.get("image_std", OPENAI_CLIP_STD)),  # type: ignore[arg-type]
        )

    def apply(self, image: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        """RGB uint8 (H, W, 3) -> float32 (1, 3, size, size)."""
        from scipy import ndimage

        arr = np.asarray(image)
        height, width = arr.shape[:2]
        side = max(height, width)
        padded = np.zeros((side, side, 3), dtype=np.float32)
        padded[:height, :width] = arr.astype(np.float32) * np.float32(self.rescale_factor)
        factor = side / self.size
        if side != self.size:
            if factor > 1:  # anti-aliasing as skimage.transform.resize does it: sigma = (factor - 1) / 2
                sigma = (factor - 1.0) / 2.0
                filtered = ndimage.gaussian_filter(padded, (sigma, sigma, 0.0), mode="mirror", cval=0.0)
            else:
                filtered = padded
            zoomed = ndimage.zoom(
                filtered, (1 / factor, 1 / factor, 1.0), order=1, mode="mirror", cval=0.0, grid_mode=True
            )
            padded = np.clip(zoomed, padded.min(), padded.max())
        mean = np.asarray(self.image_mean, dtype=np.float32)
        std = np.asarray(self.image_std, dtype=np.float32)
        out = (padded - mean) / std
        return np.ascontiguousarray(out.transpose(2, 0, 1)[None], dtype=np.float32)


# --- the adapter --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RawOpenVocab:
    """What the network says for one image: logits (P, Q), boxes (P, 4) ``cx, cy, w, h`` relative to the padded
    square, class-agnostic objectness logits (P,), and the original size."""

    logits: npt.NDArray[np.float32]
    boxes: npt.NDArray[np.float32]
    objectness: npt.NDArray[np.float32]
    width: int
    height: int


@dataclass(frozen=True, slots=True, eq=False)
class QueryEmbeddings:
    queries: tuple[Query, ...]
    embeds: Any  # torch.Tensor (Q, D)

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(q.label for q in self.queries)


class Owlv2Adapter:
    """A loaded OWLv2 checkpoint; ``detect(rgb, prompts)`` gives :class:`OpenVocabDetections`."""

    _QUERY_CACHE = 32

    def __init__(
        self,
        spec: ModelSpec,
        model: Any,
        tokenizer: Any,
        processing: OwlImageProcessing,
        params: OpenVocabParams,
    ) -> None:
        self.spec = spec
        self.params = params
        self.processing = processing
        self._model = model
        self._tokenizer = tokenizer
        self._max_tokens = int(model.config.text_config.max_position_embeddings)
        self._queries: OrderedDict[tuple[str, ...], Any] = OrderedDict()
        self._lock = threading.Lock()

    @classmethod
    def load(cls, path: Path | None, spec: ModelSpec) -> Self:
        import torch
        from transformers import AutoTokenizer, Owlv2ForObjectDetection

        if path is None:
            raise ModelUnavailableError(
                spec.id, "OWLv2 weights are not shipped in a package; no folder was given"
            )
        root = Path(path)
        config_file = root / PREPROCESSOR_FILE
        if not config_file.is_file():
            raise ModelUnavailableError(spec.id, f"{PREPROCESSOR_FILE} is missing from {root}")
        processing = OwlImageProcessing.from_config(json.loads(config_file.read_text(encoding="utf-8")))
        model = Owlv2ForObjectDetection.from_pretrained(str(root), dtype=torch.float32).eval()
        model.requires_grad_(False)
        if model.config.vision_config.image_size != processing.size:
            raise ValueError(
                f"the preprocessor resizes to {processing.size} px but the vision model expects "
                f"{model.config.vision_config.image_size} px"
            )
        tokenizer = AutoTokenizer.from_pretrained(str(root))
        return cls(spec, model, tokenizer, processing, OpenVocabParams.from_options(spec.options))

    # --- text queries ---------------------------------------------------------------------------------------------

    def encode_queries(self, queries: Sequence[Query]) -> QueryEmbeddings:
        """Text embeddings of the prompts (cached per prompt set: the text tower runs once per set)."""
        import torch

        key = tuple(q.prompt for q in queries)
        with self._lock:
            cached = self._queries.get(key)
            if cached is not None:
                self._queries.move_to_end(key)
                return QueryEmbeddings(tuple(queries), cached)
        tokens = self._tokenizer(
            list(key), padding="max_length", max_length=self._max_tokens, truncation=False
        )
        too_long = [p for p, ids in zip(key, tokens["input_ids"], strict=True) if len(ids) > self._max_tokens]
        if too_long:
            raise InvalidArgumentError(
                f"prompt {too_long[0]!r} is longer than the model's {self._max_tokens} text tokens; shorten it"
            )
        with torch.inference_mode():
            out = self._model.owlv2.get_text_features(
                input_ids=torch.tensor(tokens["input_ids"], dtype=torch.long),
                attention_mask=torch.tensor(tokens["attention_mask"], dtype=torch.long),
            )
        embeds = out.pooler_output.float()
        with self._lock:
            self._queries[key] = embeds
            while len(self._queries) > self._QUERY_CACHE:
                self._queries.popitem(last=False)
        return QueryEmbeddings(tuple(queries), embeds)

    def _resolve(self, prompts: Mapping[str, str] | Sequence[str] | None) -> tuple[Query, ...]:
        return self.params.queries if prompts is None else parse_prompts(prompts)

    # --- stages ---------------------------------------------------------------------------------------------------

    def preprocess(self, image: npt.NDArray[np.uint8]) -> tuple[npt.NDArray[np.float32], int, int]:
        """``(pixel_values, width, height)``: the network input and the original size boxes are mapped back to."""
        arr = np.asarray(image)
        if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
            raise InvalidArgumentError(f"expected a uint8 RGB array (H, W, 3), got {arr.dtype} {arr.shape}")
        return self.processing.apply(arr), int(arr.shape[1]), int(arr.shape[0])

    def forward(
        self, pixel_values: npt.NDArray[np.float32], width: int, height: int, queries: QueryEmbeddings
    ) -> RawOpenVocab:
        """One vision pass; the cached query embeddings go straight into the class head (what
        ``Owlv2ForObjectDetection.forward`` does after embedding the text)."""
        import torch

        model = self._model
        with torch.inference_mode():
            feature_map = model.image_embedder(pixel_values=torch.from_numpy(pixel_values))[0]
            batch, rows, cols, dim = feature_map.shape
            feats = feature_map.reshape(batch, rows * cols, dim)
            logits = model.class_predictor(feats, queries.embeds[None], None)[0]
            boxes = model.box_predictor(feats, feature_map)
            objectness = model.objectness_predictor(feats)
        return RawOpenVocab(
            logits=logits[0].float().numpy(),
            boxes=boxes[0].float().numpy(),
            objectness=objectness[0].float().numpy(),
            width=width,
            height=height,
        )

    def postprocess(
        self, raw: RawOpenVocab, labels: Sequence[str], threshold: float | None = None
    ) -> OpenVocabDetections:
        return decode_open_vocab(
            raw.logits,
            raw.boxes,
            raw.width,
            raw.height,
            threshold=self.params.score_threshold if threshold is None else threshold,
            label_names=labels,
            nms_iou=self.params.nms_iou,
            max_detections=self.params.max_detections,
        )

    def detect(
        self,
        image: npt.NDArray[np.uint8],
        prompts: Mapping[str, str] | Sequence[str] | None = None,
        threshold: float | None = None,
    ) -> OpenVocabDetections:
        """Boxes for ``prompts`` (default: the spec's) above ``threshold`` (default: the spec's)."""
        if threshold is not None and not 0.0 <= threshold <= 1.0:
            raise InvalidArgumentError(f"threshold must be in [0, 1], got {threshold!r}")
        queries = self.encode_queries(self._resolve(prompts))
        raw = self.forward(*self.preprocess(image), queries)
        return self.postprocess(raw, queries.labels, threshold)

    def close(self) -> None:
        self._model = None
        with self._lock:
            self._queries.clear()

    # --- tiny random model for tests ------------------------------------------------------------------------------

    @classmethod
    def write_tiny(cls, path: Path, spec: ModelSpec, seed: int = 0) -> None:
        """A tiny random OWLv2 (48 px input, 6x6 patches, 16-wide towers) with a byte-level CLIP tokenizer and a
        48 px processor config, saved with ``save_pretrained`` as the Hub checkpoint is, then the marker.

        The tokenizer has the two special tokens LAST: OWLv2 treats a query whose first token id is 0 as padding
        and masks it, so a start token with id 0 would mask every query. 64 text positions fit the default prompts
        one byte per token (there are no merges).
        """
        import torch
        from transformers import Owlv2Config, Owlv2ForObjectDetection, Owlv2ImageProcessorPil

        root = Path(path)
        root.mkdir(parents=True, exist_ok=True)
        tokenizer = byte_level_clip_tokenizer()
        vocab_size = len(tokenizer)
        config = Owlv2Config(
            text_config={
                "vocab_size": vocab_size,
                "hidden_size": 16,
                "intermediate_size": 32,
                "num_hidden_layers": 1,
                "num_attention_heads": 2,
                "max_position_embeddings": 64,
                "bos_token_id": tokenizer.bos_token_id,
                "eos_token_id": tokenizer.eos_token_id,
                "pad_token_id": tokenizer.pad_token_id,
            },
            vision_config={
                "hidden_size": 16,
                "intermediate_size": 32,
                "num_hidden_layers": 1,
                "num_attention_heads": 2,
                "image_size": 48,
                "patch_size": 8,
            },
            projection_dim=16,  # the class head compares text-hidden-size vectors with projected text embeddings
        )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = Owlv2ForObjectDetection(config).eval()
            generator = torch.Generator().manual_seed(seed)
            with torch.no_grad():
                # Scores spread over (0, 1), so thresholds matter; boxes near each patch's own grid cell (the box
                # head's stock init saturates the sigmoid into image-sized boxes), so NMS keeps several.
                model.class_head.logit_shift.weight.normal_(0.0, 0.5, generator=generator)
                model.class_head.logit_scale.bias.fill_(1.0)
                model.box_head.dense2.weight.normal_(0.0, 0.05, generator=generator)
                model.box_head.dense2.bias.zero_()
        model.save_pretrained(str(root))
        tokenizer.save_pretrained(str(root))
        Owlv2ImageProcessorPil(size={"height": 48, "width": 48}).save_pretrained(str(root))
        mark_tiny(root, spec, seed)
