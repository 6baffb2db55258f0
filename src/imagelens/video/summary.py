"""A video's scene summary: its segments' key frames along a timeline (a PNG) with captions when a captioner is
available, and the same as JSON.

Two passes over the video (both streaming): the first samples, embeds and segments it
(:func:`~imagelens.video.ingest.sample_and_segment`); the second keeps the pixels of each kept segment's key frame
(the ``best`` sample). At most ``max_scenes`` segments are shown: the longest ones, in time order.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imagelens.errors import ImageLensError
from imagelens.models.roles import RGBImage
from imagelens.models.spec import Role
from imagelens.video.decode import FrameSampler, VideoInfo
from imagelens.video.ingest import sample_and_segment
from imagelens.video.segments import Segment
from imagelens.video.settings import VideoSettings

if TYPE_CHECKING:
    from PIL import Image

    from imagelens.analyzer import Analyzer

log = logging.getLogger("imagelens.video")
THUMB_W, THUMB_H = 192, 108


@dataclass(slots=True)
class Scene:
    start_s: float
    end_s: float
    best_s: float
    caption: str | None = None
    confidence: float | None = None
    frame: RGBImage | None = None


@dataclass(slots=True)
class Summary:
    path: str
    info: VideoInfo | None
    duration_s: float
    scenes: list[Scene] = field(default_factory=list)
    cuts: list[float] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    captioner: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "video": self.path,
            "duration": round(self.duration_s, 3),
            "captioner": self.captioner,
            "cuts": [round(c, 3) for c in self.cuts],
            "warnings": self.warnings,
            "scenes": [
                {
                    "start": round(s.start_s, 3),
                    "end": round(s.end_s, 3),
                    "best": round(s.best_s, 3),
                    "caption": s.caption,
                    "confidence": None if s.confidence is None else round(s.confidence, 4),
                }
                for s in self.scenes
            ],
        }


def _pick(segments: list[Segment], max_scenes: int) -> list[Segment]:
    if len(segments) <= max_scenes:
        return segments
    longest = sorted(segments, key=lambda s: s.end_s - s.start_s, reverse=True)[:max_scenes]
    return sorted(longest, key=lambda s: s.start_s)


def summarize(
    analyzer: Analyzer,
    path: str | Path,
    settings: VideoSettings | None = None,
    *,
    captions: bool = True,
    max_scenes: int = 24,
) -> Summary:
    settings = settings or VideoSettings()
    model_id = analyzer.hub.model_for_role(Role.IMAGE_TEXT_EMBEDDING)
    report = sample_and_segment(analyzer, model_id, path, settings)
    chosen = _pick(report.segments, max_scenes)
    scenes = [Scene(s.start_s, s.end_s, s.best_s) for s in chosen]
    wanted = {round(s.best_s, 6): s for s in scenes}
    for frame in FrameSampler(path, settings):  # the same samples again: keep the key frames' pixels
        scene = wanted.get(round(frame.time_s, 6))
        if scene is not None:
            scene.frame = frame.rgb
    summary = Summary(str(path), report.info, report.end_s, scenes, report.cuts, report.warnings)
    if captions and scenes:
        _caption(analyzer, summary)
    return summary


def _caption(analyzer: Analyzer, summary: Summary) -> None:
    try:
        captioner = analyzer.hub.captioner()
    except ImageLensError as exc:  # no captioner here: the timeline without captions
        summary.warnings.append(f"no captions: {exc.message}")
        return
    summary.captioner = analyzer.hub.model_for_role(Role.CAPTIONER)
    for scene in summary.scenes:
        if scene.frame is None:
            continue
        with analyzer.hub.using():
            caption = captioner.caption(captioner.encode(scene.frame))
        scene.caption, scene.confidence = caption.text, caption.confidence


def _clock(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def timeline(summary: Summary, columns: int = 6) -> Image.Image:
    """Key frames in a grid (time order), each with its time range and caption, over a bar of the whole video
    marking where each scene lies."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=12)
    n = max(len(summary.scenes), 1)
    cols = min(columns, n)
    rows = (n + cols - 1) // cols
    cell_w, cell_h, pad, bar_h = THUMB_W + 8, THUMB_H + 44, 8, 28
    width, height = cols * cell_w + pad, rows * cell_h + bar_h + 2 * pad
    canvas = Image.new("RGB", (width, height), (250, 250, 250))
    draw = ImageDraw.Draw(canvas)
    duration = max(summary.duration_s, 1e-6)
    x0, x1, y = pad, width - pad, pad + 8
    draw.rectangle((x0, y, x1, y + 10), fill=(220, 220, 220))
    for k, scene in enumerate(summary.scenes):
        a = x0 + (x1 - x0) * scene.start_s / duration
        b = x0 + (x1 - x0) * min(scene.end_s, duration) / duration
        draw.rectangle((a, y, max(b - 1, a + 1), y + 10), fill=(60 + 40 * (k % 4), 110, 200 - 30 * (k % 3)))
    for cut in summary.cuts:
        cx = x0 + (x1 - x0) * cut / duration
        draw.line((cx, y - 3, cx, y + 13), fill=(200, 30, 30))
    for k, scene in enumerate(summary.scenes):
        cx, cy = pad + (k % cols) * cell_w, bar_h + pad + (k // cols) * cell_h
        if scene.frame is not None:
            thumb = Image.fromarray(scene.frame)
            thumb.thumbnail((THUMB_W, THUMB_H))
            canvas.paste(thumb, (cx + (THUMB_W - thumb.width) // 2, cy + (THUMB_H - thumb.height) // 2))
        label = f"{_clock(scene.start_s)}-{_clock(scene.end_s)}"
        draw.text((cx, cy + THUMB_H + 2), label, fill=(30, 30, 30), font=font)
        if scene.caption:
            text = scene.caption if len(scene.caption) <= 32 else scene.caption[:31] + "…"
            draw.text((cx, cy + THUMB_H + 18), text, fill=(70, 70, 70), font=font)
    return canvas
