"""RT-DETRv2 / D-FINE adapter: decoding on hand-made raw outputs, preprocessing parity with transformers, and the
tiny random models through the real hub (contracts, not accuracy). Real weights: one realdata test, skipped here."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from imagelens.detections import Detections
from imagelens.errors import InvalidArgumentError
from imagelens.models.adapters.rtdetr import COCO_NAMES, ImageProcessing, RTDetrAdapter, decode_detections
from imagelens.models.catalog import CATALOG
from imagelens.models.hub import ModelHub
from imagelens.models.roles import DetectorParams
from imagelens.numeric import sigmoid
from imagelens.testing.tiny import write_tiny

DETECTOR_IDS = ("rtdetr-v2-r18", "dfine-s")
NAMES = ("person", "cat", "dog")


def logit(p: float) -> float:
    return float(np.log(p / (1.0 - p)))


# --- decoding -----------------------------------------------------------------------------------------------------


def test_decode_known_outputs_to_known_boxes() -> None:
    # 3 queries x 3 classes; boxes are relative (cx, cy, w, h) in a 200 x 100 image.
    logits = np.full((3, 3), -9.0)
    logits[0, 0] = logit(0.9)  # q0 person
    logits[1, 2] = logit(0.7)  # q1 dog
    logits[1, 1] = logit(0.6)  # q1 cat (same box, second class)
    logits[2, 1] = logit(0.3)  # q2 cat, below the threshold
    boxes = np.asarray([[0.5, 0.5, 0.2, 0.4], [0.25, 0.25, 0.5, 0.5], [0.9, 0.9, 0.1, 0.1]])

    det = decode_detections(logits, boxes, 200, 100, threshold=0.5, max_detections=100, class_names=NAMES)

    assert isinstance(det, Detections) and det.class_names == NAMES
    assert det.names == ("person", "dog", "cat")
    np.testing.assert_allclose(det.scores, [0.9, 0.7, 0.6], atol=1e-12)
    np.testing.assert_array_equal(det.data["query"], [0, 1, 1])
    np.testing.assert_allclose(det.boxes, [[80, 30, 120, 70], [0, 0, 100, 50], [0, 0, 100, 50]], atol=1e-9)


def test_decode_keeps_only_the_top_num_queries_pairs() -> None:
    # 2 queries, 4 pairs above the threshold: like the reference post-processor, only the top 2 pairs survive.
    logits = np.asarray([[logit(0.95), logit(0.8), -9.0], [logit(0.9), logit(0.85), -9.0]])
    boxes = np.full((2, 4), 0.5)
    det = decode_detections(logits, boxes, 10, 10, threshold=0.5, max_detections=100, class_names=NAMES)
    np.testing.assert_allclose(det.scores, [0.95, 0.9], atol=1e-12)
    np.testing.assert_array_equal(det.data["query"], [0, 1])


def test_decode_clips_to_the_image_and_drops_boxes_outside_it() -> None:
    logits = np.full((2, 3), -9.0)
    logits[:, 0] = [logit(0.8), logit(0.9)]
    boxes = np.asarray([[0.0, 0.5, 0.4, 0.4], [1.5, 0.5, 0.2, 0.2]])  # q1 lies wholly right of the image
    det = decode_detections(logits, boxes, 100, 50, threshold=0.5, max_detections=100, class_names=NAMES)
    np.testing.assert_allclose(det.boxes, [[0, 15, 20, 35]], atol=1e-9)
    np.testing.assert_allclose(det.scores, [0.8], atol=1e-12)


def test_class_aware_nms_and_the_cap() -> None:
    logits = np.full((4, 3), -9.0)
    logits[0, 1], logits[1, 1], logits[2, 2], logits[3, 1] = logit(0.9), logit(0.8), logit(0.7), logit(0.6)
    boxes = np.asarray(
        [
            [0.5, 0.5, 0.4, 0.4],  # cat
            [0.51, 0.5, 0.4, 0.4],  # cat, almost the same box: suppressed
            [0.5, 0.5, 0.4, 0.4],  # dog on the same box: another class, kept
            [0.1, 0.1, 0.1, 0.1],  # cat elsewhere: kept
        ]
    )
    common = dict(threshold=0.5, class_names=NAMES)
    without = decode_detections(logits, boxes, 100, 100, max_detections=100, **common)  # type: ignore[arg-type]
    assert without.names == ("cat", "cat", "dog", "cat")
    with_nms = decode_detections(logits, boxes, 100, 100, max_detections=100, nms_iou=0.5, **common)  # type: ignore[arg-type]
    np.testing.assert_array_equal(with_nms.data["query"], [0, 2, 3])
    capped = decode_detections(logits, boxes, 100, 100, max_detections=2, nms_iou=0.5, **common)  # type: ignore[arg-type]
    np.testing.assert_array_equal(capped.data["query"], [0, 2])


def test_decode_nothing_above_the_threshold_is_empty() -> None:
    det = decode_detections(np.full((5, 3), -9.0), np.full((5, 4), 0.5), 10, 10, threshold=0.5, max_detections=10,
                            class_names=NAMES)  # fmt: skip
    assert len(det) == 0
    assert det.boxes.shape == (0, 4) and det.data["query"].shape == (0,)


def test_decode_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="class names"):
        decode_detections(
            np.zeros((2, 4)), np.zeros((2, 4)), 10, 10, threshold=0.5, max_detections=5, class_names=NAMES
        )
    with pytest.raises(ValueError, match=r"\(Q, 4\)"):
        decode_detections(
            np.zeros((2, 3)), np.zeros((3, 4)), 10, 10, threshold=0.5, max_detections=5, class_names=NAMES
        )


def test_sigmoid_is_exact_and_quiet_at_extremes() -> None:
    out = sigmoid(
        [-1e4, -3.0, 0.0, 3.0, 1e4]
    )  # warnings are errors in this suite: no overflow warning allowed
    np.testing.assert_allclose(
        out, [0.0, 1 / (1 + np.exp(3.0)), 0.5, 1 / (1 + np.exp(-3.0)), 1.0], atol=1e-15
    )


def test_params_validate_and_come_from_the_spec() -> None:
    with pytest.raises(InvalidArgumentError, match="score_threshold"):
        DetectorParams(score_threshold=1.5)
    with pytest.raises(InvalidArgumentError, match="nms_iou"):
        DetectorParams(nms_iou=0.0)
    params = DetectorParams.from_options(CATALOG["rtdetr-v2-r18"].options)
    assert params.person_threshold < params.score_threshold
    assert params.min_threshold == params.person_threshold


# --- preprocessing ------------------------------------------------------------------------------------------------


def test_preprocessing_matches_the_transformers_image_processor(tiny_model_dir: Path) -> None:
    from transformers import RTDetrImageProcessorPil

    folder = tiny_model_dir / "rtdetr-v2-r18"
    config = json.loads((folder / "preprocessor_config.json").read_text())
    mine = ImageProcessing.from_config(config)
    image = np.random.default_rng(3).integers(0, 256, (37, 91, 3), dtype=np.uint8)  # non-square, odd sizes
    theirs = RTDetrImageProcessorPil.from_pretrained(str(folder))(images=image, return_tensors="np")[
        "pixel_values"
    ]
    ours = mine.apply(image)
    assert ours.shape == theirs.shape == (1, 3, mine.height, mine.width)
    np.testing.assert_allclose(ours, theirs, atol=1e-6)


def test_preprocessing_with_normalisation_matches_too() -> None:
    from transformers import RTDetrImageProcessorPil

    processor = RTDetrImageProcessorPil(size={"height": 24, "width": 40}, do_normalize=True)
    mine = ImageProcessing.from_config(processor.to_dict())
    image = np.random.default_rng(4).integers(0, 256, (50, 30, 3), dtype=np.uint8)
    theirs = processor(images=image, return_tensors="np")["pixel_values"]
    np.testing.assert_allclose(mine.apply(image), theirs, atol=1e-5)


def test_unsupported_preprocessing_is_refused() -> None:
    with pytest.raises(ValueError, match="fixed"):
        ImageProcessing.from_config({"size": {"shortest_edge": 800, "longest_edge": 1333}})
    with pytest.raises(ValueError, match="padding"):
        ImageProcessing.from_config(
            {"size": {"height": 640, "width": 640}, "do_pad": True, "pad_size": {"height": 800, "width": 800}}
        )


# --- tiny random models through the hub ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hub(tiny_model_dir: Path) -> ModelHub:
    from imagelens.config import HubSettings, Settings

    return ModelHub(Settings(model_dir=tiny_model_dir, hub=HubSettings(offline=True)))


@pytest.mark.parametrize("model_id", DETECTOR_IDS)
def test_tiny_detector_contract(hub: ModelHub, model_id: str) -> None:
    adapter = hub.detector(model_id)
    assert isinstance(adapter, RTDetrAdapter)
    assert adapter.class_names == COCO_NAMES
    height, width = 90, 170
    image = np.random.default_rng(5).integers(0, 256, (height, width, 3), dtype=np.uint8)

    det = adapter.detect(image)

    assert len(det) > 0, "the tiny model should find something, or the checks below would be vacuous"
    assert len(det) <= adapter.params.max_detections
    assert np.all(det.boxes[:, 0] >= 0) and np.all(det.boxes[:, 2] <= width)
    assert np.all(det.boxes[:, 1] >= 0) and np.all(det.boxes[:, 3] <= height)
    assert np.all(det.boxes[:, 2] > det.boxes[:, 0]) and np.all(det.boxes[:, 3] > det.boxes[:, 1])
    assert np.all((det.scores >= adapter.params.min_threshold) & (det.scores <= 1.0))
    assert np.all(np.diff(det.scores) <= 0), "scores must be sorted, best first"
    again = adapter.detect(image)
    np.testing.assert_array_equal(again.boxes, det.boxes)
    np.testing.assert_array_equal(again.scores, det.scores)


def test_tiny_detector_is_deterministic_across_loads(tiny_model_dir: Path, hub: ModelHub) -> None:
    spec = CATALOG["rtdetr-v2-r18"]
    fresh = RTDetrAdapter.load(tiny_model_dir / spec.id, spec)
    image = np.random.default_rng(6).integers(0, 256, (64, 48, 3), dtype=np.uint8)
    a, b = hub.get(spec.id).detect(image), fresh.detect(image)
    np.testing.assert_allclose(a.boxes, b.boxes, atol=1e-5)
    np.testing.assert_allclose(a.scores, b.scores, atol=1e-6)


def test_write_tiny_is_reproducible_per_seed(tmp_path: Path, tiny_model_dir: Path) -> None:
    spec = CATALOG["rtdetr-v2-r18"]
    image = np.random.default_rng(7).integers(0, 256, (40, 60, 3), dtype=np.uint8)
    folders = [tiny_model_dir / spec.id]  # seed 0, written by the session fixture
    for name in ("a", "b"):
        write_tiny(spec, tmp_path / name, seed=1)
        folders.append(tmp_path / name)
    logits = []
    for folder in folders:
        adapter = RTDetrAdapter.load(folder, spec)
        logits.append(adapter.forward(*adapter.preprocess(image)).logits)
    np.testing.assert_array_equal(logits[1], logits[2])
    assert not np.allclose(logits[0], logits[1])


def test_detect_rejects_a_non_rgb_array(hub: ModelHub) -> None:
    with pytest.raises(InvalidArgumentError, match="uint8 RGB"):
        hub.get("rtdetr-v2-r18").detect(np.zeros((10, 10), dtype=np.uint8))


def test_unknown_architecture_is_refused(tmp_path: Path) -> None:
    from dataclasses import replace

    spec = replace(CATALOG["rtdetr-v2-r18"], options={"architecture": "yolo"})
    with pytest.raises(InvalidArgumentError, match="architecture"):
        write_tiny(spec, tmp_path)


# --- real weights (only where they are in the Hugging Face cache) -------------------------------------------------


@pytest.mark.realdata
@pytest.mark.slow
def test_real_rtdetr_on_coco_first128() -> None:
    """COCO AP50 of the real RT-DETRv2-S on 128 val2017 images (published full-val AP50 is about 65)."""
    from imagelens.config import HubSettings, Settings

    data = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "coco_val2017_first128"
    if not data.is_dir():
        pytest.skip(f"real data not present: {data}")
    real_hub = ModelHub(Settings(hub=HubSettings(offline=True)))
    if not real_hub.is_present("rtdetr-v2-r18"):
        pytest.skip(
            "real RT-DETRv2 weights are not in the Hugging Face cache (imagelens models pull rtdetr-v2-r18)"
        )
    from PIL import Image
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    coco = COCO(str(data / "annotations" / "instances_val2017_first128_from_yolo.json"))
    cat_by_name = {c["name"]: c["id"] for c in coco.loadCats(coco.getCatIds())}
    adapter = real_hub.get("rtdetr-v2-r18")
    results = []
    for info in coco.loadImgs(coco.getImgIds()):
        image = np.asarray(Image.open(data / "images" / info["file_name"]).convert("RGB"))
        det = adapter.detect(image, threshold=0.01)
        for box, score, name in zip(det.boxes, det.scores, det.names, strict=True):
            if name in cat_by_name:
                x1, y1, x2, y2 = (float(v) for v in box)
                results.append({"image_id": info["id"], "category_id": cat_by_name[name],
                                "bbox": [x1, y1, x2 - x1, y2 - y1], "score": float(score)})  # fmt: skip
    evaluator = COCOeval(coco, coco.loadRes(results), "bbox")
    evaluator.evaluate()
    evaluator.accumulate()
    evaluator.summarize()
    assert evaluator.stats[1] > 0.5
