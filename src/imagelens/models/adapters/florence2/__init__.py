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

Modules: :mod:`.decoding` (tokens to text, boxes and confidences: pure functions, tested on hand-written outputs)
and :mod:`.adapter` (the :class:`~imagelens.models.roles.Captioner`).
"""

from imagelens.models.adapters.florence2.adapter import (
    DEFAULT_OPTIONS,
    OPTIONS_FILE,
    Florence2Adapter,
    FlorenceEncoding,
    _BoxCount,
)
from imagelens.models.adapters.florence2.decoding import (
    CAPTION_TASK,
    DENSE_TASK,
    DETAILED_CAPTION_TASK,
    LOC_BINS,
    TASKS,
    Generated,
    ParsedRegion,
    Piece,
    azure_style,
    bins_to_box,
    clean_phrase,
    geometric_mean,
    parse_dense_text,
    parse_regions,
    split_florence_text,
    token_log_scores,
)

__all__ = [
    "CAPTION_TASK",
    "DEFAULT_OPTIONS",
    "DENSE_TASK",
    "DETAILED_CAPTION_TASK",
    "LOC_BINS",
    "OPTIONS_FILE",
    "TASKS",
    "Florence2Adapter",
    "FlorenceEncoding",
    "Generated",
    "ParsedRegion",
    "Piece",
    "_BoxCount",
    "azure_style",
    "bins_to_box",
    "clean_phrase",
    "geometric_mean",
    "parse_dense_text",
    "parse_regions",
    "split_florence_text",
    "token_log_scores",
]
