"""Landmarks: the configured list and the user's additions, their bounds and errors, the feature on a tiny random
SigLIP, and the ``imagelens landmarks`` and ``imagelens analyze --features categories,landmarks`` commands."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from imagelens.analyzer import Analyzer
from imagelens.config import CategorySettings, HubSettings, LandmarkSettings, Settings
from imagelens.errors import InvalidArgumentError, NotSupportedVisualFeatureError
from imagelens.features.landmark_list import (
    LandmarkEntry,
    add_landmarks,
    additions_path,
    list_additions,
    load_landmark_list,
    remove_landmarks,
)
from imagelens.features.landmarks import BACKGROUND, landmark_index, select_landmarks
from imagelens.models.hub import ModelHub

from ..conftest import SAMPLE_IMAGE, shared_data


def _settings(tmp_path: Path, file: Path | None = None, **landmarks: object) -> Settings:
    return Settings(
        store_dir=tmp_path / "store",
        landmarks=LandmarkSettings(file=file, **landmarks),  # type: ignore[arg-type]
    )


def test_the_curated_list_loads_with_aliases() -> None:
    path = shared_data("vocab", "landmarks_curated", "famous_landmarks.csv")
    found = load_landmark_list(
        Settings(landmarks=LandmarkSettings(file=path), store_dir=Path("/nonexistent"))
    )
    assert len(found.entries) == 490 and found.names[0] == "Eiffel Tower"
    assert found.entries[0].phrases() == ("Eiffel Tower", "Tour Eiffel")
    txt = load_landmark_list(Settings(landmarks=LandmarkSettings(file=path.with_suffix(".txt")),
                                      store_dir=Path("/nonexistent")))  # fmt: skip
    assert txt.names == found.names


def test_phrases_drop_disambiguating_parentheses() -> None:
    assert LandmarkEntry("Pantheon (Rome)", ("Pantheon of Agrippa",)).phrases() == (
        "Pantheon",
        "Pantheon of Agrippa",
    )


def test_no_list_is_a_clear_error_saying_how_to_get_one(tmp_path: Path) -> None:
    with pytest.raises(NotSupportedVisualFeatureError, match="IMAGELENS_LANDMARKS__FILE.*landmarks add"):
        load_landmark_list(_settings(tmp_path))


def test_bad_files_are_clear_400s(tmp_path: Path) -> None:
    (tmp_path / "list.txt").write_text("Eiffel Tower\nBig Ben\n", encoding="utf-8")
    with pytest.raises(InvalidArgumentError, match="does not exist"):
        load_landmark_list(_settings(tmp_path, tmp_path / "missing.txt"))
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n\n", encoding="utf-8")
    with pytest.raises(InvalidArgumentError, match="holds no names"):
        load_landmark_list(_settings(tmp_path, empty))
    nocol = tmp_path / "bad.csv"
    nocol.write_text("title\nEiffel Tower\n", encoding="utf-8")
    with pytest.raises(InvalidArgumentError, match="'name' column"):
        load_landmark_list(_settings(tmp_path, nocol))
    binary = tmp_path / "bin.txt"
    binary.write_bytes(b"\xff\xfe\x00\x81")
    with pytest.raises(InvalidArgumentError, match="UTF-8"):
        load_landmark_list(_settings(tmp_path, binary))
    big = tmp_path / "big.txt"
    big.write_text("\n".join(f"Landmark {i}" for i in range(100_000)), encoding="utf-8")
    with pytest.raises(InvalidArgumentError, match="more than 10000 names; at most 10000"):
        load_landmark_list(_settings(tmp_path, big))
    assert len(load_landmark_list(_settings(tmp_path, tmp_path / "list.txt", max_entries=2)).entries) == 2
    with pytest.raises(InvalidArgumentError, match="more than 1 names"):
        load_landmark_list(_settings(tmp_path, tmp_path / "list.txt", max_entries=1))


def test_additions_persist_dedupe_merge_and_are_bounded(tmp_path: Path) -> None:
    file = tmp_path / "list.txt"
    file.write_text("Eiffel Tower\nBig Ben\n", encoding="utf-8")
    settings = _settings(tmp_path, file, max_entries=4)
    assert load_landmark_list(settings).names == ("Eiffel Tower", "Big Ben")
    assert add_landmarks(settings, ["Space Needle", "space needle", "  Big   Ben "]) == [
        "Space Needle",
        "Big Ben",
    ]
    assert add_landmarks(settings, ["SPACE NEEDLE"]) == []
    assert list_additions(settings) == ["Space Needle", "Big Ben"]
    assert additions_path(settings).is_file()
    # re-read after a change; a name in both is kept once (the file's)
    assert load_landmark_list(settings).names == ("Eiffel Tower", "Big Ben", "Space Needle")
    with pytest.raises(InvalidArgumentError, match="At most 4"):
        add_landmarks(settings, ["A", "B", "C"])
    with pytest.raises(InvalidArgumentError, match="empty"):
        add_landmarks(settings, ["   "])
    with pytest.raises(InvalidArgumentError, match="at most 200"):
        add_landmarks(settings, ["x" * 201])
    assert remove_landmarks(settings, ["big ben", "Nope"]) == ["Big Ben"]
    assert list_additions(settings) == ["Space Needle"]
    # additions alone are a list
    assert load_landmark_list(_settings(tmp_path)).names == ("Space Needle",)
    additions_path(settings).write_text("{not json", encoding="utf-8")
    with pytest.raises(InvalidArgumentError, match="not valid JSON"):
        list_additions(settings)


def test_select_landmarks() -> None:
    names = ("A", "B", "C")
    assert [lm.name for lm in select_landmarks(np.array([0.2, 0.7, 0.5]), names, 0.5, 5)] == ["B", "C"]
    assert [lm.name for lm in select_landmarks(np.array([0.2, 0.7, 0.5]), names, 0.0, 1)] == ["B"]
    assert select_landmarks(np.array([0.2, 0.7, 0.5]), names, 1.0, 5) == ()


def test_feature_on_a_tiny_model_and_errors_before_any_model_loads(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    base = dict(model_dir=tiny_model_dir, hub=HubSettings(offline=True), store_dir=tmp_path / "store")
    hub = ModelHub(Settings(**base))  # type: ignore[arg-type]
    with pytest.raises(NotSupportedVisualFeatureError, match="No landmark list"):
        Analyzer(hub.settings, hub).analyze(np.zeros((80, 80, 3), np.uint8), ["landmarks"])
    assert hub.loaded_ids() == []
    file = tmp_path / "list.txt"
    file.write_text("Eiffel Tower\nBig Ben\nGolden Gate Bridge\nSydney Opera House\n", encoding="utf-8")
    settings = Settings(**base, landmarks=LandmarkSettings(file=file, threshold=0.0, max_landmarks=3))  # type: ignore[arg-type]
    analyzer = Analyzer(settings)
    try:
        image = np.asarray(__import__("PIL.Image", fromlist=["Image"]).open(SAMPLE_IMAGE).convert("RGB"))
        found = analyzer.analyze(image, ["landmarks"]).landmarks
        assert found is not None and len(found) == 3
        assert [lm.confidence for lm in found] == sorted((lm.confidence for lm in found), reverse=True)
        model = analyzer.hub.embedder()
        index = landmark_index(model, settings)
        probs = index.probabilities(model, model.embed_images([image])[0])
        assert 0.0 < probs.sum() < 1.0  # the background scenes take the rest
        assert index.embeddings.shape[0] == 4 + len(BACKGROUND)
        add_landmarks(
            settings, ["Space Needle"]
        )  # the file's prompts stay cached; the index follows the change
        grown = landmark_index(model, settings)
        assert grown.landmarks.names[-1] == "Space Needle" and grown.embeddings.shape[0] == 5 + len(
            BACKGROUND
        )
        np.testing.assert_allclose(grown.embeddings[:4], index.embeddings[:4], atol=1e-6)
        assert [lm.name for lm in found] == [index.landmarks.names[i] for i in np.argsort(-probs)[:3]]
        np.testing.assert_allclose([lm.confidence for lm in found], np.sort(probs)[::-1][:3], atol=1e-6)
    finally:
        analyzer.close()


def _cli(args: list[str], env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> object:
    from typer.testing import CliRunner

    from imagelens.cli import app

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return CliRunner().invoke(app, args)


def test_landmarks_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = {"IMAGELENS_STORE_DIR": str(tmp_path / "store")}
    r = _cli(["landmarks", "list"], env, monkeypatch)
    assert r.exit_code == 2 and "IMAGELENS_LANDMARKS__FILE" in r.output  # type: ignore[attr-defined]
    r = _cli(["landmarks", "add", "Space Needle", "Flatiron Building"], env, monkeypatch)
    assert r.exit_code == 0 and "added 2" in r.stdout  # type: ignore[attr-defined]
    r = _cli(["landmarks", "list"], env, monkeypatch)
    assert r.stdout.splitlines() == ["Space Needle", "Flatiron Building"]  # type: ignore[attr-defined]
    r = _cli(["landmarks", "remove", "space needle"], env, monkeypatch)
    assert r.exit_code == 0 and "removed 1" in r.stdout  # type: ignore[attr-defined]
    r = _cli(["landmarks", "list", "--json", "--added"], env, monkeypatch)
    assert '"added":["Flatiron Building"]' in r.stdout  # type: ignore[attr-defined]


def test_analyze_text_shows_categories_and_landmarks(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    file = tmp_path / "list.txt"
    file.write_text("Eiffel Tower\nBig Ben\n", encoding="utf-8")
    env = {
        "IMAGELENS_MODEL_DIR": str(tiny_model_dir), "IMAGELENS_HUB__OFFLINE": "true",
        "IMAGELENS_STORE_DIR": str(tmp_path / "store"), "IMAGELENS_LANDMARKS__FILE": str(file),
        "IMAGELENS_LANDMARKS__THRESHOLD": "0", "IMAGELENS_CATEGORIES__THRESHOLD": "0",
        "IMAGELENS_CATEGORIES__MAX_CATEGORIES": "86",
    }  # fmt: skip
    r = _cli(["analyze", str(SAMPLE_IMAGE), "--features", "categories,landmarks"], env, monkeypatch)
    out = r.stdout  # type: ignore[attr-defined]
    assert r.exit_code == 0, r.output  # type: ignore[attr-defined]
    assert "categories: " in out and "building_" in out and "landmarks: 2" in out and "Big Ben" in out
    assert CategorySettings().threshold == 0.25  # the documented default
