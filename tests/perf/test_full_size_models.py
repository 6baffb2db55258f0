"""``python -m imagelens.testing.full_size_models``: full-size random models of the default catalog."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from imagelens.models.catalog import DEFAULT_FOR_ROLE
from imagelens.testing import full_size_models as fsm


def test_every_default_catalog_id_is_covered(capsys: pytest.CaptureFixture[str]) -> None:
    plan = fsm.plan()
    assert set(plan) == set(DEFAULT_FOR_ROLE.values())
    assert plan["ppocr-v6-small"] == "package"  # real weights inside rapidocr: nothing written
    for heavy in (
        "florence-2-base",
        "siglip2-base-patch16-224",
        "rtdetr-v2-r18",
        "owlv2-base-patch16-ensemble",
    ):
        assert plan[heavy] == "full"
    assert fsm.main(["--list"]) == 0
    assert "florence-2-base\tfull" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="no full-size writer"):
        fsm.plan(["dfine-s"])
    with pytest.raises(SystemExit, match="unknown model id"):
        fsm.plan(["nope"])


def test_writes_a_full_size_detector_the_hub_loads(tmp_path: Path) -> None:
    from imagelens.config import HubSettings, Settings
    from imagelens.models.hub import ModelHub

    written = fsm.write_full_size_models(tmp_path, only=["rtdetr-v2-r18"])
    folder = written["rtdetr-v2-r18"]
    config = json.loads((folder / "config.json").read_text())
    assert config["num_queries"] == 300 and config["d_model"] == 256 and config["decoder_layers"] == 3
    assert (folder / "model.safetensors").stat().st_size > 70_000_000  # ~20M fp32 parameters, as published
    stamp = (tmp_path / fsm.STAMP).stat().st_mtime_ns
    fsm.write_full_size_models(tmp_path, only=["rtdetr-v2-r18"])  # a rerun keeps what is there
    assert (tmp_path / fsm.STAMP).stat().st_mtime_ns == stamp

    hub = ModelHub(Settings(model_dir=tmp_path, hub=HubSettings(offline=True)))
    assert hub.locate("rtdetr-v2-r18") == (folder, "model-dir")  # what IMAGELENS_MODEL_DIR=DIR serves


def test_unnamed_ids_never_win_a_greedy_step(tmp_path: Path) -> None:
    # the full-size Florence-2 keeps its 51,289-row output layer but its tokenizer names ~1,262 ids: the weights
    # themselves keep the others from being decoded, at no cost per step (no logits processor)
    import numpy as np

    from imagelens.models.adapters.florence2 import CAPTION_TASK, Florence2Adapter
    from imagelens.models.catalog import CATALOG
    from imagelens.testing.tiny import write_tiny

    spec = CATALOG["florence-2-base"]
    write_tiny(spec, tmp_path / spec.id, seed=7)
    image = (np.arange(64 * 80 * 3) % 251).astype(np.uint8).reshape(64, 80, 3)
    named = 300  # fewer than the tiny tokenizer has, so that the control below decodes some of the others

    def decode(ban: bool) -> tuple[int, ...]:
        model = Florence2Adapter.load(tmp_path / spec.id, spec)
        if ban:
            fsm._ban_unnamed_ids(model.model, named)
        return model.generate(model.encode(image), CAPTION_TASK, 16).token_ids

    assert any(t >= named for t in decode(ban=False))  # the control: a random model decodes them
    banned = decode(ban=True)
    assert banned and all(t < named for t in banned)
