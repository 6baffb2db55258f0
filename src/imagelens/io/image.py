"""One way in for images: ``load_image(source) -> LoadedImage``.

Every capability (CLI, HTTP, library) decodes through here, so Azure AI Vision 4.0's input rules live in one
place: at most 20 MB, the format sniffed from magic bytes (never from a file name or a Content-Type), width and
height strictly between 50 and 16000 px, the first frame of animations, EXIF orientation applied, RGB out.

Decompression bombs are refused from the header, before any pixel is decoded: Pillow opens most formats lazily
(only the header is parsed), and the two that allocate or decode while opening (WebP allocates its canvas, ICO
decodes its largest entry) are checked from their bytes first. We call the plugin's factory ourselves rather than
``Image.open`` so Pillow's own bomb check (a process-wide ``Image.MAX_IMAGE_PIXELS`` that *warns* between 1x and
2x its value) never fires before ours; our pixel cap is the smaller of ``limits.max_pixels`` and Pillow's setting,
so the checks Pillow runs later, during decoding, always pass.
"""

from __future__ import annotations

import io
import os
import re
import stat
import struct
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

import numpy as np
from PIL import Image, ImageFile

from imagelens.config import ImageLimits, UrlFetchSettings
from imagelens.errors import (
    InvalidArgumentError,
    InvalidImageFormatError,
    InvalidImageSizeError,
)

if TYPE_CHECKING:
    import numpy.typing as npt

__all__ = [
    "ACCEPTED_FORMATS",
    "ImageSource",
    "LoadedImage",
    "check_dimensions",
    "decode_image_bytes",
    "load_image",
    "sniff_format",
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

_EXIF_ORIENTATION = 0x0112
# EXIF orientation -> the transpose that displays the image upright (the same table as ImageOps.exif_transpose).
_ORIENTATION_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

_HEIF_BRANDS = frozenset(
    {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1"}
)
_AVIF_BRANDS = frozenset({b"avif", b"avis"})
_URL_LIKE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://|^data:", re.IGNORECASE)
_READ_CHUNK = 1 << 20


class _Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...


#: What :func:`load_image` accepts.
ImageSource = (
    bytes | bytearray | memoryview | str | os.PathLike[str] | Image.Image | np.ndarray | BinaryIO | _Readable
)


class _ArrayCache:
    """Holds the RGB array of one image, computed at most once even when threads race for it.

    A ``functools.cached_property`` cannot live on a slots dataclass (there is no ``__dict__``), and a frozen
    dataclass cannot assign to itself, so the dataclass owns this small mutable box instead.
    """

    __slots__ = ("_lock", "_value")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value: np.ndarray | None = None

    def get(self, image: Image.Image) -> np.ndarray:
        value = self._value
        if value is None:
            with self._lock:
                if self._value is None:
                    array = np.array(image, dtype=np.uint8)  # a copy we own
                    array.setflags(write=False)  # shared by every caller: nobody may change it
                    self._value = array
                value = self._value
        return value


@dataclass(frozen=True, slots=True, eq=False)
class LoadedImage:
    """A decoded, validated, upright RGB image.

    ``format`` is the sniffed container (``"jpeg"``, ``"png"`` ...), or ``"raw"`` for numpy arrays and for PIL images
    without a format. ``byte_size`` is the size of what was handed in: the encoded bytes, or the pixel buffer of an
    array or PIL image. Compared by identity: two loads of the same file are two images.
    """

    image: Image.Image
    format: str
    byte_size: int
    _array_cache: _ArrayCache = field(default_factory=_ArrayCache, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.image.mode != "RGB":
            raise ValueError(f"LoadedImage.image must be mode 'RGB', got {self.image.mode!r}")
        if self.byte_size < 0:
            raise ValueError(f"byte_size must be >= 0, got {self.byte_size}")

    @property
    def width(self) -> int:
        return self.image.width

    @property
    def height(self) -> int:
        return self.image.height

    def array(self) -> npt.NDArray[np.uint8]:
        """The pixels as a read-only ``(height, width, 3)`` uint8 RGB array, computed once and shared.

        Copy it (``arr.copy()``) before changing it.
        """
        return self._array_cache.get(self.image)


# --- public entry points -----------------------------------------------------------------------------------------


def load_image(
    source: ImageSource,
    limits: ImageLimits | None = None,
    url: UrlFetchSettings | None = None,
) -> LoadedImage:
    """Load an image from bytes, a path, an http(s) URL, a PIL image, a numpy array or a binary file object.

    A ``str`` that looks like a URL (``scheme://...`` or ``data:``) is fetched when it is http or https and refused
    otherwise; any other ``str`` is a local path. Raises :class:`InvalidImageSizeError`,
    :class:`InvalidImageFormatError`, :class:`InvalidImageUrlError` or :class:`InvalidArgumentError`; never a
    Pillow exception.
    """
    limits = limits if limits is not None else ImageLimits()
    if isinstance(source, Image.Image):
        return _from_pil(source, limits)
    if isinstance(source, np.ndarray):
        return _from_array(source, limits)
    if isinstance(source, bytes | bytearray | memoryview):
        size = source.nbytes if isinstance(source, memoryview) else len(source)
        _check_byte_size(size, limits)
        return decode_image_bytes(bytes(source), limits)
    if isinstance(source, str) and _URL_LIKE.match(source):
        from imagelens.io.url import fetch_url

        data = fetch_url(source, url if url is not None else UrlFetchSettings(), limits.max_bytes)
        return decode_image_bytes(data, limits)
    if isinstance(source, str | os.PathLike):
        return decode_image_bytes(_read_path(Path(source), limits), limits)
    if callable(getattr(source, "read", None)):
        return decode_image_bytes(_read_stream(source, limits), limits)
    raise InvalidArgumentError(
        "Image source must be bytes, a path, an http(s) URL, a PIL image, a numpy array or a binary file object, "
        f"got {type(source).__name__}"
    )


def decode_image_bytes(data: bytes, limits: ImageLimits | None = None) -> LoadedImage:
    """Validate and decode encoded image bytes (the whole of :func:`load_image` once the bytes are in hand)."""
    limits = limits if limits is not None else ImageLimits()
    _check_byte_size(len(data), limits)
    fmt = sniff_format(data[:64])
    if fmt is None:
        raise InvalidImageFormatError(
            "Input data is not a valid image: the format is not recognised; accepted formats are "
            "JPEG, PNG, GIF, BMP, WEBP, ICO, TIFF, MPO, HEIF and AVIF."
        )
    if fmt == "webp":
        declared = _webp_canvas_size(data)
        if declared is not None:
            check_dimensions(*declared, limits)
    elif fmt == "ico":
        _check_ico_entries(data, limits)

    opened = _open(data, fmt)
    try:
        check_dimensions(*opened.size, limits)  # from the header: nothing decoded yet
        try:
            opened.load()  # the first frame: every plugin opens on frame 0
        except MemoryError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise _bomb_error(opened.size, limits) from exc
        except Exception as exc:
            raise _corrupt(fmt, exc) from exc
        actual = "mpo" if opened.format == "MPO" else fmt
        rgb = _upright_rgb(opened)
        if rgb is opened:  # a plain Image that no longer holds the encoded bytes or decoder state
            rgb = opened.copy()
    finally:
        opened.close()
    check_dimensions(rgb.width, rgb.height, limits)
    return LoadedImage(rgb, actual, len(data))


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
    cap = _max_pixels(limits)
    if width * height > cap:
        raise InvalidImageSizeError(
            f"Image has too many pixels: {width} x {height} = {width * height}; at most {cap} are accepted.",
            {"width": width, "height": height, "max_pixels": cap},
        )


# --- sources -------------------------------------------------------------------------------------------------------


def _check_byte_size(size: int, limits: ImageLimits) -> None:
    if size == 0 or size > limits.max_bytes:
        raise InvalidImageSizeError(
            f"The image size is not allowed to be zero or larger than {limits.max_bytes} bytes; got {size} bytes.",
            {"bytes": size, "max_bytes": limits.max_bytes},
        )


def _read_path(path: Path, limits: ImageLimits) -> bytes:
    """Read a local file, refusing oversize files from their size on disk, before reading them."""
    try:
        info = path.stat()
    except (FileNotFoundError, NotADirectoryError) as exc:
        raise InvalidArgumentError(f"Image file not found: {path}") from exc
    except OSError as exc:
        raise InvalidArgumentError(f"Image file cannot be read: {path} ({exc.strerror})") from exc
    if not stat.S_ISREG(info.st_mode):
        raise InvalidArgumentError(f"Image path is not a regular file: {path}")
    _check_byte_size(info.st_size, limits)
    try:
        with path.open("rb") as handle:
            return _read_stream(handle, limits)
    except OSError as exc:
        raise InvalidArgumentError(f"Image file cannot be read: {path} ({exc.strerror})") from exc


def _read_stream(stream: Any, limits: ImageLimits) -> bytes:
    """Read a binary stream to its end, but never more than ``max_bytes + 1`` bytes (``read`` may return less)."""
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = stream.read(min(_READ_CHUNK, limits.max_bytes + 1 - total))
        if isinstance(chunk, str):
            raise InvalidArgumentError(
                "Image file object must be opened in binary mode ('rb'): read() returned str"
            )
        if not chunk:
            break
        chunks.append(bytes(chunk))
        total += len(chunk)
        if total > limits.max_bytes:
            raise InvalidImageSizeError(
                f"The image size is not allowed to be zero or larger than {limits.max_bytes} bytes; the stream is "
                "longer.",
                {"max_bytes": limits.max_bytes},
            )
    data = b"".join(chunks)
    _check_byte_size(len(data), limits)
    return data


def _from_array(array: np.ndarray, limits: ImageLimits) -> LoadedImage:
    if array.dtype != np.uint8:
        raise InvalidImageFormatError(
            f"Image array must have dtype uint8, got {array.dtype} with shape {tuple(array.shape)}"
        )
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (3, 4))):
        raise InvalidImageFormatError(
            f"Image array must have shape (H, W), (H, W, 1), (H, W, 3) RGB or (H, W, 4) RGBA, got {tuple(array.shape)}"
        )
    height, width = int(array.shape[0]), int(array.shape[1])
    check_dimensions(width, height, limits)
    # fromarray may share the caller's memory (greyscale, RGBA); every path below builds a new image.
    pil = Image.fromarray(np.ascontiguousarray(array))
    rgb = _to_rgb(pil)
    if rgb is pil:
        rgb = pil.copy()
    return LoadedImage(rgb, "raw", int(array.nbytes))


def _from_pil(image: Image.Image, limits: ImageLimits) -> LoadedImage:
    """A caller's PIL image: validated like a file, orientation applied, never modified (we work on copies)."""
    check_dimensions(image.width, image.height, limits)
    try:
        image.load()
    except MemoryError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _bomb_error(image.size, limits) from exc
    except Exception as exc:
        raise _corrupt((image.format or "image").lower(), exc) from exc
    rgb = _upright_rgb(image)
    if rgb is image:
        rgb = image.copy()
    check_dimensions(rgb.width, rgb.height, limits)
    fmt = (image.format or "raw").lower()
    return LoadedImage(rgb, fmt, _pixel_buffer_size(image))


def _pixel_buffer_size(image: Image.Image) -> int:
    bytes_per_band = 2 if image.mode.startswith("I;16") else 4 if image.mode in ("I", "F") else 1
    return image.width * image.height * len(image.getbands()) * bytes_per_band


# --- decoding ------------------------------------------------------------------------------------------------------


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


def _open(data: bytes, fmt: str) -> ImageFile.ImageFile:
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
        return factory(io.BytesIO(data), "")
    except MemoryError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InvalidImageSizeError(
            f"Image has too many pixels: the {fmt.upper()} header declares more than Pillow accepts.",
            {"format": fmt},
        ) from exc
    except Exception as exc:
        raise _corrupt(fmt, exc) from exc


def _register_heif() -> None:
    try:
        from pillow_heif import register_heif_opener
    except ImportError as exc:
        raise InvalidImageFormatError(
            "HEIC/HEIF images need the optional pillow-heif package: pip install imagelens[heif]"
        ) from exc
    if "HEIF" not in Image.OPEN:
        register_heif_opener()


def _corrupt(fmt: str, exc: BaseException) -> InvalidImageFormatError:
    return InvalidImageFormatError(
        f"Input data is not a valid image: the {fmt.upper()} data is truncated or corrupt.",
        {"format": fmt, "reason": type(exc).__name__},
    )


def _bomb_error(size: tuple[int, int], limits: ImageLimits) -> InvalidImageSizeError:
    width, height = size
    return InvalidImageSizeError(
        f"Image has too many pixels: {width} x {height} = {width * height}; at most {_max_pixels(limits)} are "
        "accepted.",
        {"width": width, "height": height, "max_pixels": _max_pixels(limits)},
    )


def _max_pixels(limits: ImageLimits) -> int:
    pillow_cap = Image.MAX_IMAGE_PIXELS
    return limits.max_pixels if pillow_cap is None else min(limits.max_pixels, int(pillow_cap))


def _webp_canvas_size(data: bytes) -> tuple[int, int] | None:
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


def _check_ico_entries(data: bytes, limits: ImageLimits) -> None:
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
            if max(actual) >= limits.max_side or actual[0] * actual[1] > _max_pixels(limits):
                check_dimensions(*actual, limits)  # a bomb hidden in an icon: refuse it as too large
            raise InvalidImageFormatError(
                f"Input data is not a valid image: an ICO entry declares {declared[0]} x {declared[1]} pixels but "
                f"holds a {actual[0]} x {actual[1]} image."
            )


def _upright_rgb(image: Image.Image) -> Image.Image:
    """RGB, rotated as its EXIF orientation says. May return ``image`` itself when there is nothing to do."""
    orientation = _orientation(image)
    try:
        rgb = _to_rgb(image)
    except MemoryError:
        raise
    except Exception as exc:
        raise InvalidImageFormatError(
            f"Input data is not a valid image: colour mode {image.mode!r} cannot be converted to RGB.",
            {"mode": image.mode, "reason": type(exc).__name__},
        ) from exc
    method = _ORIENTATION_TRANSPOSE.get(orientation)
    return rgb if method is None else rgb.transpose(method)


def _orientation(image: Image.Image) -> int:
    """The EXIF orientation (1 = upright). Broken EXIF must not reject a good image: it counts as upright."""
    try:
        value = image.getexif().get(_EXIF_ORIENTATION, 1)
        return int(value)
    except Exception:
        return 1


def _to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode to 8-bit RGB; transparency is composited on white (what a viewer shows)."""
    mode = image.mode
    if mode == "RGB" and "transparency" not in image.info:
        return image
    if mode.startswith("I;16") or mode == "I":
        return _grey16_to_rgb(image)
    if mode == "F":
        return _float_to_rgb(image)
    if mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in image.info:
        return _flatten_on_white(image.convert("RGBA"))
    return image.convert("RGB")  # 1, L, P, CMYK, YCbCr, RGBX, HSV ...


def _grey16_to_rgb(image: Image.Image) -> Image.Image:
    """16-bit grey to 8-bit by scaling (0..65535 -> 0..255, rounded); Pillow's own convert would clip at 255.

    Mode "I" (32-bit) is what Pillow uses for 16-bit sources too, so it is read as 16-bit, clipped to 0..65535.
    """
    values = np.asarray(image).astype(np.int64)
    values = np.clip(values, 0, 65535)
    grey = ((values * 255 + 32767) // 65535).astype(np.uint8)
    return Image.fromarray(grey).convert("RGB")


def _float_to_rgb(image: Image.Image) -> Image.Image:
    """Float images have no agreed white point, so their finite range is stretched to 0..255."""
    values = np.asarray(image, dtype=np.float64)
    finite = np.isfinite(values)
    grey = np.zeros(values.shape, dtype=np.uint8)
    if finite.any():
        lo, hi = float(values[finite].min()), float(values[finite].max())
        if hi > lo:
            scaled = np.where(finite, (values - lo) / (hi - lo) * 255.0, 0.0)
            grey = np.rint(scaled).astype(np.uint8)
    return Image.fromarray(grey).convert("RGB")


def _flatten_on_white(rgba: Image.Image) -> Image.Image:
    background = Image.new("RGB", rgba.size, (255, 255, 255))
    background.paste(rgba.convert("RGB"), mask=rgba.getchannel("A"))
    return background
