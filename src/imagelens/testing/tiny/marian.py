"""A tiny random-weight MarianMT translator: a sentencepiece model trained in memory on a few sentences (no download)
and a two-layer MarianConfig, in the layout :class:`~imagelens.models.adapters.marian.MarianAdapter` loads."""

from __future__ import annotations

import functools
import io
import json
from pathlib import Path

from imagelens.models.adapters.base import mark_tiny
from imagelens.models.adapters.marian import OPTIONS_FILE
from imagelens.models.spec import ModelSpec

_SENTENCES = (
    "a dog on the grass", "a cat sitting on a table", "people walking in the street", "the sky is blue",
    "a red car parked outside", "two birds in a tree", "un perro en la hierba", "el cielo es azul",
    "ein Hund im Gras", "un chat sur une table", "犬が草の上にいる", "草地上的狗",
)  # fmt: skip


@functools.cache
def _spm_model() -> bytes:
    import sentencepiece as spm

    buffer = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(_SENTENCES * 10), model_writer=buffer, vocab_size=80, model_type="unigram",
        character_coverage=1.0, bos_id=-1, pad_id=-1, eos_id=1, unk_id=0, hard_vocab_limit=False,
        minloglevel=2, num_threads=1,
    )  # fmt: skip
    return buffer.getvalue()


def write(path: Path, spec: ModelSpec, seed: int) -> None:
    import sentencepiece as spm
    import torch
    from transformers import MarianConfig, MarianMTModel

    model_bytes = _spm_model()
    (path / "source.spm").write_bytes(model_bytes)
    (path / "target.spm").write_bytes(model_bytes)
    pieces = spm.SentencePieceProcessor(model_proto=model_bytes)
    specials = ("</s>", "<unk>", "<pad>")
    vocab = {s: i for i, s in enumerate(specials)}
    for i in range(pieces.get_piece_size()):
        vocab.setdefault(pieces.id_to_piece(i), len(vocab))
    prefix = str(spec.options.get("prefix") or "")
    if prefix:
        vocab.setdefault(prefix, len(vocab))
    (path / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (path / "tokenizer_config.json").write_text(
        json.dumps(
            {"source_lang": "en", "target_lang": spec.options.get("target", ""), "model_max_length": 128}
        ),
        encoding="utf-8",
    )
    pad, eos = vocab["<pad>"], vocab["</s>"]
    config = MarianConfig(
        vocab_size=len(vocab), d_model=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, max_position_embeddings=128,
        pad_token_id=pad, eos_token_id=eos, decoder_start_token_id=pad, forced_eos_token_id=eos,
    )  # fmt: skip
    torch.manual_seed(seed)
    MarianMTModel(config).save_pretrained(str(path))
    # Random weights never emit end-of-sequence: a short decode budget and large batches keep tests fast.
    (path / OPTIONS_FILE).write_text(json.dumps({"max_new_tokens": 6, "batch_size": 512}), encoding="utf-8")
    mark_tiny(path, spec, seed)
