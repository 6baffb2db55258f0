"""The real small weights (../shared/models) on the real data (../shared/data): the figures of
benchmarks/eval_accuracy.md, within a small tolerance. Skipped, saying what is missing, where they are absent."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.evaluation.conftest import SHARED_MODELS, need_shared

pytestmark = [pytest.mark.realdata, pytest.mark.slow]


@pytest.fixture()
def real_hub() -> object:
    from imagelens.config import HubSettings, Settings
    from imagelens.models.hub import ModelHub

    need_shared("models")
    hub = ModelHub(Settings(model_dir=SHARED_MODELS, hub=HubSettings(offline=True)))
    yield hub
    hub.close()


@pytest.mark.parametrize(("model_id", "expected"), [("yolox-nano", 0.312), ("nanodet-m-416", 0.261)])
def test_objects_map_on_mini79_agrees_with_pycocotools(
    real_hub: object, model_id: str, expected: float
) -> None:
    pytest.importorskip("pycocotools")
    from imagelens.evaluation.run import evaluate_with_hub

    need_shared("models", model_id)
    data = need_shared("data", "coco_val2017_mini79")
    report, _ = evaluate_with_hub(real_hub, "objects", data, model_id=model_id, check_pycocotools=True)  # type: ignore[arg-type]
    assert report.metrics["mAP"] == pytest.approx(expected, abs=0.002)
    assert report.metrics["pycocotools_max_abs_diff"] < 1e-6


def test_yunet_2026may_faces_on_mini79(real_hub: object) -> None:
    from imagelens.evaluation.run import evaluate_with_hub

    need_shared("models", "yunet-2026may")
    data = need_shared("data", "coco_val2017_mini79")
    report, _ = evaluate_with_hub(real_hub, "faces", data, model_id="yunet-2026may")  # type: ignore[arg-type]
    assert report.metrics["faces"] == 29
    assert report.metrics["faces_found"] == 23
    assert 0.75 <= report.metrics["AP"] <= 0.9  # type: ignore[operator]


def test_grocery_10_way_10_shot_with_the_mobilenet_backbone(real_hub: object) -> None:
    from imagelens.evaluation.fewshot import evaluate_fewshot

    need_shared("models", "coral-mobilenet-v1-embedding")
    labels = need_shared("data", "grocery_store_fewshot", "labels.csv")
    report = evaluate_fewshot(real_hub, Path(labels), model_id="coral-mobilenet-v1-embedding")  # type: ignore[arg-type]
    assert report.metrics["ways"] == 10 and report.metrics["shots"] == 10 and report.n == 100
    assert report.metrics["accuracy"] >= 0.8
