"""The user's brand and landmark additions in PostgreSQL (issue 18): two "hosts" are two store folders on one
database. A brand added (with an example crop) on A is named by an analysis on B, a removal on B is seen by A,
landmarks likewise, two hosts adding at once lose nothing, and a reader checks one revision row, not the list."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont
from typer.testing import CliRunner

from imagelens.analyzer import Analyzer
from imagelens.cli import app
from imagelens.config import HubSettings, Settings
from imagelens.errors import InvalidArgumentError, NotFoundError
from imagelens.features.base import AnalysisOptions
from imagelens.features.brand_list import MAX_BRANDS, BrandUserStore, load_brand_list
from imagelens.features.brands import THRESHOLD_OPTION
from imagelens.features.landmark_list import add_landmarks, load_landmark_list, remove_landmarks
from imagelens.store import open_additions, pg_additions
from imagelens.store.additions import FileAdditions
from imagelens.store.pg_additions import PostgresAdditions
from imagelens.store.pgdb import Database, close_shared


def text_image(text: str, size: int = 48) -> np.ndarray:
    font = ImageFont.load_default(size=size)
    left, top, right, bottom = font.getbbox(text)
    img = Image.new("RGB", (right - left + 120, bottom - top + 120), "white")
    ImageDraw.Draw(img).text((60 - left, 60 - top), text, fill="black", font=font)
    return np.asarray(img)


@pytest.fixture
def hosts(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Settings, Settings]]:
    """Settings of host A and host B: one database, different store folders, no list file."""
    monkeypatch.setattr(pg_additions, "REFRESH_S", 0.0)  # check the revision on every read
    monkeypatch.delenv("IMAGELENS_BRANDS__FILE", raising=False)
    monkeypatch.delenv("IMAGELENS_LANDMARKS__FILE", raising=False)

    def host(name: str) -> Settings:
        return Settings(
            model_dir=tmp_path / "no-models", hub=HubSettings(offline=True), store_dir=tmp_path / name,
            database_url=pg_url,
        )  # fmt: skip

    try:
        yield host("hostA"), host("hostB")
    finally:
        close_shared()


def _cli(settings: Settings, monkeypatch: pytest.MonkeyPatch, *args: str) -> str:
    monkeypatch.setenv("IMAGELENS_STORE_DIR", str(settings.store_dir))
    monkeypatch.setenv("IMAGELENS_DATABASE_URL", str(settings.database_url))
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_brand_added_on_a_is_named_by_an_analysis_on_b(
    hosts: tuple[Settings, Settings], tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = hosts
    crop = tmp_path / "crop.png"
    Image.fromarray(text_image("Oatly")).save(crop)
    out = _cli(a, monkeypatch, "brands", "add", "Oatly", "--example", str(crop))
    assert "added 1 brand(s)" in out
    assert not (
        Path(str(a.store_dir)) / "brands" / "brands.json"
    ).exists()  # nothing in A's folder: the database

    b_tiny = b.model_copy(update={"model_dir": tiny_model_dir})
    brands = load_brand_list(b_tiny)
    assert brands.names == ("Oatly",) and list(brands.examples) == ["Oatly"]
    (local,) = brands.examples["Oatly"]  # B's own copy of A's crop, named by its content
    assert local.is_relative_to(Path(str(b.store_dir)))
    assert local.stem == hashlib.sha256(local.read_bytes()).hexdigest()
    with Image.open(local) as img, Image.open(crop) as original:
        assert img.size == original.size

    analyzer = Analyzer(b_tiny)  # tiny random OWLv2 + SigLIP (the logo path, B's prototype) and real OCR
    try:
        rgb = text_image("OATLY")
        result = analyzer.analyze(rgb, ["brands"], AnalysisOptions(extra={THRESHOLD_OPTION: 0.5}))
    finally:
        analyzer.close()
    assert result.brands is not None and "Oatly" in [x.name for x in result.brands]


def test_removal_on_b_is_seen_by_a_without_a_restart(hosts: tuple[Settings, Settings]) -> None:
    a, b = hosts
    store_a, store_b = BrandUserStore.for_settings(a), BrandUserStore.for_settings(b)
    assert store_a.add(["Oatly", "Arla"]) == ["Oatly", "Arla"]
    crop = Path(str(a.store_dir)) / "crop.png"
    crop.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(text_image("Arla")).save(crop)
    store_a.add_example("Arla", crop)
    store_a.add_example("Arla", crop)
    assert [len(v) for v in load_brand_list(a).examples.values()] == [2]
    assert load_brand_list(b).names == ("Oatly", "Arla")  # A's list is cached in A's process ...

    store_b.remove("Arla", in_file=False)  # ... and B's change is seen at A's next read
    brands = load_brand_list(a)
    assert brands.names == ("Oatly",) and not brands.examples and not store_a.examples()
    with pytest.raises(NotFoundError):
        store_a.remove("Arla", in_file=False)
    store_b.remove("Oatly", in_file=True)  # a name of a (B's) configured file: hidden everywhere
    assert store_a.state() == {"added": [], "removed": ["Oatly"]}
    assert store_a.add(["oatly"]) == ["oatly"] and store_b.state() == {"added": ["oatly"], "removed": []}
    with pytest.raises(InvalidArgumentError, match="would make 10,001"):  # the file's names + the additions
        store_b.add(["p", "q"], current=MAX_BRANDS - 2)
    assert store_b.add(["p"], current=MAX_BRANDS - 2) == ["p"]


def test_landmarks_added_on_a_are_used_on_b_and_removed_everywhere(
    hosts: tuple[Settings, Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = hosts
    out = _cli(a, monkeypatch, "landmarks", "add", "Eiffel Tower", "Big Ben (London)")
    assert "added 2" in out and "(landmarks)" in out
    assert not (Path(str(a.store_dir)) / "landmarks.json").exists()
    found = load_landmark_list(b)
    assert found.names == ("Eiffel Tower", "Big Ben (London)") and found.from_file == 0
    assert load_landmark_list(b) is found  # unchanged revision: the cached list
    assert add_landmarks(b, ["eiffel tower", "Colosseum"]) == ["Colosseum"]
    assert load_landmark_list(a).names == ("Eiffel Tower", "Big Ben (London)", "Colosseum")
    assert remove_landmarks(b, ["EIFFEL TOWER"]) == ["Eiffel Tower"]
    assert load_landmark_list(a).names == ("Big Ben (London)", "Colosseum")


def test_two_hosts_adding_at_once_lose_nothing(pg_url: str, tmp_path: Path) -> None:
    dbs = [Database.connect(pg_url) for _ in range(2)]  # two hosts: two pools, two folders
    try:
        stores = [
            BrandUserStore(PostgresAdditions(db, "brands", tmp_path / f"host{i}")) for i, db in enumerate(dbs)
        ]
        start = threading.Barrier(2)
        errors: list[BaseException] = []

        def work(i: int) -> None:
            try:
                start.wait()
                for n in range(25):
                    stores[i].add([f"brand {i}-{n}", "Shared"])
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        for store in stores:
            added = store.state()["added"]
            assert sorted(added) == sorted(
                ["Shared", *(f"brand {i}-{n}" for i in range(2) for n in range(25))]
            )
    finally:
        for db in dbs:
            db.close()


def test_a_read_checks_one_revision_row_and_reloads_only_on_change(
    hosts: tuple[Settings, Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = hosts
    add_landmarks(a, ["Eiffel Tower"])
    reader = open_additions(b, "landmarks")
    assert isinstance(reader, PostgresAdditions)
    loads: list[int] = []
    original = PostgresAdditions._load
    monkeypatch.setattr(PostgresAdditions, "_load", lambda self: (loads.append(1), original(self))[1])
    for _ in range(20):
        assert reader.state().added == ("Eiffel Tower",)
    assert loads == [1]  # loaded once: then only the revision is compared
    loads.clear()
    add_landmarks(a, ["Colosseum"])
    assert reader.state().added == ("Eiffel Tower", "Colosseum") and loads == [1]

    monkeypatch.setattr(pg_additions, "REFRESH_S", 3600.0)  # checked at most once an hour: no query at all
    reader.state()
    add_landmarks(a, ["Big Ben"])
    assert reader.state().added == ("Eiffel Tower", "Colosseum")  # B has not looked yet
    assert open_additions(a, "landmarks").state().added[-1] == "Big Ben"  # the writer's own change: at once
    monkeypatch.setattr(pg_additions, "REFRESH_S", 0.05)
    time.sleep(0.06)
    assert reader.state().added[-1] == "Big Ben"  # seen once the interval has passed, without a restart


def test_open_additions_chooses_files_without_a_database_url(tmp_path: Path) -> None:
    settings = Settings(store_dir=tmp_path / "store")
    brands, landmarks = open_additions(settings, "brands"), open_additions(settings, "landmarks")
    assert isinstance(brands, FileAdditions) and brands.file == tmp_path / "store" / "brands" / "brands.json"
    assert isinstance(landmarks, FileAdditions) and landmarks.file == tmp_path / "store" / "landmarks.json"
