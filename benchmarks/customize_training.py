"""Training time of custom models on real few-shot data, on this machine's CPU.

    python benchmarks/customize_training.py [--threads 2] [--epochs 3] [--full-size]

Data: ../shared/data/grocery_store_fewshot (classification: the train split, 10 classes x 10 images, ~350 px) and
../shared/data/bccd_fewshot (detection: train40, 40 blood-smear images of 640x480 with 705 boxes).

Models: the TINY RANDOM-weight stand-ins the tests use (``imagelens.testing.tiny_models``): a 2-layer SigLIP at
32 px and a ~70k-parameter RT-DETRv2 at 64 px. Their ACCURACY IS MEANINGLESS (random weights; printed only to show
the pipeline runs end to end). What they measure is the pipeline around the network: decoding, augmentation,
resizing, the head fit, evaluation, checkpoints. ``--full-size`` adds the networks' real cost with random weights
of the real shapes (no download needed; the FLOPs are those of the real checkpoints): SigLIP B/16 at 224 px
(embedding forward passes) and an RT-DETRv2-S-like detector (ResNet-18 basic blocks, 3 decoder layers) at 640 px
(one fine-tuning epoch through the real trainer).

Reported: seconds per image and per epoch. For the classifier an "epoch" is one embedding pass over the training
images (with their mirror images); the head fit (L-BFGS on embeddings) is reported apart.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from imagelens.config import HubSettings, Settings
from imagelens.customize.dataset import import_dataset, load_classification_csv, validate_dataset
from imagelens.customize.sources import load_rgb
from imagelens.customize.train_classifier import ClassifierConfig, train_classifier
from imagelens.customize.train_detector import DetectorConfig, train_detector
from imagelens.models.hub import ModelHub
from imagelens.numeric import softmax
from imagelens.testing.tiny_models import write_tiny_models

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
GROCERY = DATA / "grocery_store_fewshot"
BCCD = DATA / "bccd_fewshot"
SIGLIP, RTDETR = "siglip2-base-patch16-224", "rtdetr-v2-r18"


def _shots(dataset: Any, k: int) -> Any:
    """The first ``k`` images of each class."""
    labels = dataset.image_labels()
    keep: list[int] = []
    seen: dict[int, int] = {}
    for im in dataset.images:
        cid = labels[im.id]
        if seen.get(cid, 0) < k:
            seen[cid] = seen.get(cid, 0) + 1
            keep.append(im.id)
    return dataset.subset(keep)


def classifier_rows(hub: ModelHub, settings: Settings) -> list[dict[str, Any]]:
    train = load_classification_csv(GROCERY / "labels.csv", split="train")
    test = load_classification_csv(GROCERY / "labels.csv", split="test")
    backbone = hub.get(SIGLIP)
    rows = []
    for k in (1, 5, 10):
        subset = _shots(train, k)
        validate_dataset(subset, min_images_per_class=1).raise_for_errors()
        t0 = time.perf_counter()
        pixels = {im.id: load_rgb(im, settings) for im in subset.images}
        decode = time.perf_counter() - t0
        result = train_classifier(
            subset, backbone, lambda im, px=pixels: px[im.id], backbone=SIGLIP, config=ClassifierConfig()
        )
        n = len(subset.images)
        test_emb = backbone.embed_images([load_rgb(im, settings) for im in test.images])
        labels = test.image_labels()
        truth = [result.head.category_ids.index(labels[im.id]) for im in test.images]
        acc = float(np.mean(np.argmax(softmax(result.head.logits(test_emb)), 1) == truth))
        rows.append(
            {
                "shots": k, "images": n, "decode_s_per_image": decode / n,
                "embed_s_per_image": result.embed_seconds / n, "epoch_s": result.embed_seconds,
                "fit_s": result.fit_seconds,
                "total_s_per_image": (decode + result.embed_seconds + result.fit_seconds) / n,
                "test_top1_MEANINGLESS": acc,
            }
        )  # fmt: skip
    return rows


def detector_row(base_dir: Path, settings: Settings, epochs: int, label: str) -> dict[str, Any]:
    dataset, _ = import_dataset(BCCD / "annotations" / "instances_train40.json")
    t0 = time.perf_counter()
    pixels = {im.id: load_rgb(im, settings) for im in dataset.images}
    decode = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        result = train_detector(
            dataset, base_dir, Path(tmp) / "out", lambda im: pixels[im.id],
            config=DetectorConfig(max_epochs=epochs, patience=epochs + 1, freeze_backbone_epochs=1),
            work_dir=Path(tmp) / "work",
        )  # fmt: skip
    epochs_run = [h for h in result.history if h.epoch >= 1]
    epoch_s = float(np.mean([h.seconds for h in epochs_run]))
    return {
        "model": label, "train_images": result.num_train, "validation_images": result.num_validation,
        "epochs": len(epochs_run), "decode_s_per_image": decode / len(dataset.images),
        "epoch_s": epoch_s, "s_per_train_image_per_epoch": epoch_s / result.num_train,
        "untrained_eval_s": result.history[0].seconds, "total_s": result.train_seconds,
        "val_map50_MEANINGLESS": result.validation.map50,
    }  # fmt: skip


def full_size_siglip(settings: Settings, count: int = 16) -> dict[str, Any]:
    """SigLIP B/16 at 224 px, random weights: the embedding cost of the real default backbone."""
    import torch
    from transformers import SiglipConfig, SiglipModel

    from imagelens.models.adapters.siglip import ImagePrep

    model = SiglipModel(SiglipConfig()).eval()  # the defaults are the base patch16 224 shapes
    prep = ImagePrep("siglip", size=(224, 224))
    train = load_classification_csv(GROCERY / "labels.csv", split="train")
    images = [load_rgb(im, settings) for im in train.images[:count]]
    batch = torch.from_numpy(np.stack([prep(img)["pixel_values"] for img in images]))
    with torch.inference_mode():
        model.get_image_features(pixel_values=batch[:2])  # warm-up
        t0 = time.perf_counter()
        for start in range(0, count, 8):
            model.get_image_features(pixel_values=batch[start : start + 8])
        seconds = time.perf_counter() - t0
    return {"model": "SigLIP B/16 224 (random weights)", "embed_s_per_image": seconds / count,
            "epoch_s_with_flips_10shot": 2 * 100 * seconds / count}  # fmt: skip


def write_full_size_rtdetr(path: Path) -> Path:
    """An RT-DETRv2-S-like detector (random weights, real shapes) with a 640 px preprocessor."""
    from transformers import (
        RTDetrImageProcessorPil,
        RTDetrResNetConfig,
        RTDetrV2Config,
        RTDetrV2ForObjectDetection,
    )

    backbone = RTDetrResNetConfig(
        embedding_size=64, hidden_sizes=[64, 128, 256, 512], depths=[2, 2, 2, 2], layer_type="basic",
        out_features=["stage2", "stage3", "stage4"],
    )  # fmt: skip
    config = RTDetrV2Config(
        backbone_config=backbone, encoder_in_channels=[128, 256, 512], decoder_layers=3, hidden_expansion=0.5,
        id2label={i: f"class_{i}" for i in range(80)},
    )  # fmt: skip
    RTDetrV2ForObjectDetection(config).save_pretrained(str(path))
    RTDetrImageProcessorPil(size={"height": 640, "width": 640}).save_pretrained(str(path))
    return path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--full-size", action="store_true")
    args = parser.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    tmp = Path(tempfile.mkdtemp(prefix="imagelens-bench-"))
    try:
        write_tiny_models(tmp / "models", seed=0, only=(SIGLIP, RTDETR))
        settings = Settings(model_dir=tmp / "models", hub=HubSettings(offline=True))
        hub = ModelHub(settings)
        report: dict[str, Any] = {
            "torch_threads": torch.get_num_threads(), "cpus": os.cpu_count(), "load_average_before": load_before,
            "classifier_tiny": classifier_rows(hub, settings),
            "detector_tiny": detector_row(tmp / "models" / RTDETR, settings, args.epochs, "tiny RT-DETRv2 64 px"),
        }  # fmt: skip
        if args.full_size:
            report["classifier_full_size"] = full_size_siglip(settings)
            base = write_full_size_rtdetr(tmp / "rtdetr-full")
            report["detector_full_size"] = detector_row(base, settings, 1, "RT-DETRv2-S-like 640 px (random)")
        report["load_average_after"] = os.getloadavg()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
