"""Generic-Detector: fine-tuning the tiny random RT-DETRv2 on synthetic coloured squares."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from imagelens.config import Settings
from imagelens.customize.control import TrainingInterrupted
from imagelens.customize.dataset import import_dataset
from imagelens.customize.detector_data import augment
from imagelens.customize.metrics import DetectionGroundTruth, DetectionPredictions, evaluate_detection
from imagelens.customize.sources import load_rgb
from imagelens.customize.train_detector import CHECKPOINT, DetectorConfig, train_detector
from imagelens.models.adapters.custom_detector import CustomDetectorAdapter
from imagelens.models.spec import ModelSpec, PackageSource, Role

from .test_training_data import BOX_COLOURS, box_image, write_detection

BASE = "rtdetr-v2-r18"
FAST = {"lr": 5e-3, "freeze_backbone_epochs": 1, "batch_size": 4, "patience": 50, "score_threshold": 0.05}


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """Tiny models train several times faster on one thread than on two busy ones (OpenMP spin-waits)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _spec(folder: Path) -> ModelSpec:
    return ModelSpec(
        id="custom:det",
        roles=(Role.DETECTOR,),
        adapter="imagelens.models.adapters.custom_detector:CustomDetectorAdapter",
        source=PackageSource("imagelens"),
        license="-",
        options={"dir": str(folder), "score_threshold": 0.05, "person_threshold": 0.05},
    )


def _held_out_map50(adapter: CustomDetectorAdapter, count: int = 20) -> float:
    """mAP@50 of a served detector on fresh synthetic images (never seen in training or model selection)."""
    rng = np.random.default_rng(99)
    ids = {n: i for i, n in enumerate(BOX_COLOURS)}
    gi, gc, gb, pi, pc, pb, ps = [], [], [], [], [], [], []
    for image_id in range(count):
        img, boxes = box_image(rng)
        for name, box in boxes:
            gi.append(image_id), gc.append(ids[name]), gb.append(box)
        det = adapter.detect(img, 0.0)
        for (x1, y1, x2, y2), score, name in zip(det.boxes, det.scores, det.names, strict=True):
            pi.append(image_id), pc.append(ids[name]), pb.append([x1, y1, x2 - x1, y2 - y1]), ps.append(score)
    metrics = evaluate_detection(
        DetectionGroundTruth.create(gi, gc, gb), DetectionPredictions.create(pi, pc, pb, ps),
        image_ids=range(count), categories={i: n for n, i in ids.items()},
    )  # fmt: skip
    assert metrics.map50 is not None
    return metrics.map50


@pytest.mark.slow
def test_fine_tuning_raises_map_and_the_result_serves(
    tiny_model_dir: Path, tiny_settings: Settings, tmp_path: Path
) -> None:
    dataset, _ = import_dataset(write_detection(tmp_path / "data", count=30))
    out = tmp_path / "model"
    result = train_detector(
        dataset, tiny_model_dir / BASE, out, lambda im: load_rgb(im, tiny_settings),
        config=DetectorConfig(max_epochs=25, validation_fraction=0.3, **FAST),  # type: ignore[arg-type]
        base_model=BASE,
    )  # fmt: skip
    before = result.history[0]
    assert before.epoch == 0 and before.loss is None  # the untrained heads, measured first
    assert result.selected_on == "validation" and result.num_validation >= 8
    assert result.validation.map50 is not None and before.map50 is not None
    assert result.validation.map50 >= before.map50 + 0.1, [h.map50 for h in result.history]
    assert result.best_epoch >= 1 and result.stopped == "max_epochs"
    assert result.class_names == tuple(BOX_COLOURS)
    losses = [h.loss for h in result.history[1:]]
    assert losses[-1] < losses[0]  # type: ignore[operator]

    adapter = CustomDetectorAdapter.load(None, _spec(out))  # the saved folder loads as a served model
    assert adapter.class_names == tuple(BOX_COLOURS)
    assert _held_out_map50(adapter) >= before.map50 + 0.05  # not only on the images it was selected on
    img, _ = box_image(np.random.default_rng(5))
    det = adapter.detect(img)
    assert set(det.names) <= set(BOX_COLOURS)
    assert np.all(det.boxes[:, :2] >= 0) and np.all(det.boxes[:, 2:] <= 64)


class _StopAfterEpoch:
    """Interrupts training at the first step after ``epoch`` was reported (a restart in the next epoch)."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch
        self.armed = False

    def check(self) -> None:
        if self.armed:
            raise TrainingInterrupted("test restart")

    def report(self, **progress: Any) -> None:
        self.armed = self.armed or progress.get("epoch") == self.epoch


@pytest.mark.slow
def test_training_resumes_from_the_last_epoch_checkpoint(
    tiny_model_dir: Path, tiny_settings: Settings, tmp_path: Path
) -> None:
    dataset, _ = import_dataset(write_detection(tmp_path / "data", count=10, seed=1))
    config = DetectorConfig(max_epochs=4, **FAST)  # type: ignore[arg-type]
    work, out = tmp_path / "work", tmp_path / "model"

    def load(im: Any) -> np.ndarray:
        return load_rgb(im, tiny_settings)

    # a restart during epoch 3: epochs 1 and 2 are checkpointed
    with pytest.raises(TrainingInterrupted):
        train_detector(
            dataset,
            tiny_model_dir / BASE,
            out,
            load,
            config=config,
            control=_StopAfterEpoch(2),
            work_dir=work,
        )
    assert (work / CHECKPOINT).is_file() and not out.exists()
    result = train_detector(dataset, tiny_model_dir / BASE, out, load, config=config, work_dir=work)
    assert result.resumed_from_epoch == 2
    assert [h.epoch for h in result.history] == [0, 1, 2, 3, 4]  # the earlier epochs kept, none repeated
    assert (out / "config.json").is_file()
    other = DetectorConfig(max_epochs=4, **{**FAST, "lr": 1e-3})  # type: ignore[arg-type]
    fresh = train_detector(dataset, tiny_model_dir / BASE, tmp_path / "m2", load, config=other, work_dir=work)
    assert fresh.resumed_from_epoch is None  # a checkpoint of another configuration is not reused


def test_time_budget_stops_training_and_keeps_a_model(
    tiny_model_dir: Path, tiny_settings: Settings, tmp_path: Path
) -> None:
    dataset, _ = import_dataset(write_detection(tmp_path / "data", count=8, seed=2))
    result = train_detector(
        dataset, tiny_model_dir / BASE, tmp_path / "model", lambda im: load_rgb(im, tiny_settings),
        config=DetectorConfig(max_epochs=1000, **FAST), time_budget_s=1.5,  # type: ignore[arg-type]
    )  # fmt: skip
    assert result.stopped == "time_budget"
    assert len(result.history) < 1000 and (tmp_path / "model" / "config.json").is_file()


@pytest.mark.parametrize("seed", range(40))
def test_augmentation_keeps_boxes_valid(seed: int) -> None:
    rng = np.random.default_rng(seed)
    img, boxes = box_image(rng)
    b = np.asarray([bb for _, bb in boxes], np.float64)
    labels = np.arange(len(b))
    out, nb, nl = augment(img, b, labels, rng)
    h, w = out.shape[:2]
    assert out.dtype == np.uint8 and out.shape[2] == 3 and h >= 0.6 * 64 - 1 and w >= 0.6 * 64 - 1
    assert len(nb) == len(nl) >= 1  # a crop that would drop every box is not taken
    assert np.all(nb[:, 0] >= 0) and np.all(nb[:, 1] >= 0)
    assert np.all(nb[:, 0] + nb[:, 2] <= w + 1e-9) and np.all(nb[:, 1] + nb[:, 3] <= h + 1e-9)
    assert np.all(nb[:, 2] >= 2) and np.all(nb[:, 3] >= 2)
    assert set(nl.tolist()) <= set(labels.tolist())


def test_a_base_detector_of_another_family_is_refused(
    tiny_model_dir: Path, tiny_settings: Settings, tmp_path: Path
) -> None:
    """The trainer fine-tunes RT-DETR-family checkpoints only, and says so instead of failing mid-training."""
    import json
    import shutil

    from imagelens.customize.detector_model import (
        FINE_TUNABLE_MODEL_TYPES,
        check_base_checkpoint,
        check_fine_tunable,
    )
    from imagelens.errors import InvalidArgumentError
    from imagelens.models.catalog import CATALOG

    assert check_base_checkpoint(tiny_model_dir / BASE) == "rt_detr_v2"
    other = tmp_path / "yolos"
    other.mkdir()
    shutil.copy(tiny_model_dir / BASE / "preprocessor_config.json", other)
    (other / "config.json").write_text(json.dumps({"model_type": "yolos"}), encoding="utf-8")
    dataset, _ = import_dataset(write_detection(tmp_path / "data", count=4))
    with pytest.raises(InvalidArgumentError, match="RT-DETR-family") as caught:
        train_detector(dataset, other, tmp_path / "out", lambda im: load_rgb(im, tiny_settings))
    assert (
        all(t in caught.value.message for t in FINE_TUNABLE_MODEL_TYPES) and "'yolos'" in caught.value.message
    )
    assert not (tmp_path / "out").exists()

    for fine in ("rtdetr-v2-r18", "dfine-s"):
        check_fine_tunable(CATALOG[fine])
    with pytest.raises(InvalidArgumentError, match="owlv2-base-patch16-ensemble"):
        check_fine_tunable(CATALOG["owlv2-base-patch16-ensemble"])
