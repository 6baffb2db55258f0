"""Florence-2 (MIT) through transformers' native ``Florence2ForConditionalGeneration``: captions and dense captions.

Stages: ``preprocess`` (RGB array -> the processor's square ``pixel_values``) -> ``forward`` (:meth:`encode` runs the
vision tower once per image; :meth:`generate` decodes one task prompt over those features: the only code touching
torch) -> ``postprocess`` (tokens -> caption text, or region phrases with boxes in original pixels).

**Encode once, decode per task.** The vision encoder is most of Florence-2's cost (DESIGN §11: 2.9 s of a base
caption's 4 s on 2 cores). :meth:`encode` keeps ``model.model.get_image_features(...)`` and every task reuses it via
``generate(..., mm_encoder_outputs={"image": features})``, which gives token-identical output to passing pixels.

**Confidences.** Florence-2 returns no scores, so we derive them from the decoder's own probabilities, read from the
raw logits (``output_logits=True``, before any logits processor), greedy decoding (``num_beams=1``):

* a text token scores its probability ``p(token | image, prefix)``;
* a ``<loc_b>`` token scores the probability mass of the bins within ``loc_window`` of ``b`` (default 5 bins, i.e.
  +-0.5 % of the image side): the model spreads coordinate mass over neighbouring bins, and "the edge is here, give
  or take half a percent" is the claim a box makes, not "the edge is exactly in this one of 1000 bins";
* a caption's confidence is the geometric mean of its tokens' scores (``exp`` of the mean log-score) over every
  generated token but ``<s>``/``<pad>``, the end-of-sequence token included (stopping is a decision too);
* a dense region's confidence is the geometric mean over the tokens of its phrase and its four ``<loc_*>`` tokens.

A geometric mean over tokens is a per-token figure, not the probability of the whole sentence (which shrinks with
length and would make long captions look worse than short ones). It is a ranking score in [0, 1], not a calibrated
probability: compare it within one model.

**Boxes.** Florence-2 resizes every image to a square *without* keeping its aspect ratio, and ``<loc_b>`` is bin
``b`` of 1000 along each axis of that square. Bin ``b`` therefore maps to ``(b + 0.5) * side / 1000`` of the
*original* side on each axis independently (the bin centre, as transformers' ``Florence2PostProcessor.dequantize``).

**Budgets.** ``spec.options`` bounds decoding (``*_max_new_tokens``, ``dense_stop_after_boxes``); a JSON file named
:data:`OPTIONS_FILE` beside the weights overrides them for that folder (a fine-tuned model, or the tiny test model
whose random weights rarely emit end-of-sequence).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import numpy as np
import numpy.typing as npt

from imagelens.errors import InvalidArgumentError, ModelUnavailableError
from imagelens.models.adapters.base import mark_tiny
from imagelens.models.spec import ModelSpec

#: Florence-2's task tokens (the processor expands them to its natural-language prompts).
CAPTION_TASK = "<CAPTION>"
DETAILED_CAPTION_TASK = "<DETAILED_CAPTION>"
DENSE_TASK = "<DENSE_REGION_CAPTION>"
TASKS = (CAPTION_TASK, DETAILED_CAPTION_TASK, DENSE_TASK)

#: Location tokens: ``<loc_0>`` .. ``<loc_999>``, bins over each axis of the processed square.
LOC_BINS = 1000
_LOC_RE = re.compile(r"<loc_(\d+)>")

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

#: A parsed token: text (str), a location bin (int), or ``None`` for a token that carries neither (specials).
Piece = str | int | None
FloatArray = npt.NDArray[np.float64]


# --- results between stages ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FlorenceEncoding:
    """The vision tower's output for one image, reusable by every task; ``width``/``height`` of the original."""

    features: Any  # transformers' BaseModelOutputWithPooling (``pooler_output``: projected image tokens)
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class Generated:
    """One decoded task: the generated token ids (decoder start excluded) and each token's log-score."""

    token_ids: tuple[int, ...]
    log_scores: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.token_ids) != len(self.log_scores):
            raise ValueError(
                f"token_ids and log_scores must have the same length, got {len(self.token_ids)} "
                f"and {len(self.log_scores)}"
            )


@dataclass(frozen=True, slots=True)
class ParsedRegion:
    """One phrase with one box, as bins; ``pieces`` are the indices of its phrase and location tokens."""

    text: str
    bins: tuple[int, int, int, int]  # x1, y1, x2, y2 in [0, 999], x1 <= x2 and y1 <= y2
    pieces: tuple[int, ...]


# --- pure post-processing (tested on hand-written strings) -----------------------------------------------------------


def clean_phrase(text: str) -> str:
    """Whitespace collapsed and trimmed; U+FFFD (an undecodable byte run) and control characters dropped."""
    kept = "".join(ch for ch in text if ch != "\ufffd" and (ch.isprintable() or ch.isspace()))
    return " ".join(kept.split())


def split_florence_text(text: str) -> list[Piece]:
    """A decoded Florence-2 string as pieces: ``<loc_N>`` -> ``N``, ``<s>``/``</s>``/``<pad>`` -> ``None``, text."""
    pieces: list[Piece] = []
    for part in re.split(r"(<loc_\d+>|</s>|<s>|<pad>)", text):
        if not part:
            continue
        match = _LOC_RE.fullmatch(part)
        if match is not None:
            pieces.append(int(match.group(1)))
        elif part in ("<s>", "</s>", "<pad>"):
            pieces.append(None)
        else:
            pieces.append(part)
    return pieces


def parse_regions(pieces: Sequence[Piece], join: Callable[[list[str]], str] = "".join) -> list[ParsedRegion]:
    """Phrases followed by groups of four location bins, in the order generated (Florence-2's ``<OD>`` grammar).

    ``a red car<loc_1><loc_2><loc_3><loc_4>`` is one region; a phrase followed by 8 bins is two regions with the
    same phrase (how Florence-2 lists several instances). Malformed parts are dropped: a trailing phrase without
    bins, a group of fewer than 4 bins, bins without a phrase. Bins above 999 are clamped to 999 (what Florence's
    quantiser produces), and each box's corners are ordered so that x1 <= x2 and y1 <= y2.
    """
    regions: list[ParsedRegion] = []
    phrase: list[str] = []
    phrase_idx: list[int] = []
    run: list[tuple[int, int]] = []  # (piece index, bin) of the current run of location tokens

    def close_run() -> None:
        text = clean_phrase(join(list(phrase))) if phrase else ""
        if text:
            for k in range(len(run) // 4):
                group = run[4 * k : 4 * k + 4]
                x1, y1, x2, y2 = (min(b, LOC_BINS - 1) for _, b in group)
                bins = (min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2))
                regions.append(ParsedRegion(text, bins, (*phrase_idx, *(i for i, _ in group))))
        phrase.clear()
        phrase_idx.clear()
        run.clear()

    for index, piece in enumerate(pieces):
        if piece is None:
            continue
        if isinstance(piece, int):
            run.append((index, piece))
            continue
        if run:
            close_run()
        phrase.append(piece)
        phrase_idx.append(index)
    if run:
        close_run()
    return regions


def parse_dense_text(text: str) -> list[ParsedRegion]:
    """:func:`parse_regions` on a decoded string such as ``"a dog<loc_1><loc_2><loc_3><loc_4>"``."""
    return parse_regions(split_florence_text(text))


def bins_to_box(
    bins: tuple[int, int, int, int], width: int, height: int
) -> tuple[float, float, float, float]:
    """Bin centres mapped to original pixels on each axis on its own (the model's square is a non-uniform resize).

    Returns ``(x1, y1, x2, y2)`` clipped to the image.
    """
    x1, y1, x2, y2 = ((b + 0.5) / LOC_BINS for b in bins)
    return (
        min(max(x1 * width, 0.0), float(width)),
        min(max(y1 * height, 0.0), float(height)),
        min(max(x2 * width, 0.0), float(width)),
        min(max(y2 * height, 0.0), float(height)),
    )


def azure_style(text: str) -> str:
    """Azure's caption style: no final full stop, first letter lower-case unless the first word is an acronym."""
    text = text.strip()
    if text.endswith(".") and not text.endswith(".."):
        text = text[:-1].rstrip()
    first = text.split(" ", 1)[0]
    if first == "A" or (len(first) > 1 and first[0].isupper() and first[1:] == first[1:].lower()):
        text = text[0].lower() + text[1:]
    return text


def geometric_mean(log_scores: Iterable[float]) -> float:
    """``exp(mean(log_scores))`` in [0, 1]; 0.0 for no scores."""
    values = list(log_scores)
    if not values:
        return 0.0
    return float(min(1.0, max(0.0, math.exp(sum(values) / len(values)))))


def token_log_scores(
    logits: npt.NDArray[np.floating[Any]],
    token_ids: Sequence[int],
    loc_ids: npt.NDArray[np.int64],
    window: int,
) -> FloatArray:
    """Per generated token, the log of its score (see the module docstring) from raw logits ``(steps, vocab)``.

    A token whose id is in ``loc_ids`` (bin ``i`` at ``loc_ids[i]``) scores the probability of bins within
    ``window`` of its own; every other token scores its own probability.
    """
    if logits.ndim != 2 or logits.shape[0] != len(token_ids):
        raise ValueError(f"logits must be (steps={len(token_ids)}, vocab), got {logits.shape}")
    x = np.asarray(logits, dtype=np.float32)  # the full-vocabulary pass stays in float32 (speed) ...
    peak = x.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(x - peak).sum(axis=1, dtype=np.float64)) + peak[:, 0]  # ... summed in float64
    ids = np.asarray(token_ids, dtype=np.int64)
    out = x[np.arange(len(ids)), ids].astype(np.float64) - log_norm
    bin_of = {int(token): b for b, token in enumerate(loc_ids)}
    loc_steps = [i for i, t in enumerate(ids) if int(t) in bin_of]
    if loc_steps:
        loc_logits = x[loc_steps][:, loc_ids].astype(np.float64)
        probs = np.exp(loc_logits - log_norm[loc_steps, None])  # (n, 1000)
        cum = np.concatenate([np.zeros((len(loc_steps), 1)), np.cumsum(probs, axis=1)], axis=1)
        for row, step in enumerate(loc_steps):
            b = bin_of[int(ids[step])]
            lo, hi = max(0, b - window), min(LOC_BINS, b + window + 1)
            mass = cum[row, hi] - cum[row, lo]
            out[step] = math.log(max(mass, 1e-300))
    return out


# --- the adapter -----------------------------------------------------------------------------------------------------


class Florence2Adapter:
    """A loaded Florence-2: processor + model in inference mode. Thread-safe (nothing mutates after ``load``)."""

    def __init__(self, spec: ModelSpec, processor: Any, model: Any, options: Mapping[str, Any]) -> None:
        self.spec = spec
        self.processor = processor
        self.model = model
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
        options = dict(spec.options)
        override = folder / OPTIONS_FILE
        if override.is_file():
            extra = json.loads(override.read_text(encoding="utf-8"))
            if not isinstance(extra, dict):
                raise ValueError(f"{override} must hold a JSON object, got {type(extra).__name__}")
            options.update(extra)
        return cls(spec, processor, model, options)

    def close(self) -> None:
        self.model = None
        self.processor = None

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
        stopping = _BoxCount(self._loc_ids, stop_after_boxes) if stop_after_boxes > 0 else None
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
                stopping_criteria=[stopping] if stopping is not None else None,
            )
        steps = len(out.logits)
        if not steps:
            return Generated((), ())
        token_ids = [int(t) for t in out.sequences[0, -steps:].tolist()]
        logits = torch.cat(out.logits, dim=0).float().numpy()
        scores = token_log_scores(logits, token_ids, self._loc_ids, int(self.options["loc_window"]))
        return Generated(tuple(token_ids), tuple(float(s) for s in scores))

    def postprocess_caption(self, generated: Generated) -> tuple[str, float]:
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
        return text, geometric_mean(scored)

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

    def caption(self, encoding: FlorenceEncoding, detailed: bool = False) -> tuple[str, float]:
        """One sentence for the whole image and its confidence (``<CAPTION>``, or ``<DETAILED_CAPTION>``)."""
        task = DETAILED_CAPTION_TASK if detailed else CAPTION_TASK
        budget = self.options["detailed_caption_max_new_tokens" if detailed else "caption_max_new_tokens"]
        return self.postprocess_caption(self.generate(encoding, task, int(budget)))

    def dense_captions(
        self,
        encoding: FlorenceEncoding,
        whole_image: tuple[str, float] | None = None,
        max_results: int = 10,
    ) -> list[tuple[str, float, tuple[float, float, float, float]]]:
        """Azure's dense captions: first the whole-image caption with the whole image's box, then up to
        ``max_results - 1`` regions by decreasing confidence (exact duplicates, same phrase and box, kept once).

        ``whole_image`` is the ``(text, confidence)`` of a caption already computed for this image; without it the
        caption is decoded here.
        """
        if max_results < 1:
            raise InvalidArgumentError(f"max_results must be >= 1, got {max_results}")
        text, confidence = whole_image if whole_image is not None else self.caption(encoding)
        w, h = encoding.width, encoding.height
        first = (text, confidence, (0.0, 0.0, float(w), float(h)))
        if max_results == 1:
            return [first]
        generated = self.generate(
            encoding,
            DENSE_TASK,
            int(self.options["dense_max_new_tokens"]),
            stop_after_boxes=int(self.options["dense_stop_after_boxes"]),
        )
        best: dict[tuple[str, tuple[float, ...]], tuple[str, float, tuple[float, float, float, float]]] = {}
        for region in self.postprocess_regions(generated, w, h):
            key = (region[0], region[2])
            if key not in best or region[1] > best[key][1]:
                best[key] = region
        ranked = sorted(best.values(), key=lambda r: -r[1])  # stable: ties keep generation order
        return [first, *ranked[: max_results - 1]]

    # --- tiny random model for tests -------------------------------------------------------------------------------

    @classmethod
    def write_tiny(cls, path: Path, spec: ModelSpec, seed: int = 0) -> None:
        """A random Florence-2 (~70k parameters, ~0.5 MB) with a real processor, in ``from_pretrained`` layout.

        Tokenizer: byte-level BART vocabulary without merges, plus ``<image>`` and ``<loc_0>..<loc_999>``. Image
        processor: 64 x 64 (a 2 x 2 grid after the stride-32 tower, + 1 pooled token). The generation config copies
        the real checkpoints' beam-search defaults, so tests prove the adapter overrides them. Weights are drawn
        with a large std so that outputs depend on the image; decoding budgets are small (:data:`OPTIONS_FILE`).
        """
        import torch
        from tokenizers import pre_tokenizers
        from transformers import (
            BartConfig,
            BartTokenizer,
            CLIPImageProcessorPil,
            Florence2Config,
            Florence2ForConditionalGeneration,
            Florence2Processor,
            Florence2VisionConfig,
            GenerationConfig,
        )

        root = Path(path)
        root.mkdir(parents=True, exist_ok=True)
        vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
        for symbol in sorted(pre_tokenizers.ByteLevel.alphabet()):
            vocab[symbol] = len(vocab)
        vocab["<mask>"] = len(vocab)
        tokenizer = BartTokenizer(vocab=vocab, merges=[], extra_special_tokens={"image_token": "<image>"})
        tokenizer.add_tokens([f"<loc_{i}>" for i in range(LOC_BINS)])
        side = 64
        image_processor = CLIPImageProcessorPil(
            size={"height": side, "width": side},
            do_center_crop=False,
            crop_size={"height": side, "width": side},
            image_seq_length=(side // 32) ** 2 + 1,
        )
        processor = Florence2Processor(
            image_processor=image_processor,
            tokenizer=tokenizer,
            post_processor_config={"pure_text": {}, "description_with_bboxes": {}},
        )
        d_model = 16  # the text d_model must equal the vision projection_dim
        vision = Florence2VisionConfig(
            depths=(1, 1, 1, 1),
            embed_dim=(8, 8, 16, 16),
            num_heads=(1, 1, 2, 2),
            num_groups=(1, 1, 2, 2),
            window_size=2,
            projection_dim=d_model,
            max_position_embeddings=8,
            max_temporal_embeddings=4,
            drop_path_rate=0.0,
        )
        text = BartConfig(
            vocab_size=len(tokenizer),
            d_model=d_model,
            encoder_layers=1,
            decoder_layers=1,
            encoder_attention_heads=2,
            decoder_attention_heads=2,
            encoder_ffn_dim=32,
            decoder_ffn_dim=32,
            max_position_embeddings=256,
            pad_token_id=tokenizer.pad_token_id,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            decoder_start_token_id=tokenizer.eos_token_id,
        )
        config = Florence2Config(
            vision_config=vision, text_config=text, image_token_id=tokenizer.image_token_id
        )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = Florence2ForConditionalGeneration(config).eval()
            with torch.no_grad():
                for param in model.parameters():
                    if param.dim() >= 2:
                        param.normal_(0.0, 1.0)
        model.generation_config = GenerationConfig(
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
            decoder_start_token_id=tokenizer.eos_token_id,
            forced_bos_token_id=tokenizer.bos_token_id,
            forced_eos_token_id=tokenizer.eos_token_id,
            num_beams=3,
            early_stopping=True,
            no_repeat_ngram_size=3,
        )
        model.save_pretrained(root)
        processor.save_pretrained(root)
        budgets = {
            "caption_max_new_tokens": 12,
            "detailed_caption_max_new_tokens": 16,
            "dense_max_new_tokens": 48,
        }
        (root / OPTIONS_FILE).write_text(json.dumps(budgets, indent=2) + "\n", encoding="utf-8")
        mark_tiny(root, spec, seed)


class _BoxCount:
    """Stops decoding once ``boxes`` complete boxes (4 location tokens each) have been generated."""

    def __init__(self, loc_ids: npt.NDArray[np.int64], boxes: int) -> None:
        import torch

        self._loc_ids = torch.as_tensor(loc_ids)
        self._needed = 4 * boxes

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        count = torch.isin(input_ids, self._loc_ids).sum(dim=1)
        return count >= self._needed
