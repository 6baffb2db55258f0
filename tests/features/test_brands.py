"""The ``brands`` feature: the brand list and its bounds, OCR matching, the combination, the feature through the
Analyzer (real OCR; tiny random OWLv2 + SigLIP for the logo plumbing), the CLI and the eval harness."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image, ImageDraw, ImageFont
from typer.testing import CliRunner

from imagelens.analyzer import Analyzer
from imagelens.annotate import annotate
from imagelens.cli import app
from imagelens.cli._render import render_text
from imagelens.config import BrandSettings, HubSettings, Settings
from imagelens.errors import InvalidArgumentError, NotFoundError, NotSupportedVisualFeatureError
from imagelens.evaluation.brands import Prediction, TruthBrand, evaluate_brands, load_labels, match_image
from imagelens.features.base import AnalysisOptions
from imagelens.features.brand_list import (
    MAX_BRANDS,
    BrandUserStore,
    brand_key,
    load_brand_list,
    parse_brand_text,
    read_brand_file,
)
from imagelens.features.brand_ocr import BrandMatcher, OcrHit, max_edits
from imagelens.features.brand_visual import VisualHit
from imagelens.features.brands import THRESHOLD_OPTION, combine, select
from imagelens.types import BoundingBox, Point, Polygon, Word
from imagelens.vocab import VocabularyError

VOCAB = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "vocab"
if not VOCAB.exists():
    VOCAB = Path("/work/shared/data/vocab")


def word(text: str, x: float = 0.0, conf: float = 1.0) -> Word:
    pts = (Point(x, 0), Point(x + 10 * len(text), 0), Point(x + 10 * len(text), 20), Point(x, 20))
    return Word(text, Polygon(pts), conf)


def words(text: str) -> list[Word]:
    out, x = [], 0.0
    for t in text.split():
        out.append(word(t, x))
        x += 10 * len(t) + 10
    return out


def text_image(text: str, size: int = 48) -> npt.NDArray[np.uint8]:
    font = ImageFont.load_default(size=size)
    left, top, right, bottom = font.getbbox(text)
    img = Image.new("RGB", (right - left + 120, bottom - top + 120), "white")
    ImageDraw.Draw(img).text((60 - left, 60 - top), text, fill="black", font=font)
    return np.asarray(img)


def settings_for(
    tmp_path: Path, names: list[str] | None, model_dir: Path | None = None, **brands: object
) -> Settings:
    file = None
    if names is not None:
        file = tmp_path / "brands.txt"
        file.write_text("\n".join(names) + "\n", encoding="utf-8")
    return Settings(
        model_dir=model_dir or tmp_path / "no-models", hub=HubSettings(offline=True), store_dir=tmp_path / "store",
        brands=BrandSettings(file=file, **brands),  # type: ignore[arg-type]
    )  # fmt: skip


# --- the list -------------------------------------------------------------------------------------------------------


def test_keys_and_file_formats(tmp_path: Path) -> None:
    assert brand_key("McDonald's") == brand_key("MCDONALDS") == "mcdonalds"
    assert brand_key("Coca-Cola") == brand_key("coca cola") == "cocacola"
    assert brand_key("Nestlé") == "nestle" and brand_key("H&M") == "handm"
    csv_file = tmp_path / "b.csv"
    csv_file.write_text("id,brand\n1,Lexus\n2,lexus\n3,New Balance\n", encoding="utf-8")
    assert read_brand_file(csv_file) == ("Lexus", "New Balance")  # de-duplicated by key, first spelling wins
    txt = tmp_path / "b.txt"
    txt.write_text("# comment\nAdidas\n\n  Puma  \n", encoding="utf-8")
    assert read_brand_file(txt) == ("Adidas", "Puma")


def test_bad_lists_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(VocabularyError, match="does not exist.*IMAGELENS_BRANDS__FILE"):
        read_brand_file(tmp_path / "missing.txt")
    with pytest.raises(VocabularyError, match="has no names"):
        parse_brand_text("\n# only a comment\n", csv_format=False, source="x")
    many = "\n".join(f"brand{i}" for i in range(100_000))
    with pytest.raises(VocabularyError, match="100,000 names; at most 10,000"):
        parse_brand_text(many, csv_format=False, source="x")
    with pytest.raises(NotSupportedVisualFeatureError, match="no brand list is configured"):
        load_brand_list(settings_for(tmp_path, None))
    with pytest.raises(ValueError):
        BrandSettings(threshold=1.5)


def test_user_additions_examples_and_bounds(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, ["Adidas", "Puma"])
    store = BrandUserStore.for_settings(settings)
    assert store.add(["Oatly", "oatly", "Arla"]) == ["Oatly", "Arla"]
    store.remove("Puma", in_file=True)
    crop = tmp_path / "crop.png"
    Image.fromarray(text_image("Arla")).save(crop)
    saved = store.add_example("Arla", crop)
    assert Path(saved).is_file() and Path(saved).parent.name == "arla"
    brands = load_brand_list(settings, extra=["Per Call"])
    assert brands.names == ("Adidas", "Oatly", "Arla", "Per Call")
    assert list(brands.examples) == ["Arla"]
    store.remove("Arla", in_file=False)
    assert "Arla" not in load_brand_list(settings).names and not store.examples()
    with pytest.raises(NotFoundError):
        store.remove("Nope", in_file=False)
    with pytest.raises(InvalidArgumentError):
        store.add(["  "])
    with pytest.raises(InvalidArgumentError, match="at most 10,000"):
        load_brand_list(settings, extra=[f"x{i}" for i in range(MAX_BRANDS)])
    with pytest.raises(InvalidArgumentError, match="cannot read the example"):
        store.add_example("Adidas", tmp_path / "brands.txt")


@pytest.mark.parametrize("folder", ["brands_merged/brands_merged.csv", "openlogo_brands/openlogo_brands.txt",
                                    "logodet3k_brands/logodet3k_brands.csv"])  # fmt: skip
def test_shared_brand_lists_load(folder: str) -> None:
    path = VOCAB / folder
    if not path.exists():
        pytest.skip(f"shared vocab not present: {path}")
    names = read_brand_file(path)
    assert 200 < len(names) <= MAX_BRANDS
    assert BrandMatcher(names[:500]).names


# --- OCR matching ---------------------------------------------------------------------------------------------------


def test_ocr_matching_exact_multiword_fuzzy_and_ordinary_words() -> None:
    m = BrandMatcher(["McDonald's", "New Balance", "Heineken", "Total", "Rollei", "76", "KFC", "Facebook"],
                     ordinary=["roller"])  # fmt: skip
    assert [(h.name, h.edits) for h in m.match_words(words("LICENSEE OF MCDONALD'S"))] == [("McDonald's", 0)]
    hit = m.match_words(words("the NEW BALANCE shop"))[0]
    assert hit.name == "New Balance" and hit.text == "NEW BALANCE" and hit.box.x == 40 and hit.score == 1.0
    assert m.match_words(words("HEINEKEM"))[0].edits == 1  # one OCR error in 8 letters
    assert m.match_words(words("HEIMEKEM")) == []  # two are too many
    assert m.match_words(words("ROLLER")) == []  # an ordinary, correctly spelt word is not corrected
    assert m.match_words(words("1.76")) == []  # digits-only names are never matched by text
    assert m.match_words(words("FACEBOOK.COM/SHOP"))[0].name == "Facebook"
    assert m.match_words(words("TOTAL"))[0].score == pytest.approx(0.4)  # an ordinary word: below 0.5
    assert m.match_words(words("KFC"))[0].score == pytest.approx(0.45)  # 3 letters: below 0.5 by text alone
    assert (max_edits(5), max_edits(6), max_edits(10)) == (0, 1, 2)


def test_combine_agreement_nms_and_threshold() -> None:
    box = BoundingBox(10, 10, 50, 20)
    logo = BoundingBox(5, 5, 70, 40)
    ocr = [
        OcrHit("Adidas", 0.6, box, "ADIDAS", 0),
        OcrHit("Puma", 0.55, BoundingBox(200, 10, 40, 20), "PUMA", 0),
    ]
    visual = [VisualHit("Adidas", 0.5, logo, 0.3), VisualHit("Nike", 0.3, BoundingBox(8, 8, 66, 36), 0.2)]
    cands = combine(ocr, visual)
    assert cands[0].name == "Adidas" and cands[0].signals == ("text", "logo")
    assert cands[0].score == pytest.approx(1 - 0.4 * 0.5) and cands[0].box == logo
    brands = select(cands, 0.5)
    assert [b.name for b in brands] == ["Adidas", "Puma"]  # Nike overlaps Adidas: suppressed
    assert [b.name for b in select(cands, 0.0)] == ["Adidas", "Puma"]
    assert select(cands, 0.9) == ()


# --- the feature ----------------------------------------------------------------------------------------------------


def test_feature_reads_brand_words_once_with_read(tmp_path: Path) -> None:
    """Real OCR (rapidocr ships its weights); no OWLv2/SigLIP here: the text signal alone."""
    analyzer = Analyzer(settings_for(tmp_path, ["Heineken", "Adidas"]))
    try:
        rgb = text_image("HEINEKEN beer")
        result = analyzer.analyze(rgb, ["brands", "read"])
        assert result.brands is not None and [b.name for b in result.brands] == ["Heineken"]
        b = result.brands[0]
        assert 0.5 <= b.confidence <= 1 and 0 <= b.box.x < rgb.shape[1] / 2 and b.box.w > 20
        assert "Heineken" in render_text("x.png", result)
        assert annotate(Image.fromarray(rgb), result).size[0] >= rgb.shape[1]
        with pytest.raises(InvalidArgumentError, match=r"in \[0, 1\]"):
            analyzer.analyze(rgb, ["brands"], AnalysisOptions(extra={THRESHOLD_OPTION: 2}))
    finally:
        analyzer.close()


def test_feature_without_a_list_fails_before_models(tmp_path: Path) -> None:
    analyzer = Analyzer(settings_for(tmp_path, None))
    with pytest.raises(NotSupportedVisualFeatureError, match="no brand list is configured"):
        analyzer.analyze(np.zeros((64, 64, 3), np.uint8), ["brands"])


def test_logo_path_runs_on_tiny_models(tmp_path: Path, tiny_model_dir: Path) -> None:
    """Random weights: only the plumbing (proposals, crops, naming, prototypes) and the result shapes."""
    settings = settings_for(tmp_path, ["Adidas", "Puma", "Nike"], model_dir=tiny_model_dir)
    store = BrandUserStore.for_settings(settings)
    crop = tmp_path / "crop.png"
    Image.fromarray(text_image("Puma")).save(crop)
    store.add_example("Puma", crop)
    analyzer = Analyzer(settings)
    try:
        rgb = np.asarray(Image.fromarray(text_image("ADIDAS")).resize((160, 96)))
        result = analyzer.analyze(rgb, ["brands"], AnalysisOptions(extra={THRESHOLD_OPTION: 0.0}))
    finally:
        analyzer.close()
    assert result.brands is not None
    for b in result.brands:
        assert b.name in {"Adidas", "Puma", "Nike"} and 0 <= b.confidence <= 1 and b.box.w >= 0


# --- CLI and eval ---------------------------------------------------------------------------------------------------


def test_cli_brands_add_list_remove(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMAGELENS_STORE_DIR", str(tmp_path / "store"))
    monkeypatch.delenv("IMAGELENS_BRANDS__FILE", raising=False)
    runner = CliRunner()
    assert runner.invoke(app, ["brands", "list"]).exit_code != 0  # no list: a clear error
    crop = tmp_path / "crop.png"
    Image.fromarray(text_image("Oatly")).save(crop)
    r = runner.invoke(app, ["brands", "add", "Oatly", "--example", str(crop)])
    assert r.exit_code == 0, r.output
    assert runner.invoke(app, ["brands", "add", "Arla", "Oatly"]).exit_code == 0
    listed = json.loads(runner.invoke(app, ["brands", "list", "--json"]).output)
    assert listed["names"] == ["Oatly", "Arla"] and list(listed["examples"]) == ["oatly"]
    assert runner.invoke(app, ["brands", "remove", "Oatly"]).exit_code == 0
    assert runner.invoke(app, ["brands", "remove", "Oatly"]).exit_code == 2
    assert runner.invoke(app, ["brands", "add", "Arla", "Puma", "--example", str(crop)]).exit_code == 2


def test_eval_matching_and_report(tmp_path: Path) -> None:
    truth = [TruthBrand("Arla"), TruthBrand("Visa", BoundingBox(0, 0, 100, 20))]
    preds = [Prediction("arla", 0.9, BoundingBox(0, 0, 5, 5)), Prediction("Arla", 0.8, BoundingBox(9, 9, 5, 5)),
             Prediction("VISA", 0.7, BoundingBox(10, 2, 30, 15)), Prediction("Total", 0.4, BoundingBox(0, 0, 5, 5))]  # fmt: skip
    rows, positives = match_image(truth, preds)
    assert positives == 2 and rows == [(0.9, True), (0.7, True), (0.4, False)]
    labels_file = tmp_path / "brands.csv"
    (tmp_path / "a.png").write_bytes(b"x")
    (tmp_path / "b.png").write_bytes(b"x")
    labels_file.write_text("image,brand\na.png,Arla\nb.png,\n", encoding="utf-8")
    labels = load_labels(labels_file)
    assert labels == {"a.png": [TruthBrand("Arla")], "b.png": []}
    fake = {"a.png": [Prediction("Arla", 0.8, BoundingBox(0, 0, 1, 1))],
            "b.png": [Prediction("Puma", 0.3, BoundingBox(0, 0, 1, 1))]}  # fmt: skip
    report, curves = evaluate_brands(lambda p: fake[p.name], labels, tmp_path, model="m", threshold=0.5)
    assert report.metrics["precision"] == 1.0 and report.metrics["recall"] == 1.0
    assert report.details["sweep"][0]["fp"] == 1 and curves["brands"].num_positives == 1
    with pytest.raises(InvalidArgumentError):
        load_labels(tmp_path / "missing.json")


def test_cli_eval_brands_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "brands.txt").write_text("Heineken\nAdidas\n", encoding="utf-8")
    monkeypatch.setenv("IMAGELENS_BRANDS__FILE", str(tmp_path / "brands.txt"))
    monkeypatch.setenv("IMAGELENS_STORE_DIR", str(tmp_path / "store"))
    monkeypatch.setenv("IMAGELENS_MODEL_DIR", str(tmp_path / "no-models"))
    Image.fromarray(text_image("HEINEKEN")).save(tmp_path / "one.png")
    (tmp_path / "brands.json").write_text(
        json.dumps({"images": [{"image": "one.png", "brands": [{"name": "Heineken"}]}]}), encoding="utf-8"
    )
    r = CliRunner().invoke(
        app, ["eval", "brands", "--data", str(tmp_path), "--pr-curve", str(tmp_path / "pr.png")]
    )
    assert r.exit_code == 0, r.output
    assert "precision" in r.output and "threshold" in r.output and (tmp_path / "pr.png").is_file()
