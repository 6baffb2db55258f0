"""What decoding an image will cost, read from its bytes before any pixel is decoded.

* JPEG: the marker walk counts the scans (each progressive scan is a pass over the whole image, so a file with
  thousands of tiny scans costs minutes of CPU), and tells whether the file is complete: an end-of-image marker, and
  at least one bit of entropy-coded data per MCU (libjpeg fills what is missing with grey, so a 1.5 KB file can
  "decode" to 81 megapixels).
* Every format: the decoded size (width x height x channels x bytes per sample; a 16-bit PNG costs twice an 8-bit
  one) against ``limits.max_decode_bytes``.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

from PIL import Image

from imagelens.config import ImageLimits
from imagelens.errors import InvalidImageFormatError, InvalidImageSizeError

__all__ = ["JpegInfo", "check_decode_cost", "check_jpeg", "decoded_bytes", "jpeg_info"]

_SOF_HUFFMAN = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7})
_SOF_ARITHMETIC = frozenset({0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})
# PNG colour type -> samples per pixel
_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
# Pillow mode -> bytes per pixel of the decoded image
_MODE_BYTES = {
    "1": 1,
    "L": 1,
    "P": 1,
    "LA": 2,
    "La": 2,
    "PA": 2,
    "I;16": 2,
    "I;16B": 2,
    "I;16L": 2,
    "I;16N": 2,
}


@dataclass(frozen=True, slots=True)
class JpegInfo:
    scans: int
    ended: bool
    """An end-of-image marker was found."""
    entropy_bytes: int
    mcus: int
    """Minimum coded units of the frame (0 when there is no frame header)."""
    huffman: bool


def jpeg_info(data: bytes, max_scans: int | None = None) -> JpegInfo:
    """Walk the JPEG's markers (stops counting past ``max_scans``: the answer is then "too many")."""
    scans = entropy = mcus = 0
    huffman = True
    size = len(data)
    i = 2
    while i + 1 < size:
        if data[i] != 0xFF:
            break  # garbage where a marker should be: stop, the decoder will judge
        marker = data[i + 1]
        if marker == 0xFF:
            i += 1
            continue
        if marker == 0xD9:
            return JpegInfo(scans, True, entropy, mcus, huffman)
        if marker in _STANDALONE:
            i += 2
            continue
        if i + 4 > size:
            break
        length = struct.unpack(">H", data[i + 2 : i + 4])[0]
        if marker in _SOF_HUFFMAN or marker in _SOF_ARITHMETIC:
            huffman = marker in _SOF_HUFFMAN
            mcus = _mcus(data[i + 4 : i + 2 + length])
        i += 2 + length
        if marker != 0xDA:
            continue
        scans += 1
        if max_scans is not None and scans > max_scans:
            break
        start = i
        while True:  # entropy-coded data runs to the next marker that is not a stuffed byte or a restart
            j = data.find(b"\xff", i)
            if j < 0 or j + 1 >= size:
                entropy += size - start
                return JpegInfo(scans, False, entropy, mcus, huffman)
            nxt = data[j + 1]
            if nxt == 0x00 or 0xD0 <= nxt <= 0xD7 or nxt == 0xFF:
                i = j + (2 if nxt != 0xFF else 1)
                continue
            entropy += j - start
            i = j
            break
    return JpegInfo(scans, False, entropy, mcus, huffman)


def _mcus(frame: bytes) -> int:
    if len(frame) < 6:
        return 0
    height, width = struct.unpack(">HH", frame[1:5])
    count = frame[5]
    factors = [frame[6 + 3 * k + 1] for k in range(count) if 6 + 3 * k + 1 < len(frame)]
    hmax = max((f >> 4 for f in factors), default=1) or 1
    vmax = max((f & 0x0F for f in factors), default=1) or 1
    return math.ceil(width / (8 * hmax)) * math.ceil(height / (8 * vmax))


def check_jpeg(data: bytes, limits: ImageLimits) -> None:
    """Refuse a JPEG with too many scans, or (unless ``limits.allow_truncated``) a truncated one."""
    info = jpeg_info(data, limits.max_jpeg_scans)
    if info.scans > limits.max_jpeg_scans:
        raise InvalidImageSizeError(
            f"The JPEG has more than {limits.max_jpeg_scans} scans (limits.max_jpeg_scans); each scan is a pass over "
            "the whole image.",
            {"max_jpeg_scans": limits.max_jpeg_scans},
        )
    if limits.allow_truncated:
        return
    starved = info.huffman and info.mcus > 0 and info.entropy_bytes * 8 < info.mcus
    if not info.ended or starved:
        raise InvalidImageFormatError(
            "Input data is not a valid image: the JPEG data is truncated (set limits.allow_truncated to decode "
            "truncated images anyway).",
            {"format": "jpeg", "reason": "truncated"},
        )


def decoded_bytes(image: Image.Image, data: bytes, fmt: str) -> int:
    """Width x height x channels x bytes per sample of the decoded image, from the header."""
    width, height = image.size
    if fmt == "png" and len(data) >= 26 and data[12:16] == b"IHDR":
        depth, colour = data[24], data[25]
        channels = _PNG_CHANNELS.get(colour, 4)
        return width * height * channels * max(1, math.ceil(depth / 8))
    per_pixel = _MODE_BYTES.get(image.mode)
    if per_pixel is None:
        per_pixel = len(image.getbands()) * (4 if image.mode in ("I", "F") else 1)
    return width * height * per_pixel


def check_decode_cost(image: Image.Image, data: bytes, fmt: str, limits: ImageLimits) -> None:
    cost = decoded_bytes(image, data, fmt)
    if cost > limits.max_decode_bytes:
        width, height = image.size
        raise InvalidImageSizeError(
            f"Image needs too much memory to decode: {width} x {height} pixels in mode {image.mode} take {cost} "
            f"bytes; at most {limits.max_decode_bytes} (limits.max_decode_bytes).",
            {
                "width": width,
                "height": height,
                "decoded_bytes": cost,
                "max_decode_bytes": limits.max_decode_bytes,
            },
        )
