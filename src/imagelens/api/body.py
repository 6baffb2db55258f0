"""The image in an HTTP request: JSON ``{"url": ...}``, raw bytes (octet-stream, chunked), or multipart/form-data.

Image URLs are fetched here, on the URL-fetch pool (its own threads, its own bound: ``server.fetch_workers`` and
``server.fetch_queue``), never on the analysis workers: two slow URLs cannot stall every other request.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request

from imagelens.config import RequestLimits
from imagelens.errors import InvalidImageSizeError, InvalidImageUrlError, InvalidRequestError

_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.S)
_STRUCTURE = re.compile(rb"[\[\]{},]")


def check_json_shape(raw: bytes, limits: RequestLimits) -> None:
    """Refuse (400, naming the limit) a JSON body that is too big, too deep, has too long a list or object, or a
    number too long to parse cheaply; before any parser sees it. Malformed JSON is left to the parser."""
    if len(raw) > limits.max_json_bytes:
        raise InvalidRequestError(
            f"The JSON body is larger than {limits.max_json_bytes} bytes (requests.max_json_bytes).",
            {"max_json_bytes": limits.max_json_bytes},
        )
    bare = _STRING.sub(b'""', raw)
    if re.search(rb"[0-9eE.+-]{%d,}" % (limits.max_number_chars + 1), bare):
        raise InvalidRequestError(
            f"A number in the JSON body is longer than {limits.max_number_chars} characters "
            "(requests.max_number_chars).",
            {"max_number_chars": limits.max_number_chars},
        )
    counts: list[int] = []
    for match in _STRUCTURE.finditer(bare):
        char = match.group()
        if char in (b"[", b"{"):
            counts.append(1)
            if len(counts) > limits.max_json_depth:
                raise InvalidRequestError(
                    f"The JSON body is nested deeper than {limits.max_json_depth} levels (requests.max_json_depth).",
                    {"max_json_depth": limits.max_json_depth},
                )
        elif char in (b"]", b"}"):
            if counts:
                counts.pop()
        elif counts:
            counts[-1] += 1
            if counts[-1] > limits.max_list_items:
                raise InvalidRequestError(
                    f"A list or object in the JSON body has more than {limits.max_list_items} items "
                    "(requests.max_list_items).",
                    {"max_list_items": limits.max_list_items},
                )


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


def check_image_url(url: str) -> str:
    """An absolute http(s) URL with a host; anything else (``http:/../x.jpg``, a path) is InvalidImageUrl."""
    url = url.strip()
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        host = None
        parts = None
    if parts is None or parts.scheme.lower() not in {"http", "https"} or not host:
        raise InvalidImageUrlError(
            f"Image URL is badly formatted: only absolute http(s) URLs with a host are accepted, got {url[:200]!r}."
        )
    return url


def _url_from_json(raw: bytes) -> str:
    try:
        payload: Any = json.loads(raw or b"null")
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError, ValueError):
        raise InvalidRequestError("The request body is not valid JSON.") from None
    if not isinstance(payload, dict):
        raise InvalidRequestError('The JSON body must be an object like {"url": "https://..."}.')
    lowered = {str(k).lower(): v for k, v in payload.items()}
    url = lowered.get("url")
    if not isinstance(url, str) or not url.strip():
        raise InvalidRequestError('The JSON body must contain a non-empty "url" string.')
    return check_image_url(url)


async def _fetch(request: Request, url: str, max_bytes: int) -> bytes:
    """The URL's bytes, fetched on the app's URL-fetch pool (bounded; 429 when full) within the request deadline."""
    from imagelens import deadline
    from imagelens.io.url import fetch_url

    state = request.app.state
    settings = state.settings.url_settings()
    current = (
        deadline.current()
    )  # the request's deadline ends the wait (408); the fetch itself ends a second later
    budget = (
        3.0 * settings.timeout_s
        if current is None
        else min(3.0 * settings.timeout_s, current.remaining() + 1.0)
    )
    return await state.fetch_pool.run(lambda: fetch_url(url, settings, max_bytes, deadline_s=budget))  # type: ignore[no-any-return]


async def image_source(request: Request, max_bytes: int) -> bytes | str:
    """Bytes of the uploaded image or of the image its URL points to (fetched here when the app has a fetch pool)."""
    source = await _image_source(request, max_bytes)
    if isinstance(source, str) and getattr(request.app.state, "fetch_pool", None) is not None:
        return await _fetch(request, source, max_bytes)
    return source


async def _image_source(request: Request, max_bytes: int) -> bytes | str:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        return _url_from_json(await read_capped(request, 64 * 1024))
    if content_type == "multipart/form-data":
        parts = getattr(
            getattr(request.app.state, "settings", None), "requests", RequestLimits()
        ).max_multipart_parts
        try:
            form = await request.form(max_files=1, max_fields=parts, max_part_size=64 * 1024)
        except InvalidImageSizeError:
            raise
        except Exception as exc:
            if type(exc).__name__ in {"MultiPartException", "HTTPException"}:
                raise InvalidRequestError(
                    f"The multipart body is not valid or has too many parts (at most {parts} fields and 1 file; "
                    "requests.max_multipart_parts)."
                ) from None
            raise
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
                    return check_image_url(value)
        finally:
            await form.close()  # the spooled temporary file goes on every path
        raise InvalidRequestError("The multipart body holds no image file.")
    body = await read_capped(request, max_bytes)
    if not body:
        raise InvalidRequestError(
            'The request body is empty: send the image bytes or a JSON {"url": ...} body.'
        )
    return body
