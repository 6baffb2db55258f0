"""``imagelens video ingest|search|summary`` end to end on tiny random models."""

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


@pytest.fixture()
def env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("IMAGELENS_MODEL_DIR", str(settings.model_dir))
    monkeypatch.setenv("IMAGELENS_HUB__OFFLINE", "1")
    monkeypatch.setenv("IMAGELENS_STORE_DIR", str(settings.store_dir))
    return settings


def test_ingest_search_and_clips(env: Settings, tmp_path: Path) -> None:
    one, two = tmp_path / "one.mp4", tmp_path / "two.mkv"
    write_slideshow(one, [(pattern(1), 2.0), (pattern(2), 2.0), (pattern(3), 2.0)])
    write_slideshow(two, [(pattern(4), 3.0), (pattern(5), 1.5)])
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\0" * 64)
    runner = CliRunner()
    r = runner.invoke(app, ["video", "ingest", str(one), str(two), str(junk), "--index", "v", "--json"])
    assert r.exit_code == 2, r.output
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert [row.get("documentId") for row in rows[:2]] == ["one.mp4", "two.mkv"]
    assert rows[0]["cuts"] == 2 and rows[0]["segments"] >= 3 and rows[1]["cuts"] == 1
    assert rows[2]["error"]["code"] == "InvalidVideoFormat"

    query = tmp_path / "q.png"
    Image.fromarray(pattern(2)).save(query)  # one.mp4's second shot, 2-4 s
    r = runner.invoke(app, ["video", "search", "--image", str(query), "--index", "v", "--top", "1", "--json"])
    assert r.exit_code == 0, r.output
    hit = json.loads(r.stdout)["value"][0]
    assert (hit["documentId"], hit["start"], hit["end"]) == (
        "one.mp4",
        "00:00:02.0000000",
        "00:00:04.0000000",
    )

    r = runner.invoke(
        app,
        ["video", "search", "stripes", "--index", "v", "--video", "two.mkv", "--clips", str(tmp_path / "c")],
    )
    assert r.exit_code == 0, r.output
    lines = r.stdout.strip().splitlines()
    assert lines and all("two.mkv" in line and " - " in line for line in lines)
    written = sorted((tmp_path / "c").glob("*.mp4"))
    assert len(written) == len(lines) and all(p.stat().st_size > 0 for p in written)

    r = runner.invoke(app, ["video", "search", "x", "--index", "nope"])
    assert r.exit_code == 2 or r.exit_code == 1
    assert "does not exist" in r.output


def test_summary_writes_a_timeline_and_json(env: Settings, tmp_path: Path) -> None:
    video = tmp_path / "s.mp4"
    write_slideshow(video, [(pattern(i), 1.5) for i in range(4)])
    out = tmp_path / "timeline.png"
    r = CliRunner().invoke(app, ["video", "summary", str(video), "-o", str(out), "--json"])
    assert r.exit_code == 0, r.output
    body = json.loads(r.stdout)
    assert body["timeline"] == str(out) and body["cuts"] == [1.5, 3.0, 4.5]
    assert [s["start"] for s in body["scenes"]][:1] == [0.0] and len(body["scenes"]) >= 4
    assert body["captioner"] == "florence-2-base" and all(
        isinstance(s["caption"], str) for s in body["scenes"]
    )
    with Image.open(out) as png:
        assert png.width > 400 and png.height > 100
    r = CliRunner().invoke(
        app, ["video", "summary", str(video), "--max-scenes", "2", "--no-captions", "--json"]
    )
    body = json.loads(r.stdout)
    assert len(body["scenes"]) == 2 and body["captioner"] is None
