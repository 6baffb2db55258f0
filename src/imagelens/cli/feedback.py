"""``imagelens feedback list|summary|export|purge``: the operator's view of user feedback (docs/feedback.md), read from
the same store the server writes (SQLite in the store folder, or PostgreSQL with ``IMAGELENS_DATABASE_URL``)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Annotated

import typer

from imagelens.cli._common import cli_errors, print_json
from imagelens.config import Settings
from imagelens.errors import InvalidArgumentError
from imagelens.store.feedback import FeedbackStore

feedback_app = typer.Typer(
    help="Review user feedback on results (reported with POST /imagelens/v1/feedback).", no_args_is_help=True
)
CSV_COLUMNS = (
    "id",
    "createdDateTime",
    "feature",
    "verdict",
    "client",
    "requestId",
    "value",
    "expected",
    "comment",
    "imageSha256",
)

Feature = Annotated[str | None, typer.Option(help="only this feature (tags, read, ...)")]
Verdict = Annotated[
    str | None, typer.Option(help="only this verdict: incorrect, offensive, missing, correct")
]
Since = Annotated[str | None, typer.Option(help="only items created at or after this ISO date-time")]


def _store(settings: Settings | None = None) -> FeedbackStore:
    from imagelens.store import open_feedback

    settings = settings or Settings()
    if not settings.feedback.enabled:
        raise InvalidArgumentError("Feedback is turned off (IMAGELENS_FEEDBACK__ENABLED=false).")
    return open_feedback(settings)


def _since(text: str | None) -> float | None:
    from imagelens.store.feedback import parse_time

    return None if not text else parse_time(text)


@feedback_app.command("list")
def list_command(
    feature: Feature = None,
    verdict: Verdict = None,
    since: Since = None,
    top: Annotated[int, typer.Option(help="items at most, newest first")] = 50,
    skip: Annotated[int, typer.Option(help="skip this many newest items")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object a line")] = False,
) -> None:
    """List feedback, newest first."""
    from imagelens.store.feedback import check_page, iso

    with cli_errors():
        check_page(top, skip)
        items = _store().list(feature=feature, verdict=verdict, since=_since(since), top=top, skip=skip)
    for item in items:
        if as_json:
            print_json(item.to_json())
            continue
        what = item.value if item.value is not None else ""
        note = f"  {item.comment[:60]!r}" if item.comment else ""
        typer.echo(f"{iso(item.created)}  {item.id}  {item.feature:<14} {item.verdict:<9} {what}{note}")


@feedback_app.command("summary")
def summary_command(
    since: Since = None,
    as_json: Annotated[bool, typer.Option("--json", help="the summary as one JSON object")] = False,
) -> None:
    """Counts per feature and verdict, and the tags most often reported incorrect or offensive."""
    from imagelens.store.feedback import summarize

    with cli_errors():
        summary = summarize(iter(_store().list(since=_since(since), top=None)))
    if as_json:
        print_json(summary)
        return
    typer.echo(f"{summary['total']} feedback item(s)")
    for feature, counts in summary["counts"].items():
        typer.echo(f"  {feature:<16} " + ", ".join(f"{v} {n}" for v, n in counts.items()))
    if summary["tagCandidates"]:
        typer.echo("tags reported incorrect/offensive most often (block-list candidates):")
        for entry in summary["tagCandidates"]:
            typer.echo(f"  {entry['name']:<24} {entry['total']}")


def _cell(value: object) -> object:
    """A CSV cell a spreadsheet will not run: user text starting with = + - @ (or a tab/CR) gets a leading '."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


@feedback_app.command("export")
def export_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="the file to write: .jsonl or .csv")],
    feature: Feature = None,
    verdict: Verdict = None,
    since: Since = None,
) -> None:
    """Write every kept item (newest first) to a JSON Lines or CSV file."""
    suffix = out.suffix.lower()
    with cli_errors():
        if suffix not in (".jsonl", ".csv"):
            raise InvalidArgumentError(f"--out must end in .jsonl or .csv; got {out.name!r}.")
        items = _store().list(feature=feature, verdict=verdict, since=_since(since), top=None)
    with out.open("w", encoding="utf-8", newline="") as f:
        if suffix == ".jsonl":
            for item in items:
                f.write(json.dumps(item.to_json(), ensure_ascii=False) + "\n")
        else:
            writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
            writer.writeheader()
            for item in items:
                row = item.to_json()
                if "expected" in row:
                    row["expected"] = json.dumps(row["expected"], ensure_ascii=False)
                writer.writerow({k: _cell(v) for k, v in row.items()})
    typer.echo(f"{len(items)} item(s) written to {out}", err=True)


@feedback_app.command("purge")
def purge_command(
    older_than_days: Annotated[
        float | None, typer.Option(help="also delete items older than this many days")
    ] = None,
    purge_all: Annotated[bool, typer.Option("--all", help="delete every item")] = False,
) -> None:
    """Apply the retention settings now (feedback.retention_days, feedback.max_items), and optionally more."""
    import time

    with cli_errors():
        if older_than_days is not None and older_than_days < 0:
            raise InvalidArgumentError("--older-than-days must be 0 or more.")
        before = None
        if purge_all:
            before = float("inf")
        elif older_than_days is not None:
            before = time.time() - older_than_days * 86400.0
        gone = _store().purge(before)
    typer.echo(f"{gone} item(s) deleted")


def register(app: typer.Typer) -> None:
    app.add_typer(feedback_app, name="feedback")
