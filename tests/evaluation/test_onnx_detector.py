"""The ONNX grid detector (YOLOX- and NanoDet-style heads): decoding known raw outputs to known boxes, the
letterboxes and their inverse, and the tiny random graphs through the real hub path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from imagelens.detections import Detections
from imagelens.errors import InvalidArgumentError
from imagelens.models.adapters.onnx_detector import (
    GridPreprocess,
    decode_nanodet,
    decode_yolox,
    select,
)
from imagelens.models.adapters.rtdetr import COCO_NAMES
from imagelens.models.catalog import CATALOG
from imagelens.models.spec import Role

pytest.importorskip("onnxruntime")


def yolox_rows(size: int = 64) -> np.ndarray:
    n = sum((size // s) ** 2 for s in (8, 16, 32))
    return np.zeros((1, n, 5 + 3), np.float32)


def test_yolox_decode_known_row() -> None:
    rows = yolox_rows()
    i = 64 + 16 + 3  # stride 32 (after 8x8 + 4x4 points), cell (gx=1, gy=1)
    rows[0, i, :4] = [0.5, 0.25, np.log(2.0), 0.0]
    rows[0, i, 4] = 0.8
    rows[0, i, 5:] = [0.1, 0.9, 0.2]
    boxes, scores, labels = decode_yolox(rows, 64, (8, 16, 32))
    assert boxes[i].tolist() == pytest.approx([48 - 32, 40 - 16, 48 + 32, 40 + 16])
    assert scores[i] == pytest.approx(0.72) and labels[i] == 1
    with pytest.raises(ValueError, match="YOLOX output"):
        decode_yolox(rows[:, :-1], 64, (8, 16, 32))


def test_nanodet_decode_pairs_outputs_by_shape_not_order() -> None:
    size, classes, bins = 64, 3, 8
    outs = {}
    for s in (8, 16, 32):
        n = (size // s) ** 2
        outs[f"cls{s}"] = np.zeros((1, n, classes), np.float32)
        reg = np.full((1, n, 4 * bins), -50.0, np.float32)
        reg[0, :, [0, bins, 2 * bins, 3 * bins]] = 50.0  # every side: all mass on bin 0 -> distance 0
        outs[f"reg{s}"] = reg
    outs["cls16"][0, 5, 2] = 0.9  # stride 16, cell (gx=1, gy=1) -> point (16 + 7.5, 16 + 7.5)
    outs["reg16"][0, 5, :bins] = -50.0
    outs["reg16"][0, 5, 2] = 50.0  # left distance 2 bins x 16 = 32
    order = [outs["reg32"], outs["cls8"], outs["reg8"], outs["cls32"], outs["cls16"], outs["reg16"]]
    boxes, scores, labels = decode_nanodet(order, size, (8, 16, 32), 7, classes)
    j = 64 + 5
    assert scores[j] == pytest.approx(0.9) and labels[j] == 2
    assert boxes[j].tolist() == pytest.approx([0.0, 23.5, 23.5, 23.5])  # 23.5 - 32 clipped to 0
    with pytest.raises(ValueError, match="missing"):
        decode_nanodet(order[:-1], size, (8, 16, 32), 7, classes)


@pytest.mark.parametrize("letterbox", ["top-left", "center"])
def test_letterbox_and_its_inverse(letterbox: str) -> None:
    prep = GridPreprocess(size=64, letterbox=letterbox, pad_value=114.0)
    rgb = np.zeros((20, 40, 3), np.uint8)
    rgb[..., 0] = 255  # red -> BGR channel 2
    blob, scale, (left, top) = prep.apply(rgb)
    assert blob.shape == (1, 3, 64, 64) and scale == pytest.approx(1.6)
    assert (left, top) == ((0.0, 0.0) if letterbox == "top-left" else (0.0, 16.0))
    assert blob[0, 2, int(top) + 1, 1] == 255 and blob[0, 0, int(top) + 1, 1] == 0
    assert blob[0, 0, 63 if letterbox == "top-left" else 0, 0] == 114
    net_box = np.asarray([[8 + left, 8 + top, 24 + left, 24 + top]], np.float64)
    det = select(net_box, np.asarray([0.9]), np.asarray([0]), threshold=0.5, nms_iou=0.5, max_detections=10,
                 scale=scale, offset=(left, top), width=40, height=20, class_names=("a",))  # fmt: skip
    assert det.boxes[0].tolist() == pytest.approx([5.0, 5.0, 15.0, 15.0])
    with pytest.raises(InvalidArgumentError):
        GridPreprocess(letterbox="middle")


def test_select_is_class_aware_nms_best_first() -> None:
    boxes = np.asarray([[0, 0, 10, 10], [1, 1, 10, 10], [0, 0, 10, 10]], np.float64)
    det = select(boxes, np.asarray([0.6, 0.9, 0.8]), np.asarray([0, 0, 1]), threshold=0.1, nms_iou=0.5,
                 max_detections=10, scale=1.0, offset=(0, 0), width=100, height=100, class_names=("a", "b"))  # fmt: skip
    assert det.scores.tolist() == [0.9, 0.8] and det.names == ("a", "b")


@pytest.mark.parametrize("model_id", ["yolox-nano", "nanodet-m-416"])
def test_tiny_graph_through_the_hub(small_hub: object, model_id: str) -> None:
    spec = CATALOG[model_id]
    assert spec.roles == (Role.DETECTOR,) and spec.source.sha256  # type: ignore[union-attr]
    detector = small_hub.detector(model_id)  # type: ignore[attr-defined]
    rgb = np.random.default_rng(1).integers(0, 256, (90, 170, 3), dtype=np.uint8)
    found = detector.detect(rgb, 0.01)
    assert isinstance(found, Detections) and 0 < len(found) <= detector.params.max_detections
    assert found.class_names == COCO_NAMES
    assert np.all(np.diff(found.scores) <= 0)
    assert (
        np.all(found.boxes[:, [0, 1]] >= 0)
        and np.all(found.boxes[:, 2] <= 170)
        and np.all(found.boxes[:, 3] <= 90)
    )
    assert len(detector.detect(rgb)) <= len(found)  # default: the lower of the objects and people thresholds
    with pytest.raises(InvalidArgumentError):
        detector.detect(np.zeros((4, 4), np.uint8))


def test_objects_per_request_detector_choice(small_model_dir: Path) -> None:
    from imagelens.analyzer import Analyzer
    from imagelens.config import HubSettings, Settings
    from imagelens.features.base import AnalysisOptions

    analyzer = Analyzer(Settings(model_dir=small_model_dir, hub=HubSettings(offline=True)))
    try:
        rgb = np.random.default_rng(2).integers(0, 256, (64, 96, 3), dtype=np.uint8)
        result = analyzer.analyze(
            rgb, ["objects", "people"], AnalysisOptions(extra={"detector": "nanodet-m-416"})
        )
        assert result.objects is not None and result.people is not None
        assert (
            "nanodet-m-416" in analyzer.hub.loaded_ids() and "rtdetr-v2-r18" not in analyzer.hub.loaded_ids()
        )
        with pytest.raises(InvalidArgumentError):
            analyzer.analyze(rgb, ["objects"], AnalysisOptions(extra={"detector": "yunet-2026may"}))
    finally:
        analyzer.close()
