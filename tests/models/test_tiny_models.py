"""``imagelens.testing.tiny``: one writer per adapter family, found from the spec; the tool never writes a tiny model
for weights shipped in a package."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from imagelens.errors import InvalidArgumentError
from imagelens.models.adapters.base import TINY_MARKER, is_tiny
from imagelens.models.adapters.rtdetr import RTDetrAdapter
from imagelens.models.catalog import CATALOG
from imagelens.models.hub import import_adapter
from imagelens.models.spec import PackageSource
from imagelens.testing import tiny, tiny_models


class CountingRTDetr(RTDetrAdapter):
    """A subclass of a catalog adapter, as tests write them."""


def test_every_catalog_adapter_has_a_tiny_writer() -> None:
    for spec in CATALOG.values():
        assert callable(tiny.writer_for(spec))
    for adapter in tiny.WRITERS:  # and every writer's key names a real adapter class
        assert isinstance(import_adapter(replace(CATALOG["yunet-2023mar"], adapter=adapter)), type)


def test_a_subclass_gets_its_base_adapters_writer() -> None:
    spec = replace(CATALOG["rtdetr-v2-r18"], adapter=f"{__name__}:CountingRTDetr")
    assert tiny.writer_for(spec) is tiny.writer_for(CATALOG["rtdetr-v2-r18"])
    with pytest.raises(InvalidArgumentError, match="no tiny model writer"):
        tiny.writer_for(replace(spec, adapter="imagelens.models.spec:ModelSpec"))


def test_the_tool_skips_and_refuses_models_shipped_in_a_package(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shipped = [s.id for s in CATALOG.values() if isinstance(s.source, PackageSource)]
    assert shipped == ["ppocr-v6-small"]
    assert tiny_models.main([str(tmp_path), "--only", "yunet-2023mar"]) == 0
    assert is_tiny(tmp_path / "yunet-2023mar")
    with pytest.raises(SystemExit, match="refusing to write tiny models for ppocr-v6-small"):
        tiny_models.write_tiny_models(tmp_path, only=["ppocr-v6-small", "yunet-2023mar"])
    with pytest.raises(
        InvalidArgumentError, match="ships its real weights in the installed package 'rapidocr'"
    ):
        tiny_models.write_tiny_model(CATALOG["ppocr-v6-small"], tmp_path)
    assert not (tmp_path / "ppocr-v6-small").exists()


def test_the_whole_catalog_folder_lacks_only_the_shipped_models(tiny_model_dir: Path) -> None:
    written = {p.name for p in tiny_model_dir.iterdir() if (p / TINY_MARKER).is_file()}
    assert written == {s.id for s in CATALOG.values() if not tiny.ships_in_package(s)}


def test_tiny_variant_is_a_test_only_id_that_only_the_model_dir_holds() -> None:
    variant = tiny.tiny_variant(CATALOG["ppocr-v6-small"])
    assert variant.id == "ppocr-v6-small-tiny" and variant.id not in CATALOG
    assert not tiny.ships_in_package(variant)
    assert variant.adapter == CATALOG["ppocr-v6-small"].adapter
    assert variant.options == CATALOG["ppocr-v6-small"].options
