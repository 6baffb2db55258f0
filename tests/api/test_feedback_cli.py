"""``imagelens feedback list|summary|export|purge`` over the store the server writes (SQLite in IMAGELENS_STORE_DIR)."""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from imagelens.cli import app
from imagelens.store.feedback import SQLiteFeedbackStore


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SQLiteFeedbackStore:
    monkeypatch.setenv("IMAGELENS_STORE_DIR", str(tmp_path / "store"))
    monkeypatch.delenv("IMAGELENS_DATABASE_URL", raising=False)
    now = [time.time() - 10 * 86400.0]  # ten days ago, one item a day
    feedback = SQLiteFeedbackStore(tmp_path / "store", retention_days=None, clock=lambda: now[0])
    for n, (feature, verdict, value) in enumerate(
        [("tags", "offensive", "Slur"), ("tags", "incorrect", "cat"), ("read", "missing", "=HYPERLINK(1)")]
    ):
        feedback.add(
            feature=feature,
            verdict=verdict,
            client="addr:x",
            value=value,
            expected={"n": n},
            comment="a,b\nc",
        )
        now[0] += 86400.0
    return feedback


def _run(*args: str) -> str:
    result = CliRunner().invoke(app, ["feedback", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_list_and_summary(store: SQLiteFeedbackStore) -> None:
    lines = _run("list").splitlines()
    assert [line.split()[2:4] for line in lines] == [
        ["read", "missing"],
        ["tags", "incorrect"],
        ["tags", "offensive"],
    ]
    rows = [
        json.loads(line) for line in _run("list", "--json", "--feature", "tags", "--top", "1").splitlines()
    ]
    assert [(r["verdict"], r["value"]) for r in rows] == [("incorrect", "cat")]
    summary = json.loads(_run("summary", "--json"))
    assert summary["total"] == 3 and [c["name"] for c in summary["tagCandidates"]] == ["cat", "slur"]
    assert "slur" in _run("summary")


def test_export_jsonl_and_csv(store: SQLiteFeedbackStore, tmp_path: Path) -> None:
    _run("export", "-o", str(tmp_path / "out.jsonl"))
    items = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [i["expected"] for i in items] == [{"n": 2}, {"n": 1}, {"n": 0}]
    _run("export", "-o", str(tmp_path / "out.csv"), "--verdict", "offensive")
    with (tmp_path / "out.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1 and rows[0]["value"] == "Slur" and rows[0]["comment"] == "a,b\nc"
    assert json.loads(rows[0]["expected"]) == {"n": 0}
    _run("export", "-o", str(tmp_path / "read.csv"), "--feature", "read")
    with (tmp_path / "read.csv").open(newline="") as f:
        assert next(csv.DictReader(f))["value"] == "'=HYPERLINK(1)"  # never a formula in a spreadsheet
    bad = CliRunner().invoke(app, ["feedback", "export", "-o", str(tmp_path / "out.txt")])
    assert bad.exit_code == 2 and ".jsonl or .csv" in bad.output


def test_purge(store: SQLiteFeedbackStore, monkeypatch: pytest.MonkeyPatch) -> None:
    assert _run("purge").strip() == "0 item(s) deleted"  # all within the default 90 days
    assert _run("purge", "--older-than-days", "9.5").strip() == "1 item(s) deleted"
    monkeypatch.setenv("IMAGELENS_FEEDBACK__RETENTION_DAYS", "8.5")
    assert _run("purge").strip() == "1 item(s) deleted"
    assert _run("purge", "--all").strip() == "1 item(s) deleted" and store.list() == []


def test_turned_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMAGELENS_STORE_DIR", str(tmp_path))
    monkeypatch.setenv("IMAGELENS_FEEDBACK__ENABLED", "false")
    result = CliRunner().invoke(app, ["feedback", "list"])
    assert result.exit_code == 2 and "turned off" in result.output
