"""The deadline inside ONE model call, on tiny random models through the real hub. Deterministic: the deadline is a
counter that expires after N checks (no wall clock, no sleeps), so each test shows where the checks happen: per
generated token (Florence-2), per layer inside a forward pass (SigLIP, OWLv2, RT-DETR, Florence-2's vision tower) and
per batch of crops (PP-OCR)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from imagelens import deadline as deadlines
from imagelens.config import HubSettings, Settings
from imagelens.errors import CancelledRequestError, RequestTimeoutError
from imagelens.models.hub import ModelHub
from imagelens.testing.deadlines import ExpiresAtCheck

pytest.importorskip("torch")
pytest.importorskip("transformers")


def _run(allowed: int, fn: Any) -> tuple[ExpiresAtCheck, Any]:
    """``fn()`` under a deadline that passes ``allowed`` checks, then is over (as if the clock ran out right there)."""
    deadline = ExpiresAtCheck(passing=allowed)
    with deadlines.bound(deadline):
        return deadline, fn()


def _image(w: int = 96, h: int = 64) -> np.ndarray:
    return (np.random.default_rng(0).random((h, w, 3)) * 255).astype(np.uint8)


@pytest.fixture(scope="module")
def hub(tiny_model_dir: Path) -> Any:
    h = ModelHub(Settings(model_dir=tiny_model_dir, hub=HubSettings(offline=True)))
    yield h
    h.close()


def test_florence_generation_checks_every_step_and_stops_mid_generation(hub: Any) -> None:
    model = hub.captioner()
    encoding = model.encode(_image())  # outside a request: no checks
    free = model.generate(encoding, "<CAPTION>", 12)
    counted, same = _run(10**6, lambda: model.generate(encoding, "<CAPTION>", 12))
    assert same == free  # the checks change nothing while time is left
    steps = len(free.token_ids)
    assert (
        steps >= 2 and counted.checks >= steps
    )  # at least one check per generated token (the StoppingCriteria)
    with pytest.raises(RequestTimeoutError):
        _run(counted.checks // 2, lambda: model.generate(encoding, "<CAPTION>", 12))  # stops halfway through


def test_florence_stopping_criteria_alone_stops_generation(hub: Any) -> None:
    from imagelens.models.adapters.florence2.adapter import _DeadlineCheck

    torch = pytest.importorskip("torch")
    ids = torch.zeros((1, 3), dtype=torch.long)
    assert _run(1, lambda: _DeadlineCheck()(ids, None).tolist())[1] == [False]
    with pytest.raises(RequestTimeoutError):
        _run(0, lambda: _DeadlineCheck()(ids, None))


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda hub: hub.captioner().encode(_image()), id="florence-vision-tower"),
        pytest.param(lambda hub: hub.embedder().embed_images([_image()]), id="siglip-image"),
        pytest.param(lambda hub: hub.embedder().embed_texts(["a cat"]), id="siglip-text"),
        pytest.param(lambda hub: hub.detector().detect(_image()), id="rtdetr"),
        pytest.param(lambda hub: hub.open_vocab_detector().detect(_image(), ["a cat"]), id="owlv2"),
    ],
)
def test_encoders_check_between_layers_inside_one_forward_pass(hub: Any, call: Any) -> None:
    call(hub)  # warm: loads, caches
    counted, _ = _run(10**6, lambda: call(hub))
    assert counted.checks >= 1  # one per hooked layer (the tiny models have 1-2 layers per tower)
    with pytest.raises(RequestTimeoutError) as info:
        _run(counted.checks - 1, lambda: call(hub))  # over before the last layer: the pass does not finish
    assert info.value.status == 408
    with pytest.raises(CancelledRequestError):  # the client went: the same hooks stop the work
        deadline = deadlines.Deadline(60.0)
        deadline.cancel()
        with deadlines.bound(deadline):
            call(hub)


def test_hooks_cost_nothing_outside_a_request(hub: Any) -> None:
    a = hub.detector().detect(_image())
    counted, b = _run(10**6, lambda: hub.detector().detect(_image()))
    assert len(a) == len(b) and counted.checks > 0


def test_ppocr_checks_before_detection_and_between_batches_of_crops(hub: Any) -> None:
    from imagelens.models.adapters.ppocr import OcrParams

    reader = hub.reader("ppocr-v5-server-en")  # tiny random PP-OCR (not the package-shipped default)
    crops = [np.full((24, 20 + 10 * i, 3), 200, np.uint8) for i in range(6)]
    params = OcrParams(rec_batch_size=2)
    counted, out = _run(10**6, lambda: reader._recognise(crops, params))
    assert counted.checks == 3 and len(out) == 6  # one check per batch of two crops
    with pytest.raises(RequestTimeoutError):
        _run(
            1, lambda: reader._recognise(crops, params)
        )  # one batch, then over: the rest is never recognised
    with pytest.raises(RequestTimeoutError):
        _run(0, lambda: reader.read(_image()))  # over before the detector runs
