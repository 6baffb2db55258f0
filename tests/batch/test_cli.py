"""``imagelens batch ...``: the report, the exit codes, the output files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from imagelens.batch.output import read_rows
from imagelens.cli import app


def test_batch_analyze_writes_rows_and_reports(folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "rows.jsonl"
    args = ["batch", "analyze", str(folder), "-o", str(out), "-f", "color", "--workers", "1", "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert (report["ok"], report["errors"], report["engine"]) == (8, 2, "local")
    assert report["errorCodes"] == {"InvalidImageFormat": 1, "InvalidImageSize": 1}
    rows = read_rows(out)
    assert len(rows) == 10 and all("colorResult" in r["result"] for r in rows if r["status"] == "ok")
    again = CliRunner().invoke(app, [*args[:-1]])
    assert again.exit_code == 0 and "10 unchanged" in again.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-o", "out.csv"], "must end in .jsonl or .parquet"),
        (["-o", "out.jsonl", "-f", "nope"], "nope"),
        (["-o", "out.jsonl", "--workers", "0"], "workers"),
    ],
)
def test_bad_arguments_exit_2(folder: Path, tmp_path: Path, args: list[str], message: str) -> None:
    args = [a if a != "out.csv" and a != "out.jsonl" else str(tmp_path / a) for a in args]
    result = CliRunner().invoke(app, ["batch", "analyze", str(folder), *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
