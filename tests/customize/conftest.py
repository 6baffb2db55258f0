"""Fixtures for the customize tests: tiny image files and the real few-shot datasets under ../shared/data."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


def shared_path(*parts: str) -> Path:
    """A path under ../shared/data, or skip the test when that data is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not present: {path.resolve()}")
    return path


@pytest.fixture()
def bccd_dir() -> Path:
    return shared_path("bccd_fewshot")


@pytest.fixture()
def grocery_dir() -> Path:
    return shared_path("grocery_store_fewshot")


@pytest.fixture()
def write_image() -> Callable[[Path, int, int], Path]:
    """Write a small PNG of the given size (parents created) and return its path."""

    def write(path: Path, width: int = 64, height: int = 48) -> Path:
        from PIL import Image

        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (width, height), (120, 60, 30)).save(path)
        return path

    return write
