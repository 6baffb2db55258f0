"""Images in (``load_image``, safe URL fetch) and out (``encode_image``).

Light to import: numpy and Pillow only; the URL fetcher is the standard library.
"""

from imagelens.io.encode import encode_image
from imagelens.io.image import (
    ACCEPTED_FORMATS,
    ImageSource,
    LoadedImage,
    check_dimensions,
    decode_image_bytes,
    load_image,
    sniff_format,
)
from imagelens.io.url import fetch_url, is_public_address

__all__ = [
    "ACCEPTED_FORMATS",
    "ImageSource",
    "LoadedImage",
    "check_dimensions",
    "decode_image_bytes",
    "encode_image",
    "fetch_url",
    "is_public_address",
    "load_image",
    "sniff_format",
]
