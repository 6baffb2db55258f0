"""The local engine end to end: folder, glob and URL list in; JSONL and Parquet out; per-item Azure errors; resume
by content hash; a crash mid-run leaves a valid output that a rerun completes; index-add and remove-bg."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from PIL import Image

from imagelens.analyzer import Analyzer
from imagelens.azure.analysis import analysis_result_json
from imagelens.batch.local import LocalEngine
from imagelens.batch.output import open_output, read_rows
from imagelens.batch.runner import run_batch
from imagelens.batch.sources import expand_source
from imagelens.batch.tasks import BatchTask
from imagelens.config import HubSettings, Settings
from imagelens.errors import InvalidArgumentError

from .conftest import picture

FEATURES = ("color", "smartCrops")


def _task(settings: Settings) -> BatchTask:
    return BatchTask("analyze", settings=settings, features=FEATURES)


def test_sources_folder_glob_list_and_url(folder: Path, url_list: Path) -> None:
    files = expand_source(folder)
    assert len(files) == 10 and all(Path(f).is_absolute() for f in files)
    assert [Path(f).name for f in expand_source(str(folder / "*.png"))] == [
        f"p{i}.png" for i in (0, 1, 2, 4, 5, 6)
    ] + ["tiny.png"]
    urls = expand_source(url_list)
    assert len(urls) == 4 and all(u.startswith("http://127.0.0.1:") for u in urls)
    assert expand_source("https://example.com/a.jpg") == ["https://example.com/a.jpg"]
    with pytest.raises(InvalidArgumentError):
        expand_source(str(folder / "*.nothing"))


def test_local_pool_rows_match_the_analyzer_and_bad_items_do_not_stop_it(
    folder: Path, url_list: Path, settings: Settings, tmp_path: Path
) -> None:
    items = expand_source(folder) + expand_source(url_list)
    out = tmp_path / "out.jsonl"
    seen: list[tuple[int, int]] = []
    report = run_batch(
        _task(settings), items, out, LocalEngine(2), chunk_size=3, progress=lambda d, t: seen.append((d, t))
    )
    assert (report.ok, report.errors, report.unchanged) == (11, 3, 0)
    assert report.error_codes == {"InvalidImageFormat": 1, "InvalidImageSize": 1, "InvalidImageUrl": 1}
    assert seen[-1] == (14, 14)
    rows = {r["source"]: r for r in read_rows(out)}
    assert set(rows) == set(items) and len(out.read_text().splitlines()) == 14
    analyzer = Analyzer(settings)
    for source, row in rows.items():
        if row["status"] == "ok":
            assert row["error"] is None
            assert row["result"] == analysis_result_json(analyzer.analyze(source, FEATURES))
        else:
            assert row["result"] is None and set(row["error"]) == {"code", "message", "innererror"}
    assert rows[str(folder / "broken.jpg")]["error"]["innererror"]["code"] == "InvalidImageFormat"
    gone = next(s for s in rows if s.endswith("/gone.png"))
    assert rows[gone]["sha256"] is None and rows[gone]["error"]["code"] == "InvalidRequest"


def test_private_urls_are_refused_without_the_setting(url_list: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    report = run_batch(BatchTask("analyze", features=FEATURES), expand_source(url_list), out, LocalEngine(1))
    assert report.errors == 4 and report.error_codes == {"InvalidImageUrl": 4}


def test_rerun_skips_unchanged_redoes_changed_and_keeps_one_row_per_source(
    folder: Path, settings: Settings, tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    items = expand_source(folder)
    first = run_batch(_task(settings), items, out, LocalEngine(1))
    assert (first.ok, first.errors) == (8, 2)
    Image.fromarray(picture(123)).save(folder / "p0.png")  # changed content
    Image.fromarray(picture(7)).save(folder / "new.png")
    again = run_batch(_task(settings), expand_source(folder), out, LocalEngine(1))
    assert (again.ok, again.errors, again.unchanged) == (2, 0, 9)  # errors with a known hash are not retried
    retried = run_batch(_task(settings), expand_source(folder), out, LocalEngine(1), retry_errors=True)
    assert (retried.ok, retried.errors, retried.unchanged) == (0, 2, 9)
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == 11 == len({r["source"] for r in lines})  # compacted: the last row of each source
    p0 = next(r for r in lines if r["source"].endswith("p0.png"))
    assert p0["result"] == analysis_result_json(Analyzer(settings).analyze(folder / "p0.png", FEATURES))


def test_parquet_holds_the_same_rows_as_jsonl(folder: Path, settings: Settings, tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    items = expand_source(folder)
    run_batch(_task(settings), items, tmp_path / "a.jsonl", LocalEngine(1))
    report = run_batch(_task(settings), items, tmp_path / "a.parquet", LocalEngine(1), chunk_size=4)
    assert report.ok == 8 and not (tmp_path / "a.parquet.parts").exists()
    table = pq.read_table(tmp_path / "a.parquet")
    assert table.column_names == ["source", "status", "sha256", "result", "error"] and table.num_rows == 10
    by_source = lambda rows: {r["source"]: r for r in rows}  # noqa: E731
    assert by_source(read_rows(tmp_path / "a.parquet")) == by_source(read_rows(tmp_path / "a.jsonl"))
    assert run_batch(_task(settings), items, tmp_path / "a.parquet", LocalEngine(1)).unchanged == 10


def test_a_torn_last_line_is_cut_and_the_run_resumes(
    folder: Path, settings: Settings, tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    items = expand_source(folder)
    run_batch(_task(settings), items[:4], out, LocalEngine(1))
    with out.open("a") as f:
        f.write('{"source": "half a ro')  # the crash hit in the middle of a write
    report = run_batch(_task(settings), items, out, LocalEngine(1))
    assert report.unchanged == 4 and report.ok + report.errors == 6
    assert len([json.loads(line) for line in out.read_text().splitlines()]) == 10


CRASH = """
import os, sys
from pathlib import Path
from imagelens.batch.local import LocalEngine
from imagelens.batch.runner import run_batch
from imagelens.batch.sources import expand_source
from imagelens.batch.tasks import BatchTask
def progress(done, total):
    if done >= 4:
        os._exit(9)  # dies like a kill -9: no finish(), no cleanup
run_batch(BatchTask("analyze", features=("color", "smartCrops")), expand_source(sys.argv[1]), Path(sys.argv[2]),
          LocalEngine(2), chunk_size=2, progress=progress)
"""


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_a_crash_mid_run_leaves_a_valid_output_that_a_rerun_completes(
    folder: Path, settings: Settings, tmp_path: Path, suffix: str
) -> None:
    if suffix == ".parquet":
        pytest.importorskip("pyarrow")
    out = tmp_path / f"out{suffix}"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(CRASH), str(folder), str(out)], env=env, timeout=120
    )
    assert proc.returncode == 9
    partial = open_output(out).existing()
    assert 4 <= len(partial) < 10  # whole chunks only, every row readable
    report = run_batch(_task(settings), expand_source(folder), out, LocalEngine(1))
    assert report.unchanged == len(partial) and report.ok + report.errors == 10 - len(partial)
    rows = read_rows(out)
    assert len(rows) == 10 == len({r["source"] for r in rows})


def test_index_add_fills_the_retrieval_index(
    folder: Path, settings: Settings, tiny_dir: Path, tmp_path: Path
) -> None:
    from imagelens.retrieval import search as rs

    settings = settings.model_copy(update={"model_dir": tiny_dir})
    out = tmp_path / "index.jsonl"
    task = BatchTask("index-add", settings=settings)
    report = run_batch(
        task, expand_source(folder), out, LocalEngine(1), index_name="photos", fields={"album": "a"}
    )
    assert (report.ok, report.errors, report.indexed) == (8, 2, 8)
    index = rs.open_index(settings, "photos")
    assert len(index) == 8
    row = next(r for r in read_rows(out) if r["source"].endswith("p1.png"))
    assert row["result"]["modelVersion"] == "siglip2-base-patch16-224"
    doc = index.get(row["source"])
    assert doc is not None and doc.sha256 == row["sha256"] and doc.fields == {"album": "a"}
    assert doc.vector.tolist() == pytest.approx(row["result"]["vector"], abs=1e-6)
    index.close()
    assert run_batch(task, expand_source(folder), out, LocalEngine(1), index_name="photos").indexed == 0


def test_remove_bg_writes_one_png_per_image(
    folder: Path, settings: Settings, tiny_dir: Path, tmp_path: Path
) -> None:
    pytest.importorskip("ai_edge_litert")
    settings = settings.model_copy(update={"model_dir": tiny_dir})
    out = tmp_path / "cut.jsonl"
    report = run_batch(BatchTask("remove-bg", settings=settings), expand_source(folder), out, LocalEngine(1))
    assert report.ok == 8 and report.errors == 2
    for row in read_rows(out):
        if row["status"] == "ok":
            png = Path(row["result"]["output"])
            assert png.parent == tmp_path / "cut-images" and png.name.endswith(f"-{row['sha256'][:12]}.png")
            with Image.open(png) as im:
                assert im.mode == "RGBA" and im.size == (row["result"]["width"], row["result"]["height"])


def test_a_missing_model_fails_the_run_once_before_any_row(folder: Path, tmp_path: Path) -> None:
    from imagelens.errors import ModelUnavailableError

    settings = Settings(
        model_dir=tmp_path / "empty", store_dir=tmp_path / "store", hub=HubSettings(offline=True)
    )
    out = tmp_path / "out.jsonl"
    with pytest.raises(ModelUnavailableError):
        run_batch(BatchTask("index-add", settings=settings), expand_source(folder), out, LocalEngine(2))
    assert read_rows(out) == []


def test_two_runs_never_write_one_output_at_once(folder: Path, settings: Settings, tmp_path: Path) -> None:
    from imagelens.batch.output import exclusive
    from imagelens.errors import ConflictError

    out = tmp_path / "out.jsonl"
    with exclusive(out), pytest.raises(ConflictError, match="Another batch"):
        run_batch(_task(settings), expand_source(folder), out, LocalEngine(1))
    assert run_batch(_task(settings), expand_source(folder), out, LocalEngine(1)).ok == 8
