"""The hardening pieces one at a time, in-process and fast: deadlines in the pool and the decoder, the read 202,
JSON shape limits, the JPEG marker walk, paths kept out of messages, the Host header."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from imagelens import deadline as deadlines
from imagelens.api.body import check_image_url, check_json_shape
from imagelens.api.middleware import scrub_paths
from imagelens.compute.local import LocalPool
from imagelens.config import ImageLimits, RequestLimits, Settings
from imagelens.errors import (
    CancelledRequestError,
    InvalidImageFormatError,
    InvalidImageSizeError,
    InvalidImageUrlError,
    InvalidRequestError,
    RequestTimeoutError,
    TooManyRequestsError,
)
from imagelens.io import decode_image_bytes, load_image
from imagelens.io.budget import jpeg_info
from tests.hardening.conftest import jpeg_bytes, many_scan_jpeg, png16


def _spin(stop_after_s: float, seen: list[BaseException]) -> str:
    """Work that checks the deadline every 10 ms, as decoding and the analysis stages do."""
    end = time.monotonic() + stop_after_s
    try:
        while time.monotonic() < end:
            deadlines.check()
            time.sleep(0.01)
    except BaseException as exc:
        seen.append(exc)
        raise
    return "done"


def test_the_pool_runs_its_idle_hook_when_its_last_work_ends(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[int] = []
    pool = LocalPool(workers=2, max_queue=0, on_idle=lambda: calls.append(pool.pending))
    release = threading.Event()

    async def main() -> None:
        slow = asyncio.ensure_future(pool.run(lambda: release.wait(5.0)))
        await asyncio.sleep(0)  # the slow one takes its slot first
        assert await pool.run(lambda: "quick") == "quick"
        assert calls == []  # the slow one still runs: not idle
        release.set()
        assert await slow is True

    asyncio.run(main())
    time.sleep(0.05)
    assert calls == [0]  # once, after the last one

    def broken() -> None:
        raise RuntimeError("no libc here")

    failing = LocalPool(workers=1, max_queue=0, on_idle=broken)
    with caplog.at_level("ERROR"):
        assert asyncio.run(failing.run(lambda: 7)) == 7
        assert asyncio.run(failing.run(lambda: 8)) == 8  # the pool goes on; its slot was released
    assert "idle hook failed" in caplog.text and failing.pending == 0
    pool.close()
    failing.close()


def test_the_pool_stops_work_at_the_deadline_and_frees_the_slot() -> None:
    pool = LocalPool(workers=1, max_queue=0)
    seen: list[BaseException] = []

    async def main() -> None:
        with deadlines.bound(deadlines.Deadline(0.3)):
            started = time.monotonic()
            with pytest.raises(RequestTimeoutError):
                await pool.run(lambda: _spin(10.0, seen))
            assert time.monotonic() - started < 1.0

    asyncio.run(main())
    time.sleep(0.1)
    assert pool.pending == 0 and isinstance(seen[0], RequestTimeoutError)
    pool.close()


def test_a_cancelled_caller_stops_the_work() -> None:
    pool = LocalPool(workers=1, max_queue=0)
    seen: list[BaseException] = []

    async def main() -> None:
        with deadlines.bound(deadlines.Deadline(30.0)):
            task = asyncio.ensure_future(pool.run(lambda: _spin(10.0, seen)))
        await asyncio.sleep(0.2)
        task.cancel()  # what the guard does when the client disconnects
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    time.sleep(0.1)
    assert pool.pending == 0 and isinstance(seen[0], CancelledRequestError)
    pool.close()


def test_start_takes_the_slot_now_or_answers_429() -> None:
    pool = LocalPool(workers=1, max_queue=0)
    release = threading.Event()
    ran: list[str] = []

    async def main() -> None:
        first = pool.start(release.wait, 5.0)
        with pytest.raises(TooManyRequestsError) as caught:
            pool.start(lambda: ran.append("never"), 5.0)
        assert caught.value.retry_after_s == 1
        release.set()
        await first
        await pool.start(lambda: ran.append("second"), 5.0)

    asyncio.run(main())
    assert ran == ["second"]
    pool.close()


def test_decoding_checks_the_deadline() -> None:
    with deadlines.bound(deadlines.Deadline(0.001)):
        time.sleep(0.01)
        with pytest.raises(RequestTimeoutError):
            decode_image_bytes(jpeg_bytes())
    assert decode_image_bytes(jpeg_bytes()).width == 96  # no deadline outside a request


def test_jpeg_scans_truncation_and_decode_memory_are_checked_before_decoding() -> None:
    assert jpeg_info(jpeg_bytes(progressive=True)).scans == 10
    with pytest.raises(InvalidImageSizeError, match="max_jpeg_scans"):
        decode_image_bytes(many_scan_jpeg(200))
    truncated = jpeg_bytes(400)[:1500]
    with pytest.raises(InvalidImageFormatError, match="truncated"):
        decode_image_bytes(truncated)
    # a complete marker structure around far too little data for its 9000 x 9000 frame (libjpeg would fill
    # 81 megapixels with grey)
    sof = truncated.index(b"\xff\xc0")
    big = truncated[: sof + 5] + (9000).to_bytes(2, "big") * 2 + truncated[sof + 9 :]
    starved = big + b"\xff\xd9"
    with pytest.raises(InvalidImageFormatError, match="truncated"):
        decode_image_bytes(starved)
    with pytest.raises(InvalidImageSizeError, match="max_decode_bytes"):
        decode_image_bytes(png16(2000, 2000, colour=2, rows=False), ImageLimits(max_decode_bytes=10_000_000))


def test_truncated_images_decode_when_the_user_opts_in() -> None:
    data = jpeg_bytes(400)
    cut = data[: len(data) * 3 // 4]
    with pytest.raises(InvalidImageFormatError):
        decode_image_bytes(cut)
    try:  # opted in: our check steps aside (Pillow may still refuse what it cannot read)
        decode_image_bytes(cut, ImageLimits(allow_truncated=True))
    except InvalidImageFormatError as exc:
        assert "allow_truncated" not in exc.message


@pytest.mark.parametrize("url", ["http:/../x.jpg", "https:x.jpg", "http://", "ftp://host/x.jpg", "x.jpg"])
def test_image_urls_must_be_absolute_http_with_a_host(url: str) -> None:
    with pytest.raises(InvalidImageUrlError):
        check_image_url(url)
    with pytest.raises((InvalidImageUrlError, Exception)):
        load_image(url)


def test_a_mistyped_url_is_never_read_as_a_local_path() -> None:
    with pytest.raises(InvalidImageUrlError):
        load_image("http:/../etc/passwd")


@pytest.mark.parametrize(
    ("raw", "limit"),
    [
        (b"[" * 40 + b"]" * 40, "max_json_depth"),
        (b"[" + b"1" * 100 + b"]", "max_number_chars"),
        (b"[" + b"1," * 1500 + b"1]", "max_list_items"),
        (b'{"a": "' + b"x" * 2_000_000 + b'"}', "max_json_bytes"),
    ],
)
def test_json_shape_limits(raw: bytes, limit: str) -> None:
    with pytest.raises(InvalidRequestError, match=limit):
        check_json_shape(raw, RequestLimits(max_list_items=1000))


def test_json_shape_ignores_brackets_and_digits_inside_strings() -> None:
    check_json_shape(
        b'{"s": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[' + b"9" * 500 + b'", "n": [1, 2]}', RequestLimits()
    )


def test_server_paths_are_scrubbed_from_messages() -> None:
    text = scrub_paths("Image file not found: /srv/models/secret/x.onnx; see https://example.com/a/b")
    assert "/srv" not in text and "https://example.com/a/b" in text


def test_the_host_header_is_validated_or_replaced() -> None:
    from imagelens.api.middleware import Guard

    guard = Guard(lambda *a: None, Settings(), LocalPool(1, 0), None)  # type: ignore[arg-type, return-value]
    scope = {
        "headers": [(b"host", b"evil.example/<script>")],
        "server": ("127.0.0.1", 5000),
        "scheme": "http",
    }
    guard._fix_host(scope)
    assert (b"host", b"127.0.0.1:5000") in scope["headers"]
    scope = {"headers": [(b"host", b"vision.local:8080")], "server": ("127.0.0.1", 5000), "scheme": "http"}
    guard._fix_host(scope)
    assert (b"host", b"vision.local:8080") in scope["headers"]
