"""``objects``, ``people`` and ``faces`` through the Analyzer on tiny random models loaded by the real hub.

Contracts, not accuracy: types, boxes inside the upright image in its own pixels (non-square and EXIF-rotated
inputs), confidences in [0, 1] and sorted, one detector run shared by objects and people, ``()`` when nothing is
found, determinism, and the objects/people filtering rules on hand-made detections.
"""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from imagelens.analyzer import Analyzer
from imagelens.config import HubSettings, Settings
from imagelens.detections import Detections
from imagelens.errors import ModelUnavailableError, NotSupportedLanguageError
from imagelens.features.base import AnalysisOptions, FeatureContext
from imagelens.features.objects import DETECTIONS_ARTEFACT, ObjectsFeature
from imagelens.features.people import PeopleFeature
from imagelens.io import LoadedImage, load_image
from imagelens.models.adapters.rtdetr import RTDetrAdapter
from imagelens.models.catalog import CATALOG
from imagelens.models.hub import ModelHub
from imagelens.types import AnalysisResult, BoundingBox, DetectedObject, Face, Person

FEATURES = "objects,people,faces"
DETECTOR = CATALOG["rtdetr-v2-r18"]
FACES = CATALOG["yunet-2023mar"]


def png_bytes(width: int, height: int, seed: int = 0) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "PNG")
    return buf.getvalue()


def exif_rotated_jpeg(stored_width: int, stored_height: int) -> bytes:
    """A JPEG stored landscape with EXIF orientation 6: viewers (and load_image) show it rotated to portrait."""
    pixels = np.random.default_rng(1).integers(0, 256, (stored_height, stored_width, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "JPEG", exif=exif, quality=95)
    return buf.getvalue()


def assert_box_inside(box: BoundingBox, width: int, height: int) -> None:
    assert box.x >= 0 and box.y >= 0 and box.w > 0 and box.h > 0
    assert box.x2 <= width + 1e-9 and box.y2 <= height + 1e-9


def assert_contract(result: AnalysisResult, width: int, height: int) -> None:
    assert (result.metadata.width, result.metadata.height) == (width, height)
    for name in ("objects", "people", "faces"):
        assert isinstance(getattr(result, name), tuple), (
            f"{name} must be a tuple (empty when nothing is found)"
        )
    for obj in result.objects or ():
        assert isinstance(obj, DetectedObject) and len(obj.tags) == 1
        assert_box_inside(obj.box, width, height)
    for item in (*(result.people or ()), *(result.faces or ())):
        assert isinstance(item, (Person, Face))
        assert_box_inside(item.box, width, height)
    object_scores = [o.tags[0].confidence for o in result.objects or ()]
    for scores in (
        object_scores,
        [p.confidence for p in result.people or ()],
        [f.confidence for f in result.faces or ()],
    ):
        assert all(0.0 <= s <= 1.0 for s in scores)
        assert scores == sorted(scores, reverse=True)


@pytest.fixture(scope="module")
def analyzer(tiny_model_dir: Path) -> Analyzer:
    return Analyzer(Settings(model_dir=tiny_model_dir, hub=HubSettings(offline=True)))


def test_non_square_image(analyzer: Analyzer) -> None:
    result = analyzer.analyze(png_bytes(170, 90), FEATURES)
    assert_contract(result, 170, 90)
    assert result.objects and result.people and result.faces, "the tiny models should find something here"
    params = analyzer.hub.detector().params
    assert min(o.tags[0].confidence for o in result.objects) >= params.score_threshold
    assert min(p.confidence for p in result.people) >= params.person_threshold
    assert (
        min(f.confidence for f in result.faces) >= analyzer.hub.face_detector().params.score_threshold  # type: ignore[attr-defined]
    )
    assert analyzer.analyze(png_bytes(170, 90), FEATURES) == result  # deterministic


def test_exif_rotated_input_is_analysed_upright(analyzer: Analyzer) -> None:
    image = load_image(exif_rotated_jpeg(stored_width=150, stored_height=100))
    assert (image.width, image.height) == (100, 150)

    result = analyzer.analyze(image, FEATURES)

    assert_contract(result, 100, 150)
    assert result.people and result.faces, "the tiny models should find something here"
    # the models saw the upright pixels: the same boxes as running the adapters on the upright array directly
    upright = image.array()
    detector = analyzer.hub.detector()
    det = detector.detect(upright)
    is_person = (np.asarray(det.names) == "person") & (det.scores >= detector.params.person_threshold)
    np.testing.assert_allclose(boxes_of(result.people), det.boxes[is_person].reshape(-1, 4), atol=1e-9)
    faces = analyzer.hub.face_detector().detect(upright)
    np.testing.assert_allclose(boxes_of(result.faces), faces.boxes.reshape(-1, 4), atol=1e-9)


def boxes_of(items: tuple[Person, ...] | tuple[Face, ...] | None) -> np.ndarray:
    return np.asarray([item.box.xyxy() for item in items or ()], dtype=float).reshape(-1, 4)


class CountingRTDetr(RTDetrAdapter):
    """The real adapter, counting its forward passes."""

    forwards = 0

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        type(self).forwards += 1
        return super().forward(*args, **kwargs)


def test_objects_and_people_share_one_detector_run(tiny_model_dir: Path) -> None:
    spec = replace(DETECTOR, adapter=f"{__name__}:CountingRTDetr")
    settings = Settings(model_dir=tiny_model_dir, hub=HubSettings(offline=True))
    analyzer = Analyzer(settings, hub=ModelHub(settings, catalog={**CATALOG, spec.id: spec}))
    CountingRTDetr.forwards = 0

    result = analyzer.analyze(png_bytes(120, 80), "objects,people")

    assert CountingRTDetr.forwards == 1
    assert result.objects is not None and result.people is not None
    analyzer.analyze(png_bytes(120, 80, seed=2), "people")
    assert CountingRTDetr.forwards == 2  # once per image, not once per process


def test_nothing_found_is_an_empty_tuple(tiny_model_dir: Path) -> None:
    strict = {
        DETECTOR.id: replace(
            DETECTOR, options={**DETECTOR.options, "score_threshold": 1.0, "person_threshold": 1.0}
        ),
        FACES.id: replace(FACES, options={**FACES.options, "score_threshold": 1.0}),
    }
    settings = Settings(model_dir=tiny_model_dir, hub=HubSettings(offline=True))
    analyzer = Analyzer(settings, hub=ModelHub(settings, catalog={**CATALOG, **strict}))
    result = analyzer.analyze(png_bytes(100, 60), FEATURES)
    assert result.objects == () and result.people == () and result.faces == ()


def test_missing_models_name_themselves(tmp_path: Path) -> None:
    settings = Settings(model_dir=tmp_path, hub=HubSettings(offline=True, cache_dir=tmp_path / "hf"))
    analyzer = Analyzer(settings)
    with pytest.raises(ModelUnavailableError, match="imagelens models pull yunet-2023mar"):
        analyzer.analyze(png_bytes(64, 64), "faces")
    with pytest.raises(ModelUnavailableError, match="rtdetr-v2-r18"):
        analyzer.analyze(png_bytes(64, 64), "people")


def test_objects_are_english_only_people_and_faces_have_no_text(analyzer: Analyzer) -> None:
    with pytest.raises(NotSupportedLanguageError, match="objects"):
        analyzer.analyze(png_bytes(64, 64), "objects", AnalysisOptions(language="fr"))
    result = analyzer.analyze(png_bytes(64, 64), "people,faces", AnalysisOptions(language="fr"))
    assert result.people is not None and result.faces is not None


def test_filtering_rules_on_hand_made_detections(analyzer: Analyzer) -> None:
    """objects: >= 0.5 and one name per query (its best); people: class "person" >= 0.3, from the same artefact."""
    names = analyzer.hub.detector().class_names
    person, dog, cat = names.index("person"), names.index("dog"), names.index("cat")
    fake = Detections(
        boxes=np.asarray(
            [[0, 0, 10, 10], [0, 0, 10, 10], [5, 5, 20, 30], [1, 2, 3, 4], [2, 2, 8, 8]], dtype=float
        ),
        scores=np.asarray([0.9, 0.6, 0.55, 0.4, 0.2]),
        class_ids=np.asarray([person, dog, cat, person, dog]),
        class_names=names,
        data={"query": np.asarray([0, 0, 1, 2, 3])},
    )
    image = LoadedImage(Image.new("RGB", (64, 64)), "raw", 0)
    ctx = FeatureContext(image, analyzer.hub, AnalysisOptions(), frozenset({"objects", "people"}))
    ctx.artefact(DETECTIONS_ARTEFACT, lambda: fake)

    objects = ObjectsFeature().run(ctx)
    people = PeopleFeature().run(ctx)

    assert [(o.tags[0].name, o.tags[0].confidence) for o in objects] == [("person", 0.9), ("cat", 0.55)]
    assert objects[1].box == BoundingBox(5.0, 5.0, 15.0, 25.0)
    assert [(p.box.xyxy(), p.confidence) for p in people] == [((0, 0, 10, 10), 0.9), ((1, 2, 3, 4), 0.4)]
