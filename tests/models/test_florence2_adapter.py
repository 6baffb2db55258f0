"""Florence-2 adapter: the ``<loc_*>`` parser on hand-written outputs, the confidence maths on fixed logits, and the
tiny random model loaded through the real hub (contracts, not accuracy)."""

from __future__ import annotations

import json
import math
from dataclasses import astuple
from pathlib import Path

import numpy as np
import pytest

from imagelens.config import Settings
from imagelens.errors import InvalidArgumentError
from imagelens.models.adapters.base import TINY_MARKER
from imagelens.models.adapters.florence2 import (
    CAPTION_TASK,
    DENSE_TASK,
    OPTIONS_FILE,
    Florence2Adapter,
    FlorenceEncoding,
    Generated,
    ParsedRegion,
    _BoxCount,
    azure_style,
    bins_to_box,
    clean_phrase,
    geometric_mean,
    parse_dense_text,
    parse_regions,
    split_florence_text,
    token_log_scores,
)
from imagelens.models.catalog import CATALOG, DEFAULT_FOR_ROLE
from imagelens.models.hub import ModelHub
from imagelens.models.spec import HubSource, Role
from imagelens.types import BoundingBox, Caption, DenseCaption

# --- the parser on hand-written, real-looking outputs -----------------------------------------------------------------


def test_two_regions_parse_exactly() -> None:
    text = (
        "a man riding a bike<loc_12><loc_40><loc_500><loc_980>a red car<loc_600><loc_300><loc_990><loc_700>"
    )
    assert parse_dense_text(text) == [
        ParsedRegion("a man riding a bike", (12, 40, 500, 980), (0, 1, 2, 3, 4)),
        ParsedRegion("a red car", (600, 300, 990, 700), (5, 6, 7, 8, 9)),
    ]


def test_specials_are_skipped_and_whitespace_is_trimmed() -> None:
    text = "</s><s> wooden door with  metal handle<loc_0><loc_0><loc_318><loc_999>  sky<loc_1><loc_2><loc_3><loc_4></s>"
    regions = parse_dense_text(text)
    assert [(r.text, r.bins) for r in regions] == [
        ("wooden door with metal handle", (0, 0, 318, 999)),
        ("sky", (1, 2, 3, 4)),
    ]
    # indices point at the phrase and location pieces, never at the specials
    pieces = split_florence_text(text)
    for region in regions:
        assert all(pieces[i] is not None for i in region.pieces)


def test_a_phrase_with_eight_locations_is_two_regions() -> None:
    regions = parse_dense_text("car<loc_10><loc_20><loc_30><loc_40><loc_50><loc_60><loc_70><loc_80>")
    assert [(r.text, r.bins) for r in regions] == [("car", (10, 20, 30, 40)), ("car", (50, 60, 70, 80))]
    assert regions[0].pieces == (0, 1, 2, 3, 4) and regions[1].pieces == (0, 5, 6, 7, 8)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", []),
        ("just a caption without boxes", []),
        ("a dog<loc_1><loc_2><loc_3><loc_4>a cat<loc_5><loc_6>", [("a dog", (1, 2, 3, 4))]),  # short group
        (
            "a dog<loc_1><loc_2><loc_3><loc_4>a trailing phrase",
            [("a dog", (1, 2, 3, 4))],
        ),  # no box at the end
        (
            "<loc_1><loc_2><loc_3><loc_4>a dog<loc_5><loc_6><loc_7><loc_8>",
            [("a dog", (5, 6, 7, 8))],
        ),  # no phrase
        ("a dog<loc_1><loc_2><loc_3><loc_4><loc_5>", [("a dog", (1, 2, 3, 4))]),  # one location too many
        ("   <loc_1><loc_2><loc_3><loc_4>", []),  # a blank phrase
        ("\ufffd\ufffd<loc_1><loc_2><loc_3><loc_4>", []),  # undecodable bytes only
        ("swapped<loc_500><loc_600><loc_100><loc_200>", [("swapped", (100, 200, 500, 600))]),
        (
            "too far<loc_1234><loc_0><loc_1000><loc_5>",
            [("too far", (999, 0, 999, 5))],
        ),  # clamped like the quantiser
        ("a <b>tag</b><loc_1><loc_2><loc_3><loc_4>", [("a <b>tag</b>", (1, 2, 3, 4))]),  # text, not a token
    ],
)
def test_malformed_outputs_keep_only_complete_regions(
    text: str, expected: list[tuple[str, tuple[int, ...]]]
) -> None:
    assert [(r.text, r.bins) for r in parse_dense_text(text)] == expected


def test_split_florence_text_classifies_pieces() -> None:
    assert split_florence_text("<s>a<loc_7></s>b<pad>") == [None, "a", 7, None, "b", None]


def test_parse_regions_joins_text_pieces_with_the_given_function() -> None:
    joined: list[list[str]] = []

    def join(parts: list[str]) -> str:
        joined.append(parts)
        return "-".join(parts)

    regions = parse_regions(["a", "b", None, 1, 2, 3, 4], join)
    assert joined == [["a", "b"]]
    assert regions == [ParsedRegion("a-b", (1, 2, 3, 4), (0, 1, 3, 4, 5, 6))]


def test_clean_phrase() -> None:
    assert clean_phrase("  a\tred \n car\ufffd\x07 ") == "a red car"


# --- geometry: bins over a non-square image ----------------------------------------------------------------------------


def test_bins_map_to_bin_centres_on_each_axis_separately() -> None:
    width, height = 640, 480  # Florence squashes this to a square: x and y bins have different pixel sizes
    x1, y1, x2, y2 = bins_to_box((12, 40, 500, 980), width, height)
    assert x1 == pytest.approx(12.5 * 640 / 1000)
    assert y1 == pytest.approx(40.5 * 480 / 1000)
    assert x2 == pytest.approx(500.5 * 640 / 1000)
    assert y2 == pytest.approx(980.5 * 480 / 1000)


@pytest.mark.parametrize(("width", "height"), [(1, 1), (90, 50), (50, 16000), (4032, 3024)])
def test_extreme_bins_stay_inside_the_image(width: int, height: int) -> None:
    x1, y1, x2, y2 = bins_to_box((0, 0, 999, 999), width, height)
    assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height


# --- confidence maths on fixed numbers ---------------------------------------------------------------------------------


def test_token_log_scores_text_tokens_use_their_probability_and_locations_a_window() -> None:
    vocab = 1003
    loc_ids = np.arange(3, 1003, dtype=np.int64)  # bin b is token 3 + b
    logits = np.zeros((3, vocab), dtype=np.float32)  # uniform: every token 1/1003
    token_ids = [1, 3 + 500, 3 + 0]  # a text token, bin 500, bin 0 (the window is cut at the edge)
    scores = token_log_scores(logits, token_ids, loc_ids, window=5)
    assert scores == pytest.approx([math.log(1 / vocab), math.log(11 / vocab), math.log(6 / vocab)])


def test_token_log_scores_a_peaked_location_scores_near_one() -> None:
    loc_ids = np.arange(3, 1003, dtype=np.int64)
    logits = np.full((1, 1003), -30.0)
    logits[0, 3 + 400] = 10.0
    logits[0, 3 + 402] = 9.0  # a neighbour within the window: counted
    logits[0, 3 + 420] = 9.0  # outside the window: not counted
    (score,) = token_log_scores(logits, [3 + 400], loc_ids, window=5)
    e10, e9 = math.exp(10.0), math.exp(9.0)
    assert math.exp(score) == pytest.approx((e10 + e9) / (e10 + 2 * e9), rel=1e-6)


def test_token_log_scores_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="steps=2"):
        token_log_scores(np.zeros((3, 10)), [1, 2], np.arange(0, 0), window=1)


def test_geometric_mean() -> None:
    assert geometric_mean([]) == 0.0
    assert geometric_mean([math.log(0.5), math.log(0.5)]) == pytest.approx(0.5)
    assert geometric_mean([math.log(0.9), math.log(0.1)]) == pytest.approx(0.3)
    assert geometric_mean([0.0]) == 1.0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "A green car parked in front of a yellow building.",
            "a green car parked in front of a yellow building",
        ),
        ("The dog.", "the dog"),
        ("TV mounted on a wall.", "TV mounted on a wall"),
        ("a cat", "a cat"),
        ("Wait..", "wait.."),
        ("", ""),
    ],
)
def test_azure_style(text: str, expected: str) -> None:
    assert azure_style(text) == expected


def test_box_count_stops_after_enough_location_tokens() -> None:
    import torch

    loc_ids = np.arange(10, 20, dtype=np.int64)
    stop = _BoxCount(loc_ids, boxes=1)
    ids = torch.tensor([[2, 10, 11, 5, 12], [2, 10, 11, 12, 13]])
    assert stop(ids, None).tolist() == [False, True]
    # during generation it is called once per token, the sequence one column longer each time: it counts the new ones
    growing = _BoxCount(loc_ids, boxes=1)
    answers = [growing(ids[:, :end], None).tolist() for end in range(1, 6)]
    assert answers == [[False, False]] * 4 + [[False, True]]
    ids = torch.cat([ids, torch.tensor([[13], [5]])], dim=1)
    assert growing(ids, None).tolist() == [True, True]


# --- the tiny random model through the real hub ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def adapter(tiny_model_dir: Path) -> Florence2Adapter:
    settings = Settings(model_dir=tiny_model_dir, hub={"offline": True})
    loaded = ModelHub(settings).captioner()
    assert isinstance(loaded, Florence2Adapter)
    return loaded


def _image(width: int = 90, height: int = 50, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).random((height, width, 3)) * 255).astype(np.uint8)


def test_the_catalog_defaults_to_florence_2_base_pinned_to_a_full_commit() -> None:
    assert DEFAULT_FOR_ROLE[Role.CAPTIONER] == "florence-2-base"
    for model_id in ("florence-2-base", "florence-2-large"):
        spec = CATALOG[model_id]
        assert spec.license == "MIT" and Role.CAPTIONER in spec.roles
        assert isinstance(spec.source, HubSource)
        assert len(spec.source.revision) == 40 and int(spec.source.revision, 16) >= 0


def test_write_tiny_writes_the_layout_load_reads(tiny_model_dir: Path) -> None:
    folder = tiny_model_dir / "florence-2-base"
    names = {p.name for p in folder.iterdir()}
    assert {
        "config.json",
        "model.safetensors",
        "processor_config.json",
        "tokenizer.json",
        OPTIONS_FILE,
        TINY_MARKER,
    } <= names
    assert sum(p.stat().st_size for p in folder.iterdir()) < 3_000_000
    assert json.loads((folder / OPTIONS_FILE).read_text())["dense_max_new_tokens"] > 0


def test_load_reads_the_folder_options_over_the_spec(adapter: Florence2Adapter) -> None:
    assert adapter.options["caption_max_new_tokens"] == 12  # from the tiny folder's options file
    assert adapter.options["loc_window"] == 5  # from the defaults
    assert adapter.model.generation_config.num_beams == 3  # the checkpoint asks for beams; we decode greedily


def test_encode_keeps_the_original_size(adapter: Florence2Adapter) -> None:
    encoding = adapter.encode(_image(90, 50))
    assert isinstance(encoding, FlorenceEncoding)
    assert (encoding.width, encoding.height) == (90, 50)


@pytest.mark.parametrize(
    "bad", [np.zeros((5, 5), np.uint8), np.zeros((5, 5, 4), np.uint8), np.zeros((5, 5, 3))]
)
def test_preprocess_rejects_what_is_not_rgb_uint8(adapter: Florence2Adapter, bad: np.ndarray) -> None:
    with pytest.raises(InvalidArgumentError, match="uint8 RGB"):
        adapter.preprocess(bad)


def test_reused_encoding_decodes_the_same_tokens_as_pixels(adapter: Florence2Adapter) -> None:
    import torch

    rgb = _image(70, 40, seed=3)
    generated = adapter.generate(adapter.encode(rgb), CAPTION_TASK, max_new_tokens=10)
    input_ids, attention_mask = adapter._prompts[CAPTION_TASK]
    with torch.inference_mode():
        reference = adapter.model.generate(
            input_ids=input_ids,
            attention_mask=attention_mask,
            pixel_values=adapter.preprocess(rgb),
            max_new_tokens=10,
            num_beams=1,
            do_sample=False,
            early_stopping=False,
        )
    assert list(generated.token_ids) == reference[0, 1:].tolist()
    assert all(s <= 1e-9 for s in generated.log_scores)


def test_caption_contract_and_determinism(adapter: Florence2Adapter) -> None:
    rgb = _image(90, 50, seed=1)
    caption = adapter.caption(adapter.encode(rgb))
    assert isinstance(caption, Caption)
    assert isinstance(caption.text, str) and 0.0 <= caption.confidence <= 1.0
    assert adapter.caption(adapter.encode(rgb.copy())) == caption


def test_dense_captions_contract_on_a_non_square_image(adapter: Florence2Adapter) -> None:
    for seed in range(2):
        rgb = _image(90, 50, seed=seed)
        encoding = adapter.encode(rgb)
        dense = adapter.dense_captions(encoding)  # computes the caption itself
        caption = adapter.caption(encoding)
        assert isinstance(dense, tuple) and 1 <= len(dense) <= 10
        assert dense[0] == DenseCaption(caption.text, caption.confidence, BoundingBox(0.0, 0.0, 90.0, 50.0))
        for region in dense:
            assert isinstance(region, DenseCaption)
            x1, y1, x2, y2 = region.box.xyxy()
            assert isinstance(region.text, str) and 0.0 <= region.confidence <= 1.0
            assert 0.0 <= x1 < x2 <= 90.0 and 0.0 <= y1 < y2 <= 50.0
        rest = [d.confidence for d in dense[1:]]
        assert rest == sorted(rest, reverse=True)
        assert adapter.dense_captions(encoding, whole_image=caption) == dense  # deterministic


def test_dense_captions_decode_the_regions_before_asking_for_the_caption(adapter: Florence2Adapter) -> None:
    # the denseCaptions feature passes the shared caption as a function: called only after the regions are decoded,
    # so a caption decoded on the other worker at the same time is not waited for
    encoding = adapter.encode(_image(90, 50, seed=3))
    caption = adapter.caption(encoding)
    tasks: list[str] = []
    real = adapter.generate

    def recording(enc: object, task: str, *args: object, **kwargs: object) -> object:
        tasks.append(task)
        return real(enc, task, *args, **kwargs)  # type: ignore[arg-type]

    def later() -> Caption:
        tasks.append("whole-image caption asked")
        return caption

    adapter.generate = recording  # type: ignore[method-assign]
    try:
        dense = adapter.dense_captions(encoding, whole_image=later)
    finally:
        del adapter.generate
    assert tasks == [DENSE_TASK, "whole-image caption asked"]
    assert dense == adapter.dense_captions(encoding, whole_image=caption)


def test_dense_captions_max_results(adapter: Florence2Adapter) -> None:
    encoding = adapter.encode(_image())
    assert len(adapter.dense_captions(encoding, max_results=1)) == 1
    with pytest.raises(InvalidArgumentError, match="max_results"):
        adapter.dense_captions(encoding, max_results=0)


def test_stop_after_boxes_bounds_the_location_tokens(adapter: Florence2Adapter) -> None:
    encoding = adapter.encode(_image(seed=2))
    bounded = adapter.generate(encoding, DENSE_TASK, max_new_tokens=48, stop_after_boxes=1)
    locs = set(int(i) for i in adapter._loc_ids)
    assert sum(t in locs for t in bounded.token_ids) <= 4
    with pytest.raises(InvalidArgumentError, match="task"):
        adapter.generate(encoding, "<OD>", max_new_tokens=4)
    with pytest.raises(InvalidArgumentError, match="max_new_tokens"):
        adapter.generate(encoding, CAPTION_TASK, max_new_tokens=0)


def _tokens(adapter: Florence2Adapter, text: str) -> list[int]:
    return list(adapter._tokenizer(text, add_special_tokens=False)["input_ids"])


def test_postprocess_regions_from_real_token_ids(adapter: Florence2Adapter) -> None:
    """A forged generation in the tiny tokenizer: the real token path from ids to boxes and confidences."""
    loc = [int(i) for i in adapter._loc_ids]
    tok = adapter._tokenizer
    dog, car = _tokens(adapter, "a dog"), _tokens(adapter, "a red car")
    ids = [
        tok.bos_token_id,
        *dog,
        loc[100],
        loc[200],
        loc[300],
        loc[400],
        *car,
        loc[600],
        loc[0],
        loc[999],
        loc[500],
    ]
    ids.append(tok.eos_token_id)
    scores = [0.0] * len(ids)
    for i in range(1, 1 + len(dog)):
        scores[i] = math.log(0.5)
    for i in range(1 + len(dog), 5 + len(dog)):
        scores[i] = math.log(0.25)
    regions = adapter.postprocess_regions(Generated(tuple(ids), tuple(scores)), width=200, height=100)
    assert [r[0] for r in regions] == ["a dog", "a red car"]
    n = len(dog)
    assert regions[0][1] == pytest.approx(math.exp((n * math.log(0.5) + 4 * math.log(0.25)) / (n + 4)))
    assert regions[1][1] == pytest.approx(1.0)
    assert regions[0][2] == pytest.approx((100.5 * 0.2, 200.5 * 0.1, 300.5 * 0.2, 400.5 * 0.1))
    assert regions[1][2] == pytest.approx((600.5 * 0.2, 0.5 * 0.1, 999.5 * 0.2, 500.5 * 0.1))


def test_postprocess_caption_from_real_token_ids(adapter: Florence2Adapter) -> None:
    tok = adapter._tokenizer
    words = _tokens(adapter, "A dog on a couch.")
    ids = [tok.bos_token_id, *words, tok.eos_token_id]
    scores = [math.log(0.01), *([math.log(0.8)] * len(words)), math.log(0.2)]
    text, confidence = astuple(adapter.postprocess_caption(Generated(tuple(ids), tuple(scores))))
    assert text == "a dog on a couch"
    # <s> is not scored; the end-of-sequence token is
    expected = math.exp((len(words) * math.log(0.8) + math.log(0.2)) / (len(words) + 1))
    assert confidence == pytest.approx(expected)
    assert adapter.postprocess_caption(Generated((), ())) == Caption("", 0.0)


def test_generated_checks_lengths() -> None:
    with pytest.raises(ValueError, match="same length"):
        Generated((1, 2), (0.0,))


def test_load_without_a_folder_is_unavailable() -> None:
    from imagelens.errors import ModelUnavailableError

    with pytest.raises(ModelUnavailableError, match="florence-2-base"):
        Florence2Adapter.load(None, CATALOG["florence-2-base"])
