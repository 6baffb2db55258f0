"""A tiny random OWLv2 in the Hugging Face layout :class:`~imagelens.models.adapters.owlv2.Owlv2Adapter` loads."""

from __future__ import annotations

from pathlib import Path

from imagelens.models.adapters.base import mark_tiny
from imagelens.models.spec import ModelSpec
from imagelens.testing.tiny.tokenizers import byte_level_clip_tokenizer


def write(path: Path, spec: ModelSpec, seed: int = 0) -> None:
    """A tiny random OWLv2 (48 px input, 6x6 patches, 16-wide towers) with a byte-level CLIP tokenizer and a
    48 px processor config, saved with ``save_pretrained`` as the Hub checkpoint is, then the marker.

    The tokenizer has the two special tokens LAST: OWLv2 treats a query whose first token id is 0 as padding
    and masks it, so a start token with id 0 would mask every query. 64 text positions fit the default prompts
    one byte per token (there are no merges).
    """
    import torch
    from transformers import Owlv2Config, Owlv2ForObjectDetection, Owlv2ImageProcessorPil

    root = Path(path)
    root.mkdir(parents=True, exist_ok=True)
    tokenizer = byte_level_clip_tokenizer()
    vocab_size = len(tokenizer)
    config = Owlv2Config(
        text_config={
            "vocab_size": vocab_size,
            "hidden_size": 16,
            "intermediate_size": 32,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "max_position_embeddings": 64,
            "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id,
            "pad_token_id": tokenizer.pad_token_id,
        },
        vision_config={
            "hidden_size": 16,
            "intermediate_size": 32,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "image_size": 48,
            "patch_size": 8,
        },
        projection_dim=16,  # the class head compares text-hidden-size vectors with projected text embeddings
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Owlv2ForObjectDetection(config).eval()
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            # Scores spread over (0, 1), so thresholds matter; boxes near each patch's own grid cell (the box
            # head's stock init saturates the sigmoid into image-sized boxes), so NMS keeps several.
            model.class_head.logit_shift.weight.normal_(0.0, 0.5, generator=generator)
            model.class_head.logit_scale.bias.fill_(1.0)
            model.box_head.dense2.weight.normal_(0.0, 0.05, generator=generator)
            model.box_head.dense2.bias.zero_()
    model.save_pretrained(str(root))
    tokenizer.save_pretrained(str(root))
    Owlv2ImageProcessorPil(size={"height": 48, "width": 48}).save_pretrained(str(root))
    mark_tiny(root, spec, seed)
