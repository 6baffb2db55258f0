"""Video sampling and limits, read from ``IMAGELENS_VIDEO_*`` environment variables (e.g.
``IMAGELENS_VIDEO_INTERVAL_S=0.5``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class VideoSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="IMAGELENS_VIDEO_", extra="ignore")

    interval_s: float = Field(
        1.0, gt=0, le=3600, description="sample one frame at least every this many seconds"
    )
    detect_cuts: bool = Field(True, description="also sample the first frame after each detected shot cut")
    cut_hist: float = Field(0.15, gt=0, le=1, description="histogram distance (0-1) above which a cut may be")
    cut_pixels: float = Field(0.06, gt=0, le=1, description="mean pixel difference (0-1) a cut also needs")
    min_shot_s: float = Field(0.4, ge=0, description="cuts closer than this to the previous one are ignored")
    max_side: int = Field(
        448, ge=32, le=4096, description="sampled frames are scaled down to this longest side"
    )
    max_duration_s: float = Field(
        6 * 3600.0, gt=0, description="longer videos are refused (known duration) or cut off here (unknown)"
    )
    max_samples: int = Field(50_000, ge=1, description="sampled frames per video at most (then cut off)")
    max_fetch_bytes: int = Field(
        16 * 1024**3, gt=0, description="largest video fetched from a URL (streamed to a temporary file)"
    )
    fetch_deadline_s: float = Field(3600.0, gt=0, description="a URL's whole download must end within this")
    fetch_dir: Path | None = Field(
        None, description="folder of the downloads (default: the temporary folder)"
    )
    fetch_min_free_bytes: int = Field(
        512 * 1024**2, ge=0, description="a download stops if the free space would fall below this"
    )
    segment_similarity: float = Field(
        0.90,
        ge=-1,
        le=1,
        description="a sample joins the current segment when its cosine to it is at least this",
    )
    max_segment_s: float = Field(30.0, gt=0, description="segments are split after this many seconds")
    batch: int = Field(16, ge=1, le=256, description="frames embedded per batch")
    checkpoint_s: float = Field(
        60.0,
        gt=0,
        description="ingestion checkpoints (resume points) at least every this many seconds of video",
    )
