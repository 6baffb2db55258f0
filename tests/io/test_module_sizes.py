"""The image I/O, cropping and HTTP/Azure modules stay small enough to read: split by concept, none over 450 lines."""

from __future__ import annotations

from pathlib import Path

import pytest

import imagelens

PACKAGE = Path(imagelens.__file__).parent
LIMIT = 450
MODULES = sorted(p for part in ("io", "cropping", "api", "azure") for p in (PACKAGE / part).rglob("*.py")) + [
    PACKAGE / "operations.py"
]


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_module_is_under_the_limit(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= LIMIT, f"{path.relative_to(PACKAGE)} has {lines} lines; split it by concept"


def test_cropping_and_image_io_are_packages_of_concepts() -> None:
    assert (PACKAGE / "cropping" / "__init__.py").is_file() and not (PACKAGE / "cropping.py").exists()
    assert {"formats.py", "pixels.py", "image.py"} <= {p.name for p in (PACKAGE / "io").glob("*.py")}
