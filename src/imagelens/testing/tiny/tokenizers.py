"""Tokenizers built in code for tiny random test models (no download)."""

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


def gemma_tokenizer() -> Any:
    """A Gemma-style tokenizer (as SigLIP 2's): specials, the 256 byte-fallback symbols, a few characters; no merges.
    Adds EOS and no BOS, pads on the right with id 0: how SigLIP 2 was trained."""
    from transformers import GemmaTokenizer

    vocab = {"<pad>": 0, "<eos>": 1, "<bos>": 2, "<unk>": 3, "<mask>": 4}
    for b in range(256):
        vocab[f"<0x{b:02X}>"] = len(vocab)
    for ch in "▁abcdefghijklmnopqrstuvwxyz0123456789.,'-":
        vocab.setdefault(ch, len(vocab))
    return GemmaTokenizer(
        vocab=vocab, merges=[], add_bos_token=False, add_eos_token=True, padding_side="right"
    )


def florence_tokenizer(loc_bins: int) -> Any:
    """Florence-2's tokenizer in miniature: a byte-level BART vocabulary without merges, plus ``<image>`` and
    ``<loc_0>..<loc_{loc_bins - 1}>``."""
    from tokenizers import pre_tokenizers
    from transformers import BartTokenizer

    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    for symbol in sorted(pre_tokenizers.ByteLevel.alphabet()):
        vocab[symbol] = len(vocab)
    vocab["<mask>"] = len(vocab)
    tokenizer = BartTokenizer(vocab=vocab, merges=[], extra_special_tokens={"image_token": "<image>"})
    tokenizer.add_tokens([f"<loc_{i}>" for i in range(loc_bins)])
    return tokenizer
