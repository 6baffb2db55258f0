"""A tiny random-weight Whisper (transformers' ``WhisperForConditionalGeneration``): a byte-level vocabulary written
in code (no merges, Whisper's special and timestamp tokens after it), a 1-layer ``d_model=32`` English-only config,
and the feature extractor, in the layout :class:`~imagelens.models.adapters.whisper.WhisperAdapter` loads."""

from __future__ import annotations

import json
from pathlib import Path

from imagelens.models.adapters.base import mark_tiny
from imagelens.models.adapters.whisper import OPTIONS_FILE
from imagelens.models.spec import ModelSpec
from imagelens.testing.tiny.tokenizers import byte_level_symbols

SPECIALS = ("<|endoftext|>", "<|startoftranscript|>", "<|en|>", "<|translate|>", "<|transcribe|>",
            "<|startoflm|>", "<|startofprev|>", "<|nospeech|>", "<|notimestamps|>")  # fmt: skip


def write(path: Path, spec: ModelSpec, seed: int) -> None:
    import torch
    from transformers import (
        GenerationConfig,
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
        WhisperTokenizer,
    )

    vocab = {s: i for i, s in enumerate(byte_level_symbols())}
    for token in SPECIALS:
        vocab[token] = len(vocab)
    for i in range(1501):  # <|0.00|> .. <|30.00|>, 20 ms apart, as Whisper's
        vocab[f"<|{i * 0.02:.2f}|>"] = len(vocab)
    (path / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (path / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    tokenizer = WhisperTokenizer(vocab=str(path / "vocab.json"), merges=str(path / "merges.txt"))
    tokenizer.add_special_tokens({"additional_special_tokens": list(SPECIALS[1:])})
    tokenizer.save_pretrained(str(path))
    WhisperFeatureExtractor(feature_size=80).save_pretrained(str(path))
    eos, sot, notimestamps = vocab["<|endoftext|>"], vocab["<|startoftranscript|>"], vocab["<|notimestamps|>"]
    config = WhisperConfig(
        vocab_size=len(vocab), num_mel_bins=80, d_model=32, encoder_layers=1, decoder_layers=1,
        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64,
        max_source_positions=1500, max_target_positions=64, pad_token_id=eos, bos_token_id=eos,
        eos_token_id=eos, decoder_start_token_id=sot,
    )  # fmt: skip
    torch.manual_seed(seed)
    model = WhisperForConditionalGeneration(config)
    model.generation_config = GenerationConfig(
        decoder_start_token_id=sot, eos_token_id=eos, pad_token_id=eos, bos_token_id=eos,
        no_timestamps_token_id=notimestamps, is_multilingual=False, max_initial_timestamp_index=50,
        begin_suppress_tokens=[vocab["Ġ"], eos], suppress_tokens=[],
    )  # fmt: skip
    model.save_pretrained(str(path))
    # Random weights rarely emit end-of-sequence: a short decode budget keeps tests fast.
    (path / OPTIONS_FILE).write_text(json.dumps({"max_new_tokens": 12}), encoding="utf-8")
    mark_tiny(path, spec, seed)
