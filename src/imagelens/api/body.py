"""The image in an HTTP request: JSON ``{"url": ...}``, raw bytes (octet-stream, chunked), or multipart/form-data."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request

from imagelens.errors import InvalidImageSizeError, InvalidImageUrlError, InvalidRequestError


async def read_capped(request: Request, max_bytes: int) -> bytes:
    """The whole body, refusing (without buffering the rest) as soon as it passes ``max_bytes``."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise InvalidImageSizeError(
            f"The input data is {int(declared)} bytes; the maximum is {max_bytes} bytes."
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise InvalidImageSizeError(f"The input data is larger than the maximum of {max_bytes} bytes.")
        chunks.append(chunk)
    return b"".join(chunks)


def _url_from_json(raw: bytes) -> str:
    try:
        payload: Any = json.loads(raw or b"null")
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InvalidRequestError("The request body is not valid JSON.") from None
    if not isinstance(payload, dict):
        raise InvalidRequestError('The JSON body must be an object like {"url": "https://..."}.')
    lowered = {str(k).lower(): v for k, v in payload.items()}
    url = lowered.get("url")
    if not isinstance(url, str) or not url.strip():
        raise InvalidRequestError('The JSON body must contain a non-empty "url" string.')
    url = url.strip()
    # Only absolute http(s) URLs: a bare string would otherwise be read as a path on the server's disk.
    if urlsplit(url).scheme.lower() not in {"http", "https"}:
        raise InvalidImageUrlError(
            f"Image URL is badly formatted: only absolute http(s) URLs are accepted, got {url!r}."
        )
    return url


async def image_source(request: Request, max_bytes: int) -> bytes | str:
    """Bytes of the uploaded image, or the URL to fetch."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        return _url_from_json(await read_capped(request, 64 * 1024))
    if content_type == "multipart/form-data":
        form = await request.form(max_files=1, max_fields=8)
        try:
            for value in form.values():
                if hasattr(value, "read"):
                    data: bytes = await value.read(max_bytes + 1)
                    if len(data) > max_bytes:
                        raise InvalidImageSizeError(
                            f"The input data is larger than the maximum of {max_bytes} bytes."
                        )
                    return data
                if isinstance(value, str) and value.startswith(("http://", "https://")):
                    return value
        finally:
            await form.close()
        raise InvalidRequestError("The multipart body holds no image file.")
    body = await read_capped(request, max_bytes)
    if not body:
        raise InvalidRequestError(
            'The request body is empty: send the image bytes or a JSON {"url": ...} body.'
        )
    return body
