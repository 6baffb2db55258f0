"""The OWLv2 adapter: text queries embedded once per prompt set (cached), one vision pass per image.

Stages: ``preprocess`` (pixels -> tensor input) -> ``forward`` (the only torch call) -> ``postprocess`` (numpy).
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import numpy as np
import numpy.typing as npt

from imagelens.detections import Detections
from imagelens.errors import InvalidArgumentError
from imagelens.models.adapters.base import checkpoint_folder
from imagelens.models.adapters.deadline_hooks import check_in_layers
from imagelens.models.adapters.owlv2.processing import (
    PREPROCESSOR_FILE,
    OwlImageProcessing,
    decode_open_vocab,
)
from imagelens.models.adapters.owlv2.prompts import OpenVocabParams, Query, parse_prompts
from imagelens.models.spec import ModelSpec


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
    """A loaded OWLv2 checkpoint: an :class:`~imagelens.models.roles.OpenVocabDetector` whose ``detect(rgb,
    prompts)`` gives :class:`~imagelens.detections.Detections` (class names: the query labels; ``data["patch"]``)."""

    _QUERY_CACHE = 32

    spec: ModelSpec
    params: OpenVocabParams
    processing: OwlImageProcessing

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

        root = checkpoint_folder(path, spec, "OWLv2", PREPROCESSOR_FILE)
        config = json.loads((root / PREPROCESSOR_FILE).read_text(encoding="utf-8"))
        processing = OwlImageProcessing.from_config(config)
        model = Owlv2ForObjectDetection.from_pretrained(str(root), dtype=torch.float32).eval()
        model.requires_grad_(False)
        check_in_layers(model)  # a forward pass stops at the request's deadline
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

    def _resolve(self, prompts: Mapping[str, str] | Sequence[str] | str | None) -> tuple[Query, ...]:
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
    ) -> Detections:
        return decode_open_vocab(
            raw.logits,
            raw.boxes,
            raw.width,
            raw.height,
            threshold=self.params.score_threshold if threshold is None else threshold,
            class_names=labels,
            nms_iou=self.params.nms_iou,
            max_detections=self.params.max_detections,
        )

    def detect(
        self,
        rgb: npt.NDArray[np.uint8],
        prompts: Mapping[str, str] | Sequence[str] | str | None = None,
        threshold: float | None = None,
    ) -> Detections:
        """Boxes for ``prompts`` (default: the spec's) above ``threshold`` (default: the spec's), best first."""
        if threshold is not None and not 0.0 <= threshold <= 1.0:
            raise InvalidArgumentError(f"threshold must be in [0, 1], got {threshold!r}")
        queries = self.encode_queries(self._resolve(prompts))
        raw = self.forward(*self.preprocess(rgb), queries)
        return self.postprocess(raw, queries.labels, threshold)

    def close(self) -> None:
        self._model = None
        with self._lock:
            self._queries.clear()


if TYPE_CHECKING:  # mypy checks the adapter against its role's Protocol
    from imagelens.models.roles import OpenVocabDetector

    _conforms: type[OpenVocabDetector] = Owlv2Adapter
