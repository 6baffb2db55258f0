"""One way in for images: ``load_image(source) -> LoadedImage``.

Every capability (CLI, HTTP, library) decodes through here, so Azure AI Vision 4.0's input rules live in one
place: at most 20 MB, the format sniffed from magic bytes (never from a file name or a Content-Type), width and
height strictly between 50 and 16000 px, the first frame of animations, EXIF orientation applied, RGB out.

Decompression bombs are refused from the header, before any pixel is decoded (:mod:`imagelens.io.formats`);
pixels are made upright RGB by :mod:`imagelens.io.pixels`.
"""

from __future__ import annotations

import os
import re
import stat
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

import numpy as np
from PIL import Image

from imagelens import deadline
from imagelens.config import ImageLimits, UrlFetchSettings
from imagelens.errors import (
    ImageLensError,
    InvalidArgumentError,
    InvalidImageFormatError,
    InvalidImageSizeError,
)
from imagelens.io.budget import check_decode_cost, check_jpeg
from imagelens.io.formats import (
    ACCEPTED_FORMATS,
    bomb_error,
    check_dimensions,
    check_ico_entries,
    corrupt_error,
    open_header,
    sniff_format,
    webp_canvas_size,
)
from imagelens.io.pixels import to_rgb, upright_rgb

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

# A scheme and "//", or one of the schemes people mistype ("http:/x", "https:x"): never a local path.
_URL_LIKE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://|^(data|https?|ftp|file):", re.IGNORECASE)
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
        declared = webp_canvas_size(data)
        if declared is not None:
            check_dimensions(*declared, limits)
    elif fmt == "ico":
        check_ico_entries(data, limits)
    deadline.check()

    opened = open_header(data, fmt)
    try:
        check_dimensions(*opened.size, limits)  # from the header: nothing decoded yet
        check_decode_cost(opened, data, fmt, limits)
        if fmt == "jpeg":
            check_jpeg(data, limits)  # scan count and truncation, from the markers
        try:
            opened.load()  # the first frame: every plugin opens on frame 0
        except MemoryError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise bomb_error(opened.size, limits) from exc
        except ImageLensError:
            raise
        except Exception as exc:
            raise corrupt_error(fmt, exc) from exc
        deadline.check()
        actual = "mpo" if opened.format == "MPO" else fmt
        rgb = upright_rgb(opened)
        if rgb is opened:  # a plain Image that no longer holds the encoded bytes or decoder state
            rgb = opened.copy()
    finally:
        opened.close()
    check_dimensions(rgb.width, rgb.height, limits)
    return LoadedImage(rgb, actual, len(data))


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
    rgb = to_rgb(pil)
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
        raise bomb_error(image.size, limits) from exc
    except Exception as exc:
        raise corrupt_error((image.format or "image").lower(), exc) from exc
    rgb = upright_rgb(image)
    if rgb is image:
        rgb = image.copy()
    check_dimensions(rgb.width, rgb.height, limits)
    fmt = (image.format or "raw").lower()
    return LoadedImage(rgb, fmt, _pixel_buffer_size(image))


def _pixel_buffer_size(image: Image.Image) -> int:
    bytes_per_band = 2 if image.mode.startswith("I;16") else 4 if image.mode in ("I", "F") else 1
    return image.width * image.height * len(image.getbands()) * bytes_per_band
