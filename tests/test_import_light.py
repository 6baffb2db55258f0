from __future__ import annotations

import subprocess
import sys

HEAVY = ("torch", "onnxruntime", "fastapi", "transformers", "cv2", "rapidocr")


def test_import_imagelens_is_light() -> None:
    code = (
        "import sys, imagelens, imagelens.types, imagelens.errors, imagelens.config, imagelens.geometry\n"
        f"heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"importing imagelens pulled in: {out.stdout.strip()}"


def test_public_api_resolves_lazily() -> None:
    import imagelens
    import imagelens.analyzer  # a submodule import must not hide the analyze() function

    assert callable(imagelens.analyze)
    assert imagelens.Analyzer.__name__ == "Analyzer"
    assert imagelens.__version__
