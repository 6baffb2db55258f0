"""Moderation of a video's segments: each segment's key frame (``best``) through the ``adult`` feature
(:mod:`imagelens.features.moderation`, the same scores, thresholds and ``gate_on`` categories as the image
moderation gate: by default a key frame is flagged when it is adult or gory at the operator's thresholds).

The verdicts are kept with the video, in its metadata under :data:`imagelens.video.options.MODERATION_KEY`; queries
withhold flagged segments (:func:`imagelens.video.options.withheld`). The key frames are decoded again with the same
sampling (the samples are deterministic); a key frame that does not come back is left unchecked, and an unchecked
segment of a moderated video is withheld too (fail closed).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image

from imagelens.features.base import AnalysisOptions
from imagelens.features.moderation import NAME, ModerationConfig
from imagelens.io import LoadedImage
from imagelens.video.decode import FrameSampler
from imagelens.video.options import MODERATION_KEY
from imagelens.video.settings import VideoSettings

if TYPE_CHECKING:
    from imagelens.analyzer import Analyzer
    from imagelens.video.ingest import VideoReport


def moderate_key_frames(
    analyzer: Analyzer,
    path: str | Path,
    report: VideoReport,
    settings: VideoSettings,
    metadata: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """``metadata`` with the verdicts of ``report``'s segments' key frames added (the document's ``moderation``
    block counts them); key frames not decoded again are a warning on ``report``."""
    config = ModerationConfig.resolve(analyzer.settings, AnalysisOptions())
    wanted = {round(s.best_s, 3) for s in report.segments}
    checked: list[float] = []
    flagged: list[float] = []
    if wanted:
        for frame in FrameSampler(path, settings):
            t = round(frame.time_s, 3)
            if t not in wanted or t in checked:
                continue
            image = LoadedImage(Image.fromarray(frame.rgb), "raw", frame.rgb.nbytes)
            verdict = analyzer.analyze(image, [NAME]).adult
            checked.append(t)
            if verdict is None or config.closes_gate(verdict):
                flagged.append(t)
            if len(checked) == len(wanted):
                break
    missing = len(wanted) - len(checked)
    if missing:
        report.warnings.append(
            f"moderation: {missing} key frames could not be decoded again; withheld unchecked"
        )
    out = dict(metadata or {})
    out[MODERATION_KEY] = {"checked": checked, "flagged": flagged, "categories": list(config.gate_on)}
    return out
