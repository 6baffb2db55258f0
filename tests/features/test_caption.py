"""``caption`` and ``denseCaptions`` through the Analyzer: tiny Florence-2 via the real hub, plus a scripted
captioner injected through the hub for the policy and the empty cases (contracts, not accuracy)."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from imagelens.analyzer import Analyzer
from imagelens.config import HubSettings, Settings
from imagelens.errors import ModelUnavailableError, NotSupportedLanguageError
from imagelens.features.base import AnalysisOptions
from imagelens.models.catalog import CATALOG
from imagelens.models.hub import ModelHub
from imagelens.models.roles import Captioner
from imagelens.models.spec import Role
from imagelens.types import BoundingBox, Caption, DenseCaption

FEATURES = ["caption", "denseCaptions"]


def _exif_rotated_jpeg(width: int = 120, height: int = 64, seed: int = 0) -> bytes:
    """A JPEG stored sideways (``height`` x ``width`` pixels) with EXIF orientation 6: upright it is ``width`` x ``height``."""
    pixels = (np.random.default_rng(seed).random((height, width, 3)) * 255).astype(np.uint8)
    stored = Image.fromarray(pixels).transpose(Image.Transpose.ROTATE_90)  # what a sideways camera writes
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to view
    buffer = io.BytesIO()
    stored.save(buffer, format="JPEG", exif=exif, quality=95)
    return buffer.getvalue()


class CountingHub(ModelHub):
    """A real hub whose captioner is wrapped to count ``encode`` calls (injected; nothing patched)."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.encodes = 0

    def captioner(self, model_id: str | None = None) -> Captioner:
        adapter = super().captioner(model_id)
        hub = self

        class Counting:
            spec = adapter.spec
            load = adapter.load
            close = adapter.close
            caption = adapter.caption
            dense_captions = adapter.dense_captions

            def encode(self, rgb: np.ndarray) -> Any:
                hub.encodes += 1
                return adapter.encode(rgb)

        counting = Counting()
        assert isinstance(counting, Captioner)
        return counting


class ScriptedCaptioner:
    """Stands in for the captioner with fixed outputs, to test what the features do with them."""

    spec = CATALOG["florence-2-base"]

    def __init__(
        self, caption: tuple[str, float], regions: list[tuple[str, float, tuple[float, ...]]]
    ) -> None:
        self._caption = Caption(*caption)
        self._regions = tuple(DenseCaption(t, c, BoundingBox.from_xyxy(*box)) for t, c, box in regions)

    @classmethod
    def load(cls, path: Path | None, spec: Any) -> ScriptedCaptioner:
        raise NotImplementedError

    def close(self) -> None:
        return None

    def encode(self, rgb: np.ndarray) -> tuple[int, int]:
        return rgb.shape[1], rgb.shape[0]

    def caption(self, encoding: Any, detailed: bool = False) -> Caption:
        return self._caption

    def dense_captions(
        self, encoding: Any, whole_image: Caption | None = None, max_results: int = 10
    ) -> tuple[DenseCaption, ...]:
        return self._regions[:max_results]


class ScriptedHub:
    def __init__(self, captioner: ScriptedCaptioner) -> None:
        assert isinstance(captioner, Captioner)
        self._captioner = captioner

    def get(self, model_id_or_role: Any, *, pin: bool = False) -> Any:
        assert model_id_or_role == Role.CAPTIONER
        return self._captioner

    def captioner(self, model_id: str | None = None) -> Captioner:
        return self._captioner

    def using(self) -> Any:
        import contextlib

        return contextlib.nullcontext()

    def close(self) -> None:
        pass


def _scripted(caption: tuple[str, float], regions: list[Any]) -> Callable[..., Any]:
    analyzer = Analyzer(Settings(), hub=ScriptedHub(ScriptedCaptioner(caption, regions)))  # type: ignore[arg-type]
    return analyzer.analyze


# --- tiny Florence-2 through the real hub ------------------------------------------------------------------------------


def test_caption_and_dense_captions_contract_on_an_exif_rotated_non_square_image(
    tiny_settings: Settings,
) -> None:
    analyzer = Analyzer(tiny_settings)
    data = _exif_rotated_jpeg(120, 64)
    assert Image.open(io.BytesIO(data)).size == (64, 120)  # stored sideways
    result = analyzer.analyze(data, FEATURES)
    width, height = result.metadata.width, result.metadata.height
    assert (width, height) == (120, 64)  # upright after EXIF rotation
    assert isinstance(result.caption, Caption) and 0.0 <= result.caption.confidence <= 1.0
    dense = result.dense_captions
    assert isinstance(dense, tuple) and 1 <= len(dense) <= 10
    assert all(isinstance(d, DenseCaption) and 0.0 <= d.confidence <= 1.0 for d in dense)
    assert dense[0].box == BoundingBox(0.0, 0.0, float(width), float(height))
    assert (dense[0].text, dense[0].confidence) == (result.caption.text, result.caption.confidence)
    for d in dense:
        assert d.box.x >= 0.0 and d.box.x2 <= width and d.box.y >= 0.0 and d.box.y2 <= height
        assert d.box.w > 0 and d.box.h > 0
    rest = [d.confidence for d in dense[1:]]
    assert rest == sorted(rest, reverse=True)
    assert analyzer.analyze(data, FEATURES) == result  # deterministic


def test_the_image_is_encoded_once_for_both_features(tiny_settings: Settings) -> None:
    hub = CountingHub(tiny_settings)
    analyzer = Analyzer(tiny_settings, hub=hub)
    image = _exif_rotated_jpeg(80, 56, seed=1)
    analyzer.analyze(image, FEATURES)
    assert hub.encodes == 1
    analyzer.analyze(image, ["denseCaptions"])  # a new call, a new encoding; its caption reuses it
    assert hub.encodes == 2


def test_dense_captions_alone_begin_with_the_same_caption(tiny_settings: Settings) -> None:
    analyzer = Analyzer(tiny_settings)
    image = _exif_rotated_jpeg(100, 60, seed=2)
    both = analyzer.analyze(image, FEATURES)
    alone = analyzer.analyze(image, ["denseCaptions"])
    assert alone.caption is None
    assert alone.dense_captions == both.dense_captions


@pytest.mark.parametrize("feature", FEATURES)
def test_a_language_without_a_translator_is_refused(tiny_settings: Settings, feature: str) -> None:
    with pytest.raises(NotSupportedLanguageError, match="language 'sw'.*Supported languages: de, en"):
        Analyzer(tiny_settings).analyze(_exif_rotated_jpeg(), [feature], AnalysisOptions(language="sw"))


def test_a_missing_captioner_is_unavailable(tmp_path: Path) -> None:
    settings = Settings(model_dir=tmp_path, hub=HubSettings(offline=True, cache_dir=tmp_path))
    with pytest.raises(ModelUnavailableError, match="florence-2-base"):
        Analyzer(settings).analyze(_exif_rotated_jpeg(), ["caption"])


# --- what the features do with a captioner's output (scripted captioner) -----------------------------------------------


def test_gender_neutral_rewrites_captions_and_dense_captions() -> None:
    regions = [
        ("A woman and her dog", 0.9, (0.0, 0.0, 64.0, 120.0)),
        ("a man riding a bike", 0.8, (1.0, 2.0, 30.0, 40.0)),
        ("a red car", 0.7, (5.0, 6.0, 20.0, 30.0)),
    ]
    analyze = _scripted(("A woman and her dog", 0.9), regions)
    plain = analyze(_exif_rotated_jpeg(), FEATURES)
    assert plain.caption == Caption("A woman and her dog", 0.9)
    neutral = analyze(_exif_rotated_jpeg(), FEATURES, AnalysisOptions(gender_neutral_caption=True))
    assert neutral.caption == Caption("A person and their dog", 0.9)
    assert [d.text for d in neutral.dense_captions or ()] == [
        "A person and their dog",
        "a person riding a bike",
        "a red car",
    ]
    assert neutral.dense_captions[1].box == BoundingBox(1.0, 2.0, 29.0, 38.0)  # type: ignore[index]


def test_no_dense_regions_is_an_empty_tuple_not_none() -> None:
    result = _scripted(("", 0.0), [])(_exif_rotated_jpeg(), ["denseCaptions"])
    assert result.dense_captions == ()


def test_more_than_ten_dense_captions_are_cut_to_ten() -> None:
    regions = [(f"thing {i}", 1.0 - i / 20, (0.0, 0.0, 10.0, 10.0)) for i in range(15)]
    result = _scripted(("a scene", 0.5), regions)(_exif_rotated_jpeg(), ["denseCaptions"])
    assert [d.text for d in result.dense_captions or ()] == [f"thing {i}" for i in range(10)]
