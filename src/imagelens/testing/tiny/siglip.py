"""Tiny random SigLIP / SigLIP 2 NaFlex / CLIP models in the Hugging Face layout
:meth:`~imagelens.models.adapters.siglip.SiglipAdapter.load` reads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from imagelens.errors import InvalidArgumentError
from imagelens.models.adapters.base import mark_tiny
from imagelens.models.adapters.siglip import FAMILIES, Family
from imagelens.models.spec import ModelSpec
from imagelens.testing.tiny.tokenizers import byte_level_clip_tokenizer, gemma_tokenizer

TINY_WIDTH = 32
TINY_TEXT_LENGTH = 48  # the longest RAM prompt is 42 characters + EOS: nothing is truncated


def write(path: Path, spec: ModelSpec, seed: int = 0) -> None:
    """A random-weight model of ``spec.options["family"]`` (default ``siglip``, as SigLIP 2 fixed-resolution
    checkpoints) with a tokenizer built in code, then the tiny marker."""
    family = spec.options.get("family", "siglip")
    if family not in FAMILIES:
        raise InvalidArgumentError(f"family must be one of {', '.join(FAMILIES)}, got {family!r}")
    write_family(Path(path), family, seed)
    mark_tiny(Path(path), spec, seed)


def write_family(path: Path, family: Family, seed: int = 0) -> None:
    """Write config, random weights, tokenizer and preprocessor config of a tiny ``family`` model to ``path``."""
    import torch

    path.mkdir(parents=True, exist_ok=True)
    block = {
        "hidden_size": TINY_WIDTH,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
    }
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if family == "clip":
            from transformers import CLIPConfig, CLIPModel
            from transformers.models.clip import CLIPImageProcessorPil

            tokenizer = byte_level_clip_tokenizer()
            bos, eos = tokenizer.convert_tokens_to_ids(["<|startoftext|>", "<|endoftext|>"])
            config: Any = CLIPConfig(
                text_config={**block, "vocab_size": len(tokenizer), "max_position_embeddings": TINY_TEXT_LENGTH,
                             "bos_token_id": bos, "eos_token_id": eos, "pad_token_id": eos},
                vision_config={**block, "image_size": 32, "patch_size": 8},
                projection_dim=TINY_WIDTH,
            )  # fmt: skip
            model: Any = CLIPModel(config)
            processor: Any = CLIPImageProcessorPil(
                size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
            )
        else:
            tokenizer = gemma_tokenizer()
            text = {**block, "vocab_size": len(tokenizer), "max_position_embeddings": TINY_TEXT_LENGTH,
                    "projection_size": TINY_WIDTH, "pad_token_id": 0, "eos_token_id": 1, "bos_token_id": 2}  # fmt: skip
            if family == "siglip2":
                from transformers import Siglip2Config, Siglip2Model
                from transformers.models.siglip2 import Siglip2ImageProcessorPil

                config = Siglip2Config(
                    text_config=text, vision_config={**block, "patch_size": 8, "num_patches": 16}
                )
                model = Siglip2Model(config)
                processor = Siglip2ImageProcessorPil(patch_size=8, max_num_patches=16)
            else:
                from transformers import SiglipConfig, SiglipModel
                from transformers.models.siglip import SiglipImageProcessorPil

                config = SiglipConfig(
                    text_config=text, vision_config={**block, "image_size": 32, "patch_size": 8}
                )
                model = SiglipModel(config)
                # SigLIP 2's fixed-resolution checkpoints squash with bilinear resampling (resample=2)
                processor = SiglipImageProcessorPil(size={"height": 32, "width": 32}, resample=2)
    model.eval().save_pretrained(path)
    tokenizer.save_pretrained(path)
    processor.save_pretrained(path)
