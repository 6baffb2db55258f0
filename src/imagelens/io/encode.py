"""Images out: encode a PIL image or an RGB array to bytes (thumbnails, background-removal masks, test fixtures).

The counterpart of :func:`imagelens.io.load_image`: the formats it writes are ones ``load_image`` reads back.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from imagelens.errors import InvalidArgumentError

__all__ = ["ENCODABLE_FORMATS", "encode_image"]

# Our lower-case names -> Pillow's; and the modes each format can store (anything else is converted first).
ENCODABLE_FORMATS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP", "bmp": "BMP", "gif": "GIF", "tiff": "TIFF"}
_KEEPS_ALPHA = frozenset({"png", "webp", "tiff", "gif"})


def encode_image(image: Image.Image | np.ndarray, format: str = "png", *, quality: int = 90) -> bytes:
    """Encode ``image`` (PIL image, or uint8 array (H, W), (H, W, 3) RGB, (H, W, 4) RGBA) as ``format``.

    Formats without alpha (JPEG, BMP) get transparency flattened on white, as :func:`load_image` would show it.
    ``quality`` (1..100) applies to JPEG and WEBP.
    """
    name = format.lower().lstrip(".")
    name = "jpeg" if name == "jpg" else "tiff" if name == "tif" else name
    if name not in ENCODABLE_FORMATS:
        raise InvalidArgumentError(f"format must be one of {sorted(ENCODABLE_FORMATS)}, got {format!r}")
    if not 1 <= quality <= 100:
        raise InvalidArgumentError(f"quality must be in [1, 100], got {quality}")
    pil = _as_pil(image)
    if pil.mode not in ("RGB", "L") and not (name in _KEEPS_ALPHA and pil.mode == "RGBA"):
        pil = _flatten(pil) if "A" in pil.getbands() or "transparency" in pil.info else pil.convert("RGB")
    buffer = io.BytesIO()
    options: dict[str, object] = {"quality": quality} if name in ("jpeg", "webp") else {}
    pil.save(buffer, ENCODABLE_FORMATS[name], **options)
    return buffer.getvalue()


def _as_pil(image: Image.Image | np.ndarray) -> Image.Image:
    if isinstance(image, Image.Image):
        return image
    if not isinstance(image, np.ndarray):
        raise InvalidArgumentError(f"image must be a PIL image or a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8 or not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (3, 4))):
        raise InvalidArgumentError(
            f"image array must be uint8 with shape (H, W), (H, W, 3) or (H, W, 4), got {image.dtype} "
            f"{tuple(image.shape)}"
        )
    return Image.fromarray(np.ascontiguousarray(image))


def _flatten(image: Image.Image) -> Image.Image:
    rgba = image.convert("RGBA")
    background = Image.new("RGB", rgba.size, (255, 255, 255))
    background.paste(rgba.convert("RGB"), mask=rgba.getchannel("A"))
    return background
