"""Rectification against exact ground truth: documents warped by known homographies onto a contrasting background."""

from __future__ import annotations

import numpy as np
import pytest

from imagelens.azure.shelf import control_points_json, parse_control_points
from imagelens.errors import InvalidArgumentError, InvalidRequestError
from imagelens.geometry import apply_homography
from imagelens.shelf.quad import detect_quad, edge_support
from imagelens.shelf.rectify import ControlPoints, rectify

from .conftest import RECEIPT_DIR, load_resized, require, synthetic_texture, warp_onto_background


def _document(seed: int) -> np.ndarray:
    """A light page with dark texture on it: bright against the dark background, like a receipt."""
    texture = synthetic_texture(420, 300, seed=seed)
    return np.clip(150 + texture.astype(np.int16) // 3, 0, 255).astype(np.uint8)


def _rectified_corner_error(result, true_corners: np.ndarray) -> float:
    """Where the true corners land in the output vs the output's own corners, in output pixels."""
    h, w = result.image.shape[:2]
    target = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float64)
    return float(np.linalg.norm(apply_homography(result.homography, true_corners) - target, axis=1).max())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_given_corners_undo_the_warp(seed: int) -> None:
    doc = _document(seed)
    image, corners, _ = warp_onto_background(doc, seed)
    h, w = image.shape[:2]
    points = ControlPoints.from_pixels(corners, w, h)
    result = rectify(image, points)
    assert not result.detected
    assert _rectified_corner_error(result, corners) < 1e-6
    # The content comes back: resized to the document's size, it matches the document.
    import cv2

    back = cv2.resize(result.image, (doc.shape[1], doc.shape[0]), interpolation=cv2.INTER_AREA)
    inner = (slice(10, -10), slice(10, -10))
    err = np.abs(back[inner].astype(np.int16) - doc[inner].astype(np.int16))
    assert float(err.mean()) < 12.0


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_detect_quad_finds_the_document(seed: int) -> None:
    image, corners, _ = warp_onto_background(_document(seed), seed)
    found = detect_quad(image)
    err = np.linalg.norm(found.corners - corners, axis=1)
    assert err.max() < 2.0, err
    assert 0.0 < found.score <= 1.0


def test_auto_rectify_matches_given() -> None:
    image, corners, _ = warp_onto_background(_document(5), 5)
    auto = rectify(image)
    assert auto.detected and auto.detection_score is not None
    assert _rectified_corner_error(auto, corners) < 3.0
    h, w = image.shape[:2]
    given = rectify(image, ControlPoints.from_pixels(corners, w, h))
    assert (
        abs(auto.image.shape[0] - given.image.shape[0]) <= 3
        and abs(auto.image.shape[1] - given.image.shape[1]) <= 3
    )


def _trim(doc: np.ndarray, fraction: float = 0.02) -> np.ndarray:
    """SROIE scans carry dark scanner borders inside the image frame; trimming 2 % per side makes the frame's
    corners the paper's corners, so the ground truth is what a person would click."""
    h, w = doc.shape[:2]
    dy, dx = round(h * fraction), round(w * fraction)
    return np.ascontiguousarray(doc[dy : h - dy, dx : w - dx])


@pytest.mark.realdata
def test_receipts_auto_corners() -> None:
    """Ten SROIE receipts (700 px high) warped by random homographies; detected corner error in pixels."""
    paths = sorted(require(RECEIPT_DIR).glob("*.jpg"))[:10]
    errors = []
    for seed, path in enumerate(paths):
        image, corners, _ = warp_onto_background(_trim(load_resized(path, height=700)), seed)
        errors.append(np.linalg.norm(detect_quad(image).corners - corners, axis=1))
    err = np.concatenate(errors)
    # Measured over all 25: mean 0.36 px, max 2.2 px (benchmarks/shelf_geometry.md).
    assert err.mean() < 1.0 and err.max() < 4.0, err


@pytest.mark.realdata
def test_receipt_given_corners_keep_text_geometry() -> None:
    """Ground-truth text boxes of a receipt, carried through warp and rectification, land where they started."""
    path = RECEIPT_DIR / "034.jpg"
    doc = load_resized(path, height=800)
    image, corners, hom = warp_onto_background(doc, 11)
    h, w = image.shape[:2]
    result = rectify(image, ControlPoints.from_pixels(corners, w, h))
    boxes = require(RECEIPT_DIR.parent / "box" / "034.csv").read_text(encoding="utf-8", errors="replace")
    with __import__("PIL.Image").Image.open(path) as im:
        scale = 800 / im.height
    pts = (
        np.array(
            [
                [float(v) for v in line.split(",", 8)[:8]]
                for line in boxes.splitlines()
                if line.count(",") >= 8
            ]
        ).reshape(-1, 2)
        * scale
    )
    out_h, out_w = result.image.shape[:2]
    mapped = apply_homography(result.homography, apply_homography(hom, pts))
    mapped *= np.array([doc.shape[1] / out_w, doc.shape[0] / out_h])
    assert float(np.linalg.norm(mapped - pts, axis=1).max()) < 1e-6


def test_output_size_from_geometry_and_override() -> None:
    image = np.zeros((200, 400, 3), np.uint8)
    result = rectify(image, ControlPoints((0.25, 0.25), (0.75, 0.25), (0.75, 0.75), (0.25, 0.75)))
    assert result.image.shape[:2] == (100, 200)
    result = rectify(image, [0.25, 0.25, 0.75, 0.25, 0.75, 0.75, 0.25, 0.75], output_size=(50, 40))
    assert result.image.shape[:2] == (40, 50)


def test_control_points_formats_round_trip() -> None:
    azure = {
        "topLeft": {"x": 0.1, "y": 0.2},
        "topRight": {"x": 0.9, "y": 0.1},
        "bottomLeft": {"x": 0.05, "y": 0.95},
        "bottomRight": {"x": 0.95, "y": 0.9},
    }
    cps = parse_control_points(azure)
    assert control_points_json(cps) == azure
    assert ControlPoints.parse("0.1,0.2, 0.9,0.1, 0.95,0.9, 0.05,0.95") == cps
    assert np.allclose(cps.to_pixels(100, 200)[0], [10.0, 40.0])
    numpy_points = ControlPoints(*(tuple(np.float32(v) for v in p) for p in cps.corners()))  # type: ignore[arg-type]
    assert all(type(v) is float for p in numpy_points.corners() for v in p)
    with pytest.raises(InvalidArgumentError, match="topLeft.x"):
        ControlPoints((True, 0.5), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("corners", "needle"),
    [
        ([0.1, 0.1, 1.2, 0.1, 0.9, 0.9, 0.1, 0.9], r"topRight\.x must be a number in \[0, 1\]"),
        ([0.1, -0.1, 0.9, 0.1, 0.9, 0.9, 0.1, 0.9], r"topLeft\.y"),
        ([0.1, 0.1, 0.9, 0.1, 0.9, float("nan"), 0.1, 0.9], r"bottomRight\.y"),
        ([0.1, 0.1, 0.5, 0.1, 0.9, 0.1, 0.1, 0.9], "collinear"),
        ([0.1, 0.1, 0.9, 0.1, 0.1, 0.9, 0.9, 0.9], "crosses itself"),
        ([0.1, 0.1, 0.1, 0.1, 0.9, 0.9, 0.1, 0.9], "coincide"),
        ([0.9, 0.1, 0.1, 0.1, 0.1, 0.9, 0.9, 0.9], "counter-clockwise"),
        ([0.1, 0.1, 0.9, 0.1, 0.9], "8 numbers"),
    ],
)
def test_bad_corners_are_rejected(corners: list[float], needle: str) -> None:
    with pytest.raises(InvalidArgumentError, match=needle):
        rectify(np.zeros((100, 100, 3), np.uint8), corners)


def test_bad_corner_text_and_azure_shape() -> None:
    with pytest.raises(InvalidArgumentError, match="comma-separated"):
        ControlPoints.parse("a,b,c,d,e,f,g,h")
    with pytest.raises(InvalidArgumentError, match="bottomLeft"):
        parse_control_points(
            {"topLeft": {"x": 0, "y": 0}, "topRight": {"x": 1, "y": 0}, "bottomRight": {"x": 1, "y": 1}}
        )


def test_no_quadrilateral_is_an_invalid_request() -> None:
    flat = np.full((300, 300, 3), 90, np.uint8)
    with pytest.raises(InvalidRequestError, match="no dominant quadrilateral"):
        rectify(flat)


@pytest.mark.parametrize(
    "kind",
    ["texture", "gradient", "half-split"],
)
def test_no_shelf_is_refused_with_the_candidate_named(kind: str) -> None:
    """Photos with no quadrilateral outline used to be warped to garbage (a blob cut by the image frame was taken
    for the shelf). Now a candidate without a clear edge on every side is refused, naming its corners."""
    image = {
        "texture": synthetic_texture(300, 400, seed=1),
        "gradient": np.tile(np.linspace(0, 255, 300).astype(np.uint8)[None, :, None], (200, 1, 3)),
        "half-split": np.concatenate(
            [np.zeros((200, 150, 3), np.uint8), np.full((200, 150, 3), 255, np.uint8)], 1
        ),
    }[kind]
    with pytest.raises(InvalidRequestError, match="no shelf or document edge found") as caught:
        rectify(image)
    message = caught.value.message
    assert "controlPoints" in message and "TL,TR,BR,BL" in message
    corners = message.split("normalized to [0, 1] are ")[1].split(";")[0]
    assert (
        len(ControlPoints.parse(corners).corners()) == 4
    )  # the message's corners can be passed straight back
    detail = caught.value.detail
    assert np.asarray(detail["corners"]).shape == (4, 2) and len(detail["edgeSupport"]) == 4
    assert min(detail["edgeSupport"]) < 0.3
    forced = rectify(image, min_support=0.0)  # the caller may still take the candidate, knowingly
    assert forced.detected and forced.weak and forced.support is not None


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_real_outlines_have_clear_edges(seed: int) -> None:
    image, corners, _ = warp_onto_background(_document(seed), seed)
    gray = image.mean(axis=2).astype(np.uint8)
    assert min(edge_support(gray, corners)) > 0.9
    found = detect_quad(image)
    assert min(found.support) > 0.9
    result = rectify(image)
    assert not result.weak and result.support == found.support
    # A side on the image frame has nothing outside it to step to: no support.
    h, w = gray.shape
    assert edge_support(gray, [[0, 0], [w / 2, 0], [w / 2, h], [0, h]])[0] == 0.0
