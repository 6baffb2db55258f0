"""Write RANDOM-weight, FULL-SIZE models of the default catalog, in the layout of a pulled model folder.

    python -m imagelens.testing.full_size_models DIR [--only ID ...] [--seed 0] [--list]
    IMAGELENS_MODEL_DIR=DIR imagelens analyze photo.jpg --features caption,denseCaptions,tags,objects,people,read

Each model is the published architecture at its published size (layers, widths, input resolution, vocabulary rows)
with seeded random weights, saved under ``DIR/<catalog id>/`` in the files the adapter loads, so every feature runs
at its real cost offline (benchmarks, profiling, memory). Outputs mean nothing. Tokenizers are the small in-code
ones of :mod:`imagelens.testing.tiny` (the embedding and output layers keep their full row counts, so compute is
unchanged). Random weights never stop decoding: the Florence-2 folder fixes 20 caption and 60 dense-caption tokens.

What each default-catalog id gets (``--list``): ``full`` (this module), ``tiny`` (a stand-in from
:mod:`imagelens.testing.tiny`: the real model is under 0.3 MB and costs milliseconds, so a tiny one changes no
figure), ``package`` (the real weights ship inside an installed package and are used as they are).
Every folder carries the tiny marker file (random weights: ``imagelens models pull`` and ``models list`` say so).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from imagelens.models.catalog import CATALOG, DEFAULT_FOR_ROLE
from imagelens.models.spec import PackageSource
from imagelens.testing.tiny import write_tiny

FLORENCE_ID = "florence-2-base"
SIGLIP_ID = "siglip2-base-patch16-224"
DETECTOR_ID = "rtdetr-v2-r18"
OWLV2_ID = "owlv2-base-patch16-ensemble"

CAPTION_TOKENS = 20
DENSE_TOKENS = 60
FLORENCE_VOCAB = 51289  # Florence-2-base's text vocabulary (BART's 50,265 + <loc_*> and task tokens)
SIGLIP_VOCAB = 256_000  # SigLIP 2's Gemma vocabulary
SIGLIP_TEXT_LENGTH = 64
FLORENCE_SIDE = 768
FLORENCE_SEQ = (FLORENCE_SIDE // 32) ** 2 + 1  # 577 image tokens
OWLV2_SIDE = 960
OWLV2_VOCAB = 49408  # CLIP's BPE vocabulary
STAMP = "full_size_models.json"


def _init_random(model: Any, seed: int) -> None:
    """Seeded random weights (the stock init is already random; re-seed and redraw matrices so runs are repeatable)."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in model.parameters():
            if param.dim() >= 2:
                param.normal_(0.0, 0.02, generator=generator)


#: Hidden dimensions of the decoder's output held at 1.0 to carry :func:`_ban_unnamed_ids`'s offset.
BAN_DIMS = 64
BAN_WEIGHT = -0.1  # about the largest magnitude of the N(0, 0.02) weights: int8 scales stay as they were


def _ban_unnamed_ids(model: Any, named: int) -> None:
    """Ids from ``named`` up never win a greedy step: the decoder's last layer norm writes 1.0 in its first
    :data:`BAN_DIMS` outputs, and those columns of the (tied) output layer hold :data:`BAN_WEIGHT` for unnamed ids and 0
    for named ones, so every unnamed logit carries -6.4 against a spread of about 0.5 from the other 704 dimensions.
    No logits processor, no extra work per step; activations and weights keep their ranges (int8 scales unchanged)."""
    import torch

    language = model.get_decoder()
    decoder = getattr(language, "decoder", language)
    norm = decoder.layers[-1].final_layer_norm
    head = model.get_output_embeddings().weight
    with torch.no_grad():
        norm.weight[:BAN_DIMS] = 0.0
        norm.bias[:BAN_DIMS] = 1.0
        head[:named, :BAN_DIMS] = 0.0
        head[named:, :BAN_DIMS] = BAN_WEIGHT


def write_florence(
    root: Path, seed: int, caption_tokens: int = CAPTION_TOKENS, dense_tokens: int = DENSE_TOKENS
) -> None:
    """Florence-2-base: DaViT (1,1,9,1) x (128,256,512,1024) at 768 px, BART 6+6 x 768, vocabulary 51,289.

    The in-code tokenizer of the tiny writer has 1,262 ids (bytes, specials, ``<image>``, ``<loc_*>``); the model keeps
    Florence's full 51,289-row embedding and output layer (the output layer is most of a decoding step's FLOPs), and
    the ids the tokenizer cannot name can never win, by the weights themselves (:func:`_ban_unnamed_ids`), so both (a)
    and (b) decode only ids the tokenizer knows at exactly a real checkpoint's cost per step. (Until 2026-12-03 they
    were banned by ``bad_words_ids`` in ``generation_config.json``: transformers walks those 50,000 entries in Python at
    every step, 0.47 s of a 60-token decode that no real checkpoint pays.) ``min_new_tokens`` = 60 there masks
    end-of-sequence, so every task decodes exactly its ``max_new_tokens`` (20 for captions, 60 for dense captions,
    from the options file).
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

    from imagelens.models.adapters.florence2 import OPTIONS_FILE

    write_tiny(CATALOG[FLORENCE_ID], root, seed)  # tokenizer, processor, marker
    tiny = Florence2Processor.from_pretrained(root, local_files_only=True)
    tokenizer = tiny.tokenizer
    image_processor = CLIPImageProcessorPil(
        size={"height": FLORENCE_SIDE, "width": FLORENCE_SIDE},
        do_center_crop=False,
        crop_size={"height": FLORENCE_SIDE, "width": FLORENCE_SIDE},
        resample=3,  # bicubic, as Florence-2's processor
        image_mean=[0.485, 0.456, 0.406],
        image_std=[0.229, 0.224, 0.225],
        image_seq_length=FLORENCE_SEQ,
    )
    processor = Florence2Processor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        post_processor_config={"pure_text": {}, "description_with_bboxes": {}},
    )
    vision = Florence2VisionConfig(
        depths=(1, 1, 9, 1),
        embed_dim=(128, 256, 512, 1024),
        num_heads=(4, 8, 16, 32),
        num_groups=(4, 8, 16, 32),
        window_size=12,
        projection_dim=768,
        drop_path_rate=0.0,
    )
    text = BartConfig(
        vocab_size=FLORENCE_VOCAB,
        d_model=768,
        encoder_layers=6,
        decoder_layers=6,
        encoder_attention_heads=12,
        decoder_attention_heads=12,
        encoder_ffn_dim=3072,
        decoder_ffn_dim=3072,
        max_position_embeddings=1024,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.eos_token_id,
    )
    config = Florence2Config(vision_config=vision, text_config=text, image_token_id=tokenizer.image_token_id)
    torch.manual_seed(seed)
    model = Florence2ForConditionalGeneration(config).eval()
    _init_random(model, seed)
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
        min_new_tokens=dense_tokens,
    )
    _ban_unnamed_ids(model, len(tokenizer))
    model.save_pretrained(root)
    processor.save_pretrained(root)
    budgets = {"caption_max_new_tokens": caption_tokens, "dense_max_new_tokens": dense_tokens}
    (root / OPTIONS_FILE).write_text(json.dumps(budgets, indent=2) + "\n", encoding="utf-8")
    del model


def write_siglip(root: Path, seed: int, vocab_size: int = SIGLIP_VOCAB) -> None:
    """SigLIP 2 base/16 at 224 px (``SiglipModel``, as ``google/siglip2-base-patch16-224``): 12+12 layers x 768,
    text length 64, ``vocab_size`` rows of text embedding (the in-code Gemma-style tokenizer uses the first ~300)."""
    import torch
    from transformers import SiglipConfig, SiglipModel
    from transformers.models.siglip import SiglipImageProcessorPil

    write_tiny(CATALOG[SIGLIP_ID], root, seed)  # tokenizer, preprocessor, marker
    block = {
        "hidden_size": 768,
        "intermediate_size": 3072,
        "num_hidden_layers": 12,
        "num_attention_heads": 12,
    }
    config = SiglipConfig(
        text_config={
            **block,
            "vocab_size": vocab_size,
            "max_position_embeddings": SIGLIP_TEXT_LENGTH,
            "projection_size": 768,
            "pad_token_id": 0,
            "eos_token_id": 1,
            "bos_token_id": 2,
        },
        vision_config={**block, "image_size": 224, "patch_size": 16},
    )
    torch.manual_seed(seed)
    model = SiglipModel(config).eval()
    _init_random(model, seed)
    model.save_pretrained(root)
    SiglipImageProcessorPil(size={"height": 224, "width": 224}, resample=2).save_pretrained(root)
    del model


def write_detector(root: Path, seed: int) -> None:
    """RT-DETRv2-S (``PekingU/rtdetr_v2_r18vd``'s configuration): ResNet-18-vd backbone, hybrid encoder 256 with
    expansion 0.5, 3 decoder layers, 300 queries, 80 COCO classes, 640x640 input."""
    import torch
    from transformers import (
        RTDetrImageProcessorPil,
        RTDetrResNetConfig,
        RTDetrV2Config,
        RTDetrV2ForObjectDetection,
    )

    from imagelens.models.adapters.rtdetr import COCO_NAMES
    from imagelens.testing.tiny.rtdetr import calibrate_batch_norms

    write_tiny(CATALOG[DETECTOR_ID], root, seed)  # marker (weights and processor replaced below)
    id2label = dict(enumerate(COCO_NAMES))
    backbone = RTDetrResNetConfig(  # type: ignore[call-arg]
        embedding_size=64,
        hidden_sizes=[64, 128, 256, 512],
        depths=[2, 2, 2, 2],
        layer_type="basic",
        hidden_act="relu",
        downsample_in_first_stage=False,
        downsample_in_bottleneck=False,
        out_features=["stage2", "stage3", "stage4"],
    )
    config = RTDetrV2Config(
        backbone_config=backbone,
        encoder_in_channels=[128, 256, 512],
        encoder_hidden_dim=256,
        encoder_ffn_dim=1024,
        hidden_expansion=0.5,
        d_model=256,
        decoder_layers=3,
        decoder_ffn_dim=1024,
        num_queries=300,
        decoder_n_points=4,
        decoder_n_levels=3,
        decoder_offset_scale=0.5,
        decoder_method="default",
        id2label=id2label,
        label2id={v: k for k, v in id2label.items()},
    )
    torch.manual_seed(seed)
    model = RTDetrV2ForObjectDetection(config).eval()
    # batch-norm statistics of (noise) images, so that scores do not tie: detector outputs can then be compared
    noise = torch.rand(2, 3, 640, 640, generator=torch.Generator().manual_seed(seed))
    calibrate_batch_norms(model, noise)
    model.save_pretrained(root)
    RTDetrImageProcessorPil(size={"height": 640, "width": 640}).save_pretrained(root)
    del model


def write_owlv2(root: Path, seed: int) -> None:
    """OWLv2 base/16 ensemble (``google/owlv2-base-patch16-ensemble``): ViT-B/16 at 960 px (3,600 patches), text
    tower 12 x 512 with CLIP's 49,408-row embedding, projection 512."""
    import torch
    from transformers import Owlv2Config, Owlv2ForObjectDetection, Owlv2ImageProcessorPil

    write_tiny(CATALOG[OWLV2_ID], root, seed)  # tokenizer, marker (weights and processor replaced below)
    tokenizer_config = json.loads((root / "config.json").read_text(encoding="utf-8"))["text_config"]
    config = Owlv2Config(
        text_config={
            "vocab_size": OWLV2_VOCAB,
            "hidden_size": 512,
            "intermediate_size": 2048,
            "num_hidden_layers": 12,
            "num_attention_heads": 8,
            "max_position_embeddings": 64,  # 16 as published; the byte-level tiny tokenizer needs more positions
            "bos_token_id": tokenizer_config["bos_token_id"],
            "eos_token_id": tokenizer_config["eos_token_id"],
            "pad_token_id": tokenizer_config["pad_token_id"],
        },
        vision_config={
            "hidden_size": 768,
            "intermediate_size": 3072,
            "num_hidden_layers": 12,
            "num_attention_heads": 12,
            "image_size": OWLV2_SIDE,
            "patch_size": 16,
        },
        projection_dim=512,
    )
    torch.manual_seed(seed)
    model = Owlv2ForObjectDetection(config).eval()
    _init_random(model, seed)
    model.save_pretrained(root)
    Owlv2ImageProcessorPil(size={"height": OWLV2_SIDE, "width": OWLV2_SIDE}).save_pretrained(root)
    del model


def _write_tiny_stand_in(model_id: str) -> Callable[[Path, int], None]:
    def write(root: Path, seed: int) -> None:
        write_tiny(CATALOG[model_id], root, seed)

    return write


#: catalog id -> writer of its full-size random model (``root`` is ``DIR/<id>``).
FULL_SIZE: dict[str, Callable[[Path, int], None]] = {
    FLORENCE_ID: write_florence,
    SIGLIP_ID: write_siglip,
    DETECTOR_ID: write_detector,
    OWLV2_ID: write_owlv2,
}
#: default-catalog ids whose real model is so small (< 0.3 MB, milliseconds per call) that a tiny stand-in is written.
TINY_STAND_IN = frozenset({"yunet-2023mar", "mediapipe-selfie-seg"})
#: a writer's version where it changed since it was first written (its folders are then written again; the others,
#: whose caches downstream are keyed by their weights, are kept): 2 = the detector's batch norms calibrated.
WRITER_VERSION = {DETECTOR_ID: 2}
#: each id's seed offset, fixed so a model is the same whichever ids are written together.
SEED_OFFSET = {
    FLORENCE_ID: 0,
    SIGLIP_ID: 1,
    DETECTOR_ID: 2,
    OWLV2_ID: 3,
    "yunet-2023mar": 4,
    "mediapipe-selfie-seg": 5,
}


def default_ids() -> list[str]:
    """The default model of every role, once each, in role order."""
    return list(dict.fromkeys(DEFAULT_FOR_ROLE.values()))


def plan(only: Iterable[str] | None = None) -> dict[str, str]:
    """id -> what is written for it: ``full``, ``tiny`` or ``package`` (nothing written: real weights installed).
    Raises ``SystemExit`` for an id with no writer here."""
    ids = list(dict.fromkeys(only)) if only else default_ids()
    out: dict[str, str] = {}
    for model_id in ids:
        spec = CATALOG.get(model_id)
        if spec is None:
            raise SystemExit(f"unknown model id: {model_id}")
        if model_id in FULL_SIZE:
            out[model_id] = "full"
        elif model_id in TINY_STAND_IN:
            out[model_id] = "tiny"
        elif isinstance(spec.source, PackageSource):
            out[model_id] = "package"
        else:
            raise SystemExit(f"no full-size writer for {model_id} (known: {', '.join(sorted(FULL_SIZE))})")
    return out


def write_full_size_models(root: Path, seed: int = 0, only: Iterable[str] | None = None) -> dict[str, Path]:
    """Write the models of :func:`plan` under ``root/<id>``; returns id -> folder for those written.

    A folder already written with the same seed (``root/full_size_models.json``) is kept, so reruns are free."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    stamp_file = root / STAMP
    stamp: dict[str, Any] = json.loads(stamp_file.read_text()) if stamp_file.is_file() else {}
    wanted = {"seed": seed, "caption": CAPTION_TOKENS, "dense": DENSE_TOKENS, "siglip_vocab": SIGLIP_VOCAB}
    written: dict[str, Path] = {}
    for model_id, kind in plan(only).items():
        if kind == "package":
            continue
        folder = root / model_id
        version = WRITER_VERSION.get(model_id, 1)
        expected = {**wanted, "version": version} if version > 1 else wanted
        if stamp.get(model_id) == expected and folder.is_dir():
            written[model_id] = folder
            continue
        shutil.rmtree(folder, ignore_errors=True)
        writer = FULL_SIZE.get(model_id) or _write_tiny_stand_in(model_id)
        writer(folder, seed + SEED_OFFSET.get(model_id, 0))
        stamp[model_id] = expected
        stamp_file.write_text(json.dumps(stamp, indent=2) + "\n", encoding="utf-8")
        written[model_id] = folder
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m imagelens.testing.full_size_models", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("dir", type=Path, nargs="?", default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", nargs="*", default=None, help="catalog ids (default: every role's default)")
    parser.add_argument("--list", action="store_true", help="print what would be written, write nothing")
    args = parser.parse_args(argv)
    if args.list or args.dir is None:
        for model_id, kind in plan(args.only).items():
            print(f"{model_id}\t{kind}")
        return 0
    for model_id, folder in write_full_size_models(args.dir, args.seed, args.only).items():
        print(f"{model_id}\t{folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
