"""The CLI as a user runs it: a subprocess of the installed entry point's module."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import SAMPLE_IMAGE


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "imagelens.cli", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=240,
    )


def test_help_lists_commands() -> None:
    out = run_cli("--help")
    assert out.returncode == 0
    for command in ("analyze", "models"):
        assert command in out.stdout


def test_analyze_json_is_azure_shaped(tiny_model_dir: Path, tmp_path: Path) -> None:
    annotated = tmp_path / "a.png"
    out = run_cli(
        "analyze",
        str(SAMPLE_IMAGE),
        "--features",
        "read,smartCrops",
        "--aspect-ratios",
        "0.9,1.33",
        "--json",
        "--annotate",
        str(annotated),
        env={"IMAGELENS_MODEL_DIR": str(tiny_model_dir)},
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 1
    body = json.loads(lines[0])
    assert set(body) == {"modelVersion", "metadata", "readResult", "smartCropsResult"}
    assert [v["aspectRatio"] for v in body["smartCropsResult"]["values"]] == [0.9, 1.33]
    assert annotated.is_file()


def test_analyze_many_images_one_line_each(tiny_model_dir: Path) -> None:
    out = run_cli(
        "analyze",
        str(SAMPLE_IMAGE),
        str(SAMPLE_IMAGE),
        "--features",
        "smartCrops",
        "--json",
        env={"IMAGELENS_MODEL_DIR": str(tiny_model_dir)},
    )
    assert out.returncode == 0, out.stderr
    assert len(out.stdout.strip().splitlines()) == 2


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["--features", "Reed"], 2, "NotSupportedVisualFeature"),
        (["--features", "smartCrops", "--aspect-ratios", "3.0"], 2, "BadArgument"),
        (["--features", "smartCrops", "--aspect-ratios", "x"], 2, "BadArgument"),
    ],
)
def test_bad_requests_exit_2(args: list[str], code: int, needle: str) -> None:
    out = run_cli("analyze", str(SAMPLE_IMAGE), *args)
    assert out.returncode == code, out.stderr
    assert needle in out.stderr


def test_bad_image_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image at all")
    out = run_cli("analyze", str(bad), "--features", "smartCrops")
    assert out.returncode == 2
    assert "InvalidImageFormat" in out.stderr


def test_missing_model_exit_3(tmp_path: Path) -> None:
    out = run_cli(
        "analyze",
        str(SAMPLE_IMAGE),
        "--features",
        "read",
        env={"IMAGELENS_MODELS__OCR": "ppocr-v5-server-en", "HF_HOME": str(tmp_path / "hf")},
    )
    assert out.returncode == 3, out.stderr
    assert "imagelens models pull ppocr-v5-server-en" in out.stderr


def test_models_list(tiny_model_dir: Path) -> None:
    out = run_cli("models", "list", "--json", env={"IMAGELENS_MODEL_DIR": str(tiny_model_dir)})
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.strip().splitlines()]
    ids = {row["id"] for row in rows}
    assert {"ppocr-v6-small", "ppocr-v5-server-en"} <= ids
    for row in rows:
        assert row["license"] and row["roles"] and row["present"]
        # tiny everywhere but the OCR shipped in rapidocr: a tiny folder never shadows package-shipped weights
        assert row["tiny"] != (row["id"] == "ppocr-v6-small")
        assert row["location"].startswith("package:") == (row["id"] == "ppocr-v6-small")


def test_version() -> None:
    import imagelens

    for args in (["--version"], ["version"]):
        out = run_cli(*args)
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == f"imagelens {imagelens.__version__}"


def test_version_matches_the_installed_metadata() -> None:
    from importlib.metadata import PackageNotFoundError, version

    import imagelens

    try:
        installed = version("imagelens")
    except PackageNotFoundError:
        pytest.skip("imagelens is not installed in this environment")
    assert installed == imagelens.__version__


def test_analyze_text_prints_a_table_per_feature(tiny_model_dir: Path) -> None:
    out = run_cli(
        "analyze",
        str(SAMPLE_IMAGE),
        "--features",
        "read,smartCrops,faces,color",
        env={"IMAGELENS_MODEL_DIR": str(tiny_model_dir)},
    )
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert text.startswith(f"{SAMPLE_IMAGE}: ")
    for title in ("  read: ", "  smart crops: 1", "  faces: ", "  colour:", "  time: "):
        assert title in text, title
    assert "    ratio  x  y     w    h" in text or "ratio" in text
    assert "accent colour        #" in text


def test_analyze_help_lists_every_registry_feature() -> None:
    from imagelens.features.registry import FEATURE_LIST

    out = run_cli("analyze", "--help", env={"COLUMNS": "200"})
    assert out.returncode == 0, out.stderr
    for info in FEATURE_LIST:
        assert info.name in out.stdout and info.summary in out.stdout, info.name


def test_starting_the_cli_is_light() -> None:
    """Every command starts without the registry, images or the Hub client; they load when a command needs them."""
    code = (
        "import sys, imagelens.cli\n"
        "heavy = ('PIL.Image', 'numpy', 'imagelens.features.registry', 'huggingface_hub', 'fastapi', 'torch')\n"
        "print(','.join(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
