"""A tiny random Florence-2 with a real processor, in the ``from_pretrained`` layout
:class:`~imagelens.models.adapters.florence2.Florence2Adapter` loads."""

from __future__ import annotations

import json
from pathlib import Path

from imagelens.models.adapters.base import mark_tiny
from imagelens.models.adapters.florence2 import LOC_BINS, OPTIONS_FILE
from imagelens.models.spec import ModelSpec
from imagelens.testing.tiny.tokenizers import florence_tokenizer


def write(path: Path, spec: ModelSpec, seed: int = 0) -> None:
    """A random Florence-2 (~70k parameters, ~0.5 MB) with a real processor, in ``from_pretrained`` layout.

    Tokenizer: byte-level BART vocabulary without merges, plus ``<image>`` and ``<loc_0>..<loc_999>``. Image
    processor: 64 x 64 (a 2 x 2 grid after the stride-32 tower, + 1 pooled token). The generation config copies
    the real checkpoints' beam-search defaults, so tests prove the adapter overrides them. Weights are drawn
    with a large std so that outputs depend on the image; decoding budgets are small (``OPTIONS_FILE``).
    """
    import torch
    from transformers import (
        BartConfig,
        CLIPImageProcessorPil,
        Florence2Config,
        Florence2ForConditionalGeneration,
        Florence2Processor,
        Florence2VisionConfig,
        GenerationConfig,
    )

    root = Path(path)
    root.mkdir(parents=True, exist_ok=True)
    tokenizer = florence_tokenizer(LOC_BINS)
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
    config = Florence2Config(vision_config=vision, text_config=text, image_token_id=tokenizer.image_token_id)
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
