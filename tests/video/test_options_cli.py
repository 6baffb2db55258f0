"""``imagelens video ingest --moderation`` and ``video search --dedup --moderation --also-index --where``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from imagelens.cli import app
from imagelens.config import Settings
from imagelens.video.write import write_slideshow
from tests.video.conftest import pattern


def test_cli_options(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMAGELENS_MODEL_DIR", str(settings.model_dir))
    monkeypatch.setenv("IMAGELENS_HUB__OFFLINE", "1")
    monkeypatch.setenv("IMAGELENS_STORE_DIR", str(settings.store_dir))
    rep, other = tmp_path / "rep.mp4", tmp_path / "other.mp4"
    write_slideshow(rep, [(pattern(s), 2.0) for s in (1, 2, 1, 2)], fps=10)
    write_slideshow(other, [(pattern(3), 2.0)], fps=10)
    runner = CliRunner()
    assert runner.invoke(app, ["video", "ingest", str(rep), "--index", "v", "--json"]).exit_code == 0
    monkeypatch.setenv("IMAGELENS_MODERATION__ADULT_THRESHOLD", "0")  # every key frame flagged
    r = runner.invoke(app, ["video", "ingest", str(other), "--index", "w", "--json", "--moderation"])
    assert r.exit_code == 0, r.output

    query = tmp_path / "q.png"
    Image.fromarray(pattern(1)).save(query)

    def search(*extra: str) -> list[dict[str, object]]:
        r = runner.invoke(
            app, ["video", "search", "--image", str(query), "--index", "v", "--top", "10", "--json", *extra]
        )
        assert r.exit_code == 0, r.output
        hits: list[dict[str, object]] = json.loads(r.stdout)["value"]
        return hits

    assert len(search()) == 4 and len(search("--dedup")) == 2
    assert search("--moderation") == []  # v was ingested without moderation: nothing passed it
    assert {h["documentId"] for h in search("--also-index", "w")} == {
        "rep.mp4"
    }  # w's only segment is flagged
    assert search("--where", "camera=1") == []  # no metadata from the CLI: nothing matches
    r = runner.invoke(app, ["video", "search", "x", "--index", "v", "--after", "recorded=2023-01-01"])
    assert r.exit_code != 0 and "not a metadata field of type 'datetime'" in r.output
    r = runner.invoke(app, ["video", "search", "x", "--index", "v", "--where", "oops"])
    assert r.exit_code != 0 and "FIELD=VALUE" in r.output
