"""OPUS-MT translation (Helsinki-NLP, MarianMT through transformers' ``MarianMTModel``): English -> one language.

Stages: ``preprocess`` (texts -> sentencepiece ids, with the target-language ``prefix`` token that multi-target
models such as ``opus-mt-en-zh`` need) -> ``forward`` (``generate``: greedy by default, ``num_beams`` from the spec;
the only code touching torch) -> ``postprocess`` (ids -> text, special tokens dropped, whitespace stripped).

Inputs are translated in batches of ``batch_size``, shortest first (less padding), and returned in input order. The
decode budget is ``2 * longest input + 16`` tokens (capped by ``max_new_tokens``): a tag or a caption translation is
never much longer than its source, and the bound keeps a model that never emits end-of-sequence (the tiny random test
model) from decoding to the model's maximum.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Self

from imagelens.errors import ModelUnavailableError
from imagelens.models.adapters.siglip.cache import default_cache_dir, weights_fingerprint
from imagelens.models.spec import ModelSpec

DEFAULT_OPTIONS: dict[str, Any] = {
    "source": "en", "target": "", "prefix": "", "num_beams": 1, "batch_size": 32, "max_new_tokens": 128,
}  # fmt: skip
TRANSLATION_CACHE_FOLDER = "translations"
#: A JSON file beside the weights whose keys override ``spec.options`` for that folder (e.g. the tiny test model's
#: small decode budget: its random weights never emit end-of-sequence).
OPTIONS_FILE = "imagelens_options.json"


class MarianAdapter:
    """The :class:`~imagelens.models.roles.Translator` over a MarianMT folder (``config.json``, weights,
    ``source.spm``, ``target.spm``, ``vocab.json``, ``tokenizer_config.json``)."""

    spec: ModelSpec
    source: str
    target: str
    #: identifies the weights (a cached translation depends on it)
    fingerprint: str
    #: where translations of a vocabulary are cached
    cache_dir: Path | None

    def __init__(self, spec: ModelSpec, path: Path, tokenizer: Any, model: Any) -> None:
        local = path / OPTIONS_FILE
        overrides = json.loads(local.read_text(encoding="utf-8")) if local.is_file() else {}
        options = {**DEFAULT_OPTIONS, **spec.options, **overrides}
        self.spec = spec
        self.path = path
        self.source = str(options["source"])
        self.target = str(options["target"])
        self.prefix = str(options["prefix"])
        self.num_beams = int(options["num_beams"])
        self.batch_size = max(1, int(options["batch_size"]))
        self.max_new_tokens = int(options["max_new_tokens"])
        self.fingerprint = weights_fingerprint(path)
        # <model folder>/translations, or the user cache when the folder is a read-only / Hugging Face snapshot.
        text_cache = default_cache_dir(path, spec)
        self.cache_dir = (
            path / TRANSLATION_CACHE_FOLDER
            if text_cache.parent == path
            else text_cache.parent.parent / TRANSLATION_CACHE_FOLDER / spec.id
        )
        self._tokenizer = tokenizer
        self._model = model
        self._lock = threading.Lock()

    @classmethod
    def load(cls, path: Path | None, spec: ModelSpec) -> Self:
        if path is None:
            raise ModelUnavailableError(spec.id, "a MarianMT translator needs a model folder")
        from transformers import MarianMTModel, MarianTokenizer

        tokenizer = MarianTokenizer.from_pretrained(str(path))
        model = MarianMTModel.from_pretrained(str(path)).eval()
        return cls(spec, path, tokenizer, model)

    def translate(self, texts: Sequence[str]) -> list[str]:
        """One translation per text, in order; empty texts stay empty."""
        out = [""] * len(texts)
        todo = sorted((i for i, t in enumerate(texts) if t.strip()), key=lambda i: len(texts[i]))
        for start in range(0, len(todo), self.batch_size):
            batch = todo[start : start + self.batch_size]
            for i, text in zip(batch, self._forward([texts[i].strip() for i in batch]), strict=True):
                out[i] = text
        return out

    def _forward(self, texts: list[str]) -> list[str]:
        import torch

        inputs = [f"{self.prefix} {t}" if self.prefix else t for t in texts]
        with self._lock, torch.inference_mode():
            enc = self._tokenizer(inputs, return_tensors="pt", padding=True, truncation=True)
            positions = int(getattr(self._model.config, "max_position_embeddings", 512))
            budget = min(self.max_new_tokens, 2 * int(enc["input_ids"].shape[1]) + 16, positions - 2)
            generated = self._model.generate(
                **enc, num_beams=self.num_beams, do_sample=False, max_new_tokens=budget
            )
            decoded = self._tokenizer.batch_decode(generated, skip_special_tokens=True)
        return [str(d).strip() for d in decoded]

    def close(self) -> None:
        self._model = None
        self._tokenizer = None
