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
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from imagelens.customize.control import Deadline, NoControl, TrainingControl
from imagelens.customize.dataset import Dataset, ImageRecord, split_dataset
from imagelens.customize.metrics import (
    DetectionGroundTruth,
    DetectionMetrics,
    DetectionPredictions,
    evaluate_detection,
)
from imagelens.errors import InvalidArgumentError, ModelUnavailableError
from imagelens.models.adapters.custom_detector import DETECTOR_META
from imagelens.models.adapters.rtdetr import PREPROCESSOR_FILE, ImageProcessing, decode_detections

CHECKPOINT = "checkpoint.pt"
StopReason = Literal["early_stopping", "time_budget", "max_epochs"]
UInt8Image = npt.NDArray[np.uint8]


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


# --- samples and augmentation ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False)
class _Sample:
    image_id: int
    pixels: UInt8Image
    boxes: npt.NDArray[np.float64]  # (N, 4) x, y, w, h in pixels
    labels: npt.NDArray[np.int64]  # (N,) class index


def augment(
    pixels: UInt8Image, boxes: np.ndarray, labels: np.ndarray, rng: np.random.Generator
) -> tuple[UInt8Image, np.ndarray, np.ndarray]:
    """Flip (p=0.5), crop to 60-100 % of each side (p=0.5; boxes clipped, those keeping < 50 % of their area
    dropped, the crop skipped if it would drop every box), and jitter brightness, contrast and saturation by up to
    20 %. Boxes stay ``[x, y, w, h]`` in the new image's pixels."""
    img = pixels
    b = boxes.astype(np.float64).copy()
    lab = labels.copy()
    h, w = img.shape[:2]
    if rng.random() < 0.5:
        img = img[:, ::-1]
        b[:, 0] = w - b[:, 0] - b[:, 2]
    if rng.random() < 0.5:
        cw, ch = int(w * rng.uniform(0.6, 1.0)), int(h * rng.uniform(0.6, 1.0))
        x0, y0 = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
        x1 = np.clip(b[:, 0], x0, x0 + cw)
        y1 = np.clip(b[:, 1], y0, y0 + ch)
        x2 = np.clip(b[:, 0] + b[:, 2], x0, x0 + cw)
        y2 = np.clip(b[:, 1] + b[:, 3], y0, y0 + ch)
        kept_area = (x2 - x1) * (y2 - y1)
        keep = (kept_area >= 0.5 * b[:, 2] * b[:, 3]) & (x2 - x1 >= 2) & (y2 - y1 >= 2)
        if keep.any() or len(b) == 0:
            img = img[y0 : y0 + ch, x0 : x0 + cw]
            b = np.stack([x1 - x0, y1 - y0, x2 - x1, y2 - y1], axis=1)[keep]
            lab = lab[keep]
    out = img.astype(np.float32)
    out *= np.float32(rng.uniform(0.8, 1.2))  # brightness
    mean = out.mean()
    out = (out - mean) * np.float32(rng.uniform(0.8, 1.2)) + mean  # contrast
    grey = out.mean(axis=2, keepdims=True)
    out = (out - grey) * np.float32(rng.uniform(0.8, 1.2)) + grey  # saturation
    return np.clip(out, 0, 255).astype(np.uint8), b, lab


def _target(boxes: np.ndarray, labels: np.ndarray, width: int, height: int) -> dict[str, Any]:
    """transformers' DETR target: class indices and normalised ``cx, cy, w, h``."""
    import torch

    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    cxcywh = np.stack(
        [
            (b[:, 0] + b[:, 2] / 2) / width,
            (b[:, 1] + b[:, 3] / 2) / height,
            b[:, 2] / width,
            b[:, 3] / height,
        ],
        axis=1,
    )
    return {
        "class_labels": torch.as_tensor(np.asarray(labels, np.int64)),
        "boxes": torch.as_tensor(np.clip(cxcywh, 0.0, 1.0), dtype=torch.float32),
    }


# --- model --------------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """The load report for re-initialised heads is expected here; keep it out of the logs."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)


def load_base_detector(base_dir: Path, class_names: Sequence[str]) -> Any:
    """The pretrained detector with class heads re-created for ``class_names`` (box heads and features kept)."""
    import torch
    from transformers import AutoModelForObjectDetection

    if not (base_dir / PREPROCESSOR_FILE).is_file():
        raise ModelUnavailableError(base_dir.name, f"{PREPROCESSOR_FILE} is missing from {base_dir}")
    id2label = dict(enumerate(class_names))
    with _quiet_transformers():
        model = AutoModelForObjectDetection.from_pretrained(
            str(base_dir),
            id2label=id2label,
            label2id={n: i for i, n in id2label.items()},
            ignore_mismatched_sizes=True,
            dtype=torch.float32,
        )
    return model


def _backbone_params(model: Any) -> list[Any]:
    return [p for n, p in model.named_parameters() if ".backbone." in f".{n}"]


def _set_backbone_trainable(model: Any, trainable: bool) -> None:
    for p in _backbone_params(model):
        p.requires_grad_(trainable)


def _save_atomic(obj: Any, path: Path) -> None:
    import torch

    fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --- evaluation ---------------------------------------------------------------------------------------------------


def predict_samples(
    model: Any,
    processing: ImageProcessing,
    samples: Sequence[_Sample],
    class_names: Sequence[str],
    batch: int = 8,
) -> DetectionPredictions:
    """Every (query, class) pair per image, COCO-results style (``max_detections`` applies in the metric)."""
    import torch

    image_ids: list[int] = []
    classes: list[int] = []
    boxes: list[np.ndarray] = []
    scores: list[np.ndarray] = []
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(samples), batch):
            chunk = samples[start : start + batch]
            pv = torch.from_numpy(np.concatenate([processing.apply(s.pixels) for s in chunk]))
            out = model(pixel_values=pv)
            for i, s in enumerate(chunk):
                det = decode_detections(
                    out.logits[i].float().numpy(), out.pred_boxes[i].float().numpy(),
                    s.pixels.shape[1], s.pixels.shape[0], threshold=0.0, max_detections=100,
                    class_names=class_names,
                )  # fmt: skip
                image_ids += [s.image_id] * len(det)
                classes += det.class_ids.tolist()
                xyxy = det.boxes
                boxes.append(
                    np.stack([xyxy[:, 0], xyxy[:, 1], xyxy[:, 2] - xyxy[:, 0], xyxy[:, 3] - xyxy[:, 1]], 1)
                )
                scores.append(det.scores)
    model.train(was_training)
    return DetectionPredictions.create(
        image_ids, classes, np.concatenate(boxes) if boxes else np.zeros((0, 4)),
        np.concatenate(scores) if scores else np.zeros(0),
    )  # fmt: skip


def evaluate_samples(
    model: Any, processing: ImageProcessing, samples: Sequence[_Sample], class_names: Sequence[str]
) -> DetectionMetrics:
    gt = DetectionGroundTruth.create(
        [s.image_id for s in samples for _ in s.labels],
        np.concatenate([s.labels for s in samples]) if samples else [],
        np.concatenate([s.boxes for s in samples]) if samples else np.zeros((0, 4)),
    )
    preds = predict_samples(model, processing, samples, class_names)
    return evaluate_detection(
        gt, preds, image_ids=[s.image_id for s in samples], categories=dict(enumerate(class_names))
    )


# --- the loop -----------------------------------------------------------------------------------------------------


def _samples(
    records: Sequence[ImageRecord],
    dataset: Dataset,
    index: dict[int, int],
    load: Callable[[ImageRecord], UInt8Image],
    control: TrainingControl | None = None,
) -> list[_Sample]:
    by_image: dict[int, list[Any]] = {}
    for a in dataset.annotations:
        if a.bbox is not None and not a.iscrowd:
            by_image.setdefault(a.image_id, []).append(a)
    out = []
    for im in records:
        if control is not None:
            control.check()  # loading many (remote) images takes a while: stay cancellable and alive
        anns = by_image.get(im.id, [])
        out.append(
            _Sample(
                image_id=im.id,
                pixels=load(im),
                boxes=np.asarray([a.bbox for a in anns], np.float64).reshape(-1, 4),
                labels=np.asarray([index[a.category_id] for a in anns], np.int64),
            )
        )
    return out


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
    """Fine-tune the detector in ``base_dir`` (catalog id ``base_model``) on ``dataset`` (detection, validated) and
    write the result to ``output_dir``.

    ``work_dir`` holds the per-epoch checkpoint; when one from an interrupted run is there (same classes and
    config) training resumes from it. ``time_budget_s`` bounds this run's wall-clock time.
    """
    import torch

    config = config or DetectorConfig()
    control = control or NoControl()
    if dataset.kind != "detection":
        raise InvalidArgumentError(f"a Generic-Detector trains on a detection dataset, got {dataset.kind!r}")
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
    train_samples = _samples(train_set.images, dataset, index, load, control)
    val_samples = _samples(val_set.images, dataset, index, load, control)
    selected_on: Literal["validation", "train"] = "validation" if val_samples else "train"
    select_samples = val_samples or train_samples

    rng = np.random.default_rng(config.seed)
    torch.manual_seed(config.seed)
    model = load_base_detector(base_dir, class_names)
    backbone = {id(p) for p in _backbone_params(model)}
    head_params = [p for p in model.parameters() if id(p) not in backbone]
    optimizer = torch.optim.AdamW(
        [
            {"params": head_params, "lr": config.lr},
            {"params": _backbone_params(model), "lr": config.lr * config.backbone_lr_factor},
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
        _set_backbone_trainable(model, epoch > config.freeze_backbone_epochs)
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
                targets.append(_target(boxes, labels, img.shape[1], img.shape[0]))
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
            _save_atomic(
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
    _write_output(model, base_dir, output_dir, class_names, category_ids, config, base_model or base_dir.name)
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


def _write_output(
    model: Any,
    base_dir: Path,
    output_dir: Path,
    class_names: Sequence[str],
    category_ids: Sequence[int],
    config: DetectorConfig,
    base_model: str,
) -> None:
    """A transformers checkpoint, the base preprocessing, and what imagelens adds (classes, threshold), written to a
    temporary sibling folder and renamed into place so a reader never sees half a model."""
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{output_dir.name}-", dir=output_dir.parent))
    try:
        model.eval().save_pretrained(str(tmp))
        shutil.copy2(base_dir / PREPROCESSOR_FILE, tmp / PREPROCESSOR_FILE)
        meta = {
            "class_names": list(class_names),
            "category_ids": [int(i) for i in category_ids],
            "base_model": base_model,
            "score_threshold": config.score_threshold,
        }
        (tmp / DETECTOR_META).write_text(json.dumps(meta, indent=1), encoding="utf-8")
        if output_dir.exists():
            shutil.rmtree(output_dir)
        os.replace(tmp, output_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
