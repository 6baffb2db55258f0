"""Tokenizers built in code for tiny random test models (no download): shared by the adapters' ``write_tiny``."""

from __future__ import annotations

from typing import Any


def byte_level_symbols() -> list[str]:
    """The 256 printable stand-ins byte-level BPE uses for bytes (GPT-2's table): printable Latin-1 bytes stand for
    themselves, the others are shifted past U+0100."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    codes = {b: b for b in printable}
    shifted = 0
    for b in range(256):
        if b not in codes:
            codes[b] = 256 + shifted
            shifted += 1
    return [chr(codes[b]) for b in range(256)]


def byte_level_clip_tokenizer() -> Any:
    """A byte-level CLIP tokenizer: the 256 byte symbols and their ``</w>`` variants, the two specials **last**
    (a start token with id 0 would mask every OWLv2 query)."""
    from transformers import CLIPTokenizer

    symbols = byte_level_symbols()
    vocab = {s: i for i, s in enumerate(symbols)}
    for s in symbols:
        vocab[s + "</w>"] = len(vocab)
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[])
