"""``imageType``: the statistics method on rendered drawings and textured pictures (no model), the zero-shot method's
plumbing on a tiny random SigLIP, the labelled-set harness and ``imagelens eval imageType|adult``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image
from typer.testing import CliRunner

from imagelens.analyzer import Analyzer
from imagelens.azure.v32 import analysis_json
from imagelens.cli import app
from imagelens.config import Settings
from imagelens.errors import InvalidArgumentError
from imagelens.evaluation.image_type import (
    build_set,
    edge_drawing,
    load_labelled,
    render_clip_art,
    render_line_drawing,
)
from imagelens.features.base import AnalysisOptions
from imagelens.features.image_type import image_statistics, image_type_from_scores
from imagelens.types import ImageType

from ..conftest import shared_data


def _textured(seed: int, size: tuple[int, int] = (240, 320)) -> npt.NDArray[np.uint8]:
    """A photo-like picture: smooth shading plus fine grain in every channel (no flat regions)."""
    rng = np.random.default_rng(seed)
    h, w = size
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x * 200 / w + 20, y * 180 / h + 30, (x + y) * 100 / (w + h) + 60], axis=-1)
    grain = rng.normal(0, 14, (h, w, 3))
    coarse = np.asarray(
        Image.fromarray(rng.integers(0, 255, (h // 8, w // 8, 3), dtype=np.uint8)).resize((w, h)), float
    )
    return np.clip(0.6 * base + 0.4 * coarse + grain, 0, 255).astype(np.uint8)


def _photos(folder: Path, n: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        Image.fromarray(_textured(i)).save(folder / f"p{i}.jpg", quality=85)
        paths.append(folder / f"p{i}.jpg")
    return paths


def test_levels_from_scores() -> None:
    assert image_type_from_scores(0.1, 0.2) == ImageType(0, 0)
    assert image_type_from_scores(0.3, 0.5) == ImageType(1, 1)
    assert image_type_from_scores(0.6, 0.49) == ImageType(2, 0)
    assert image_type_from_scores(1.0, 1.0) == ImageType(3, 1)


def test_statistics_tell_drawings_from_textured_pictures() -> None:
    rng = np.random.default_rng(7)
    analyzer = Analyzer(Settings())  # no model: the statistics method loads nothing
    for i in range(4):
        clip = analyzer.analyze(np.asarray(render_clip_art(rng)), "imageType").image_type
        assert clip is not None and clip.clip_art_type >= 2 and clip.line_drawing_type == 0
        line = analyzer.analyze(np.asarray(render_line_drawing(rng)), "imageType").image_type
        assert line is not None and line.line_drawing_type == 1
        photo = analyzer.analyze(_textured(i), "imageType").image_type
        assert photo == ImageType(0, 0)
    sketch = edge_drawing(Image.fromarray(_textured(9)), pencil=False)
    assert image_statistics(np.asarray(sketch)).scores()[1] >= 0.5


def test_statistics_on_real_photos_find_no_line_drawing() -> None:
    photos = sorted(shared_data("coco_val2017_first128", "images").glob("*.jpg"))[:12]
    analyzer = Analyzer(Settings())
    kinds = [analyzer.analyze(p.read_bytes(), "imageType").image_type for p in photos]
    assert all(k is not None and k.line_drawing_type == 0 for k in kinds)


def test_a_tiny_image_and_greyscale_work() -> None:
    stats = image_statistics(np.full((2, 2, 3), 255, np.uint8))
    assert 0.0 <= stats.scores()[0] <= 1.0
    grey = np.repeat(_textured(3)[..., :1], 3, axis=2)
    assert image_statistics(grey).saturation == 0.0


def test_unknown_method_is_400() -> None:
    with pytest.raises(InvalidArgumentError) as err:
        Analyzer(Settings()).analyze(
            _textured(0), "imageType", AnalysisOptions(extra={"image_type_method": "magic"})
        )
    assert err.value.status == 400


def test_zero_shot_method_on_a_tiny_model(tiny_settings: Settings) -> None:
    settings = tiny_settings.model_copy(
        update={"image_type": tiny_settings.image_type.model_copy(update={"method": "zero_shot"})}
    )
    result = Analyzer(settings).analyze(_textured(0), "imageType")
    assert isinstance(result.image_type, ImageType)
    body = analysis_json(result, "r", ["imagetype"])
    assert set(body["imageType"]) == {"clipArtType", "lineDrawingType"}


def test_build_set_and_load_both_layouts(tmp_path: Path) -> None:
    photos = _photos(tmp_path / "src", 2)
    counts = build_set(tmp_path / "set", photos, drawings=3, seed=0)
    assert counts == {"photo": 3, "clip_art": 3, "line_drawing": 3}  # one greyscale copy per 4 photos
    rows = load_labelled(tmp_path / "set")
    assert sum(r.clip_art for r in rows) == 3 and sum(r.line_drawing for r in rows) == 3
    csv_file = tmp_path / "labels.csv"
    csv_file.write_text("path,clip_art,line_drawing\nsrc/p0.jpg,0,0\nsrc/p1.jpg,1,0\n", encoding="utf-8")
    loaded = load_labelled(csv_file)
    assert [r.clip_art for r in loaded] == [False, True] and loaded[0].path == tmp_path / "src" / "p0.jpg"
    with pytest.raises(InvalidArgumentError):
        load_labelled(tmp_path / "nothing")


def test_eval_image_type_cli(tmp_path: Path) -> None:
    build_set(tmp_path / "set", _photos(tmp_path / "src", 3), drawings=3, seed=1)
    png = tmp_path / "pr.png"
    out = CliRunner().invoke(
        app, ["eval", "imageType", "--data", str(tmp_path / "set"), "--json", "--pr-curve", str(png)]
    )
    assert out.exit_code == 0, out.output
    report = json.loads(out.output)
    assert report["feature"] == "imageType" and report["n"] == 10
    assert report["metrics"]["line_drawing_recall"] == 1.0 and report["metrics"]["clip_art_precision"] == 1.0
    assert png.read_bytes()[:4] == b"\x89PNG"
    text = CliRunner().invoke(app, ["eval", "imageType", "--data", str(tmp_path / "set"), "--pr-curve", "-"])
    assert text.exit_code == 0 and "line_drawing: clipArtType 0/1/2/3 = " in text.output


def test_eval_adult_cli_on_a_tiny_model(
    tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMAGELENS_MODEL_DIR", str(tiny_model_dir))
    for label, seed in (("neutral", 0), ("neutral", 1), ("adult", 2), ("gore", 3)):
        (tmp_path / "set" / label).mkdir(parents=True, exist_ok=True)
        Image.fromarray(_textured(seed)).save(tmp_path / "set" / label / f"{seed}.png")
    out = CliRunner().invoke(app, ["eval", "adult", "--data", str(tmp_path / "set"), "--pr-curve", "-"])
    assert out.exit_code == 0, out.output
    assert "adult_precision" in out.output and "gore_recall" in out.output and "4 items" in out.output
    bad = CliRunner().invoke(app, ["eval", "adult", "--data", str(tmp_path / "missing")])
    assert bad.exit_code != 0 and "no labelled folder" in bad.output
