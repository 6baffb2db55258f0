"""load_image: every source kind, Azure's input rules, and the awkward files (bombs, CMYK, 16-bit, EXIF, alpha)."""

from __future__ import annotations

import importlib.util
import io
import struct
import time
import warnings
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile, ImageOps, features

from imagelens.config import ImageLimits
from imagelens.errors import (
    ImageLensError,
    InvalidArgumentError,
    InvalidImageFormatError,
    InvalidImageSizeError,
    InvalidImageUrlError,
)
from imagelens.io import LoadedImage, load_image, sniff_format

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"

RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)


# --- builders ------------------------------------------------------------------------------------------------------


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def quadrants(width: int = 96, height: int = 80) -> Image.Image:
    """Red top-left, green top-right, blue bottom-left, white bottom-right: orientation and colour in one image."""
    array = np.zeros((height, width, 3), np.uint8)
    array[: height // 2, : width // 2] = RED
    array[: height // 2, width // 2 :] = GREEN
    array[height // 2 :, : width // 2] = BLUE
    array[height // 2 :, width // 2 :] = WHITE
    return Image.fromarray(array)


def quadrant_colours(array: np.ndarray) -> list[tuple[int, ...]]:
    h, w = array.shape[:2]
    return [
        tuple(int(v) for v in array[y, x])
        for y, x in ((h // 4, w // 4), (h // 4, 3 * w // 4), (3 * h // 4, w // 4), (3 * h // 4, 3 * w // 4))
    ]


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(width: int = 50000, height: int = 50000) -> bytes:
    """A ~60-byte PNG whose IHDR declares width x height RGB pixels (7.5 GB decoded at 50000^2)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + png_chunk(b"IEND", b"")
    )


def patch_png_size(data: bytes, width: int, height: int) -> bytes:
    """Rewrite the first IHDR found (PNG, or a PNG embedded in an ICO) with a new size and a valid CRC."""
    at = data.index(b"IHDR")
    body = struct.pack(">II", width, height) + data[at + 12 : at + 17]
    return data[:at] + b"IHDR" + body + struct.pack(">I", zlib.crc32(b"IHDR" + body)) + data[at + 21 :]


def patch_gif_size(data: bytes, width: int, height: int) -> bytes:
    return data[:6] + struct.pack("<HH", width, height) + data[10:]


def patch_bmp_size(data: bytes, width: int, height: int) -> bytes:
    return data[:18] + struct.pack("<ii", width, height) + data[26:]


def patch_jpeg_size(data: bytes, width: int, height: int) -> bytes:
    at = data.index(b"\xff\xc0")  # baseline SOF: marker, length, precision, height, width
    return data[: at + 5] + struct.pack(">HH", height, width) + data[at + 9 :]


def patch_webp_size(data: bytes, width: int, height: int) -> bytes:
    assert data[12:16] == b"VP8 " and data[23:26] == b"\x9d\x01\x2a"
    return data[:26] + struct.pack("<HH", width & 0x3FFF, height & 0x3FFF) + data[30:]


def patch_tiff_size(data: bytes, width: int, height: int) -> bytes:
    """Set ImageWidth (256) and ImageLength (257) in the first IFD of a little-endian TIFF, as LONGs."""
    out = bytearray(data)
    ifd = struct.unpack_from("<I", out, 4)[0]
    for index in range(struct.unpack_from("<H", out, ifd)[0]):
        entry = ifd + 2 + 12 * index
        tag = struct.unpack_from("<H", out, entry)[0]
        if tag in (256, 257):
            struct.pack_into("<HHII", out, entry, tag, 4, 1, width if tag == 256 else height)
    return bytes(out)


def ico_with_png_entry(embedded: tuple[int, int]) -> bytes:
    """A one-entry ICO whose directory says 64x64 but whose embedded PNG declares ``embedded``."""
    data = encode(quadrants(64, 64), "ICO", sizes=[(64, 64)])
    return patch_png_size(data, *embedded)


def exif_bytes(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


def assert_error(call: Callable[[], object], cls: type[ImageLensError], inner: str) -> ImageLensError:
    with pytest.raises(ImageLensError) as caught:
        call()
    assert type(caught.value) is cls, (
        f"expected {cls.__name__}, got {type(caught.value).__name__}: {caught.value}"
    )
    assert caught.value.inner_code == inner
    assert caught.value.to_azure()["error"]["innererror"]["code"] == inner
    return caught.value


# --- bad input: exact class and Azure inner code -------------------------------------------------------------------

SIZE, FORMAT = (InvalidImageSizeError, "InvalidImageSize"), (InvalidImageFormatError, "InvalidImageFormat")
_rng = np.random.default_rng(7)
_noise_jpeg = encode(
    Image.fromarray(_rng.integers(0, 256, (150, 200, 3), dtype=np.uint8)), "JPEG", quality=90
)
_png = encode(quadrants(), "PNG")

BAD_INPUTS: list[tuple[str, Callable[[], bytes], tuple[type[ImageLensError], str]]] = [
    ("zero bytes", lambda: b"", SIZE),
    (
        "random bytes",
        lambda: np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes(),
        FORMAT,
    ),
    ("jpeg magic then garbage", lambda: b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4, FORMAT),
    ("truncated jpeg", lambda: _noise_jpeg[: len(_noise_jpeg) // 2], FORMAT),
    ("truncated png", lambda: _png[: len(_png) - 40], FORMAT),
    ("png with a bad IDAT crc", lambda: _png[:-20] + b"\0\0\0\0" + _png[-16:], FORMAT),
    ("mp4 (ftyp isom) is not an image", lambda: b"\0\0\0\x18ftypisom\0\0\0\0isomavc1" + bytes(64), FORMAT),
    ("49x49", lambda: encode(Image.new("RGB", (49, 49)), "PNG"), SIZE),
    ("50 px is not greater than 50", lambda: encode(Image.new("RGB", (50, 200)), "PNG"), SIZE),
    ("16001 px wide", lambda: encode(Image.new("RGB", (16001, 60)), "PNG"), SIZE),
    ("16000 px high", lambda: encode(Image.new("L", (60, 16000)), "PNG"), SIZE),
    ("25 MB (valid header, padding)", lambda: _png + bytes(25 * 1024 * 1024), SIZE),
]


@pytest.mark.parametrize(
    ("data", "expected"), [(b, e) for _, b, e in BAD_INPUTS], ids=[n for n, _, _ in BAD_INPUTS]
)
def test_bad_bytes_are_refused_with_azure_codes(
    data: Callable[[], bytes], expected: tuple[type, str]
) -> None:
    payload = data()
    assert_error(lambda: load_image(payload), *expected)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


BOMBS: list[tuple[str, Callable[[], bytes]]] = [
    ("png 50000^2", lambda: png_bomb()),
    ("png 15000^2: sides fine, too many pixels", lambda: png_bomb(15000, 15000)),
    ("png between Pillow's warning and error limits", lambda: png_bomb(11000, 11000)),
    ("gif 60000^2", lambda: patch_gif_size(encode(quadrants(), "GIF"), 60000, 60000)),
    ("bmp 60000^2", lambda: patch_bmp_size(encode(quadrants(), "BMP"), 60000, 60000)),
    ("jpeg 60000^2", lambda: patch_jpeg_size(encode(quadrants(), "JPEG"), 60000, 60000)),
    (
        "webp 16383^2 (allocated when opened)",
        lambda: patch_webp_size(encode(quadrants(), "WEBP"), 16383, 16383),
    ),
    ("tiff 60000^2", lambda: patch_tiff_size(encode(quadrants(), "TIFF"), 60000, 60000)),
    ("ico hiding a 50000^2 png (decoded when opened)", lambda: ico_with_png_entry((50000, 50000))),
    ("ico hiding an 11000^2 png (Pillow would only warn)", lambda: ico_with_png_entry((11000, 11000))),
]


@pytest.mark.parametrize("make", [m for _, m in BOMBS], ids=[n for n, _ in BOMBS])
def test_decompression_bombs_are_refused_from_the_header(make: Callable[[], bytes]) -> None:
    data = make()
    assert len(data) < 100_000
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        started = time.perf_counter()
        assert_error(lambda: load_image(data), *SIZE)
        elapsed = time.perf_counter() - started
    assert elapsed < 0.5, f"took {elapsed:.2f} s: pixels were decoded"
    assert not [w for w in seen if issubclass(w.category, Image.DecompressionBombWarning)]


def test_pixel_cap_applies_below_the_side_limits() -> None:
    limits = ImageLimits(max_pixels=10_000)
    error = assert_error(lambda: load_image(encode(Image.new("RGB", (120, 100)), "PNG"), limits), *SIZE)
    assert "12000" in error.message and "10000" in error.message
    assert load_image(encode(Image.new("RGB", (100, 100)), "PNG"), limits).width == 100


def test_pillows_pixel_limit_is_honoured_without_its_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    """Between 1x and 2x Image.MAX_IMAGE_PIXELS Pillow would only warn; we refuse, and nothing is warned."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 4000)
    data = encode(Image.new("RGB", (80, 64)), "PNG")  # 5120 pixels
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        assert_error(lambda: load_image(data), *SIZE)
        assert_error(lambda: load_image(Image.new("RGB", (80, 64))), *SIZE)
    assert seen == []


def test_ico_entry_that_lies_about_its_size_is_refused() -> None:
    assert_error(lambda: load_image(ico_with_png_entry((60, 60))), *FORMAT)


@pytest.mark.parametrize(("width", "height"), [(51, 51), (15999, 51), (51, 15999)])
def test_sizes_just_inside_the_limits_are_accepted(width: int, height: int) -> None:
    loaded = load_image(encode(Image.new("L", (width, height), 128), "PNG"))
    assert (loaded.width, loaded.height) == (width, height)


def test_custom_limits_are_used() -> None:
    limits = ImageLimits(min_side=10, max_side=100, max_bytes=10_000)
    assert load_image(encode(Image.new("RGB", (20, 20)), "PNG"), limits).width == 20
    assert_error(lambda: load_image(encode(Image.new("RGB", (100, 20)), "PNG"), limits), *SIZE)
    noise = encode(Image.fromarray(np.random.default_rng(2).integers(0, 256, (90, 90, 3), np.uint8)), "PNG")
    assert len(noise) > 10_000
    assert_error(lambda: load_image(noise, limits), *SIZE)


# --- formats -------------------------------------------------------------------------------------------------------

ROUND_TRIPS: list[tuple[str, str, dict[str, object], int]] = [
    ("jpeg", "JPEG", {"quality": 95}, 12),
    ("png", "PNG", {}, 0),
    ("gif", "GIF", {}, 0),
    ("bmp", "BMP", {}, 0),
    ("webp", "WEBP", {"lossless": True}, 0),
    ("tiff", "TIFF", {"compression": "tiff_lzw"}, 0),
    ("ico", "ICO", {"sizes": [(96, 96)]}, 0),
    ("avif", "AVIF", {"quality": 90}, 24),
    ("mpo", "MPO", {"save_all": True, "append_images": [Image.new("RGB", (96, 96))], "quality": 95}, 12),
]


@pytest.mark.parametrize(
    ("fmt", "pillow", "options", "tolerance"), ROUND_TRIPS, ids=[r[0] for r in ROUND_TRIPS]
)
def test_every_accepted_format_round_trips(
    fmt: str, pillow: str, options: dict[str, object], tolerance: int
) -> None:
    if pillow == "AVIF" and not features.check("avif"):
        pytest.skip("this Pillow has no AVIF codec")
    source = quadrants(96, 96)
    data = encode(source, pillow, **options)
    loaded = load_image(data)
    assert loaded.format == fmt
    assert loaded.byte_size == len(data)
    assert (loaded.width, loaded.height) == (96, 96)
    for got, want in zip(quadrant_colours(loaded.array()), [RED, GREEN, BLUE, WHITE], strict=True):
        assert max(abs(g - w) for g, w in zip(got, want, strict=True)) <= tolerance, (got, want)


def test_heif_without_pillow_heif_names_the_extra() -> None:
    if importlib.util.find_spec("pillow_heif") is not None:
        pytest.skip("pillow-heif is installed: HEIF decodes instead")
    heic = b"\0\0\0\x18ftypheic\0\0\0\0mif1heic" + bytes(200)
    error = assert_error(lambda: load_image(heic), *FORMAT)
    assert "pip install imagelens[heif]" in error.message


SNIFFS = [
    (b"\xff\xd8\xff\xe1", "jpeg"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"BM6\0", "bmp"),
    (b"RIFF\0\0\0\0WEBPVP8 ", "webp"),
    (b"RIFF\0\0\0\0AVI LIST", None),
    (b"\0\0\1\0\1\0", "ico"),
    (b"\0\0\2\0\1\0", None),  # CUR, not ICO
    (b"II*\0", "tiff"),
    (b"MM\0*", "tiff"),
    (b"\0\0\0\x1cftypavif\0\0\0\0avifmif1miaf", "avif"),
    (b"\0\0\0\x1cftypmif1\0\0\0\0mif1avifmiaf", "avif"),
    (b"\0\0\0\x18ftypmif1\0\0\0\0mif1heic", "heif"),
    (b"\0\0\0\x18ftypheic\0\0\0\0mif1heic", "heif"),
    (b"\0\0\0\x18ftypisom\0\0\0\0isomavc1", None),
    (b"%PDF-1.7", None),
    (b"", None),
]


@pytest.mark.parametrize(("head", "expected"), SNIFFS)
def test_sniff_format(head: bytes, expected: str | None) -> None:
    assert sniff_format(head) == expected


def test_format_comes_from_the_bytes_not_the_name(tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"
    path.write_bytes(encode(quadrants(), "PNG"))
    assert load_image(path).format == "png"


# --- pixels: frames, colour modes, alpha, orientation ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("pillow", "options"),
    [("GIF", {"duration": 100, "loop": 0}), ("WEBP", {"lossless": True}), ("PNG", {})],
    ids=["gif", "webp", "apng"],
)
def test_animations_give_their_first_frame(pillow: str, options: dict[str, object]) -> None:
    frames = [Image.new("RGB", (64, 64), colour) for colour in (RED, GREEN, BLUE)]
    data = encode(frames[0], pillow, save_all=True, append_images=frames[1:], **options)
    assert Image.open(io.BytesIO(data)).n_frames == 3
    loaded = load_image(data)
    assert tuple(loaded.array()[32, 32]) == RED


@pytest.mark.parametrize("pillow", ["JPEG", "TIFF"])
def test_cmyk_becomes_rgb_with_roughly_the_right_colours(pillow: str) -> None:
    cmyk = Image.new("CMYK", (80, 60), (0, 255, 255, 0))  # no cyan, full magenta and yellow: red
    cmyk.paste((255, 0, 255, 0), (40, 0, 80, 60))  # full cyan and yellow: green
    loaded = load_image(encode(cmyk, pillow))
    array = loaded.array().astype(int)
    assert loaded.image.mode == "RGB"
    red, green = array[30, 10], array[30, 70]
    assert red[0] > 200 and red[1] < 60 and red[2] < 60, red
    assert green[1] > 200 and green[0] < 60 and green[2] < 60, green


@pytest.mark.parametrize("pillow", ["PNG", "TIFF"])
def test_16_bit_grey_is_scaled_not_clipped(pillow: str) -> None:
    values = (np.arange(64 * 256, dtype=np.uint32) * 4 % 65536).astype(np.uint16).reshape(64, 256)
    image = Image.fromarray(values)
    assert image.mode == "I;16"
    loaded = load_image(encode(image, pillow))
    expected = np.rint(values / 257.0).astype(np.uint8)  # 65535 -> 255, linear
    array = loaded.array()
    assert np.array_equal(array[..., 0], expected)
    assert np.array_equal(array[..., 0], array[..., 1]) and np.array_equal(array[..., 1], array[..., 2])
    assert array.max() == 255 and array.min() == 0


def test_palette_with_transparency_is_composited_on_white() -> None:
    image = Image.new("P", (64, 64), 0)
    image.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    image.paste(1, (32, 0, 64, 64))
    data = encode(image, "PNG", transparency=0)  # index 0 (red) is fully transparent
    array = load_image(data).array()
    assert tuple(array[10, 10]) == WHITE
    assert tuple(array[10, 50]) == BLUE


@pytest.mark.parametrize(
    ("mode", "pixel", "expected"),
    [
        ("RGBA", (255, 0, 0, 128), (255, 127, 127)),
        ("RGBA", (0, 0, 0, 0), WHITE),
        ("LA", (0, 255), (0, 0, 0)),
        ("LA", (0, 0), WHITE),
    ],
)
def test_alpha_is_composited_on_white(
    mode: str, pixel: tuple[int, ...], expected: tuple[int, int, int]
) -> None:
    array = load_image(encode(Image.new(mode, (64, 64), pixel), "PNG")).array()
    assert max(abs(int(a) - b) for a, b in zip(array[5, 5], expected, strict=True)) <= 1


def test_exif_orientation_6_rotates_a_100x60_jpeg_to_60x100() -> None:
    array = np.full((60, 100, 3), 80, np.uint8)
    array[:12, :12] = RED  # marker in the stored top-left corner
    data = encode(Image.fromarray(array), "JPEG", quality=95, exif=exif_bytes(6))
    loaded = load_image(data)
    assert (loaded.width, loaded.height) == (60, 100)
    # Orientation 6 means "rotate 90 degrees clockwise to display": stored (x, y) lands at (H - 1 - y, x).
    rotated = loaded.array().astype(int)
    assert np.abs(rotated[5, 60 - 1 - 5] - RED).max() < 40  # top-right corner
    assert np.abs(rotated[5, 5] - 80).max() < 40  # the old corner is background now


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_matches_pillows_exif_transpose(orientation: int) -> None:
    data = encode(quadrants(96, 64), "PNG", exif=exif_bytes(orientation))
    expected = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB"))
    loaded = load_image(data)
    assert np.array_equal(loaded.array(), expected)
    assert (loaded.width, loaded.height) == ((64, 96) if orientation >= 5 else (96, 64))


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data:UserWarning")  # Pillow warns while opening; not fatal
def test_broken_exif_does_not_reject_a_good_image() -> None:
    data = encode(quadrants(), "JPEG", exif=b"Exif\0\0MM\0*\0\0\0\x08\xff\xff")
    assert load_image(data).width == 96


# --- other sources -------------------------------------------------------------------------------------------------


def test_path_str_and_pathlib(tmp_path: Path) -> None:
    path = tmp_path / "q.png"
    path.write_bytes(_png)
    for source in (path, str(path)):
        loaded = load_image(source)
        assert (loaded.format, loaded.byte_size, loaded.width) == ("png", len(_png), 96)


@pytest.mark.parametrize(
    ("name", "expected"),
    [("missing.png", (InvalidArgumentError, "BadArgument")), (".", (InvalidArgumentError, "BadArgument"))],
)
def test_bad_paths(tmp_path: Path, name: str, expected: tuple[type, str]) -> None:
    assert_error(lambda: load_image(tmp_path / name), *expected)


def test_oversize_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    path.write_bytes(_png + bytes(25 * 1024 * 1024))
    assert_error(lambda: load_image(path), *SIZE)
    assert_error(lambda: load_image(str(path)), *SIZE)


class Trickle:
    """A non-seekable binary stream that returns at most 7 bytes per read and counts what it handed out."""

    def __init__(self, data: bytes) -> None:
        self._data, self.given = data, 0

    def read(self, size: int = -1) -> bytes:
        size = 7 if size < 0 else min(size, 7)
        chunk = self._data[self.given : self.given + size]
        self.given += len(chunk)
        return chunk


def test_file_objects() -> None:
    assert load_image(io.BytesIO(_png)).byte_size == len(_png)
    stream = Trickle(_png)
    assert load_image(stream).format == "png"
    assert stream.given == len(_png)


def test_stream_reading_stops_past_the_cap() -> None:
    stream = Trickle(_png + bytes(5000))
    assert_error(lambda: load_image(stream, ImageLimits(max_bytes=2000)), *SIZE)
    assert stream.given <= 2001


def test_text_stream_is_refused() -> None:
    assert_error(lambda: load_image(io.StringIO("not bytes")), InvalidArgumentError, "BadArgument")


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_bytes_like(kind: type) -> None:
    loaded = load_image(kind(_png))
    assert (loaded.format, loaded.byte_size) == ("png", len(_png))


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "FILE:///etc/passwd",
        "ftp://example.com/a.png",
        "data:image/png;base64,iVBORw0KGgo=",
        "gopher://x/",
    ],
)
def test_non_http_urls_are_refused(url: str) -> None:
    assert_error(lambda: load_image(url), InvalidImageUrlError, "InvalidImageUrl")


@pytest.mark.parametrize("source", [42, None, [1, 2, 3], 3.5])
def test_unsupported_source_types(source: object) -> None:
    assert_error(lambda: load_image(source), InvalidArgumentError, "BadArgument")  # type: ignore[arg-type]


ARRAYS: list[tuple[str, Callable[[], np.ndarray], Callable[[np.ndarray], np.ndarray]]] = [
    ("rgb", lambda: np.random.default_rng(3).integers(0, 256, (60, 80, 3), np.uint8), lambda a: a),
    (
        "grey",
        lambda: np.random.default_rng(4).integers(0, 256, (60, 80), np.uint8),
        lambda a: np.stack([a] * 3, -1),
    ),
    (
        "grey hw1",
        lambda: np.random.default_rng(5).integers(0, 256, (60, 80, 1), np.uint8),
        lambda a: np.repeat(a, 3, 2),
    ),
    (
        "rgba opaque",
        lambda: np.dstack([np.full((60, 80, 3), 9, np.uint8), np.full((60, 80), 255, np.uint8)]),
        lambda a: a[..., :3],
    ),
    ("rgba clear", lambda: np.zeros((60, 80, 4), np.uint8), lambda a: np.full((60, 80, 3), 255, np.uint8)),
    (
        "non-contiguous",
        lambda: np.random.default_rng(6).integers(0, 256, (60, 160, 3), np.uint8)[:, ::2],
        lambda a: a,
    ),
]


@pytest.mark.parametrize(("make", "expect"), [(m, e) for _, m, e in ARRAYS], ids=[n for n, _, _ in ARRAYS])
def test_numpy_inputs(make: Callable[[], np.ndarray], expect: Callable[[np.ndarray], np.ndarray]) -> None:
    source = make()
    wanted = expect(source).copy()
    loaded = load_image(source)
    assert (loaded.format, loaded.byte_size) == ("raw", source.nbytes)
    assert np.array_equal(loaded.array(), wanted)
    source[...] = 1  # the caller's array is not shared
    assert np.array_equal(loaded.array(), wanted) and np.array_equal(np.asarray(loaded.image), wanted)


@pytest.mark.parametrize(
    ("array", "expected"),
    [
        (np.zeros((60, 80, 3), np.float32), FORMAT),
        (np.zeros((60, 80, 3), np.uint16), FORMAT),
        (np.zeros((60, 80, 2), np.uint8), FORMAT),
        (np.zeros((2, 60, 80, 3), np.uint8), FORMAT),
        (np.zeros((49, 80, 3), np.uint8), SIZE),
        (np.zeros((60, 16000), np.uint8), SIZE),
    ],
    ids=["float32", "uint16", "two channels", "4-d", "49 high", "16000 wide"],
)
def test_bad_arrays(array: np.ndarray, expected: tuple[type, str]) -> None:
    assert_error(lambda: load_image(array), *expected)


def test_pil_inputs_keep_their_format_and_are_not_modified() -> None:
    opened = Image.open(io.BytesIO(encode(quadrants(100, 60), "JPEG", quality=95, exif=exif_bytes(6))))
    loaded = load_image(opened)
    assert (loaded.format, loaded.width, loaded.height) == ("jpeg", 60, 100)
    assert opened.size == (100, 60)

    fresh = quadrants()
    loaded = load_image(fresh)
    assert loaded.format == "raw" and loaded.image is not fresh
    fresh.paste((0, 0, 0), (0, 0, 96, 80))
    assert quadrant_colours(loaded.array()) == [RED, GREEN, BLUE, WHITE]


@pytest.mark.parametrize(
    ("image", "expected_pixel"),
    [
        (Image.new("L", (64, 64), 77), (77, 77, 77)),
        (Image.new("1", (64, 64), 1), WHITE),
        (Image.new("RGBA", (64, 64), (0, 0, 255, 0)), WHITE),
        (Image.fromarray(np.full((64, 64), 65535, np.uint16)), WHITE),
        (Image.new("CMYK", (64, 64), (0, 0, 0, 255)), (0, 0, 0)),
        (Image.new("F", (64, 64), 3.0), (0, 0, 0)),
    ],
    ids=["L", "1", "RGBA", "I;16", "CMYK", "F"],
)
def test_pil_modes(image: Image.Image, expected_pixel: tuple[int, int, int]) -> None:
    loaded = load_image(image)
    assert loaded.image.mode == "RGB"
    assert tuple(int(v) for v in loaded.array()[3, 3]) == expected_pixel


def test_small_pil_image_is_refused() -> None:
    assert_error(lambda: load_image(Image.new("RGB", (49, 200))), *SIZE)


def test_truncated_pil_image_is_a_format_error() -> None:
    opened = Image.open(io.BytesIO(_noise_jpeg[: len(_noise_jpeg) // 2]))
    assert_error(lambda: load_image(opened), *FORMAT)


# --- LoadedImage ---------------------------------------------------------------------------------------------------


def test_array_is_cached_read_only_and_shared_across_threads() -> None:
    loaded = load_image(_png)
    with ThreadPoolExecutor(8) as pool:
        arrays = list(pool.map(lambda _: loaded.array(), range(32)))
    first = arrays[0]
    assert all(a is first for a in arrays)
    assert first.shape == (80, 96, 3) and first.dtype == np.uint8
    assert not first.flags.writeable
    with pytest.raises(ValueError):
        first[0, 0, 0] = 1


def test_loaded_image_rejects_non_rgb() -> None:
    with pytest.raises(ValueError, match="'RGB'"):
        LoadedImage(Image.new("L", (60, 60)), "png", 10)


@pytest.mark.realdata
def test_real_photos_match_pillows_own_decode() -> None:
    folder = DATA / "coco_val2017_mini79" / "images"
    if not folder.is_dir():
        pytest.skip(f"real data not found at {folder}")
    for path in sorted(folder.glob("*.jpg"))[:5]:
        loaded = load_image(path)
        with Image.open(path) as reference:
            expected = np.asarray(ImageOps.exif_transpose(reference).convert("RGB"))
        assert loaded.format == "jpeg" and loaded.byte_size == path.stat().st_size
        assert np.array_equal(loaded.array(), expected)
