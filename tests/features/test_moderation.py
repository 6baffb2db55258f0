"""The ``adult`` feature and the moderation gate on a tiny random SigLIP through the real hub: shapes, thresholds,
errors and the gate's plumbing (random weights say nothing about accuracy)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from pydantic import ValidationError

from imagelens.analyzer import Analyzer
from imagelens.azure.analysis import analysis_result_json
from imagelens.azure.v32 import analysis_json
from imagelens.config import ModerationSettings, Settings
from imagelens.errors import InvalidArgumentError
from imagelens.features.base import AnalysisOptions
from imagelens.features.moderation import (
    CATEGORIES,
    PROMPT_SET,
    ModerationConfig,
    scores_from_logits,
    withheld_by_gate,
)
from imagelens.numeric import softmax
from imagelens.types import Moderation


def _picture() -> npt.NDArray[np.uint8]:
    h, w = 96, 128
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 255 // w, y * 255 // h, (x + y) % 200], axis=-1).astype(np.uint8)


def _settings(base: Settings, **moderation: object) -> Settings:
    return base.model_copy(update={"moderation": ModerationSettings(**moderation)})  # type: ignore[arg-type]


def _opts(**moderation: object) -> AnalysisOptions:
    return AnalysisOptions(extra={"moderation": moderation})


def test_prompt_set_pairs_each_category_with_neutral_sentences() -> None:
    assert PROMPT_SET.labels == (
        "adult", "adult (neutral)", "racy", "racy (neutral)", "gore", "gore (neutral)",
    )  # fmt: skip
    assert all(len(group) >= 3 for group in PROMPT_SET.prompts)


def test_score_is_the_softmax_between_positive_and_neutral_then_platt() -> None:
    logits = [3.0, 1.0, -2.0, 0.5, 0.0, 0.0]
    adult, racy, gore = scores_from_logits(logits, [(1.0, 0.0)] * 3)
    assert adult == pytest.approx(softmax([3.0, 1.0])[0])
    assert racy == pytest.approx(softmax([-2.0, 0.5])[0])
    assert gore == pytest.approx(0.5)
    calibrated = scores_from_logits(logits, [(2.0, -1.0), (1.0, 0.0), (1.0, 3.0)])
    assert calibrated[0] == pytest.approx(1 / (1 + np.exp(-(2.0 * 2.0 - 1.0))))
    assert calibrated[2] == pytest.approx(1 / (1 + np.exp(-3.0)))


def test_adult_contract_on_a_tiny_model(tiny_settings: Settings) -> None:
    result = Analyzer(tiny_settings).analyze(_picture(), "adult")
    adult = result.adult
    assert isinstance(adult, Moderation)
    for score in (adult.adult_score, adult.racy_score, adult.gore_score):
        assert 0.0 <= score <= 1.0
    assert adult.is_adult == (adult.adult_score >= 0.5)
    assert adult.is_racy == (adult.racy_score >= 0.5)
    assert adult.is_gory == (adult.gore_score >= 0.5)
    assert result.withheld == () and result.caption is None


def test_thresholds_from_settings_and_per_call(tiny_settings: Settings) -> None:
    everything = Analyzer(
        _settings(tiny_settings, adult_threshold=0.0, racy_threshold=0.0, gore_threshold=0.0)
    )
    adult = everything.analyze(_picture(), "adult").adult
    assert adult is not None and adult.is_adult and adult.is_racy and adult.is_gory
    per_call = everything.analyze(_picture(), "adult", _opts(adult_threshold=1.0, gore_threshold=1.0)).adult
    assert per_call is not None
    assert per_call.is_racy and not per_call.is_adult and not per_call.is_gory
    assert per_call.adult_score == adult.adult_score  # thresholds never move the scores


@pytest.mark.parametrize(
    "bad",
    [{"adult_threshold": 1.5}, {"racy_threshold": -0.1}, {"gore_threshold": float("nan")},
     {"adult_threshold": "high"}, {"gate_on": ["nudity"]}, {"gate_on": []}, {"colour": 1}],
)  # fmt: skip
def test_bad_per_call_values_are_400_before_any_model_loads(tiny_settings: Settings, bad: dict) -> None:
    with pytest.raises(InvalidArgumentError) as err:
        Analyzer(tiny_settings).analyze(_picture(), "adult", _opts(**bad))
    assert err.value.status == 400


def test_bad_settings_fail_at_start() -> None:
    with pytest.raises(ValidationError):
        ModerationSettings(adult_threshold=2.0)
    with pytest.raises(ValidationError):
        ModerationSettings(gate_on=["nudity"])  # type: ignore[list-item]


def test_spec_calibration_is_read_per_category() -> None:
    config = ModerationConfig.resolve(
        Settings(), AnalysisOptions(), {"moderation": {"gore": {"a": 0.5, "b": -2.0}}}
    )
    assert config.calibration == ((1.0, 0.0), (1.0, 0.0), (0.5, -2.0))


def test_gate_withholds_other_features_of_a_flagged_image(tiny_settings: Settings) -> None:
    flag_all = _settings(tiny_settings, gate=True, adult_threshold=0.0)
    result = Analyzer(flag_all).analyze(_picture(), "color,tags")
    assert result.withheld == ("color", "tags")
    assert result.color is None and result.tags is None
    assert result.adult is not None and result.adult.is_adult  # not requested, but the gate's reason is there
    assert "color" not in result.timings_ms and "adult" in result.timings_ms
    body = analysis_json(result, "req", ["color", "tags"])
    assert body["adult"]["isAdultContent"] is True and "color" not in body
    assert body["warnings"][0]["code"] == "ContentWithheldByModeration"
    assert "color, tags" in body["warnings"][0]["message"]
    body40 = analysis_result_json(result)
    assert body40["warnings"][0]["code"] == "ContentWithheldByModeration" and "tagsResult" not in body40


def test_gate_lets_an_image_below_the_thresholds_through(tiny_settings: Settings) -> None:
    result = Analyzer(_settings(tiny_settings, gate=True)).analyze(
        _picture(), "color", _opts(adult_threshold=1.0, gore_threshold=1.0, racy_threshold=0.0)
    )
    assert result.withheld == () and result.color is not None  # racy is flagged, but not in gate_on
    assert result.adult is not None and result.adult.is_racy
    assert "warnings" not in analysis_json(result, "req", ["color"])


def test_gate_per_call_and_gate_on(tiny_settings: Settings) -> None:
    analyzer = Analyzer(tiny_settings)
    closed = analyzer.analyze(_picture(), ["color"], _opts(gate=True, gate_on=["racy"], racy_threshold=0.0))
    assert closed.withheld == ("color",) and closed.color is None
    off = analyzer.analyze(_picture(), ["color"], _opts(racy_threshold=0.0))
    assert off.adult is None and off.color is not None  # the gate is off by default


def test_withheld_by_gate_keeps_adult() -> None:
    config = ModerationConfig(gate=True)
    flagged = Moderation(0.9, 0.1, 0.1, True, False, False)
    clean = Moderation(0.1, 0.9, 0.1, False, True, False)
    assert withheld_by_gate(config, flagged, ["adult", "caption"]) == ("caption",)
    assert withheld_by_gate(config, clean, ["adult", "caption"]) == ()
    assert set(CATEGORIES) == {"adult", "racy", "gore"}
