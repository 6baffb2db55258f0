"""The ``read`` feature, its OCR post-processing helpers, and real receipts."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imagelens.config import HubSettings, Settings
from imagelens.features.base import AnalysisOptions, FeatureContext
from imagelens.features.read import ReadFeature
from imagelens.features.registry import feature_class
from imagelens.geometry import polygon_array
from imagelens.models.adapters.ppocr.charsets import CharsetPolicy, detect_policy, forbidden_classes
from imagelens.models.adapters.ppocr.ctc import CtcChar, greedy_decode
from imagelens.models.adapters.ppocr.fixes import (
    LOOKALIKES,
    alnum_runs,
    fix_confusions,
    majority_kind,
    table_alternatives,
)
from imagelens.models.adapters.ppocr.layout import (
    page_skew,
    quad_point,
    reading_order,
    reading_quad,
    sub_quad,
)
from imagelens.models.adapters.ppocr.words import blank_run, ink_breaks, ink_columns, split_words, word_spans
from imagelens.models.catalog import CATALOG
from imagelens.models.hub import ModelHub
from imagelens.models.spec import Role
from imagelens.testing.tiny import write_tiny
from imagelens.types import ReadResult, TextBlock

SROIE = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "sroie_receipts_ocr"


def chars_at(text: str, pitch: int = 3, prob: float = 0.9) -> list[CtcChar]:
    """Characters as a CTC recogniser would place them: one per ``pitch`` frames; spaces in ``text`` are *gaps*
    (no space character emitted), ``_`` is an emitted space."""
    out = []
    for i, ch in enumerate(text):
        if ch == " ":
            continue
        out.append(CtcChar(" " if ch == "_" else ch, i * pitch, i * pitch, prob))
    return out


def texts(words: list) -> list[str]:  # type: ignore[type-arg]
    return [w.text for w in words]


# --- CTC decoding ---------------------------------------------------------------------------------------------------


def test_greedy_decode_merges_repeats_drops_blanks_and_keeps_frames() -> None:
    vocab = ["<blank>", "a", "b", "é", " "]
    best = [1, 1, 0, 1, 2, 2, 0, 0, 3]  # a a _ a b b _ _ é
    probs = np.full((len(best), len(vocab)), 0.01, np.float32)
    probs[np.arange(len(best)), best] = 0.9
    probs[8, 1] = 0.5  # at the last frame, "a" is the runner-up to "é"
    chars = greedy_decode(probs, vocab)
    assert "".join(c.text for c in chars) == "aabé"
    assert [(c.start, c.end) for c in chars] == [(0, 1), (3, 3), (4, 5), (8, 8)]
    assert all(c.prob == pytest.approx(0.9) for c in chars)
    constrained = greedy_decode(probs, vocab, forbidden=np.asarray([3]))
    assert "".join(c.text for c in constrained) == "aaba"
    assert constrained[-1].prob == pytest.approx(0.5)


def test_greedy_decode_checks_the_vocabulary_size() -> None:
    with pytest.raises(ValueError, match="3 classes but the vocabulary has 2"):
        greedy_decode(np.zeros((4, 3), np.float32), ["<blank>", "a"])


# --- charsets ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("page", "policy"),
    [
        ("TOTAL AMOUNT 12.50 THANK YOU PLEASE COME AGAIN", CharsetPolicy.ASCII),
        ("TOTAL AMOUNT 12.50 THANK YOU PLEASE COME AGAIN 家", CharsetPolicy.ASCII),  # one stray CJK char
        ("Le café était très agréable, merci à bientôt", CharsetPolicy.LATIN),
        ("欢迎光临 总计 12.50 谢谢惠顾 请再次光临本店 ABC", CharsetPolicy.ANY),
        ("OK 12", CharsetPolicy.ANY),  # too little evidence
    ],
)
def test_detect_policy(page: str, policy: CharsetPolicy) -> None:
    assert detect_policy([page]) is policy


def test_forbidden_classes_never_include_the_blank() -> None:
    vocab = ["<blank>", "a", "é", "家", "：", ":", " "]
    assert forbidden_classes(vocab, CharsetPolicy.ANY).tolist() == []
    assert forbidden_classes(vocab, CharsetPolicy.LATIN).tolist() == [3, 4]
    assert forbidden_classes(vocab, CharsetPolicy.ASCII).tolist() == [2, 3, 4]


# --- word splitting -------------------------------------------------------------------------------------------------

PX = 8  # recogniser input pixels per CTC frame


def ink_for(chars: list[CtcChar], width: int, glyph_px: int = 16) -> np.ndarray:
    """Ink columns of a line where each character is a ``glyph_px``-wide blot centred on its CTC frame."""
    ink = np.zeros(width, dtype=bool)
    for ch in chars:
        if ch.text != " ":
            centre = int((ch.centre + 0.5) * PX)
            ink[max(0, centre - glyph_px // 2) : centre + glyph_px // 2] = True
    return ink


def words_of(text: str, **kwargs: float) -> list[str]:
    chars = chars_at(text)
    ink = ink_for(chars, width=len(text) * 3 * PX + PX)
    return texts(split_words(chars, breaks=ink_breaks(chars, ink, PX, min_gap_px=0.3 * 48, **kwargs)))


def test_split_words_on_emitted_spaces() -> None:
    assert texts(split_words(chars_at("TOTAL_RM_12.50"))) == ["TOTAL", "RM", "12.50"]


def test_split_words_on_wide_ink_gaps_without_a_space() -> None:
    # three blank character cells between two columns the detector merged: one token from the recogniser
    assert words_of("TEL:03-5542   FAX:03-5541") == ["TEL:03-5542", "FAX:03-5541"]
    # a single blank cell (a space the model did not write) is enough
    assert words_of("DATE: 18/06/2018") == ["DATE:", "18/06/2018"]
    assert words_of("GERBANG ALAF") == ["GERBANG", "ALAF"]


def test_split_words_keeps_tight_words_numbers_and_letter_spaced_headings() -> None:
    assert words_of("GERBANG") == ["GERBANG"]
    assert words_of("7 .80") == ["7.80"], "a decimal point is never a word break"
    assert words_of("T O T A L") == ["TOTAL"], "evenly spaced letters: the gaps are the line's normal spacing"
    assert texts(split_words(chars_at("QTY ITEM"))) == ["QTYITEM"], "no ink information: spaces only"


def test_ink_columns_and_blank_runs() -> None:
    gray = np.full((48, 40), 250, np.uint8)
    gray[10:38, 5:10] = 20  # a dark glyph
    gray[10:38, 30:33] = 20
    gray[0:4, 12:28] = 0  # the neighbouring line's descenders, outside the central band
    ink = ink_columns(gray)
    assert ink[5:10].all() and ink[30:33].all() and not ink[10:30].any()
    assert blank_run(ink, 0, 40) == 20 and blank_run(ink, 12, 20) == 8 and blank_run(ink, 6, 9) == 0
    assert not ink_columns(np.full((48, 40), 128, np.uint8)).any(), "a flat image has no ink"
    inverted = ink_columns(255 - gray)
    assert (inverted == ink).all(), "light text on a dark background"


def test_word_spans_grow_over_their_ink_but_not_into_the_next_word() -> None:
    ink = np.zeros(100, dtype=bool)
    ink[10:30] = True  # word 1: spikes at frames 2 and 3 (pixels 20 and 28)
    ink[33:36] = True  # a stray mark 3 px after it: close enough to belong to word 1
    ink[60:90] = True  # word 2: spikes at frames 8 and 10 (pixels 68 and 84)
    spans = word_spans([(2, 3), (8, 10)], ink, PX, pitch=1.0, max_gap_px=6)
    assert spans == [(10.0, 36.0), (60.0, 90.0)]
    flat = word_spans([(2, 3)], np.zeros(100, dtype=bool), PX, pitch=2.0, max_gap_px=6)
    assert flat == [(12.0, 36.0)], "no ink: half a pitch around the spikes"


def test_words_keep_their_frames_and_confidence() -> None:
    chars = chars_at("AB_CD")
    chars[3] = CtcChar("C", chars[3].start, chars[3].end, 0.5)
    first, second = split_words(chars)
    assert (first.start, first.end, second.start, second.end) == (0, 3, 9, 12)
    assert second.confidence == pytest.approx(0.7)


# --- letter/digit fixes ---------------------------------------------------------------------------------------------


def fixed(text: str, alternatives: dict[str, tuple[str, float]] | None = None, prob: float = 0.9) -> str:
    chars = chars_at(text, prob=prob)
    if alternatives is None:
        lookup = table_alternatives(LOOKALIKES)
    else:

        def lookup(ch: CtcChar, kind: str) -> tuple[str, float] | None:
            return alternatives.get(ch.text)

    return "".join(c.text for c in fix_confusions(chars, lookup, min_ratio=0.05))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("CL0SED", "CLOSED"),
        ("24.0O", "24.00"),  # the decimal point belongs to the number: one run, mostly digits
        ("2O18", "2018"),
        ("475Q0", "47500"),
        ("Te1", "Tel"),  # a digit right after a lower-case letter
        ("A4", "A4"),  # no majority: a real alphanumeric
        ("B2B", "B2B"),
        ("5KG", "5KG"),  # a leading character is never changed: quantities with units
        ("GA1801", "GA1801"),  # product codes: the letters lead
        ("No.1", "No.1"),  # punctuation separates runs
        ("SR@0%", "SR@0%"),
        ("ID:000381", "ID:000381"),
        ("12.50", "12.50"),
    ],
)
def test_fix_confusions_with_the_lookalike_table(text: str, expected: str) -> None:
    assert fixed(text) == expected


def test_fix_confusions_follows_the_models_second_choice() -> None:
    # "Bi11": no majority, but each "1" follows a lower-case letter (the second one once the first is fixed)
    assert fixed("Bi11#", {"1": ("l", 0.3)}) == "Bill#"
    # the model was sure of the S of "4.53S": its best digit had a tiny probability, so nothing changes
    assert fixed("4.53S", {"S": ("5", 0.01)}) == "4.53S"
    assert fixed("4.53S", {"S": ("5", 0.3)}) == "4.535"


def test_alnum_runs() -> None:
    def runs(text: str) -> list[str]:
        chars = chars_at(text)
        return ["".join(chars[i].text for i in run) for run in alnum_runs(chars)]

    assert runs("No.1") == ["No", "1"]
    assert runs("RM12.50") == ["RM12.50"]
    assert runs("(GST:6%)") == ["GST", "6"]


def test_majority_kind_needs_a_clear_majority() -> None:
    assert majority_kind(chars_at("ABC1")) == "letter"
    assert majority_kind(chars_at("12A")) == "digit"
    assert majority_kind(chars_at("AB12")) is None
    assert majority_kind(chars_at("ABC")) is None  # nothing to fix


# --- layout ---------------------------------------------------------------------------------------------------------


def test_reading_quad_and_sub_quad() -> None:
    quad = np.asarray([[10, 20], [110, 20], [110, 40], [10, 40]], dtype=float)
    assert quad_point(quad, 0.5, 0.5).tolist() == [60.0, 30.0]
    assert sub_quad(quad, 0.2, 0.4).tolist() == [[30, 20], [50, 20], [50, 40], [30, 40]]
    upside_down = reading_quad(quad, turned_90=False, turned_180=True)
    assert quad_point(upside_down, 0.0, 0.0).tolist() == [110.0, 40.0]
    sideways = reading_quad(quad, turned_90=True, turned_180=False)
    assert quad_point(sideways, 0.0, 0.0).tolist() == [110.0, 20.0]


def box(x: float, y: float, w: float = 80, h: float = 20, slope: float = 0.0) -> np.ndarray:
    dy = w * slope
    return np.asarray([[x, y], [x + w, y + dy], [x + w, y + h + dy], [x, y + h]], dtype=float)


def test_reading_order_rows_then_left_to_right() -> None:
    quads = [box(300, 100), box(10, 102), box(10, 10), box(200, 55), box(10, 50)]
    assert reading_order(quads) == [2, 4, 3, 1, 0]
    assert reading_order([]) == []


def test_reading_order_follows_a_skewed_row() -> None:
    # a scan turned by ~4.5 degrees: the price at the right of row 1 sits lower than the start of row 2
    slope = 0.08
    item1, price1 = box(10, 100, w=200, slope=slope), box(400, 100 + 390 * slope, w=60, slope=slope)
    item2 = box(10, 122, w=200, slope=slope)
    assert price1[:, 1].mean() > item2[:, 1].mean()
    assert reading_order([price1, item2, item1]) == [2, 0, 1]


# --- the feature ----------------------------------------------------------------------------------------------------


#: The tiny OCR goes through the Hub-sourced OCR model: the default one ships in rapidocr, and the hub never lets a
#: tiny random folder stand in for weights shipped in a package.
TINY_OCR = "ppocr-v5-server-en"


@pytest.fixture(scope="module")
def tiny_hub_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("read-tiny")
    write_tiny(CATALOG[TINY_OCR], root / TINY_OCR, seed=0)
    return root


def make_ctx(image: object, hub: ModelHub) -> FeatureContext:
    from imagelens.io import load_image

    return FeatureContext(load_image(image), hub, AnalysisOptions(), frozenset({"read"}))


def test_read_feature_declares_itself() -> None:
    assert feature_class("read") is ReadFeature
    assert (ReadFeature.name, ReadFeature.field, ReadFeature.needs, ReadFeature.after) == (
        "read",
        "read",
        (Role.OCR,),
        (),
    )


def test_read_feature_runs_the_ocr_model_once_per_image(
    tiny_hub_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hub = ModelHub(Settings(model_dir=tiny_hub_root, hub=HubSettings(offline=True), models={"ocr": TINY_OCR}))
    img = np.full((120, 240, 3), 255, np.uint8)
    img[40:60, 20:220] = 0
    ctx = make_ctx(img, hub)
    result = ReadFeature().run(ctx)
    assert isinstance(result, ReadResult) and len(result.blocks) == 1
    assert ReadFeature().run(ctx) is result
    assert ctx.artefact("read", lambda: pytest.fail("the OCR result should have been memoised")) is result
    assert result == hub.reader().read(img)
    assert hub.loaded_ids() == [TINY_OCR]


# --- real weights, real receipts ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_hub() -> ModelHub:
    return ModelHub(Settings(hub=HubSettings(offline=True)))


def receipt_ids() -> list[str]:
    if not SROIE.is_dir():
        return []
    return sorted(p.stem for p in (SROIE / "img").glob("*.jpg"))


def need_sroie() -> None:
    if not SROIE.is_dir():
        pytest.skip(f"real data not present: {SROIE}")


def test_blank_image_gives_one_empty_block(real_hub: ModelHub) -> None:
    ctx = make_ctx(np.full((200, 300, 3), 255, np.uint8), real_hub)
    assert ReadFeature().run(ctx) == ReadResult(blocks=(TextBlock(lines=()),))


@pytest.mark.realdata
@pytest.mark.parametrize("index", [0, 12, 24])
def test_receipt_total_is_read_with_valid_geometry(real_hub: ModelHub, index: int) -> None:
    need_sroie()
    receipt = receipt_ids()[index]
    key = json.loads((SROIE / "key" / f"{receipt}.json").read_text(encoding="utf-8"))
    ctx = make_ctx(SROIE / "img" / f"{receipt}.jpg", real_hub)
    result = ReadFeature().run(ctx)
    words = {w.text.lstrip("RM").lstrip("$") for line in result.lines for w in line.words}
    assert key["total"] in words, f"total {key['total']} not read on receipt {receipt}"
    lines = result.lines
    assert len(lines) > 20
    width, height = ctx.image.width, ctx.image.height
    for line in lines:
        for poly in [line.polygon, *(w.polygon for w in line.words)]:
            pts = polygon_array(poly)
            assert pts.shape == (4, 2)
            assert np.argmin(pts.sum(axis=1)) == 0, "starts at the top-left point"
            edges = np.roll(pts, -1, axis=0) - pts
            cross = (
                edges[:, 0] * np.roll(edges, -1, axis=0)[:, 1]
                - edges[:, 1] * np.roll(edges, -1, axis=0)[:, 0]
            )
            assert (cross >= -1e-6).all(), "clockwise on screen (y down)"
            assert pts[:, 0].min() >= 0 and pts[:, 0].max() <= width
            assert pts[:, 1].min() >= 0 and pts[:, 1].max() <= height
        assert all(0.0 <= w.confidence <= 1.0 for w in line.words)
    # reading order, on regular lines (stamps and smudges make tall, tilted boxes): after undoing the page's skew,
    # no line is clearly above the previous one, and a line clearly on the same row is to its right
    quads = [polygon_array(line.polygon) for line in lines]
    skew = page_skew(quads)
    heights = np.asarray([np.ptp(q[:, 1]) for q in quads])
    regular = [q for q, h in zip(quads, heights, strict=True) if h <= 1.5 * np.median(heights)]
    assert len(regular) > 0.8 * len(quads)
    for prev, cur in zip(regular, regular[1:], strict=False):
        (px, py), (cx, cy) = prev.mean(axis=0), cur.mean(axis=0)
        dy = (cy - cx * skew) - (py - px * skew)
        height = min(np.ptp(prev[:, 1]), np.ptp(cur[:, 1]))
        assert dy > -0.5 * height, (
            f"line at {cur.mean(axis=0)} read after the lower line at {prev.mean(axis=0)}"
        )
        if abs(dy) < 0.25 * height:
            assert cx > px, f"same row, but {cur.mean(axis=0)} is read after {prev.mean(axis=0)} on its right"


@pytest.mark.realdata
def test_exif_rotated_receipt_is_read_in_the_upright_frame(real_hub: ModelHub) -> None:
    need_sroie()
    receipt = receipt_ids()[0]
    upright = Image.open(SROIE / "img" / f"{receipt}.jpg").convert("RGB")
    upright = upright.crop((0, 0, upright.width, upright.height // 3))  # the header: quick to read
    stored = upright.transpose(
        Image.Transpose.ROTATE_90
    )  # orientation 6: display = stored turned 90 deg clockwise
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    stored.save(buf, format="JPEG", quality=95, exif=exif)
    ctx = make_ctx(buf.getvalue(), real_hub)
    assert (ctx.image.width, ctx.image.height) == upright.size
    result = ReadFeature().run(ctx)
    text = result.text.upper()
    assert "RESTAURANTS" in text
    widths = [np.ptp(polygon_array(line.polygon)[:, 0]) for line in result.lines]
    heights = [np.ptp(polygon_array(line.polygon)[:, 1]) for line in result.lines]
    assert np.median(widths) > 2 * np.median(heights), "lines run horizontally in the upright frame"
    assert max(polygon_array(line.polygon)[:, 0].max() for line in result.lines) <= upright.width
