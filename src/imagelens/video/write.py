"""Write videos with PyAV: slideshows of still images with hard cuts (test videos with known cuts, benchmarks)
and clips of a time range of another video (``imagelens video search --clips``)."""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np

from imagelens.models.roles import RGBImage
from imagelens.video.decode import require_av


def _even(rgb: RGBImage, size: tuple[int, int]) -> RGBImage:
    from PIL import Image

    w, h = size
    if rgb.shape[1] == w and rgb.shape[0] == h:
        return rgb
    out: RGBImage = np.asarray(Image.fromarray(rgb).resize((w, h), Image.Resampling.BILINEAR))
    return out


def write_slideshow(
    path: str | Path,
    shots: Sequence[tuple[RGBImage, float]],
    fps: int = 10,
    size: tuple[int, int] = (160, 120),
    codec: str = "mpeg4",
    motion: int = 0,
) -> list[float]:
    """Each ``(image, seconds)`` held for that long (``motion`` > 0: shifted that many pixels per frame, a slow
    pan, so frames of one shot are not identical); answers the true cut times (the start of every shot but the
    first)."""
    av = require_av()
    w, h = size
    cuts: list[float] = []
    index = 0
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.time_base = Fraction(1, fps)
        if codec == "mpeg4":
            stream.bit_rate = 2_000_000
        for n, (image, seconds) in enumerate(shots):
            if n:
                cuts.append(index / fps)
            base = _even(np.asarray(image, dtype=np.uint8)[..., :3], size)
            for k in range(max(1, round(seconds * fps))):
                pixels = np.roll(base, k * motion, axis=1) if motion else base
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format="rgb24")
                frame.pts = index
                index += 1
                for packet in stream.encode(frame):
                    container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return cuts


def write_clip(
    source: str | Path, target: str | Path, start_s: float, end_s: float, max_side: int = 640
) -> int:
    """Re-encode ``[start_s, end_s)`` of ``source`` into ``target`` (MPEG-4 Part 2); answers the frames written."""
    av = require_av()
    written = 0
    with av.open(str(source)) as src:
        stream_in = src.streams.video[0]
        rate = Fraction(max(1, round(float(stream_in.average_rate or 25))))
        if start_s > 0:
            src.seek(int(start_s * 1_000_000), any_frame=False, backward=True)
        with av.open(str(target), mode="w") as dst:
            out = dst.add_stream("mpeg4", rate=rate)
            scale = min(1.0, max_side / max(stream_in.codec_context.width, stream_in.codec_context.height, 1))
            out.width = max(2, int(stream_in.codec_context.width * scale) // 2 * 2)
            out.height = max(2, int(stream_in.codec_context.height * scale) // 2 * 2)
            out.pix_fmt = "yuv420p"
            out.time_base = Fraction(1, max(1, round(float(rate))))
            for frame in src.decode(stream_in):
                if frame.time is None or frame.time < start_s:
                    continue
                if frame.time >= end_s:
                    break
                pixels = frame.reformat(width=out.width, height=out.height, format="rgb24").to_ndarray()
                image = av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format="rgb24")
                image.pts = written
                for packet in out.encode(image):
                    dst.mux(packet)
                written += 1
            for packet in out.encode():
                dst.mux(packet)
    return written
