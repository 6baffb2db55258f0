"""Planogram matching on synthetic shelves with known misplacements and gaps."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imagelens.annotate import GREEN, GREY, RED, annotate_planogram
from imagelens.azure.shelf import parse_detections, parse_planogram, planogram_json, planogram_match_json
from imagelens.detections import Detections
from imagelens.errors import InvalidArgumentError
from imagelens.shelf.compliance import match_planogram
from imagelens.shelf.planogram import Planogram
from imagelens.shelf.products import ProductDetection
from imagelens.types import BoundingBox, DetectedObject, Tag

IMAGE = (1000, 600)  # planogram 100 x 60 units -> 10 px per unit


def _planogram() -> dict[str, Any]:
    """Two shelves of ten 10 x 20 facings; products cycle through p0..p4."""
    products = [{"id": f"p{k}", "name": f"Product {k}", "w": 10.0, "h": 20.0} for k in range(5)]
    fixtures = [
        {"id": "top", "w": 100.0, "h": 2.0, "x": 0.0, "y": 25.0},
        {"id": "low", "w": 100.0, "h": 2.0, "x": 0.0, "y": 55.0},
    ]
    positions = [
        {
            "id": str(row * 10 + col),
            "productId": f"p{(row * 10 + col) % 5}",
            "fixtureId": ("top", "low")[row],
            "x": 10.0 * col,
            "y": 5.0 + 30.0 * row,
        }
        for row in range(2)
        for col in range(10)
    ]
    return {
        "width": 100.0,
        "height": 60.0,
        "products": products,
        "fixtures": fixtures,
        "positions": positions,
    }


def _detections(
    plan: dict[str, Any], *, misplaced: dict[int, str], gaps: set[int], seed: int = 0, scale: float = 1.0
) -> list[dict[str, Any]]:
    """Azure-shaped detections at the planogram positions, jittered by up to 4 px, with the given changes."""
    rng = np.random.default_rng(seed)
    out = []
    for k, pos in enumerate(plan["positions"]):
        if k in gaps:
            continue
        jitter = rng.uniform(-4, 4, 4) * scale
        label = misplaced.get(k, pos["productId"])
        out.append(
            {
                "id": f"d{k}",
                "boundingBox": {
                    "x": (pos["x"] * 10 + jitter[0]) * scale,
                    "y": (pos["y"] * 10 + jitter[1]) * scale,
                    "w": (100 + jitter[2]) * scale,
                    "h": (200 + jitter[3]) * scale,
                },
                "tags": [{"name": label, "confidence": 0.9}, {"name": "other", "confidence": 0.05}],
            }
        )
    return out


def test_known_misplacements_and_gaps_are_found_exactly() -> None:
    plan = _planogram()
    misplaced = {3: "p0", 14: "p2"}
    gaps = {7, 12}
    dets = _detections(plan, misplaced=misplaced, gaps=gaps)
    dets.append(
        {
            "id": "extra",
            "boundingBox": {"x": 400, "y": 565, "w": 100, "h": 30},
            "tags": [{"name": "p1", "confidence": 0.8}],
        }
    )
    result = match_planogram(parse_planogram(plan), parse_detections(dets), IMAGE)
    states = {p.position_id: p.state for p in result.positions}
    for k in range(20):
        expected = "misplaced" if k in misplaced else "gap" if k in gaps else "matched"
        assert states[str(k)] == expected, k
    by_id = {p.position_id: p for p in result.positions}
    assert by_id["3"].detection is not None and by_id["3"].detection.label == "p0"
    assert by_id["3"].expected_product_id == "p3"
    assert by_id["7"].detection is None
    assert [d.id for d in result.unassigned] == ["extra"]
    assert result.counts() == {"matched": 16, "misplaced": 2, "gap": 2}
    assert result.compliance == pytest.approx(0.8)


def test_greedy_assignment_would_be_wrong() -> None:
    """Two facings of one product; one detection overlaps the left facing best but is the only one touching the
    right facing. Greedy (best IoU first) takes it for the left facing and reports the right one as a gap; the
    optimal assignment gives each facing its own detection."""
    plan = {
        "width": 20.0,
        "height": 10.0,
        "products": [{"id": "cola", "name": "Cola", "w": 10.0, "h": 10.0}],
        "fixtures": [{"id": "f", "w": 20.0, "h": 1.0, "x": 0.0, "y": 9.0}],
        "positions": [
            {"id": "A", "productId": "cola", "fixtureId": "f", "x": 0.0, "y": 0.0},
            {"id": "B", "productId": "cola", "fixtureId": "f", "x": 10.0, "y": 0.0},
        ],
    }
    dets = [
        ProductDetection(
            "shifted", BoundingBox(20, 0, 100, 100), (Tag("cola", 0.9),)
        ),  # IoU 0.67 with A, 0.11 with B
        ProductDetection(
            "occluded", BoundingBox(0, 40, 100, 60), (Tag("cola", 0.9),)
        ),  # IoU 0.60 with A only
    ]
    optimal = match_planogram(parse_planogram(plan), dets, (200, 100))
    assert [(p.position_id, p.state, p.detection.id if p.detection else None) for p in optimal.positions] == [
        ("A", "matched", "occluded"),
        ("B", "matched", "shifted"),
    ]
    greedy = match_planogram(parse_planogram(plan), dets, (200, 100), strategy="greedy")
    assert [p.state for p in greedy.positions] == ["matched", "gap"]


def test_planogram_units_scale_to_the_image() -> None:
    plan = _planogram()
    dets = _detections(plan, misplaced={5: "p1"}, gaps={9}, scale=2.0)
    big = match_planogram(parse_planogram(plan), parse_detections(dets), (2000, 1200))
    small = match_planogram(
        parse_planogram(plan), parse_detections(_detections(plan, misplaced={5: "p1"}, gaps={9})), IMAGE
    )
    assert [p.state for p in big.positions] == [p.state for p in small.positions]
    assert big.positions[0].expected_box == BoundingBox(0, 100, 200, 400)
    # Against the wrong image size the same detections no longer line up with the positions.
    wrong = match_planogram(parse_planogram(plan), parse_detections(dets), IMAGE)
    assert wrong.counts()["matched"] < 10


def test_label_may_be_product_name_and_detected_objects_work() -> None:
    plan = _planogram()
    dets = [
        DetectedObject(
            BoundingBox(pos["x"] * 10, pos["y"] * 10, 100, 200), (Tag(f"Product {pos['productId'][1]}", 0.7),)
        )
        for pos in plan["positions"]
    ]
    result = match_planogram(parse_planogram(plan), dets, IMAGE)
    assert result.counts()["matched"] == 20


def test_azure_json_shape() -> None:
    plan = _planogram()
    result = match_planogram(
        parse_planogram(plan), parse_detections(_detections(plan, misplaced={0: "p4"}, gaps={1})), IMAGE
    )
    body = planogram_match_json(result)
    assert set(body) == {"matchingResultPerPosition", "matchedResultsPerPosition"}
    assert body["matchingResultPerPosition"] == body["matchedResultsPerPosition"]
    first, second, third = body["matchingResultPerPosition"][:3]
    assert first["positionId"] == "0" and first["state"] == "misplaced" and first["expectedProductId"] == "p0"
    assert set(first["detectedObject"]) == {"id", "boundingBox", "tags"}
    assert set(first["detectedObject"]["boundingBox"]) == {"x", "y", "w", "h"}
    assert first["detectedObject"]["tags"][0] == {"name": "p4", "confidence": 0.9}
    assert second["state"] == "gap" and "detectedObject" not in second
    assert third["state"] == "matched"


@settings(max_examples=25, deadline=None)
@given(st.randoms(use_true_random=False), st.sets(st.integers(0, 19), max_size=6), st.integers(0, 1000))
def test_detection_order_does_not_change_the_result(rnd: Any, gaps: set[int], seed: int) -> None:
    plan = _planogram()
    dets = _detections(plan, misplaced={2: "p0"} if 2 not in gaps else {}, gaps=gaps, seed=seed)
    shuffled = list(dets)
    rnd.shuffle(shuffled)
    a = match_planogram(parse_planogram(plan), parse_detections(dets), IMAGE)
    b = match_planogram(parse_planogram(plan), parse_detections(shuffled), IMAGE)
    assert [(p.state, p.detection.id if p.detection else None) for p in a.positions] == [
        (p.state, p.detection.id if p.detection else None) for p in b.positions
    ]
    assert a.counts()["gap"] == len(gaps)


def test_detection_json_wrappers() -> None:
    plan = _planogram()
    dets = _detections(plan, misplaced={}, gaps=set())
    wrapped = parse_detections(
        {
            "detectedProducts": {
                "imageMetadata": {"width": 1000, "height": 600},
                "products": dets,
                "gaps": [{"boundingBox": {"x": 0, "y": 0, "w": 5, "h": 5}, "tags": []}],
            }
        }
    )
    assert wrapped.image_size == (1000, 600) and len(wrapped.products) == 20 and len(wrapped.gaps) == 1
    objects = parse_detections(
        {"objectsResult": {"values": dets}, "metadata": {"width": 1000, "height": 600}}
    )
    assert [d.id for d in objects.products] == [d.id for d in wrapped.products]
    bare = parse_detections(
        [{"boundingBox": {"x": 1, "y": 2, "w": 3, "h": 4}, "tags": [{"name": "p0", "confidence": 1}]}]
    )
    assert bare.products[0].id == "0" and bare.image_size is None


def _mutate(path: list[Any], value: Any) -> dict[str, Any]:
    plan = copy.deepcopy(_planogram())
    node: Any = plan
    for key in path[:-1]:
        node = node[key]
    if value is _DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return plan


_DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (["width"], _DELETE, "planogram.width is missing"),
        (["positions"], _DELETE, "planogram.positions is missing"),
        (["height"], -5.0, "planogram.height must be > 0"),
        (["width"], "wide", "planogram.width must be a finite number"),
        (["products", 1, "w"], 0.0, r"planogram.products\[1\].w must be > 0"),
        (["products", 2, "h"], -1.0, r"planogram.products\[2\].h must be > 0"),
        (["fixtures", 0, "w"], -3.0, r"planogram.fixtures\[0\].w must be > 0"),
        (["positions", 4, "x"], -1.0, r"planogram.positions\[4\].x must be >= 0"),
        (["products", 0, "name"], _DELETE, r"planogram.products\[0\].name is missing"),
        (
            ["positions", 3, "productId"],
            "nope",
            r"planogram.positions\[3\].productId 'nope' is not in planogram.products",
        ),
        (
            ["positions", 3, "fixtureId"],
            "shelf9",
            r"planogram.positions\[3\].fixtureId 'shelf9' is not in planogram.fixtures",
        ),
        (
            ["products", 1, "id"],
            "p0",
            r"planogram.products\[1\].id 'p0' duplicates planogram.products\[0\].id",
        ),
        (["positions", 5, "id"], "0", r"planogram.positions\[5\].id '0' duplicates"),
        (["fixtures", 1, "id"], "top", r"planogram.fixtures\[1\].id 'top' duplicates"),
        (["fixtures"], {"id": "x"}, "planogram.fixtures must be a list"),
        (["positions", 0], "p", r"planogram.positions\[0\] must be a JSON object"),
    ],
)
def test_malformed_planogram_names_the_field(path: list[Any], value: Any, field: str) -> None:
    with pytest.raises(InvalidArgumentError, match=field):
        parse_planogram(_mutate(path, value))


def test_planogram_round_trip_and_wrapper() -> None:
    plan = parse_planogram(_planogram())
    assert parse_planogram(planogram_json(plan)) == plan
    assert parse_planogram({"planogram": _planogram()}) == plan
    with pytest.raises(InvalidArgumentError, match="must be a JSON object"):
        parse_planogram([1, 2])


@pytest.mark.parametrize(
    ("dets", "needle"),
    [
        ([{"tags": []}], r"detections\[0\].boundingBox is missing"),
        ([{"boundingBox": {"x": 0, "y": 0, "w": -1, "h": 2}}], r"boundingBox.w must be >= 0"),
        (
            [{"boundingBox": {"x": 0, "y": 0, "w": 1, "h": 2}, "tags": [{"name": "a", "confidence": 2}]}],
            r"in \[0, 1\]",
        ),
        ({"something": []}, "'products'"),
        (
            [
                {"id": "a", "boundingBox": {"x": 0, "y": 0, "w": 1, "h": 1}},
                {"id": "a", "boundingBox": {"x": 0, "y": 0, "w": 1, "h": 1}},
            ],
            "unique",
        ),
    ],
)
def test_malformed_detections(dets: Any, needle: str) -> None:
    with pytest.raises(InvalidArgumentError, match=needle):
        match_planogram(parse_planogram(_planogram()), parse_detections(dets), IMAGE)


def test_annotation_colours_each_state() -> None:
    plan = _planogram()
    result = match_planogram(
        parse_planogram(plan), parse_detections(_detections(plan, misplaced={11: "p0"}, gaps={12})), IMAGE
    )
    picture = annotate_planogram(np.zeros((600, 1000, 3), np.uint8), result)
    assert picture.shape == (600, 1000, 3) and picture.dtype == np.uint8
    by_id = {p.position_id: p for p in result.positions}

    def left_edge_mid(box: BoundingBox) -> tuple[int, ...]:
        return tuple(int(v) for v in picture[round(box.y + box.h / 2), round(box.x) + 1])

    assert by_id["10"].detection is not None and left_edge_mid(by_id["10"].detection.box) == GREEN
    assert by_id["11"].detection is not None and left_edge_mid(by_id["11"].detection.box) == RED
    gap = by_id["12"].expected_box
    centre = picture[round(gap.y + gap.h / 2), round(gap.x + gap.w / 2)]
    assert np.allclose(centre, np.array(GREY) * 0.55, atol=2)
    untouched = picture[round(gap.y + gap.h / 2), 50]  # inside position 10's box: not shaded
    assert int(untouched.max()) == 0


def test_detections_type_matches_directly() -> None:
    """A detector's ``Detections`` (class names = product ids) matches without a JSON round trip."""
    plan = parse_planogram(_planogram())
    boxes = [plan.position_box(p, *IMAGE).xyxy() for p in plan.positions[:3]]
    dets = Detections(
        boxes=np.asarray(boxes),
        scores=np.asarray([0.9, 0.8, 0.7]),
        class_ids=np.asarray([0, 1, 0]),
        class_names=("p0", "p1"),
    )
    result = match_planogram(plan, dets, IMAGE)
    assert [p.state for p in result.positions[:3]] == ["matched", "matched", "misplaced"]
    assert [p.detection.id for p in result.positions[:3] if p.detection] == ["0", "1", "2"]


def test_product_recognition_classifications_name_the_product() -> None:
    """``imagelens products --json`` writes ``classifications: [{label}]``; reading them gives the labels back
    (they used to be dropped, so every detection had the label ``None`` and nothing matched)."""
    dets = _detections(_planogram(), misplaced={}, gaps=set())
    for item in dets:
        item["classifications"] = [
            {"label": t["name"], "confidence": t["confidence"]} for t in item.pop("tags")
        ]
    parsed = parse_detections({"imageMetadata": {"width": 1000, "height": 600}, "products": dets, "gaps": []})
    assert [d.label for d in parsed.products] == [p["productId"] for p in _planogram()["positions"]]
    result = match_planogram(parse_planogram(_planogram()), parsed, IMAGE)
    assert result.counts() == {"matched": 20, "misplaced": 0, "gap": 0}
    with pytest.raises(InvalidArgumentError, match=r"classifications\[0\].label is missing"):
        parse_detections([{"boundingBox": {"x": 0, "y": 0, "w": 1, "h": 1}, "classifications": [{}]}])


def test_planogram_is_a_pure_type_checked_in_code() -> None:
    plan = parse_planogram(_planogram())
    with pytest.raises(InvalidArgumentError, match=r"planogram.positions\[0\].productId 'zz'"):
        Planogram(plan.width, plan.height, plan.products, plan.fixtures,
                  (plan.positions[0].__class__("x", "zz", "top", 0.0, 0.0),))  # fmt: skip
    with pytest.raises(InvalidArgumentError, match="planogram.width must be > 0"):
        Planogram(0.0, plan.height, plan.products, plan.fixtures, plan.positions)
    with pytest.raises(InvalidArgumentError, match="parse_planogram"):
        match_planogram(_planogram(), [], IMAGE)  # type: ignore[arg-type]
