"""The model side of detector fine-tuning: which checkpoints it accepts, loading one with new class heads, the
backbone's parameters, predictions and metrics on samples, and writing the result atomically.

Fine-tuning is written for the RT-DETR family as transformers implements it (``AutoModelForObjectDetection`` with
per-class sigmoid logits, ``pred_boxes`` as normalised ``cx, cy, w, h``, DETR-style targets, a ``.backbone.``
submodule): RT-DETR, RT-DETRv2 and D-FINE checkpoints (:data:`FINE_TUNABLE_MODEL_TYPES`). Another family is refused
with a clear error instead of failing somewhere inside a training step.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from imagelens.customize.detector_data import Sample
from imagelens.customize.metrics import (
    DetectionGroundTruth,
    DetectionMetrics,
    DetectionPredictions,
    evaluate_detection,
)
from imagelens.errors import InvalidArgumentError, ModelUnavailableError
from imagelens.models.adapters.custom_detector import DETECTOR_META
from imagelens.models.adapters.rtdetr import PREPROCESSOR_FILE, ImageProcessing, decode_detections
from imagelens.models.spec import ModelSpec

#: transformers ``model_type`` values the trainer fine-tunes (the RT-DETR family), with their names for people.
FINE_TUNABLE_MODEL_TYPES: dict[str, str] = {
    "rt_detr": "RT-DETR",
    "rt_detr_v2": "RT-DETRv2",
    "d_fine": "D-FINE",
}
#: The adapter that serves those checkpoints (and the trainer's output).
FINE_TUNABLE_ADAPTER = "imagelens.models.adapters.rtdetr:RTDetrAdapter"


def _supported() -> str:
    return ", ".join(f"{name} ({model_type})" for model_type, name in FINE_TUNABLE_MODEL_TYPES.items())


def check_fine_tunable(spec: ModelSpec) -> None:
    """Refuse, before any download, a base detector the trainer cannot fine-tune (InvalidArgumentError)."""
    architecture = str(spec.options.get("architecture", "rt_detr_v2"))
    if spec.adapter != FINE_TUNABLE_ADAPTER or architecture not in FINE_TUNABLE_MODEL_TYPES:
        raise InvalidArgumentError(
            f"A Generic-Detector fine-tunes RT-DETR-family checkpoints only ({_supported()}); the detector "
            f"'{spec.id}' ({spec.adapter}, architecture {architecture!r}) is not one. Choose an RT-DETR-family "
            "model for the 'detector' role (IMAGELENS_MODELS), e.g. rtdetr-v2-r18 or dfine-s."
        )


def check_base_checkpoint(base_dir: Path) -> str:
    """The checkpoint's ``model_type`` when the trainer can fine-tune it; InvalidArgumentError naming the supported
    families when it cannot, ModelUnavailableError when the folder is not a checkpoint."""
    for name in ("config.json", PREPROCESSOR_FILE):
        if not (base_dir / name).is_file():
            raise ModelUnavailableError(base_dir.name, f"{name} is missing from {base_dir}")
    try:
        model_type = json.loads((base_dir / "config.json").read_text(encoding="utf-8")).get("model_type")
    except (OSError, ValueError, AttributeError) as exc:
        raise ModelUnavailableError(base_dir.name, f"cannot read {base_dir / 'config.json'}: {exc}") from exc
    if model_type not in FINE_TUNABLE_MODEL_TYPES:
        raise InvalidArgumentError(
            f"A Generic-Detector fine-tunes RT-DETR-family checkpoints only ({_supported()}); the base detector in "
            f"{base_dir} is a {model_type!r} model."
        )
    return str(model_type)


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


def backbone_params(model: Any) -> list[Any]:
    return [p for n, p in model.named_parameters() if ".backbone." in f".{n}"]


def set_backbone_trainable(model: Any, trainable: bool) -> None:
    for p in backbone_params(model):
        p.requires_grad_(trainable)


def save_atomic(obj: Any, path: Path) -> None:
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
    samples: Sequence[Sample],
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
    model: Any, processing: ImageProcessing, samples: Sequence[Sample], class_names: Sequence[str]
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


# --- output -------------------------------------------------------------------------------------------------------


def write_output(
    model: Any,
    base_dir: Path,
    output_dir: Path,
    class_names: Sequence[str],
    category_ids: Sequence[int],
    score_threshold: float,
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
            "score_threshold": score_threshold,
        }
        (tmp / DETECTOR_META).write_text(json.dumps(meta, indent=1), encoding="utf-8")
        if output_dir.exists():
            shutil.rmtree(output_dir)
        os.replace(tmp, output_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
