"""``imagelens train``, ``imagelens models custom ...`` and ``imagelens analyze --model-name`` (in-process runner)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from .test_training_data import COLOURS, colour_image, write_classification


@pytest.fixture()
def cli(tiny_model_dir: Path, tmp_path: Path) -> Iterator[tuple[object, dict[str, str]]]:
    import torch

    from imagelens.cli import app
    from imagelens.cli.train import register

    register(app)  # a no-op once cli/__init__ registers the module itself
    env = {
        "IMAGELENS_MODEL_DIR": str(tiny_model_dir),
        "IMAGELENS_STORE_DIR": str(tmp_path / "store"),
        "IMAGELENS_HUB__OFFLINE": "true",
        "IMAGELENS_TRAINING__TORCH_THREADS": "1",
    }
    threads = torch.get_num_threads()
    yield app, env
    torch.set_num_threads(threads)


def test_train_list_and_analyze_with_the_model(cli: tuple[object, dict[str, str]], tmp_path: Path) -> None:
    app, env = cli
    runner = CliRunner()
    coco = write_classification(tmp_path / "data", per_class=3)
    args = ["train", "--dataset", str(coco), "--name", "colours", "--kind", "Generic-Classifier", "--wait"]
    out = runner.invoke(app, args, env=env)  # type: ignore[arg-type]
    assert out.exit_code == 0, out.output
    model = json.loads(out.stdout.strip().splitlines()[-1])
    assert model["name"] == "colours" and model["status"] == "succeeded"
    assert model["trainingParameters"]["trainingDatasetName"] == "colours-train"

    out = runner.invoke(app, ["models", "custom", "list", "--json"], env=env)  # type: ignore[arg-type]
    assert out.exit_code == 0 and json.loads(out.stdout)["status"] == "succeeded"

    image = tmp_path / "red.png"
    from PIL import Image

    Image.fromarray(colour_image(COLOURS["red"], np.random.default_rng(3))).save(image)
    out = runner.invoke(app, ["analyze", str(image), "--model-name", "colours", "--json"], env=env)  # type: ignore[arg-type]
    assert out.exit_code == 0, out.output
    body = json.loads(out.stdout)
    assert body["customModelResult"]["tagsResult"]["values"][0]["name"] == "red"

    out = runner.invoke(app, ["analyze", str(image), "--model-name", "colours", "-f", "tags"], env=env)  # type: ignore[arg-type]
    assert out.exit_code == 2 and "NotSupportedFeature" in out.output
    out = runner.invoke(app, ["models", "custom", "delete", "colours"], env=env)  # type: ignore[arg-type]
    assert out.exit_code == 0
    out = runner.invoke(app, ["models", "custom", "show", "colours"], env=env)  # type: ignore[arg-type]
    assert out.exit_code == 2 and "NotFound" in out.output


def test_train_refuses_a_bad_kind_and_an_invalid_dataset(
    cli: tuple[object, dict[str, str]], tmp_path: Path
) -> None:
    app, env = cli
    runner = CliRunner()
    coco = write_classification(tmp_path / "data", per_class=1)
    out = runner.invoke(app, ["train", "--dataset", str(coco), "--name", "m", "--kind", "Nope"], env=env)  # type: ignore[arg-type]
    assert out.exit_code == 2 and "Generic-Classifier" in out.output
    broken = tmp_path / "data" / "broken.json"
    broken.write_text(
        json.dumps({"images": [{"id": 1, "file_name": "../../x.png"}], "annotations": [], "categories": []})
    )
    args = ["train", "--dataset", str(broken), "--name", "m", "--kind", "Generic-Classifier", "--wait"]
    out = runner.invoke(app, args, env=env)  # type: ignore[arg-type]
    assert out.exit_code == 2 and "error" in out.output


def test_suggest_labels_ranks_the_least_certain_images_first(
    cli: tuple[object, dict[str, str]], tmp_path: Path
) -> None:
    from PIL import Image

    app, env = cli
    runner = CliRunner()
    coco = write_classification(tmp_path / "data", per_class=3)
    args = ["train", "--dataset", str(coco), "--name", "colours", "--kind", "Generic-Classifier", "--wait"]
    assert runner.invoke(app, args, env=env).exit_code == 0  # type: ignore[arg-type]
    pool = tmp_path / "unlabelled"
    pool.mkdir()
    rng = np.random.default_rng(5)
    names = list(COLOURS)
    clear = colour_image(COLOURS[names[0]], rng)
    mixed = (colour_image(COLOURS[names[0]], rng) // 2 + colour_image(COLOURS[names[1]], rng) // 2).astype(
        np.uint8
    )
    Image.fromarray(clear).save(pool / "clear.png")
    Image.fromarray(mixed).save(pool / "mixed.png")
    out = runner.invoke(app, ["suggest-labels", str(pool), "--model-name", "colours", "--json"], env=env)  # type: ignore[arg-type]
    assert out.exit_code == 0, out.output
    rows = [json.loads(line) for line in out.stdout.strip().splitlines()]
    assert [r["image"] for r in rows] == ["mixed.png", "clear.png"]
    assert rows[0]["uncertainty"] >= rows[1]["uncertainty"]
    out = runner.invoke(app, ["suggest-labels", str(pool), "--model-name", "nope"], env=env)  # type: ignore[arg-type]
    assert out.exit_code != 0
