"""Fixtures shared by the model tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from imagelens.models.catalog import CATALOG
from imagelens.models.spec import ModelSpec
from imagelens.testing.tiny import tiny_variant, write_tiny


@pytest.fixture(scope="session")
def tiny_ppocr(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ModelSpec]:
    """A tiny random PP-OCR (the test-only variant of ppocr-v6-small) and its spec: ``(folder, spec)``."""
    spec = tiny_variant(CATALOG["ppocr-v6-small"])
    root = tmp_path_factory.mktemp("ppocr-tiny") / spec.id
    write_tiny(spec, root, seed=0)
    return root, spec
