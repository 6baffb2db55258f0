"""Vectorize, ingest and search on a tiny random SigLIP through the real hub: contracts, not quality."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image
from typer.testing import CliRunner

from imagelens.analyzer import Analyzer
from imagelens.cli import app
from imagelens.config import Settings
from imagelens.errors import InvalidArgumentError, InvalidRequestError
from imagelens.retrieval import search as rs
from imagelens.retrieval.base import EmbeddingModel, Filters, MixedVectorsError, VectorDimensionError
from imagelens.retrieval.evaluate import recall_at_k
from imagelens.retrieval.ingest import exif_taken, expand, ingest, rebuild
from imagelens.retrieval.vectorize import BlockList, QueryBlockedError, model_of
from imagelens.types import BoundingBox


def _picture(seed: int, shape: tuple[int, int] = (64, 96)) -> npt.NDArray[np.uint8]:
    rng = np.random.default_rng(seed)
    h, w = shape
    y, x = np.mgrid[0:h, 0:w]
    base = rng.integers(0, 255, 3)
    img = np.stack([(x * base[0]) // w, (y * base[1]) // h, ((x + y) * base[2]) // (h + w)], axis=-1)
    return img.astype(np.uint8)


@pytest.fixture()
def settings(tiny_settings: Settings, tmp_path: Path) -> Settings:
    return tiny_settings.model_copy(update={"store_dir": tmp_path / "store"})


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "photos"
    (root / "sub").mkdir(parents=True)
    for i in range(6):
        target = root / ("sub" if i % 2 else "") / f"p{i}.png"
        Image.fromarray(_picture(i)).save(target)
    exif = Image.Exif()
    exif[306] = "2021:07:04 12:30:00"
    Image.fromarray(_picture(42)).save(root / "dated.jpg", exif=exif)
    (root / "notes.txt").write_text("not an image")
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    return root


def test_vectorize_image_and_text_share_one_normalised_space(settings: Settings) -> None:
    analyzer = Analyzer(settings)
    img = analyzer.vectorize_image(_picture(0))
    txt = analyzer.vectorize_text("a red bicycle")
    assert img.vector.shape == txt.vector.shape and img.vector.dtype == np.float32
    assert math.isclose(float(np.linalg.norm(img.vector)), 1.0, abs_tol=1e-5)
    assert math.isclose(float(np.linalg.norm(txt.vector)), 1.0, abs_tol=1e-5)
    assert img.model_version == txt.model_version == "siglip2-base-patch16-224"
    assert (img.width, img.height) == (96, 64)
    embedder = analyzer.hub.embedder()
    np.testing.assert_allclose(img.vector, embedder.embed_images([_picture(0)])[0], atol=1e-5)
    region = analyzer.vectorize_image(_picture(0), region=BoundingBox(10, 5, 40, 30))
    np.testing.assert_allclose(region.vector, embedder.embed_images([_picture(0)[5:35, 10:50]])[0], atol=1e-5)
    assert analyzer.vectorize_text("x", model_version="latest").model_version == txt.model_version


@pytest.mark.parametrize(
    ("text", "match"),
    [("", "empty"), ("   ", "empty"), ("x" * 10_000_000, "10,000,000 characters"), (None, "string")],
)
def test_bad_query_texts_are_clear_errors(settings: Settings, text: object, match: str) -> None:
    with pytest.raises(InvalidRequestError, match=match):
        Analyzer(settings).vectorize_text(text)  # type: ignore[arg-type]


def test_bad_model_version_and_region(settings: Settings) -> None:
    analyzer = Analyzer(settings)
    with pytest.raises(InvalidArgumentError, match="2023-04-15.*not available|not available"):
        analyzer.vectorize_text("cat", model_version="2023-04-15")
    with pytest.raises(InvalidArgumentError, match="inside the 96x64 image"):
        analyzer.vectorize_image(_picture(0), region=BoundingBox(90, 0, 20, 20))


def test_blocklist_whole_words_case_insensitive(tmp_path: Path) -> None:
    path = tmp_path / "block.txt"
    path.write_text("# comment\nForbidden\nbad phrase\n")
    blocks = BlockList.from_file(path)
    blocks.check("a forbiddenfruit")  # not a whole word
    blocks.check("bad")
    with pytest.raises(QueryBlockedError):
        blocks.check("Show me FORBIDDEN things")
    with pytest.raises(QueryBlockedError):
        blocks.check("a  Bad   Phrase!")


def test_ingest_search_filters_and_skips(settings: Settings, folder: Path) -> None:
    analyzer = Analyzer(settings)
    items = expand([str(folder), str(folder / "notes.txt")])
    assert str((folder / "sub" / "p1.png").resolve()) in items and len(items) == 9
    model = model_of(analyzer.hub.embedder())
    index = rs.create_index(settings, "photos", model)
    report = ingest(analyzer, index, items, batch_size=3, fields={"album": "summer"})
    assert (report.added, report.updated, report.unchanged) == (7, 0, 0)
    assert sorted(Path(p).name for p, _ in report.skipped) == ["broken.jpg", "notes.txt"]
    again = ingest(analyzer, index, items, batch_size=3)
    assert (again.added, again.unchanged, len(again.skipped)) == (0, 7, 2)  # resumable: unchanged by hash
    Image.fromarray(_picture(99)).save(folder / "p0.png")
    assert ingest(analyzer, index, items).updated == 1

    retriever = rs.Retriever(analyzer, rs.open_index(settings, "photos"), BlockList(("forbidden",)))
    by_image = retriever.by_image(folder / "sub" / "p3.png", top=3)
    assert by_image.hits[0].document_id.endswith("p3.png")
    assert by_image.hits[0].relevance == pytest.approx(1.0, abs=1e-4)
    by_text = retriever.by_text("a photo", top=7)
    assert len(by_text.hits) == 7 and by_text.kind == "text"
    embedder = analyzer.hub.embedder()
    for hit in by_text.hits:
        expected = 1 / (1 + math.exp(-(embedder.logit_scale * hit.cosine + embedder.logit_bias)))
        assert hit.relevance == pytest.approx(expected, abs=1e-6) and 0.0 <= hit.relevance <= 1.0
    paged = retriever.by_text("a photo", top=3, skip=3)
    assert [h.document_id for h in paged.hits] == [h.document_id for h in by_text.hits[3:6]]
    dated = retriever.by_text(
        "a photo", top=7, filters=Filters(taken_from="2021-07-01", taken_to="2021-07-31")
    )
    assert [Path(h.document_id).name for h in dated.hits] == ["dated.jpg"]
    assert dated.hits[0].metadata["taken"] == "2021-07-04T12:30:00"
    assert all(h.metadata["fields"] == {"album": "summer"} for h in by_text.hits if "p0" not in h.document_id)
    with pytest.raises(QueryBlockedError):
        retriever.by_text("something Forbidden")
    with pytest.raises(VectorDimensionError):
        retriever.by_vector([0.1] * 5)
    assert retriever.by_vector(
        by_image.hits[0].metadata and index.get(by_image.hits[0].document_id).vector.tolist()
    ).hits  # type: ignore[union-attr]


def test_near_duplicates_and_model_change(settings: Settings, tmp_path: Path) -> None:
    analyzer = Analyzer(settings)
    folder = tmp_path / "dups"
    folder.mkdir()
    Image.fromarray(_picture(1)).save(folder / "a.png")
    Image.fromarray(_picture(1)).save(folder / "a_copy.jpg", quality=95)
    Image.fromarray(_picture(7)).save(folder / "b.png")
    index = rs.create_index(settings, "dups", model_of(analyzer.hub.embedder()))
    ingest(analyzer, index, expand([str(folder)]))
    groups = rs.near_duplicates(index, threshold=0.99)
    assert [[Path(p).name for p in g] for g in groups] == [["a.png", "a_copy.jpg"]]
    # an index built with other weights refuses these vectors, and rebuild re-embeds in place
    stale = rs.create_index(
        settings, "stale", EmbeddingModel(index.model.model_id, "0" * 64, index.model.dim)
    )
    with pytest.raises(MixedVectorsError, match="rebuild"):
        ingest(analyzer, stale, expand([str(folder)]))
    stale.upsert([d for d in index.documents()])  # raw vectors: only the dimension is checked
    fresh, report = rebuild(analyzer, rs.open_index(settings, "stale"))
    assert report.added == 3 and fresh.model == index.model and len(fresh) == 3


def test_exif_and_recall_helpers() -> None:
    assert exif_taken(b"not an image") is None
    sims = np.array([[0.9, 0.1, 0.2], [0.5, 0.4, 0.6], [0.1, 0.2, 0.3]])
    assert recall_at_k(sims, np.array([0, 0, 2]), (1, 2)) == {"recall@1": 0.6667, "recall@2": 1.0}


def test_cli_index_search_vectorize(
    settings: Settings, folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMAGELENS_MODEL_DIR", str(settings.model_dir))
    monkeypatch.setenv("IMAGELENS_HUB__OFFLINE", "1")
    monkeypatch.setenv("IMAGELENS_STORE_DIR", str(settings.store_dir))
    runner = CliRunner()
    out = runner.invoke(app, ["index", "add", str(folder), "--field", "who=me", "--json"])
    assert out.exit_code == 0, out.output
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["added"] == 7 and report["skipped"] == 2
    assert "warning: skipped" in out.stderr
    stats = runner.invoke(app, ["index", "stats", "--json"])
    assert json.loads(stats.stdout)["documentCount"] == 7
    sheet = tmp_path / "sheet.png"
    hits = runner.invoke(app, ["search", "a red bicycle", "--top", "3", "--json", "--sheet", str(sheet)])
    assert hits.exit_code == 0, hits.output
    assert len(json.loads(hits.stdout)["value"]) == 3
    with Image.open(sheet) as im:
        assert im.size == (3 * 192, 24 + 192 + 28)
    table = runner.invoke(app, ["search", "--image", str(folder / "p2.png"), "--where", "who=me"])
    assert table.exit_code == 0 and "p2.png" in table.stdout.splitlines()[1]
    empty = runner.invoke(app, ["search", "  "])
    assert empty.exit_code == 2 and "empty" in empty.stderr
    vec = runner.invoke(app, ["vectorize", "--text", "hello"])
    assert vec.exit_code == 0 and set(json.loads(vec.stdout)) == {"modelVersion", "vector"}
    removed = runner.invoke(app, ["index", "remove", str(folder / "p2.png")])
    assert "1 removed" in removed.stdout
    dup = runner.invoke(app, ["index", "duplicates", "--json"])
    assert dup.exit_code == 0
    missing = runner.invoke(app, ["index", "stats", "--index", "nope"])
    assert missing.exit_code == 2 and "does not exist" in missing.stderr
