"""What encoded image bytes are, and whether they are safe to open: the format from its magic bytes, the size
limits, and the header checks that refuse decompression bombs before Pillow allocates anything.

Pillow opens most formats lazily (only the header is parsed); the two that allocate or decode while opening (WebP
allocates its canvas, ICO decodes its largest entry) are checked from their bytes first. :func:`open_header` calls
the plugin's factory itself rather than ``Image.open`` so Pillow's own bomb check (a process-wide
``Image.MAX_IMAGE_PIXELS`` that *warns* between 1x and 2x its value) never fires before ours; our pixel cap is the
smaller of ``limits.max_pixels`` and Pillow's setting, so the checks Pillow runs later, during decoding, pass.
"""

from __future__ import annotations

import io
import struct

from PIL import Image, ImageFile

from imagelens import deadline
from imagelens.config import ImageLimits
from imagelens.errors import InvalidImageFormatError, InvalidImageSizeError

__all__ = [
    "ACCEPTED_FORMATS",
    "bomb_error",
    "check_dimensions",
    "check_ico_entries",
    "corrupt_error",
    "max_pixels",
    "open_header",
    "sniff_format",
    "webp_canvas_size",
]

#: Formats Azure Image Analysis 4.0 accepts, as ``LoadedImage.format`` spells them.
ACCEPTED_FORMATS = frozenset({"jpeg", "png", "gif", "bmp", "webp", "ico", "tiff", "mpo", "heif", "avif"})

# Sniffed format -> the Pillow plugin that opens it. JPEG's factory returns an MPO image when the file has an
# MP extension, so "mpo" never needs its own entry.
_PILLOW_PLUGIN = {
    "jpeg": "JPEG",
    "png": "PNG",
    "gif": "GIF",
    "bmp": "BMP",
    "webp": "WEBP",
    "ico": "ICO",
    "tiff": "TIFF",
    "avif": "AVIF",
    "heif": "HEIF",
}

_HEIF_BRANDS = frozenset(
    {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1"}
)

_AVIF_BRANDS = frozenset({b"avif", b"avis"})


def sniff_format(head: bytes) -> str | None:
    """The image format from its first bytes (64 are plenty), or ``None``. JPEG and MPO both sniff as ``"jpeg"``."""
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head.startswith(b"BM"):
        return "bmp"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:4] == b"\x00\x00\x01\x00":
        return "ico"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "tiff"
    if head[4:8] == b"ftyp":
        return _sniff_isobmff(head)
    return None


def check_dimensions(width: int, height: int, limits: ImageLimits | None = None) -> None:
    """Refuse an image whose sides are outside ``(min_side, max_side)`` or that has too many pixels.

    The pixel cap is the smaller of ``limits.max_pixels`` and Pillow's process-wide ``Image.MAX_IMAGE_PIXELS``, so
    nothing we accept ever trips Pillow's own decompression-bomb check later.
    """
    limits = limits if limits is not None else ImageLimits()
    lo, hi = limits.min_side, limits.max_side
    if not (lo < width < hi and lo < height < hi):
        raise InvalidImageSizeError(
            f"Image dimensions are out of range: the image is {width} x {height} pixels; width and height must "
            f"each be greater than {lo} and less than {hi} pixels.",
            {"width": width, "height": height, "min_side": lo, "max_side": hi},
        )
    cap = max_pixels(limits)
    if width * height > cap:
        raise InvalidImageSizeError(
            f"Image has too many pixels: {width} x {height} = {width * height}; at most {cap} are accepted.",
            {"width": width, "height": height, "max_pixels": cap},
        )


def _sniff_isobmff(head: bytes) -> str | None:
    """HEIF and AVIF share the ISO-BMFF container; the ``ftyp`` box's brands tell them apart."""
    box_size = int.from_bytes(head[:4], "big")
    major = head[8:12]
    compatible = {head[i : i + 4] for i in range(16, min(box_size, len(head)) - 3, 4)}
    if major in _AVIF_BRANDS or (major in (b"mif1", b"msf1") and compatible & _AVIF_BRANDS):
        return "avif"
    if major in _HEIF_BRANDS or compatible & _HEIF_BRANDS:
        return "heif"
    return None


def open_header(data: bytes, fmt: str) -> ImageFile.ImageFile:
    """Parse the header with the one plugin the magic bytes name (no guessing among plugins)."""
    plugin = _PILLOW_PLUGIN[fmt]
    if fmt == "heif":
        _register_heif()
    if plugin not in Image.OPEN:
        Image.init()
    if plugin not in Image.OPEN:
        raise InvalidImageFormatError(f"{plugin} images are not supported by this installation of Pillow.")
    factory = Image.OPEN[plugin][0]
    try:
        return factory(_DeadlineReader(data), "")
    except MemoryError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InvalidImageSizeError(
            f"Image has too many pixels: the {fmt.upper()} header declares more than Pillow accepts.",
            {"format": fmt},
        ) from exc
    except Exception as exc:
        raise corrupt_error(fmt, exc) from exc


class _DeadlineReader(io.BytesIO):
    """The encoded bytes, read in pieces by the decoder; every read checks the current request's deadline."""

    def read(self, size: int | None = -1, /) -> bytes:
        deadline.check()
        return super().read(size)


def _register_heif() -> None:
    try:
        from pillow_heif import register_heif_opener
    except ImportError as exc:
        raise InvalidImageFormatError(
            "HEIC/HEIF images need the optional pillow-heif package: pip install imagelens[heif]"
        ) from exc
    if "HEIF" not in Image.OPEN:
        register_heif_opener()


def corrupt_error(fmt: str, exc: BaseException) -> InvalidImageFormatError:
    return InvalidImageFormatError(
        f"Input data is not a valid image: the {fmt.upper()} data is truncated or corrupt.",
        {"format": fmt, "reason": type(exc).__name__},
    )


def bomb_error(size: tuple[int, int], limits: ImageLimits) -> InvalidImageSizeError:
    width, height = size
    return InvalidImageSizeError(
        f"Image has too many pixels: {width} x {height} = {width * height}; at most {max_pixels(limits)} are "
        "accepted.",
        {"width": width, "height": height, "max_pixels": max_pixels(limits)},
    )


def max_pixels(limits: ImageLimits) -> int:
    pillow_cap = Image.MAX_IMAGE_PIXELS
    return limits.max_pixels if pillow_cap is None else min(limits.max_pixels, int(pillow_cap))


def webp_canvas_size(data: bytes) -> tuple[int, int] | None:
    """The declared WebP canvas, read before Pillow's decoder allocates it (None when the chunk is unknown)."""
    chunk = data[12:16]
    if chunk == b"VP8X" and len(data) >= 30:
        return 1 + int.from_bytes(data[24:27], "little"), 1 + int.from_bytes(data[27:30], "little")
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    return None


def check_ico_entries(data: bytes, limits: ImageLimits) -> None:
    """Check every ICO entry's embedded image against its directory size, from the bytes.

    Pillow decodes the largest entry while *opening* an ICO, so the embedded PNG or BMP header (which may declare
    any size, whatever the 1-byte directory says) has to be checked before Pillow sees the file.
    """
    count = int.from_bytes(data[4:6], "little")
    for index in range(count):
        entry = data[6 + 16 * index : 22 + 16 * index]
        if len(entry) < 16:
            raise InvalidImageFormatError("Input data is not a valid image: the ICO directory is truncated.")
        declared = (entry[0] or 256, entry[1] or 256)
        offset = int.from_bytes(entry[12:16], "little")
        embedded = data[offset : offset + 24]
        if embedded.startswith(b"\x89PNG\r\n\x1a\n") and len(embedded) == 24:
            width, height = struct.unpack(">II", embedded[16:24])
            actual = (int(width), int(height))
        elif len(embedded) >= 12:  # a DIB: BITMAPINFOHEADER width, then height counting the AND mask twice
            width, height = struct.unpack("<ii", embedded[4:12])
            actual = (abs(int(width)), abs(int(height)) // 2)
        else:
            raise InvalidImageFormatError(
                "Input data is not a valid image: an ICO entry points outside the file."
            )
        if actual != declared:
            if max(actual) >= limits.max_side or actual[0] * actual[1] > max_pixels(limits):
                check_dimensions(*actual, limits)  # a bomb hidden in an icon: refuse it as too large
            raise InvalidImageFormatError(
                f"Input data is not a valid image: an ICO entry declares {declared[0]} x {declared[1]} pixels but "
                f"holds a {actual[0]} x {actual[1]} image."
            )
