"""Any Pillow image to what every feature sees: upright (EXIF orientation applied), 8-bit RGB, transparency
composited on white."""

from __future__ import annotations

import numpy as np
from PIL import Image

from imagelens.errors import InvalidImageFormatError

__all__ = ["to_rgb", "upright_rgb"]

_EXIF_ORIENTATION = 0x0112
_ROWS = 256

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


def upright_rgb(image: Image.Image) -> Image.Image:
    """RGB, rotated as its EXIF orientation says. May return ``image`` itself when there is nothing to do."""
    orientation = _orientation(image)
    try:
        rgb = to_rgb(image)
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


def to_rgb(image: Image.Image) -> Image.Image:
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
    values = np.asarray(image)
    grey = np.empty(values.shape, dtype=np.uint8)
    for top in range(0, values.shape[0], _ROWS):  # a band at a time: the int64 temporaries stay small
        band = np.clip(values[top : top + _ROWS].astype(np.int64), 0, 65535)
        grey[top : top + _ROWS] = (band * 255 + 32767) // 65535
    del values
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
