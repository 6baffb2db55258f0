"""``imagelens video ingest|search|summary``: the same :mod:`imagelens.video` calls the HTTP routes make."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from imagelens.cli._common import EXIT_BAD_INPUT, cli_errors, print_json, require_extra

video_app = typer.Typer(
    help="Videos: index them, find the moment by text or image, scene summaries.", no_args_is_help=True
)
IndexOpt = Annotated[str, typer.Option("--index", "-i", help="the video index name")]
IntervalOpt = Annotated[
    float | None,
    typer.Option("--interval", help="seconds between samples (default IMAGELENS_VIDEO_INTERVAL_S or 1)"),
]


def _settings(interval: float | None, cuts: bool = True) -> Any:
    from imagelens.video.settings import VideoSettings

    settings = VideoSettings()
    update: dict[str, Any] = {"detect_cuts": cuts and settings.detect_cuts}
    if interval is not None:
        update["interval_s"] = interval
    return settings.model_copy(update=update)


def _clock(seconds: float) -> str:
    m, s = divmod(seconds, 60.0)
    h, m = divmod(int(m), 60)
    return f"{h:d}:{m:02d}:{s:06.3f}"


@video_app.command("ingest")
def ingest_command(
    videos: Annotated[list[Path], typer.Argument(help="video files (any container/codec FFmpeg decodes)")],
    index: IndexOpt = "videos",
    interval: IntervalOpt = None,
    cuts: Annotated[bool, typer.Option("--cuts/--no-cuts", help="also sample at detected shot cuts")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON line per video")] = False,
    speech: Annotated[
        bool,
        typer.Option(
            "--speech", help="also transcribe the audio (needs: imagelens models pull whisper-base)"
        ),
    ] = False,
    moderation: Annotated[
        bool,
        typer.Option(
            "--moderation", help="check each segment's key frame (adult feature); flagged ones are withheld"
        ),
    ] = False,
) -> None:
    """Index videos (the index is created on first use); a video already indexed under its file name is replaced.
    A bad video is reported and skipped; the exit code is 2 if any failed."""
    require_extra("video", "av")
    with cli_errors():
        from imagelens.analyzer import Analyzer
        from imagelens.errors import ImageLensError
        from imagelens.retrieval.vectorize import model_of
        from imagelens.video.ingest import ingest_video
        from imagelens.video.store import create_video_index

        analyzer = Analyzer()
        if speech:
            from imagelens.video.speech import require_speech_model

            require_speech_model(analyzer.hub)
        features = [{"name": "vision"}, {"name": "speech"}] if speech else None
        vindex = create_video_index(
            analyzer.settings, index, model_of(analyzer.hub.embedder()), features, exist_ok=True
        )
        settings = _settings(interval, cuts)
        failed = 0
        try:
            for n, path in enumerate(videos, 1):

                def progress(doc: str, t: float, total: float | None, n: int = n) -> None:
                    if not as_json:
                        of = f" / {total:.0f} s" if total else " s"
                        typer.echo(f"\r[{n}/{len(videos)}] {doc}: {t:.0f}{of}", nl=False, err=True)

                try:
                    report = ingest_video(
                        analyzer,
                        vindex,
                        path,
                        settings=settings,
                        progress=progress,
                        speech=speech or None,
                        moderation=moderation,
                    )
                except ImageLensError as exc:
                    failed += 1
                    if as_json:
                        print_json(
                            {"video": str(path), "error": {"code": exc.inner_code, "message": exc.message}}
                        )
                    else:
                        typer.echo(
                            f"\r[{n}/{len(videos)}] {path.name}: FAILED {exc.inner_code}: {exc.message}",
                            err=True,
                        )
                    continue
                row = {
                    "video": str(path),
                    "documentId": report.document_id,
                    "seconds": round(report.end_s, 3),
                    "samples": report.samples,
                    "segments": report.count,
                    "speechSegments": len(report.speech),
                    "cuts": len(report.cuts),
                    "wallSeconds": round(report.seconds, 3),
                    "videoSecondsPerSecond": round(report.speed, 2),
                    "warnings": report.warnings,
                }
                if as_json:
                    print_json(row)
                else:
                    typer.echo(
                        f"\r[{n}/{len(videos)}] {path.name}: {report.end_s:.1f} s, {report.samples} samples, "
                        f"{report.count} segments, {len(report.cuts)} cuts, {report.speed:.1f}x real time"
                        + (f", {len(report.speech)} speech segments" if report.speech else ""),
                        err=False,
                    )
                    for warning in report.warnings:
                        typer.echo(f"  warning: {warning}", err=True)
        finally:
            vindex.close()
            analyzer.close()
        if failed:
            raise typer.Exit(EXIT_BAD_INPUT)


@video_app.command("search")
def search_command(
    text: Annotated[str | None, typer.Argument(help="what to find, in words")] = None,
    index: IndexOpt = "videos",
    image: Annotated[
        Path | None, typer.Option("--image", help="find the moment that looks like this image")
    ] = None,
    top: Annotated[int, typer.Option(help="results")] = 5,
    video: Annotated[list[str] | None, typer.Option("--video", help="only this documentId; repeat")] = None,
    feature: Annotated[
        list[str] | None, typer.Option("--feature", help="vision (frames) or speech (transcripts); repeat")
    ] = None,
    clips: Annotated[
        Path | None, typer.Option("--clips", help="write each matching segment here (MP4)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Azure's queryByText JSON")] = False,
    dedup: Annotated[bool, typer.Option("--dedup", help="drop results that look like a better one")] = False,
    moderation: Annotated[
        bool, typer.Option("--moderation", help="only segments whose key frames passed moderation")
    ] = False,
    where: Annotated[
        list[str] | None, typer.Option("--where", help="FIELD=VALUE on the videos' metadata; repeat")
    ] = None,
    after: Annotated[
        list[str] | None, typer.Option("--after", help="FIELD=ISO-DATE: a datetime field at or after it")
    ] = None,
    before: Annotated[
        list[str] | None, typer.Option("--before", help="FIELD=ISO-DATE: a datetime field at or before it")
    ] = None,
    also: Annotated[
        list[str] | None, typer.Option("--also-index", help="search this video index too; repeat")
    ] = None,
    metadata_search: Annotated[
        bool, typer.Option("--metadata-search/--no-metadata-search", help="boost searchable metadata matches")
    ] = True,
) -> None:
    """Time ranges of the best-matching segments (by text, or by --image)."""
    require_extra("video", "av")
    with cli_errors():
        from imagelens.analyzer import Analyzer
        from imagelens.azure.video import hits_json
        from imagelens.errors import InvalidRequestError
        from imagelens.video.query import VideoQuery, VideoSearcher
        from imagelens.video.store import open_video_index

        if (text is None) == (image is None):
            raise InvalidRequestError("give either a TEXT or --image")
        query = VideoQuery(
            document_ids=video,
            feature_filters=feature,
            string_filters=_pairs(where, "--where", lambda v: [v]) or None,
            datetime_filters=_datetime_filters(after or [], before or []) or None,
            moderation=moderation,
            dedup=dedup,
            metadata_search=metadata_search,
            additional_indexes=tuple(also or ()),
        )
        analyzer = Analyzer()
        vindex = open_video_index(analyzer.settings, index)
        others = []
        try:
            others = [open_video_index(analyzer.settings, name) for name in query.additional_indexes]
            searcher = VideoSearcher(analyzer, vindex, additional=others)
            if image is not None:
                hits = searcher.by_image(str(image), top=top, query=query)
            else:
                assert text is not None
                hits = searcher.by_text(text, top=top, query=query)
            written = _clips(vindex, hits, clips) if clips is not None else []
        finally:
            for other in others:
                other.close()
            vindex.close()
            analyzer.close()
        if as_json:
            out = hits_json(hits)
            if clips is not None:
                out["clips"] = written
            print_json(out)
            return
        for k, hit in enumerate(hits, 1):
            typer.echo(
                f"{k}. {hit.document_id}  {_clock(hit.start_s)} - {_clock(hit.end_s)}  (best {_clock(hit.best_s)})"
                f"  relevance {hit.relevance:.3f}"
                + (f"  -> {written[k - 1]}" if written else "")
                + (f"  said: {hit.text!r}" if hit.text else "")
            )


def _pairs(items: list[str] | None, flag: str, value: Any) -> dict[str, Any]:
    from imagelens.errors import InvalidArgumentError

    out: dict[str, Any] = {}
    for item in items or ():
        name, sep, rest = item.partition("=")
        if not sep or not name:
            raise InvalidArgumentError(f"{flag} takes FIELD=VALUE, got {item!r}")
        out[name] = value(rest)
    return out


def _datetime_filters(after: list[str], before: list[str]) -> list[Any]:
    from imagelens.video.options import DatetimeFilter, parse_datetime

    starts = _pairs(after, "--after", lambda v: parse_datetime(v, "--after"))
    ends = _pairs(before, "--before", lambda v: parse_datetime(v, "--before"))
    return [
        DatetimeFilter(name, starts.get(name), ends.get(name)) for name in dict.fromkeys([*starts, *ends])
    ]


def _clips(vindex: Any, hits: list[Any], folder: Path) -> list[str]:
    from imagelens.video.write import write_clip

    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for k, hit in enumerate(hits, 1):
        record = vindex.video(hit.document_id)
        target = folder / f"{k:02d}_{Path(hit.document_id).stem}_{hit.start_s:.1f}-{hit.end_s:.1f}.mp4"
        if record is None or record.url is None or not Path(record.url).is_file():
            out.append("")
            continue
        write_clip(record.url, target, hit.start_s, hit.end_s)
        out.append(str(target))
    return out


@video_app.command("summary")
def summary_command(
    video: Annotated[Path, typer.Argument(help="a video file")],
    output: Annotated[Path | None, typer.Option("-o", "--output", help="write the timeline PNG here")] = None,
    interval: IntervalOpt = None,
    captions: Annotated[bool, typer.Option("--captions/--no-captions", help="caption each key frame")] = True,
    max_scenes: Annotated[int, typer.Option(help="key frames at most (the longest scenes)")] = 24,
    as_json: Annotated[bool, typer.Option("--json", help="print the scenes as JSON")] = False,
) -> None:
    """Key frames of the video's scenes along a timeline (PNG), with captions when a captioner is available."""
    require_extra("video", "av")
    with cli_errors():
        from imagelens.analyzer import Analyzer
        from imagelens.video.summary import summarize, timeline

        analyzer = Analyzer()
        try:
            summary = summarize(
                analyzer, video, _settings(interval), captions=captions, max_scenes=max_scenes
            )
        finally:
            analyzer.close()
        if output is not None:
            timeline(summary).save(output)
        if as_json:
            body = summary.to_json()
            body["timeline"] = None if output is None else str(output)
            print_json(body)
            return
        for scene in summary.scenes:
            caption = f"  {scene.caption}" if scene.caption else ""
            typer.echo(f"{_clock(scene.start_s)} - {_clock(scene.end_s)}{caption}")
        for warning in summary.warnings:
            typer.echo(f"warning: {warning}", err=True)
        if output is not None:
            typer.echo(f"timeline: {output}", err=True)


def register(app: typer.Typer) -> None:
    app.add_typer(video_app, name="video")
