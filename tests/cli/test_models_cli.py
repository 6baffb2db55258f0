"""``imagelens models pull|list`` and a missing model with the Hub unreachable, as a user runs them. The Hub is a
loopback stand-in (a closed port, or a socket that never answers); nothing contacts a non-local address."""

from __future__ import annotations

import json
import time
from pathlib import Path

from ..conftest import SAMPLE_IMAGE
from .helpers import blackhole, closed_port_endpoint, run_cli

PPOCR_REV = "7b02d0a30a07ba2b92ad1ff5a8941ae2c633de65"  # ppocr-v5-server-en's pinned revision in the catalog


def online(tmp_path: Path, endpoint: str) -> dict[str, str]:
    return {"HF_ENDPOINT": endpoint, "HF_HOME": str(tmp_path / "hf")}


def startup_s() -> float:
    """What starting the CLI and importing the hub cost on this machine (a pull that needs no network), to subtract
    from the timings below: they measure what the unreachable Hub costs."""
    start = time.monotonic()
    assert run_cli("models", "pull", "ppocr-v6-small").returncode == 0
    return time.monotonic() - start


def test_pull_continues_past_failures_and_never_points_back_to_itself(tmp_path: Path) -> None:
    endpoint = closed_port_endpoint()
    base = startup_s()
    start = time.monotonic()
    out = run_cli(
        "models",
        "pull",
        "no-such-model",
        "ppocr-v6-small",
        "ppocr-v5-server-en",
        "florence-2-base",
        env=online(tmp_path, endpoint),
        unset=["HF_HUB_OFFLINE"],
    )
    assert time.monotonic() - start - base < 3.0  # one probe for both Hub models
    assert out.returncode != 0
    lines = out.stdout.splitlines()
    assert lines[0].startswith("[1/4] no-such-model: FAILED: Unknown model 'no-such-model'")
    assert lines[1].startswith("[2/4] ppocr-v6-small: ok")  # a failure before it did not stop it
    assert lines[2].startswith("[3/4] ppocr-v5-server-en: FAILED:")
    assert f"{endpoint} is unreachable (connection refused)" in lines[2]
    assert lines[3].startswith("[4/4] florence-2-base: FAILED:")
    assert "pulled 1 of 4; failed: no-such-model, ppocr-v5-server-en, florence-2-base" in out.stdout
    # progress, then what to check and the manual route; never "run imagelens models pull" again
    assert "[3/4] ppocr-v5-server-en: downloading monkt/paddleocr-onnx@7b02d0a30a07" in out.stderr
    for needle in (f"HF_ENDPOINT={endpoint}", "HTTPS_PROXY", "disk space", "HF_TOKEN"):
        assert needle in out.stderr
    assert f"hf download monkt/paddleocr-onnx --revision {PPOCR_REV}" in out.stderr
    assert "imagelens models pull" not in out.stdout + out.stderr


def test_pull_with_a_hub_that_never_answers_is_bounded(tmp_path: Path) -> None:
    base = startup_s()
    with blackhole() as endpoint:
        start = time.monotonic()
        out = run_cli(
            "models",
            "pull",
            "ppocr-v5-server-en",
            "florence-2-base",
            env=online(tmp_path, endpoint),
            unset=["HF_HUB_OFFLINE"],
        )
        elapsed = time.monotonic() - start - base
    assert elapsed < 3.0, elapsed
    assert out.returncode == 3
    assert out.stdout.count("no answer within 1.5 s") == 2


def test_pull_skips_what_is_cached_without_the_network(tmp_path: Path) -> None:
    snapshot = tmp_path / "hf" / "hub" / "models--monkt--paddleocr-onnx" / "snapshots" / PPOCR_REV
    snapshot.mkdir(parents=True)
    (snapshot / "placeholder.txt").write_text("x")
    out = run_cli(
        "models",
        "pull",
        "ppocr-v5-server-en",
        env=online(tmp_path, closed_port_endpoint()),
        unset=["HF_HUB_OFFLINE"],
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"ok, already in the Hugging Face cache: {snapshot}" in out.stdout


def test_pull_in_offline_mode_says_to_turn_it_off(tmp_path: Path) -> None:
    out = run_cli("models", "pull", "ppocr-v5-server-en", env={"HF_HOME": str(tmp_path / "hf")})
    assert out.returncode == 3
    assert "offline mode" in out.stdout and "offline mode is on" in out.stderr
    assert "imagelens models pull" not in out.stdout + out.stderr


def test_analyze_with_the_hub_unreachable_answers_fast(tmp_path: Path) -> None:
    endpoint = closed_port_endpoint()
    base = startup_s()
    start = time.monotonic()
    out = run_cli(
        "analyze",
        str(SAMPLE_IMAGE),
        "--features",
        "read",
        env={**online(tmp_path, endpoint), "IMAGELENS_MODELS__OCR": "ppocr-v5-server-en"},
        unset=["HF_HUB_OFFLINE"],
    )
    assert time.monotonic() - start - base < 3.0
    assert out.returncode == 3
    cache = tmp_path / "hf" / "hub" / "models--monkt--paddleocr-onnx"
    for needle in (
        "ppocr-v5-server-en",
        str(cache),
        f"{endpoint} is unreachable",
        "imagelens models pull ppocr-v5-server-en",
        f"hf download monkt/paddleocr-onnx --revision {PPOCR_REV}",
        "IMAGELENS_MODEL_DIR",
    ):
        assert needle in out.stderr, needle


def test_models_list_shows_presence_size_licence_and_path(tiny_model_dir: Path, tmp_path: Path) -> None:
    wide = {"COLUMNS": "300", "HF_HOME": str(tmp_path / "hf")}
    out = run_cli("models", "list", env={**wide, "IMAGELENS_MODEL_DIR": str(tiny_model_dir)})
    assert out.returncode == 0, out.stderr
    row = next(line for line in out.stdout.splitlines() if "ppocr-v5-server-en" in line)
    for cell in (
        "yes (TINY RANDOM)",
        "Apache-2.0",
        "ocr",
        "model-dir",
        str(tiny_model_dir / "ppocr-v5-server-en"),
    ):
        assert cell in row, cell
    assert any(unit in row for unit in (" KB", " MB"))

    out = run_cli("models", "list", env=wide)
    row = next(line for line in out.stdout.splitlines() if "florence-2-base" in line)
    assert " no " in row and "MIT" in row and "captioner" in row and "465.0 MB" in row
    assert (
        f"missing (would be {tmp_path / 'hf' / 'hub' / 'models--florence-community--Florence-2-base'})" in row
    )
    rows = [json.loads(line) for line in run_cli("models", "list", "--json", env=wide).stdout.splitlines()]
    florence = next(r for r in rows if r["id"] == "florence-2-base")
    assert florence["present"] is False and florence["source"].startswith(
        "hf:florence-community/Florence-2-base@"
    )
    assert florence["default_for"] == ["captioner"]
