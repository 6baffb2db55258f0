"""The ``categories`` feature: Azure's 86-category taxonomy, the hierarchy rule, settings validation, the text output,
and the feature on a tiny random SigLIP through the real hub (contracts, not accuracy)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from imagelens.analyzer import Analyzer
from imagelens.cli._render import render_categories, render_landmarks
from imagelens.config import CategorySettings, HubSettings, LandmarkSettings, Settings
from imagelens.errors import InvalidArgumentError
from imagelens.features.categories import (
    CategoriesFeature,
    attach_landmarks,
    category_probabilities,
    category_scores,
    check_threshold,
    select_categories,
    taxonomy,
)
from imagelens.types import AnalysisResult, Category, ImageMetadata, Landmark

from ..conftest import shared_data

TAX = taxonomy()


def _probs(**mass: float) -> np.ndarray:
    """Probabilities with the given mass on named categories, the rest spread evenly."""
    p = np.zeros(len(TAX.names))
    for name, value in mass.items():
        p[TAX.names.index(name)] = value
    rest = [i for i, n in enumerate(TAX.names) if n not in mass]
    p[rest] = (1.0 - sum(mass.values())) / len(rest)
    return p


def test_taxonomy_is_azures_86_names_in_its_order_with_prompts() -> None:
    assert len(TAX.names) == 86 == len(set(TAX.names))
    assert TAX.names[:3] == ("abstract_", "abstract_net", "abstract_nonphoto")
    assert len(TAX.parent_names) == 15
    assert not {"object_", "sky_", "trans_"} & set(TAX.names)
    assert all(group and all(p.strip() for p in group) for group in TAX.prompts)
    phrases = dict(zip(TAX.names, TAX.prompts, strict=True))
    assert phrases["outdoor_mountain"][0] == "a photo of mountains"
    assert phrases["abstract_nonphoto"][0] == "an abstract non-photographic image"
    assert TAX.prompt_set().labels == TAX.names


def test_taxonomy_matches_the_shared_vocabulary() -> None:
    path = shared_data("vocab", "azure_v32_categories", "azure_v32_categories.txt")
    assert tuple(path.read_text(encoding="utf-8").split()) == TAX.names


def test_a_confident_child_is_reported_alone() -> None:
    found = select_categories(_probs(animal_dog=0.9), 0.25, 5)
    assert [c.name for c in found] == ["animal_dog"] and found[0].score == pytest.approx(0.9)


def test_a_group_without_a_confident_child_reports_its_parent_with_the_group_mass() -> None:
    p = _probs(people_=0.3, people_group=0.2, people_crowd=0.2, people_many=0.116)
    found = select_categories(p, 0.5, 5)
    assert [c.name for c in found] == ["people_"]
    assert found[0].score == pytest.approx(category_scores(p).group["people"])
    assert 0.816 <= found[0].score <= 0.84  # the 4 named plus the even spread over the other people_ children


def test_children_only_groups_never_invent_a_parent_and_order_is_best_first() -> None:
    p = _probs(trans_car=0.2, trans_bus=0.2, plant_tree=0.35, food_pizza=0.24)
    assert [c.name for c in select_categories(p, 0.3, 5)] == [
        "plant_tree"
    ]  # trans: 0.4 mass, no trans_ entry
    assert [c.name for c in select_categories(p, 0.19, 5)] == [
        "plant_tree",
        "food_pizza",
        "trans_bus",
        "trans_car",
    ]
    assert [c.name for c in select_categories(p, 0.19, 2)] == ["plant_tree", "food_pizza"]
    assert select_categories(p, 1.0, 5) == ()
    assert all(0.0 <= c.score <= 1.0 for c in select_categories(p, 0.0, 86))


def test_scores_of_children_and_parents() -> None:
    scores = category_scores(_probs(animal_dog=0.5, animal_=0.1))
    assert scores.score("animal_dog") == pytest.approx(0.5)
    assert scores.score("animal_") == scores.score("animal") == pytest.approx(scores.group["animal"])
    assert scores.group["animal"] > 0.6


@pytest.mark.parametrize("bad", [-0.01, 1.5, float("nan"), "x"])
def test_thresholds_outside_0_1_are_refused(bad: object) -> None:
    with pytest.raises(InvalidArgumentError, match=r"\[0, 1\]"):
        check_threshold(bad)  # type: ignore[arg-type]
    with pytest.raises((InvalidArgumentError, TypeError, ValueError)):
        select_categories(_probs(), bad, 5)  # type: ignore[arg-type]


def test_settings_validate_thresholds(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError):
        CategorySettings(threshold=1.5)
    with pytest.raises(ValidationError):
        LandmarkSettings(threshold=-0.1)
    monkeypatch.setenv("IMAGELENS_CATEGORIES__THRESHOLD", "0.4")
    monkeypatch.setenv("IMAGELENS_LANDMARKS__FILE", "/x/landmarks.txt")
    settings = Settings()
    assert settings.categories.threshold == 0.4 and settings.landmarks.file == Path("/x/landmarks.txt")
    monkeypatch.setenv("IMAGELENS_CATEGORIES__THRESHOLD", "2")
    with pytest.raises(ValidationError):
        Settings()


def test_landmarks_go_into_the_landmark_bearing_categories_only() -> None:
    found = (Category("building_church", 0.6), Category("people_", 0.3), Category("outdoor_", 0.2))
    lm = (Landmark("Notre-Dame de Paris", 0.8),)
    out = attach_landmarks(found, lm)
    assert [c.landmarks for c in out] == [lm, (), lm]
    assert attach_landmarks(found, ()) == found


def test_text_output() -> None:
    result = AnalysisResult(
        "2023-10-01", ImageMetadata(640, 480, "png"),
        categories=(Category("building_", 0.9, (Landmark("Eiffel Tower", 0.7),)), Category("people_", 0.3)),
        landmarks=(Landmark("Eiffel Tower", 0.7),),
    )  # fmt: skip
    text = "\n".join(render_categories(result) or [])
    assert "categories: 2" in text and "building_" in text and "0.90" in text and "Eiffel Tower" in text
    assert "people_" in text and "0.30" in text
    assert "Eiffel Tower" in "\n".join(render_landmarks(result) or []) and "0.70" in "\n".join(
        render_landmarks(result) or []
    )
    empty = AnalysisResult("2023-10-01", ImageMetadata(640, 480, "png"), categories=())
    assert render_categories(empty) == ["  categories: none found"] and render_landmarks(empty) is None


@pytest.fixture(scope="module")
def analyzer(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Analyzer]:
    root = tmp_path_factory.mktemp("cats")
    (root / "landmarks.txt").write_text(
        "Eiffel Tower\nBig Ben\n# a comment\nGolden Gate Bridge\n", encoding="utf-8"
    )
    settings = Settings(
        model_dir=tiny_model_dir, hub=HubSettings(offline=True), store_dir=root / "store",
        categories=CategorySettings(threshold=0.0, max_categories=86),
        landmarks=LandmarkSettings(file=root / "landmarks.txt", threshold=0.0),
    )  # fmt: skip
    analyzer = Analyzer(settings)
    yield analyzer
    analyzer.close()


def _picture() -> np.ndarray:
    y, x = np.mgrid[0:90, 0:150]
    return np.stack([x * 255 // 150, y * 255 // 90, (x + y) % 97 * 2], axis=-1).astype(np.uint8)


def test_feature_on_a_tiny_model(analyzer: Analyzer) -> None:
    image = _picture()
    result = analyzer.analyze(image, ["categories", "landmarks"])
    cats = result.categories
    assert cats is not None and result.landmarks is not None and len(result.landmarks) == 3
    assert [c.score for c in cats] == sorted((c.score for c in cats), reverse=True)
    assert {c.name for c in cats} <= set(TAX.names)
    # the same scores as the taxonomy rule on the model's own probabilities, computed outside the feature
    model = analyzer.hub.embedder()
    probs = category_probabilities(model, model.embed_images([image])[0])
    assert probs.sum() == pytest.approx(1.0)
    expected = select_categories(probs, 0.0, 86)
    assert [(c.name, round(c.score, 5)) for c in cats] == [(c.name, round(c.score, 5)) for c in expected]
    # threshold 0: every group is reported; landmarks only in building_/outdoor_ entries
    for c in cats:
        assert c.landmarks == (result.landmarks if c.name.split("_")[0] in ("building", "outdoor") else ())
    assert any(c.landmarks for c in cats)
    # categories alone: no landmarks attached
    alone = analyzer.analyze(image, ["categories"]).categories
    assert alone is not None and not any(c.landmarks for c in alone)
    assert CategoriesFeature.after == ("landmarks",)
