"""Tiny random RT-DETRv2 / D-FINE detectors (COCO names, or a custom detector's classes), saved with
``save_pretrained`` as the Hub checkpoints are: the layout :class:`~imagelens.models.adapters.rtdetr.RTDetrAdapter`
and :class:`~imagelens.models.adapters.custom_detector.CustomDetectorAdapter` load."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from imagelens.errors import InvalidArgumentError
from imagelens.models.adapters.base import mark_tiny
from imagelens.models.adapters.custom_detector import DETECTOR_META
from imagelens.models.adapters.rtdetr import COCO_NAMES
from imagelens.models.spec import ModelSpec


def write(path: Path, spec: ModelSpec, seed: int = 0) -> None:
    """A tiny random RT-DETRv2 (or D-FINE, ``options["architecture"] == "d_fine"``) with the 80 COCO names and
    a 64x64 image-processor config, then the marker.

    The stock init gives every class the prior score 0.01 and every query its anchor box: the class and box
    heads are re-drawn with a larger std so queries differ, then :func:`calibrate_scores` places the mean
    scores so that both the objects and the people thresholds keep something.
    """
    import torch
    from transformers import RTDetrImageProcessorPil

    root = Path(path)
    root.mkdir(parents=True, exist_ok=True)
    arch = str(spec.options.get("architecture", "rt_detr_v2"))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = random_model(arch)
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for name, param in model.named_parameters():
                if ("class_embed" in name or "enc_score_head" in name) and name.endswith("weight"):
                    param.normal_(0.0, 0.25, generator=generator)
                elif "bbox_embed" in name and ".layers.2." in name:
                    param.normal_(0.0, 0.2, generator=generator)
            calibrate_scores(model, generator)
    model.save_pretrained(str(root))
    RTDetrImageProcessorPil(size={"height": 64, "width": 64}).save_pretrained(str(root))
    mark_tiny(root, spec, seed)


def write_custom(path: Path, spec: ModelSpec, seed: int = 0) -> None:
    """A tiny random RT-DETRv2 with the class names in ``spec.options["classes"]`` (default three) and the
    metadata file training writes: a trained custom detector's folder."""
    import torch
    from transformers import AutoModelForObjectDetection
    from transformers.utils import logging as hf_logging

    root = Path(path)
    write(root, spec, seed)
    names = list(spec.options.get("classes", ("alpha", "beta", "gamma")))
    id2label = dict(enumerate(names))
    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = AutoModelForObjectDetection.from_pretrained(
                str(root), id2label=id2label, label2id={n: i for i, n in id2label.items()},
                ignore_mismatched_sizes=True,
            )  # fmt: skip
    finally:
        hf_logging.set_verbosity(level)
    model.eval().save_pretrained(str(root))
    meta = {"class_names": names, "category_ids": list(range(1, len(names) + 1)), "base_model": "tiny"}
    (root / DETECTOR_META).write_text(json.dumps(meta), encoding="utf-8")
    mark_tiny(root, spec, seed)


def calibrate_batch_norms(model: Any, pixel_values: Any) -> None:
    """Give a random DETR the batch-norm statistics of ``pixel_values`` (a float tensor batch), as a trained one has
    statistics of its training images. With the stock ones (mean 0, variance 1) its features shrink layer by layer
    to ~1e-9, every query's score ties, and which queries the top-k keeps is decided by rounding: no two runtimes
    (or precisions) could then be compared on it."""
    import torch

    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # a plain average over the batch
        norm.train()
    with torch.no_grad():
        model.model(pixel_values=pixel_values)
    for norm in norms:
        norm.eval()


def calibrate_scores(model: Any, generator: Any) -> None:
    """Shift the last class head's biases so that, on a grey image, "person" scores about 0.5 on average and the
    other classes draw mean logits from N(-3.5, 1): a random network otherwise ranks classes by chance, and a
    seed whose persons all score 0.01 would leave the people tests nothing to check."""
    import torch

    with torch.no_grad():
        logits = model(pixel_values=torch.full((1, 3, 64, 64), 0.5)).logits[0]
        target = torch.empty(logits.shape[1]).normal_(-3.5, 1.0, generator=generator)
        target[COCO_NAMES.index("person")] = 0.0
        shift = target - logits.mean(dim=0)
        last = max(
            int(n.split("class_embed.")[1].split(".")[0])
            for n, _ in model.named_parameters()
            if "class_embed." in n
        )
        biases = {
            id(p): p
            for n, p in model.named_parameters(remove_duplicate=False)
            if n.endswith(f"class_embed.{last}.bias")
        }
        for bias in biases.values():
            bias += shift


def random_model(architecture: str) -> Any:
    """A random RT-DETRv2 or D-FINE of ~50k parameters (the smallest shapes transformers accepts: 2 decoder
    layers, because the box heads of layers 1.. are tied to layer 0's)."""
    id2label = dict(enumerate(COCO_NAMES))
    stages = ["stage2", "stage3", "stage4"]
    common: dict[str, Any] = dict(
        d_model=16,
        encoder_hidden_dim=16,
        encoder_in_channels=[16, 16, 16],
        encoder_ffn_dim=32,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        decoder_ffn_dim=32,
        decoder_layers=2,
        decoder_in_channels=[16, 16, 16],
        num_queries=30,
        num_denoising=0,
        id2label=id2label,
        label2id={v: k for k, v in id2label.items()},
    )
    if architecture == "rt_detr_v2":
        from transformers import RTDetrResNetConfig, RTDetrV2Config, RTDetrV2ForObjectDetection

        resnet: dict[str, Any] = dict(
            embedding_size=8,
            hidden_sizes=[8, 16, 16, 16],
            depths=[1, 1, 1, 1],
            layer_type="basic",
            out_features=stages,
        )
        return RTDetrV2ForObjectDetection(
            RTDetrV2Config(backbone_config=RTDetrResNetConfig(**resnet), **common)
        ).eval()
    if architecture == "d_fine":
        from transformers import DFineConfig, DFineForObjectDetection, HGNetV2Config

        hgnet: dict[str, Any] = dict(
            embedding_size=8,
            depths=[1, 1, 1, 1],
            hidden_sizes=[16, 16, 16, 16],
            stem_channels=[3, 8, 8],
            stage_in_channels=[8, 16, 16, 16],
            stage_mid_channels=[8, 8, 8, 8],
            stage_out_channels=[16, 16, 16, 16],
            stage_num_blocks=[1, 1, 1, 1],
            stage_numb_of_layers=[1, 1, 1, 1],
            out_features=stages,
        )
        config = DFineConfig(
            backbone_config=HGNetV2Config(**hgnet),
            lqe_hidden_dim=8,
            depth_mult=0.34,
            hidden_expansion=0.5,
            **common,
        )
        return DFineForObjectDetection(config).eval()
    raise InvalidArgumentError(f"architecture must be 'rt_detr_v2' or 'd_fine', got {architecture!r}")
