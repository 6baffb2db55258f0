"""``Generic-Detector``: fine-tune the pretrained DETR-family detector (RT-DETRv2 / D-FINE) on the user's boxes.

The recipe is the usual one for few-shot detection fine-tuning (RT-DETR's own fine-tuning configs, DETReg/DeFRCN
style): new class heads sized for the user's categories, the backbone **frozen** for the first epochs (the heads
would otherwise push large random gradients into pretrained features), then unfrozen at a tenth of the learning
rate; AdamW with gradient clipping at 0.1 (RT-DETR's setting); light augmentation that keeps boxes valid (horizontal
flip, a random crop keeping at least half of each box, brightness/contrast/saturation jitter); **early stopping** on
the validation split's mAP@50 with the best epoch's weights kept; and a wall-clock **time budget**.

A checkpoint (weights, optimiser, epoch, best weights, RNG states) is written after every epoch, atomically, so a job
interrupted by a restart resumes from its last whole epoch. The result is an ordinary transformers checkpoint plus
the base model's ``preprocessor_config.json``: :class:`~imagelens.models.adapters.rtdetr.RTDetrAdapter` serves it.

What it fine-tunes: RT-DETR-family checkpoints only (RT-DETR, RT-DETRv2, D-FINE; see
:data:`~imagelens.customize.detector_model.FINE_TUNABLE_MODEL_TYPES`). A base detector of another family is refused
with an InvalidArgumentError that names the supported ones, before any training work.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from imagelens.customize.control import Deadline, NoControl, TrainingControl
from imagelens.customize.detector_data import UInt8Image, augment, detr_target, load_samples
from imagelens.customize.detector_model import (
    backbone_params,
    check_base_checkpoint,
    evaluate_samples,
    load_base_detector,
    save_atomic,
    set_backbone_trainable,
    write_output,
)
from imagelens.customize.metrics import DetectionMetrics
from imagelens.customize.records import Dataset, ImageRecord
from imagelens.customize.splitting import split_dataset
from imagelens.errors import InvalidArgumentError
from imagelens.models.adapters.rtdetr import PREPROCESSOR_FILE, ImageProcessing

CHECKPOINT = "checkpoint.pt"
StopReason = Literal["early_stopping", "time_budget", "max_epochs"]


@dataclass(frozen=True, slots=True)
class DetectorConfig:
    """Defaults suit a pretrained RT-DETRv2-S; tests on tiny random models raise ``lr``."""

    max_epochs: int = 60
    batch_size: int = 4
    lr: float = 1e-4
    backbone_lr_factor: float = 0.1
    weight_decay: float = 1e-4
    grad_clip: float = 0.1
    freeze_backbone_epochs: int = 5
    patience: int = 10
    validation_fraction: float = 0.2
    augment: bool = True
    score_threshold: float = 0.3  # what the trained model reports at prediction time
    seed: int = 0

    def __post_init__(self) -> None:
        if self.max_epochs < 1 or self.batch_size < 1 or self.patience < 1 or self.freeze_backbone_epochs < 0:
            raise InvalidArgumentError(
                "max_epochs, batch_size and patience must be >= 1 and freeze_backbone_epochs >= 0; got "
                f"{self.max_epochs}, {self.batch_size}, {self.patience}, {self.freeze_backbone_epochs}"
            )
        if not (self.lr > 0 and self.backbone_lr_factor >= 0 and 0.0 < self.validation_fraction < 1.0):
            raise InvalidArgumentError(
                f"lr must be > 0, backbone_lr_factor >= 0, validation_fraction in (0, 1); got {self.lr}, "
                f"{self.backbone_lr_factor}, {self.validation_fraction}"
            )
        if not 0.0 <= self.score_threshold <= 1.0:
            raise InvalidArgumentError(f"score_threshold must be in [0, 1], got {self.score_threshold}")


@dataclass(frozen=True, slots=True)
class EpochRecord:
    """``epoch`` 0 is the model before any training step (new heads, so mAP is about 0)."""

    epoch: int
    loss: float | None
    map50: float | None
    seconds: float


@dataclass(frozen=True, slots=True, eq=False)
class DetectorTrainingResult:
    output_dir: Path
    class_names: tuple[str, ...]
    category_ids: tuple[int, ...]
    validation: DetectionMetrics  # the kept weights on the selection split
    selected_on: Literal["validation", "train"]
    history: tuple[EpochRecord, ...]
    best_epoch: int
    stopped: StopReason
    resumed_from_epoch: int | None
    num_train: int
    num_validation: int
    train_seconds: float  # this run only (a resumed job's earlier runs are not included)


# --- the loop -----------------------------------------------------------------------------------------------------


def train_detector(
    dataset: Dataset,
    base_dir: Path,
    output_dir: Path,
    load: Callable[[ImageRecord], UInt8Image],
    *,
    config: DetectorConfig | None = None,
    control: TrainingControl | None = None,
    work_dir: Path | None = None,
    time_budget_s: float | None = None,
    base_model: str = "",
) -> DetectorTrainingResult:
    """Fine-tune the RT-DETR-family detector in ``base_dir`` (catalog id ``base_model``) on ``dataset`` (detection,
    validated) and write the result to ``output_dir``. Another family raises InvalidArgumentError at once.

    ``work_dir`` holds the per-epoch checkpoint; when one from an interrupted run is there (same classes and
    config) training resumes from it. ``time_budget_s`` bounds this run's wall-clock time.
    """
    config = config or DetectorConfig()
    control = control or NoControl()
    if dataset.kind != "detection":
        raise InvalidArgumentError(f"a Generic-Detector trains on a detection dataset, got {dataset.kind!r}")
    check_base_checkpoint(base_dir)  # an RT-DETR-family checkpoint, or a clear error before any work

    import torch

    deadline = Deadline(time_budget_s)
    started = time.perf_counter()
    class_names = tuple(c.name for c in dataset.categories)
    category_ids = tuple(c.id for c in dataset.categories)
    index = {cid: i for i, cid in enumerate(category_ids)}
    processing = ImageProcessing.from_config(
        json.loads((base_dir / PREPROCESSOR_FILE).read_text(encoding="utf-8"))
    )

    train_set, val_set = split_dataset(
        dataset, validation_fraction=config.validation_fraction, seed=config.seed
    )
    control.report(stage="loading images", total=len(dataset.images))
    train_samples = load_samples(train_set.images, dataset, index, load, control)
    val_samples = load_samples(val_set.images, dataset, index, load, control)
    selected_on: Literal["validation", "train"] = "validation" if val_samples else "train"
    select_samples = val_samples or train_samples

    rng = np.random.default_rng(config.seed)
    torch.manual_seed(config.seed)
    model = load_base_detector(base_dir, class_names)
    backbone = {id(p) for p in backbone_params(model)}
    head_params = [p for p in model.parameters() if id(p) not in backbone]
    optimizer = torch.optim.AdamW(
        [
            {"params": head_params, "lr": config.lr},
            {"params": backbone_params(model), "lr": config.lr * config.backbone_lr_factor},
        ],
        weight_decay=config.weight_decay,
    )

    checkpoint_file = work_dir / CHECKPOINT if work_dir is not None else None
    fingerprint = {"classes": list(class_names), "config": asdict(config)}
    history: list[EpochRecord] = []
    best_state: dict[str, Any] | None = None
    best_score, best_epoch, stale, start_epoch = -1.0, 0, 0, 1
    resumed_from: int | None = None
    if checkpoint_file is not None and checkpoint_file.is_file():
        state = torch.load(checkpoint_file, weights_only=True)
        if state.get("fingerprint") == fingerprint:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            best_state, best_score = state["best_state"], float(state["best_score"])
            best_epoch, stale, start_epoch = (
                int(state["best_epoch"]),
                int(state["stale"]),
                int(state["epoch"]) + 1,
            )
            history = [EpochRecord(**h) for h in state["history"]]
            rng.bit_generator.state = state["numpy_rng"]
            torch.set_rng_state(state["torch_rng"])
            resumed_from = start_epoch - 1
    if resumed_from is None:  # epoch 0: the untrained heads, the baseline every later epoch is compared to
        t0 = time.perf_counter()
        m0 = evaluate_samples(model, processing, select_samples, class_names)
        history.append(EpochRecord(0, None, m0.map50, time.perf_counter() - t0))

    stopped: StopReason = "max_epochs"
    model.train()
    for epoch in range(start_epoch, config.max_epochs + 1):
        if stale >= config.patience:
            stopped = "early_stopping"
            break
        if deadline.expired:
            stopped = "time_budget"
            break
        t0 = time.perf_counter()
        set_backbone_trainable(model, epoch > config.freeze_backbone_epochs)
        order = rng.permutation(len(train_samples))
        losses: list[float] = []
        for start in range(0, len(order), config.batch_size):
            control.check()
            if deadline.expired:
                break
            batch = [train_samples[i] for i in order[start : start + config.batch_size]]
            pixels, targets = [], []
            for s in batch:
                img, boxes, labels = (
                    augment(s.pixels, s.boxes, s.labels, rng)
                    if config.augment
                    else (s.pixels, s.boxes, s.labels)
                )
                pixels.append(processing.apply(img))
                targets.append(detr_target(boxes, labels, img.shape[1], img.shape[0]))
            out = model(pixel_values=torch.from_numpy(np.concatenate(pixels)), labels=targets)
            optimizer.zero_grad(set_to_none=True)
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            losses.append(float(out.loss.detach()))
        if not losses:
            stopped = "time_budget"
            break
        metrics = evaluate_samples(model, processing, select_samples, class_names)
        score = metrics.map50 if metrics.map50 is not None else 0.0
        history.append(EpochRecord(epoch, float(np.mean(losses)), metrics.map50, time.perf_counter() - t0))
        if score > best_score + 1e-9:
            best_state = copy.deepcopy(model.state_dict())
            best_score, best_epoch, stale = score, epoch, 0
        else:
            stale += 1
        if checkpoint_file is not None:
            checkpoint_file.parent.mkdir(parents=True, exist_ok=True)
            save_atomic(
                {
                    "fingerprint": fingerprint, "epoch": epoch, "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(), "best_state": best_state, "best_score": best_score,
                    "best_epoch": best_epoch, "stale": stale, "history": [asdict(h) for h in history],
                    "numpy_rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state(),
                },
                checkpoint_file,
            )  # fmt: skip
        control.report(  # after the checkpoint: a reported epoch is a saved one
            stage="training", epoch=epoch, epochs=config.max_epochs, loss=history[-1].loss,
            map50=metrics.map50, best_map50=best_score, best_epoch=best_epoch,
        )  # fmt: skip
        if deadline.expired:
            stopped = "time_budget"
            break

    if best_state is not None:
        model.load_state_dict(best_state)
    final = evaluate_samples(model, processing, select_samples, class_names)
    write_output(
        model,
        base_dir,
        output_dir,
        class_names,
        category_ids,
        config.score_threshold,
        base_model or base_dir.name,
    )
    return DetectorTrainingResult(
        output_dir=output_dir,
        class_names=class_names,
        category_ids=category_ids,
        validation=final,
        selected_on=selected_on,
        history=tuple(history),
        best_epoch=best_epoch,
        stopped=stopped,
        resumed_from_epoch=resumed_from,
        num_train=len(train_samples),
        num_validation=len(val_samples),
        train_seconds=time.perf_counter() - started,
    )
