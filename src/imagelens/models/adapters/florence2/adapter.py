"""The Florence-2 adapter: the vision tower once per image, greedy decoding per task with per-token scores."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import numpy as np
import numpy.typing as npt

from imagelens import deadline as deadlines
from imagelens.errors import InvalidArgumentError, ModelUnavailableError
from imagelens.models.adapters import openvino_runtime
from imagelens.models.adapters.deadline_hooks import check_in_layers
from imagelens.models.adapters.florence2.decoding import (
    CAPTION_TASK,
    DENSE_TASK,
    DETAILED_CAPTION_TASK,
    LOC_BINS,
    TASKS,
    Generated,
    Piece,
    azure_style,
    bins_to_box,
    clean_phrase,
    geometric_mean,
    parse_regions,
    token_log_scores,
)
from imagelens.models.adapters.florence2.openvino_encoder import (
    ENCODER_ENV,
    OpenVinoEncoder,
    chosen_encoder,
    chosen_precision,
    encoder_ir,
)
from imagelens.models.adapters.quantize import maybe_quantize
from imagelens.models.spec import ModelSpec
from imagelens.types import BoundingBox, Caption, DenseCaption

#: Per-folder overrides of ``spec.options`` (JSON object), read by :meth:`Florence2Adapter.load`.
OPTIONS_FILE = "imagelens_options.json"

DEFAULT_OPTIONS: Mapping[str, Any] = {
    "caption_max_new_tokens": 40,
    "detailed_caption_max_new_tokens": 128,
    "dense_max_new_tokens": 256,
    "dense_stop_after_boxes": 16,  # decoding stops once this many complete boxes exist (bounds latency)
    "loc_window": 5,  # +- bins counted as "the same place" when scoring a <loc_*> token
    "azure_style": True,  # "A dog on a couch." -> "a dog on a couch" (Azure's caption style)
}


@dataclass(frozen=True, slots=True)
class FlorenceEncoding:
    """The vision tower's output for one image, reusable by every task; ``width``/``height`` of the original."""

    features: Any  # transformers' BaseModelOutputWithPooling (``pooler_output``: projected image tokens)
    width: int
    height: int


# --- the adapter -----------------------------------------------------------------------------------------------------


class Florence2Adapter:
    """A loaded Florence-2: processor + model in inference mode, a :class:`~imagelens.models.roles.Captioner`.
    Thread-safe (nothing mutates after ``load``)."""

    spec: ModelSpec
    options: dict[str, Any]

    def __init__(
        self,
        spec: ModelSpec,
        processor: Any,
        model: Any,
        options: Mapping[str, Any],
        image_encoder: OpenVinoEncoder | None = None,
    ) -> None:
        self.spec = spec
        self.processor = processor
        self.model = model
        #: the image encoder in OpenVINO (openvino_encoder.py), or None: torch's vision tower
        self.image_encoder = image_encoder
        self.options: dict[str, Any] = {**DEFAULT_OPTIONS, **options}
        tok = processor.tokenizer
        self._tokenizer = tok
        loc_ids = tok.convert_tokens_to_ids([f"<loc_{i}>" for i in range(LOC_BINS)])
        if tok.unk_token_id is not None and tok.unk_token_id in loc_ids:
            raise ValueError("the tokenizer lacks Florence-2's <loc_0>..<loc_999> tokens")
        self._loc_ids = np.asarray(loc_ids, dtype=np.int64)
        self._bin_of: dict[int, int] = {int(t): b for b, t in enumerate(loc_ids)}
        specials = {tok.bos_token_id, tok.eos_token_id, tok.pad_token_id}
        self._unscored = frozenset(i for i in (tok.bos_token_id, tok.pad_token_id) if i is not None)
        # Tokens that are neither text nor a location (specials, <image>, other task tags): skipped in parsing.
        added = set(getattr(tok, "added_tokens_decoder", {}).keys())
        self._non_text = frozenset(i for i in (specials | added) if i is not None) - frozenset(self._bin_of)
        self._prompts = {task: self._prompt(task) for task in TASKS}

    # --- loading ---------------------------------------------------------------------------------------------------

    @classmethod
    def load(cls, path: Path | None, spec: ModelSpec) -> Self:
        if path is None:
            raise ModelUnavailableError(
                spec.id, "Florence-2 weights come from the Hugging Face Hub, not a package"
            )
        import torch
        from transformers import Florence2ForConditionalGeneration, Florence2Processor

        folder = Path(path)
        processor = Florence2Processor.from_pretrained(folder, local_files_only=True)
        model = Florence2ForConditionalGeneration.from_pretrained(
            folder, local_files_only=True, dtype=torch.float32
        )
        model.eval()
        model.requires_grad_(False)
        image_encoder = _openvino_encoder(folder, spec, processor)
        if image_encoder is not None:
            model.model.vision_tower = None  # its weights live in OpenVINO now: not twice in memory
        model = maybe_quantize(model, spec)  # opt-in: options["quantize"] = "int8-dynamic"
        check_in_layers(model)  # the vision tower and each decoder step stop at the request's deadline
        options = dict(spec.options)
        override = folder / OPTIONS_FILE
        if override.is_file():
            extra = json.loads(override.read_text(encoding="utf-8"))
            if not isinstance(extra, dict):
                raise ValueError(f"{override} must hold a JSON object, got {type(extra).__name__}")
            options.update(extra)
        return cls(spec, processor, model, options, image_encoder)

    @classmethod
    def prepare(cls, path: Path | None, spec: ModelSpec) -> str | None:
        """Export the image encoder to OpenVINO now, where it will run there (what a first load would otherwise do,
        ~20 s at 768 px), without loading the model; what was done, or ``None``."""
        if path is None or chosen_encoder(spec.id) != "openvino":
            return None
        from transformers import Florence2Processor

        folder = Path(path)
        side = _encoder_side(Florence2Processor.from_pretrained(folder, local_files_only=True))
        ir = openvino_runtime.built_or_fallback(
            spec.id, ENCODER_ENV, "image encoder", lambda: encoder_ir(folder, side)
        )
        return None if ir is None else f"image encoder in OpenVINO: {ir.parent}"

    def close(self) -> None:
        self.model = None
        self.processor = None
        self.image_encoder = None

    def _prompt(self, task: str) -> tuple[Any, Any]:
        """``(input_ids, attention_mask)`` for a task with image placeholders, built once by the processor itself."""
        from PIL import Image

        blank = Image.new("RGB", (32, 32))
        batch = self.processor(text=task, images=blank, return_tensors="pt")
        return batch["input_ids"], batch["attention_mask"]

    # --- stages ----------------------------------------------------------------------------------------------------

    def preprocess(self, rgb: npt.NDArray[np.uint8]) -> Any:
        """The processor's ``pixel_values`` (1, 3, S, S) for an ``(H, W, 3)`` uint8 RGB array."""
        array = np.asarray(rgb)
        if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8:
            raise InvalidArgumentError(
                f"Florence-2 needs an (H, W, 3) uint8 RGB array, got shape {array.shape} dtype {array.dtype}"
            )
        from PIL import Image

        image = Image.fromarray(np.ascontiguousarray(array), mode="RGB")
        return self.processor.image_processor(images=image, return_tensors="pt")["pixel_values"]

    def encode(self, rgb: npt.NDArray[np.uint8]) -> FlorenceEncoding:
        """Run the vision tower once; every task on this image reuses the result."""
        import torch

        pixel_values = self.preprocess(rgb)
        if self.image_encoder is not None:
            from transformers.modeling_outputs import BaseModelOutputWithPooling

            deadlines.check()  # OpenVINO runs the encoder in one call: the deadline is checked around it
            features = BaseModelOutputWithPooling(pooler_output=self.image_encoder(pixel_values))
            deadlines.check()
        else:
            with torch.inference_mode():
                features = self.model.model.get_image_features(pixel_values=pixel_values)
        return FlorenceEncoding(features=features, width=int(rgb.shape[1]), height=int(rgb.shape[0]))

    def generate(
        self, encoding: FlorenceEncoding, task: str, max_new_tokens: int, stop_after_boxes: int = 0
    ) -> Generated:
        """Greedy decoding of one task over precomputed image features, with per-token log-scores."""
        import torch

        if task not in self._prompts:
            raise InvalidArgumentError(f"Florence-2 task must be one of {', '.join(TASKS)}, got {task!r}")
        if max_new_tokens < 1:
            raise InvalidArgumentError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
        input_ids, attention_mask = self._prompts[task]
        stopping: list[Any] = [_DeadlineCheck()]
        if stop_after_boxes > 0:
            stopping.append(_BoxCount(self._loc_ids, stop_after_boxes))
        with torch.inference_mode():
            out = self.model.generate(
                input_ids=input_ids,
                attention_mask=attention_mask,
                mm_encoder_outputs={"image": encoding.features},
                max_new_tokens=int(max_new_tokens),
                num_beams=1,
                do_sample=False,
                early_stopping=False,
                length_penalty=1.0,
                output_logits=True,
                return_dict_in_generate=True,
                stopping_criteria=stopping,
            )
        steps = len(out.logits)
        if not steps:
            return Generated((), ())
        token_ids = [int(t) for t in out.sequences[0, -steps:].tolist()]
        logits = torch.cat(out.logits, dim=0).float().numpy()
        scores = token_log_scores(logits, token_ids, self._loc_ids, int(self.options["loc_window"]))
        return Generated(tuple(token_ids), tuple(float(s) for s in scores))

    def postprocess_caption(self, generated: Generated) -> Caption:
        """Caption text (location tokens and specials dropped) and its confidence."""
        pieces = self._pieces(generated.token_ids)
        text = clean_phrase(
            self._tokenizer.convert_tokens_to_string([p for p in pieces if isinstance(p, str)])
        )
        if self.options["azure_style"]:
            text = azure_style(text)
        scored = [
            s
            for t, s in zip(generated.token_ids, generated.log_scores, strict=True)
            if t not in self._unscored
        ]
        return Caption(text=text, confidence=geometric_mean(scored))

    def postprocess_regions(
        self, generated: Generated, width: int, height: int
    ) -> list[tuple[str, float, tuple[float, float, float, float]]]:
        """Regions in generation order: (phrase, confidence, xyxy box in original pixels). Zero-area boxes dropped."""
        pieces = self._pieces(generated.token_ids)
        out = []
        for region in parse_regions(pieces, self._tokenizer.convert_tokens_to_string):
            box = bins_to_box(region.bins, width, height)
            if box[2] - box[0] <= 0 or box[3] - box[1] <= 0:
                continue
            text = azure_style(region.text) if self.options["azure_style"] else region.text
            if not text:
                continue
            confidence = geometric_mean(generated.log_scores[i] for i in region.pieces)
            out.append((text, confidence, box))
        return out

    def _pieces(self, token_ids: Sequence[int]) -> list[Piece]:
        tokens = self._tokenizer.convert_ids_to_tokens(list(token_ids))
        pieces: list[Piece] = []
        for token_id, token in zip(token_ids, tokens, strict=True):
            if token_id in self._bin_of:
                pieces.append(self._bin_of[token_id])
            elif token_id in self._non_text:
                pieces.append(None)
            else:
                pieces.append(str(token))
        return pieces

    # --- what features call ----------------------------------------------------------------------------------------

    def caption(self, encoding: FlorenceEncoding, detailed: bool = False) -> Caption:
        """One sentence for the whole image and its confidence (``<CAPTION>``, or ``<DETAILED_CAPTION>``)."""
        task = DETAILED_CAPTION_TASK if detailed else CAPTION_TASK
        budget = self.options["detailed_caption_max_new_tokens" if detailed else "caption_max_new_tokens"]
        return self.postprocess_caption(self.generate(encoding, task, int(budget)))

    def dense_captions(
        self,
        encoding: FlorenceEncoding,
        whole_image: Caption | Callable[[], Caption] | None = None,
        max_results: int = 10,
    ) -> tuple[DenseCaption, ...]:
        """Azure's dense captions: first the whole-image caption with the whole image's box, then up to
        ``max_results - 1`` regions by decreasing confidence (exact duplicates, same phrase and box, kept once).

        ``whole_image`` is the caption for this image, or a function that returns it (called after the regions are
        decoded, so that a caption decoded on another thread at the same time is not waited for); without it the
        caption is decoded here.
        """
        if max_results < 1:
            raise InvalidArgumentError(f"max_results must be >= 1, got {max_results}")
        regions = self._dense_regions(encoding, max_results - 1) if max_results > 1 else ()
        if whole_image is None:
            caption = self.caption(encoding)
        elif isinstance(whole_image, Caption):
            caption = whole_image
        else:
            caption = whole_image()
        w, h = encoding.width, encoding.height
        first = DenseCaption(caption.text, caption.confidence, BoundingBox(0.0, 0.0, float(w), float(h)))
        return (first, *regions)

    def _dense_regions(self, encoding: FlorenceEncoding, max_regions: int) -> tuple[DenseCaption, ...]:
        generated = self.generate(
            encoding,
            DENSE_TASK,
            int(self.options["dense_max_new_tokens"]),
            stop_after_boxes=int(self.options["dense_stop_after_boxes"]),
        )
        best: dict[tuple[str, tuple[float, ...]], tuple[str, float, tuple[float, float, float, float]]] = {}
        for region in self.postprocess_regions(generated, encoding.width, encoding.height):
            key = (region[0], region[2])
            if key not in best or region[1] > best[key][1]:
                best[key] = region
        ranked = sorted(best.values(), key=lambda r: -r[1])  # stable: ties keep generation order
        return tuple(
            DenseCaption(text, confidence, BoundingBox.from_xyxy(*box))
            for text, confidence, box in ranked[:max_regions]
        )


def _openvino_encoder(folder: Path, spec: ModelSpec, processor: Any) -> OpenVinoEncoder | None:
    """The image encoder in OpenVINO (``IMAGELENS_FLORENCE_ENCODER``: by default where OpenVINO computes bf16
    natively); ``None`` keeps torch's. Asked for explicitly, a failure is an error; by default it falls back to torch
    with a warning."""
    if chosen_encoder(spec.id) != "openvino":
        return None
    precision = chosen_precision()
    side = _encoder_side(processor)
    return openvino_runtime.built_or_fallback(
        spec.id,
        ENCODER_ENV,
        "image encoder",
        lambda: OpenVinoEncoder(encoder_ir(folder, side), precision, side),
    )


def _encoder_side(processor: Any) -> int:
    """The processor's square input side: a SizeDict (height, width) in transformers 5, an int or a dict before."""
    size = processor.image_processor.size
    return int(getattr(size, "height", None) or (size["height"] if isinstance(size, Mapping) else size))


class _DeadlineCheck:
    """Checks the request's deadline after every generated token: past it (or with the client gone) generation stops
    with :mod:`imagelens.deadline`'s error instead of running to ``max_new_tokens``."""

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        deadlines.check()
        return torch.zeros(input_ids.shape[0], dtype=torch.bool)


class _BoxCount:
    """Stops decoding once ``boxes`` complete boxes (4 location tokens each) have been generated. One per ``generate``
    call: it counts only the columns added since its last call (counting the whole sequence at every token cost 56
    ms per 60-token dense decode)."""

    def __init__(self, loc_ids: npt.NDArray[np.int64], boxes: int) -> None:
        import torch

        self._loc_ids = torch.as_tensor(loc_ids)
        self._needed = 4 * boxes
        self._seen = 0
        self._count: Any = None

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        new = torch.isin(input_ids[:, self._seen :], self._loc_ids).sum(dim=1)
        self._count = new if self._count is None else self._count + new
        self._seen = input_ids.shape[1]
        return self._count >= self._needed


if TYPE_CHECKING:  # mypy checks the adapter against its role's Protocol
    from imagelens.models.roles import Captioner

    _conforms: type[Captioner] = Florence2Adapter
