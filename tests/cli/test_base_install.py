"""On the base install (no extras) every command works or says in one line which extra to install.

The missing packages are simulated in a subprocess (a meta-path finder refuses them), nothing is uninstalled."""

from __future__ import annotations

import pytest

from .helpers import run_cli

SERVER_MODULES = ["fastapi", "uvicorn", "starlette", "multipart", "python_multipart"]
ML_MODULES = ["torch", "transformers", "safetensors", "tokenizers"]
EVAL_MODULES = ["matplotlib", "pycocotools"]
ALL_EXTRAS = SERVER_MODULES + ML_MODULES + EVAL_MODULES + ["pillow_heif"]


def test_serve_without_fastapi_names_the_extra() -> None:
    out = run_cli("serve", "--port", "1", block=SERVER_MODULES, timeout=60)
    assert out.returncode == 4, out.stderr
    assert 'pip install "imagelens[server]"' in out.stderr
    assert "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["--version"],
        ["version"],
        ["analyze", "--help"],
        ["serve", "--help"],
        ["models", "list"],
        ["models", "list", "--json"],
    ],
)
def test_commands_work_on_the_base_install(args: list[str]) -> None:
    out = run_cli(*args, block=ALL_EXTRAS, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr


def test_analyze_runs_on_the_base_install(tiny_model_dir: object) -> None:
    """The bundled OCR and smart crops need no extra; the CLI never imports the HTTP app."""
    from ..conftest import SAMPLE_IMAGE

    out = run_cli(
        "analyze",
        str(SAMPLE_IMAGE),
        "--features",
        "smartCrops,color",
        env={"IMAGELENS_MODEL_DIR": str(tiny_model_dir)},
        block=ALL_EXTRAS,
    )
    assert out.returncode == 0, out.stderr
    assert "smart crops: 1" in out.stdout and "colour:" in out.stdout


def test_a_feature_needing_torch_names_the_ml_extra(tiny_model_dir: object) -> None:
    from ..conftest import SAMPLE_IMAGE

    out = run_cli(
        "analyze",
        str(SAMPLE_IMAGE),
        "--features",
        "caption",
        env={"IMAGELENS_MODEL_DIR": str(tiny_model_dir)},
        block=ALL_EXTRAS,
    )
    assert out.returncode == 4, out.stderr
    assert 'pip install "imagelens[ml]"' in out.stderr
    assert "Traceback" not in out.stderr and "imagelens models pull" not in out.stderr
