"""The homography and quadrilateral helpers appended to imagelens.geometry for the shelf code."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imagelens.geometry import (
    apply_homography,
    convex_quad_issue,
    homography_from_points,
    quad_signed_area,
    rectified_size,
    to_pixel_center_convention,
)

coord = st.floats(-0.2, 0.2, allow_nan=False)


def _quad(jitter: list[float], size: float = 1000.0) -> np.ndarray:
    base = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    return (base + np.asarray(jitter).reshape(4, 2)) * size


@settings(max_examples=60, deadline=None)
@given(st.lists(coord, min_size=8, max_size=8), st.lists(coord, min_size=8, max_size=8))
def test_homography_maps_the_four_points_and_inverts(a: list[float], b: list[float]) -> None:
    src, dst = _quad(a), _quad(b, size=640.0)
    hom = homography_from_points(src, dst)
    assert np.allclose(apply_homography(hom, src), dst, atol=1e-6)
    inner = src.mean(axis=0) + np.array([[3.0, -7.0], [-20.0, 11.0]])
    back = apply_homography(np.linalg.inv(hom), apply_homography(hom, inner))
    assert np.allclose(back, inner, atol=1e-6)
    assert convex_quad_issue(src) is None
    assert quad_signed_area(src) > 0


@settings(max_examples=40, deadline=None)
@given(st.lists(coord, min_size=8, max_size=8), st.sampled_from([(0, 1, 3, 2), (1, 0, 2, 3), (0, 2, 1, 3)]))
def test_crossed_orders_are_reported(jitter: list[float], order: tuple[int, ...]) -> None:
    quad = _quad(jitter)[list(order)]
    issue = convex_quad_issue(quad)
    assert issue is not None and ("crosses" in issue or "collinear" in issue)


def test_pixel_centre_convention_matches_opencv() -> None:
    import cv2

    src = np.array([[10.0, 20.0], [300.0, 5.0], [320.0, 250.0], [0.0, 240.0]])
    dst = np.array([[0.0, 0.0], [200.0, 0.0], [200.0, 100.0], [0.0, 100.0]])
    ours = to_pixel_center_convention(homography_from_points(src, dst))
    theirs = cv2.getPerspectiveTransform((src - 0.5).astype(np.float32), (dst - 0.5).astype(np.float32))
    assert np.allclose(ours / ours[2, 2], theirs / theirs[2, 2], atol=1e-6)


def test_affine_matrices_are_accepted() -> None:
    affine = np.array([[2.0, 0.0, 1.0], [0.0, 3.0, -1.0]])
    assert np.allclose(apply_homography(affine, [[1.0, 1.0]]), [[3.0, 2.0]])
    with pytest.raises(ValueError, match="3x3"):
        apply_homography(np.eye(2), [[0.0, 0.0]])


@pytest.mark.parametrize(
    ("points", "needle"),
    [
        ([[0, 0], [5, 0], [10, 0], [0, 5]], "collinear"),
        ([[0, 0], [0, 0], [10, 10], [0, 10]], "coincide"),
        ([[0, 0], [10, 0], [2, 2], [0, 10]], "not convex"),
        ([[0, 0], [0, 10], [10, 10], [10, 0]], "counter-clockwise"),
        ([[0, 0], [10, 0], [10, 10]], "4 points"),
        ([[0, 0], [10, 0], [10, float("inf")], [0, 10]], "infinite"),
    ],
)
def test_convex_quad_issue_names_the_problem(points: list[list[float]], needle: str) -> None:
    issue = convex_quad_issue(points)
    assert issue is not None and needle in issue


def test_degenerate_homography_raises() -> None:
    with pytest.raises(ValueError, match="collinear"):
        homography_from_points([[0, 0], [5, 0], [10, 0], [0, 5]], [[0, 0], [1, 0], [1, 1], [0, 1]])


def test_rectified_size_takes_the_longer_sides() -> None:
    assert rectified_size([[0, 0], [200, 0], [200, 100], [0, 100]]) == (200, 100)
    assert rectified_size([[10, 0], [190, 0], [200, 120], [0, 120]]) == (200, 120)
