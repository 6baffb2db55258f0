"""YuNet adapter: decoding on hand-made raw heads, NMS, preprocessing, the tiny random graph through the real hub,
and a cross-check of our decoder against OpenCV's own ``cv2.FaceDetectorYN`` on the same graph."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from imagelens.detections import Detections
from imagelens.errors import InvalidArgumentError
from imagelens.geometry import nms
from imagelens.models.adapters.yunet import (
    OUTPUT_NAMES,
    STRIDES,
    FaceParams,
    YuNetAdapter,
    decode_yunet,
    greedy_nms,
    select_faces,
)
from imagelens.models.catalog import CATALOG
from imagelens.models.hub import ModelHub
from imagelens.testing.tiny.yunet import tiny_yunet_graph

SPEC = CATALOG["yunet-2023mar"]


def blank_heads(width: int, height: int) -> dict[str, np.ndarray]:
    """All-zero heads (score 0 everywhere) for a ``width`` x ``height`` input, in YuNet's layout."""
    out = {}
    for name in OUTPUT_NAMES:
        head, stride = name.split("_")
        cells = (height // int(stride)) * (width // int(stride))
        out[name] = np.zeros((1, cells, {"cls": 1, "obj": 1, "bbox": 4, "kps": 10}[head]), np.float32)
    return out


# --- decoding -----------------------------------------------------------------------------------------------------


def test_decode_known_heads_to_known_boxes() -> None:
    heads = blank_heads(64, 32)  # stride 8: 4 rows x 8 cols; stride 32: 1 row x 2 cols
    cell = 1 * 8 + 2  # stride 8, row 1, col 2
    heads["cls_8"][0, cell, 0], heads["obj_8"][0, cell, 0] = 0.81, 1.0  # score sqrt(0.81) = 0.9
    heads["bbox_8"][0, cell] = [0.5, 0.5, np.log(2.0), np.log(3.0)]  # centre (20, 12), size 16 x 24
    heads["kps_8"][0, cell] = [
        0.25,
        0.5,
        0.75,
        0.5,
        0.5,
        1.0,
        0.25,
        1.5,
        0.75,
        1.5,
    ]  # eyes, nose, mouth corners
    heads["cls_32"][0, 1, 0], heads["obj_32"][0, 1, 0] = 0.64, 0.64  # stride 32, row 0, col 1: score 0.64
    heads["cls_16"][0, 0, 0], heads["obj_16"][0, 0, 0] = 1.7, 0.09  # cls clipped to 1: score 0.3, below 0.5

    boxes, scores, landmarks = decode_yunet(heads, 64, 32, score_threshold=0.5)

    np.testing.assert_allclose(scores, [0.9, 0.64], atol=1e-6)
    np.testing.assert_allclose(boxes, [[12, 0, 28, 24], [16, -16, 48, 16]], atol=1e-5)
    # landmarks of the stride-8 cell (row 1, col 2): ((col + lx) * 8, (row + ly) * 8)
    np.testing.assert_allclose(landmarks[0], [[18, 12], [22, 12], [20, 16], [18, 20], [22, 20]], atol=1e-5)
    np.testing.assert_allclose(landmarks[1], [[32, 0]] * 5, atol=1e-5)  # all-zero offsets: the cell's corner


def test_decode_rejects_heads_of_the_wrong_size() -> None:
    heads = blank_heads(64, 32)
    heads["bbox_16"] = np.zeros((1, 7, 4), np.float32)
    with pytest.raises(ValueError, match="bbox_16"):
        decode_yunet(heads, 64, 32, score_threshold=0.5)
    del heads["kps_8"], heads["cls_8"]
    with pytest.raises(ValueError, match="cls_8"):
        decode_yunet(heads, 64, 32, score_threshold=0.5)


def test_select_faces_suppresses_scales_back_clips_and_caps() -> None:
    boxes = np.asarray([[10, 10, 30, 30], [11, 10, 31, 30], [40, 0, 80, 20], [-10, -10, 4, 4]], dtype=float)
    scores = np.asarray([0.8, 0.9, 0.7, 0.75])
    params = FaceParams(score_threshold=0.5, nms_iou=0.3, max_faces=10)

    landmarks = np.arange(4 * 5 * 2, dtype=float).reshape(4, 5, 2)

    faces = select_faces(boxes, scores, params, scale=0.5, width=100, height=30, landmarks=landmarks)

    np.testing.assert_allclose(faces.scores, [0.9, 0.75, 0.7])  # the 0.8 box overlaps the 0.9 one
    np.testing.assert_allclose(faces.boxes, [[22, 20, 62, 30], [0, 0, 8, 8], [80, 0, 100, 30]])
    assert faces.class_names == ("face",) and faces.names == ("face",) * 3
    assert faces.keypoints is not None
    np.testing.assert_allclose(faces.keypoints, landmarks[[1, 3, 2]] / 0.5)  # follow their faces, scaled back
    capped = select_faces(boxes, scores, FaceParams(max_faces=1), scale=1.0, width=100, height=30)
    np.testing.assert_allclose(capped.scores, [0.9])


def test_nothing_above_the_threshold_gives_no_faces() -> None:
    boxes, scores, landmarks = decode_yunet(blank_heads(32, 32), 32, 32, score_threshold=0.5)
    assert boxes.shape == (0, 4) and scores.shape == (0,) and landmarks.shape == (0, 5, 2)
    assert len(select_faces(boxes, scores, FaceParams(), 1.0, 32, 32, landmarks)) == 0


@pytest.mark.parametrize("seed", range(5))
def test_greedy_nms_equals_full_nms_truncated(seed: int) -> None:
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 50, (300, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(2, 20, (300, 2))], axis=1)
    scores = rng.uniform(size=300)
    order = np.argsort(-scores, kind="stable")
    expected = nms(boxes[order], scores[order], 0.3)
    np.testing.assert_array_equal(greedy_nms(boxes[order], 0.3, 10_000), expected)
    np.testing.assert_array_equal(greedy_nms(boxes[order], 0.3, 7), expected[:7])


def test_params_validate() -> None:
    with pytest.raises(InvalidArgumentError, match="score_threshold"):
        FaceParams(score_threshold=-0.1)
    with pytest.raises(InvalidArgumentError, match="max_side"):
        FaceParams(max_side=8)
    assert FaceParams.from_options(SPEC.options).score_threshold == SPEC.options["score_threshold"]


# --- tiny random graph through the hub ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def adapter(tiny_model_dir: Path) -> YuNetAdapter:
    from imagelens.config import HubSettings, Settings

    loaded = ModelHub(Settings(model_dir=tiny_model_dir, hub=HubSettings(offline=True))).get(SPEC.id)
    assert isinstance(loaded, YuNetAdapter)
    return loaded


def test_preprocess_is_bgr_padded_to_32_and_downscales_big_images(adapter: YuNetAdapter) -> None:
    image = np.zeros((50, 70, 3), np.uint8)
    image[..., 0], image[..., 1], image[..., 2] = 10, 20, 30  # R, G, B
    prepared = adapter.preprocess(image)
    assert prepared.input_size == (96, 64) and prepared.scale == 1.0
    np.testing.assert_array_equal(prepared.blob[0, :, 0, 0], [30, 20, 10])  # B, G, R as OpenCV feeds YuNet
    assert not prepared.blob[0, :, 50:, :].any() and not prepared.blob[0, :, :, 70:].any()

    big = adapter.preprocess(np.zeros((700, 1400, 3), np.uint8))
    assert big.input_size == (640, 320)
    assert big.scale == pytest.approx(640 / 1400, rel=1e-3)


def test_tiny_face_detector_contract(adapter: YuNetAdapter) -> None:
    height, width = 150, 230
    image = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)

    faces = adapter.detect(image)

    assert len(faces) > 0, "the tiny graph should find something, or the checks below would be vacuous"
    assert len(faces) <= adapter.params.max_faces
    assert np.all(faces.boxes[:, [0, 1]] >= 0)
    assert np.all(faces.boxes[:, 2] <= width) and np.all(faces.boxes[:, 3] <= height)
    assert np.all(faces.boxes[:, 2] > faces.boxes[:, 0]) and np.all(faces.boxes[:, 3] > faces.boxes[:, 1])
    assert np.all((faces.scores >= adapter.params.score_threshold) & (faces.scores <= 1.0))
    assert np.all(np.diff(faces.scores) <= 0)
    assert isinstance(faces, Detections) and set(faces.names) == {"face"}
    assert faces.keypoints is not None and faces.keypoints.shape == (len(faces), 5, 2)
    again = adapter.detect(image)
    np.testing.assert_array_equal(again.boxes, faces.boxes)
    np.testing.assert_array_equal(again.scores, faces.scores)


def test_big_images_are_detected_on_a_copy_and_scaled_back(adapter: YuNetAdapter) -> None:
    small = np.random.default_rng(1).integers(0, 256, (40, 80, 3), dtype=np.uint8)
    big = np.repeat(
        np.repeat(small, 20, axis=0), 20, axis=1
    )  # 800 x 1600: downscaled 2.5x to the same pixels
    faces = adapter.detect(big)
    assert len(faces) > 0
    assert np.all(faces.boxes[:, 2] <= 1600) and np.all(faces.boxes[:, 3] <= 800)
    assert faces.boxes[:, 2].max() > 640, "boxes must be in the original pixels, not the network's"


def test_fixed_size_graphs_are_letterboxed(tmp_path: Path) -> None:
    import onnx

    onnx.save_model(
        tiny_yunet_graph(np.random.default_rng(0), fixed_size=(96, 64)), str(tmp_path / SPEC.options["file"])
    )
    fixed = YuNetAdapter.load(tmp_path, SPEC)
    assert fixed.fixed_size == (96, 64)
    image = np.random.default_rng(2).integers(0, 256, (300, 200, 3), dtype=np.uint8)
    prepared = fixed.preprocess(image)
    assert prepared.input_size == (96, 64)
    assert prepared.scale == pytest.approx(64 / 300, rel=1e-2)
    faces = fixed.detect(image)
    assert np.all(faces.boxes[:, 2] <= 200) and np.all(faces.boxes[:, 3] <= 300)


def test_load_refuses_a_missing_file_and_a_graph_that_is_not_yunet(tmp_path: Path) -> None:
    from imagelens.errors import ModelUnavailableError

    with pytest.raises(ModelUnavailableError, match="missing"):
        YuNetAdapter.load(tmp_path, SPEC)
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, "H", "W"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, "H", "W"])
    graph = helper.make_graph([helper.make_node("Relu", ["input"], ["y"])], "g", [x], [y])
    onnx.save_model(
        helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]),
        str(tmp_path / SPEC.options["file"]),
    )
    with pytest.raises(ValueError, match="not a YuNet graph"):
        YuNetAdapter.load(tmp_path, SPEC)


def test_our_decoder_matches_opencv_face_detector_yn(tiny_model_dir: Path, adapter: YuNetAdapter) -> None:
    """OpenCV's FaceDetectorYN on the same graph, NMS off (threshold 1.0): the same boxes and scores as ours."""
    import cv2

    width, height = 160, 96  # multiples of 32 and below max_side: no resize, no padding on either side
    image = np.random.default_rng(3).integers(0, 256, (height, width, 3), dtype=np.uint8)
    threshold = 0.6
    detector = cv2.FaceDetectorYN.create(
        str(tiny_model_dir / SPEC.id / SPEC.options["file"]), "", (width, height), threshold, 1.0, 100_000
    )
    _, theirs = detector.detect(np.ascontiguousarray(image[:, :, ::-1]))
    assert theirs is not None and len(theirs) > 0
    prepared = adapter.preprocess(image)
    boxes, scores, landmarks = decode_yunet(
        adapter.forward(prepared), *prepared.input_size, score_threshold=threshold
    )
    theirs = theirs[np.argsort(-theirs[:, 14], kind="stable")]
    order = np.argsort(-scores, kind="stable")
    assert len(order) == len(theirs)
    np.testing.assert_allclose(scores[order], theirs[:, 14], atol=1e-5)
    x, y, w, h = theirs[:, 0], theirs[:, 1], theirs[:, 2], theirs[:, 3]
    np.testing.assert_allclose(boxes[order], np.stack([x, y, x + w, y + h], axis=1), rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(landmarks[order].reshape(-1, 10), theirs[:, 4:14], rtol=1e-4, atol=1e-3)


def test_tiny_graph_has_yunet_outputs_in_opencv_order() -> None:
    model = tiny_yunet_graph(np.random.default_rng(0))
    assert tuple(o.name for o in model.graph.output) == OUTPUT_NAMES
    assert [i.name for i in model.graph.input] == ["input"]
    assert STRIDES == (8, 16, 32)
