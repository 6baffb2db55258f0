"""Where a video comes from: a file inside the data folder, or an http(s) URL streamed to a temporary file.

A URL goes through the same SSRF guard as image URLs (:func:`imagelens.io.url.fetch_url_to`: every address
checked, redirects re-checked hop by hop, a deadline, a byte cap), but its body is written to disk 64 KiB at a time,
never held in memory, so a video may be as large as ``IMAGELENS_VIDEO_MAX_FETCH_BYTES`` (default 16 GiB) whatever the
RAM. The temporary file lives in ``IMAGELENS_VIDEO_FETCH_DIR`` (default: the system's temporary folder) and is
removed when the ingestion of that video ends; if the free space there would fall below
``IMAGELENS_VIDEO_FETCH_MIN_FREE_BYTES`` the download stops with ``507 InsufficientStorage``.
"""

from __future__ import annotations

import errno
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from imagelens.errors import (
    ImageLensError,
    InvalidArgumentError,
    InvalidImageSizeError,
    InvalidImageUrlError,
    InvalidRequestError,
)
from imagelens.video.settings import VideoSettings

if TYPE_CHECKING:
    from imagelens.config import Settings
    from imagelens.io.url import AddressPolicy

#: the free space is checked again after each this many bytes written
_CHECK_EVERY = 8 * 1024 * 1024


class VideoTooLargeError(InvalidRequestError):
    inner_code = "InvalidVideoSize"


class InvalidVideoUrlError(InvalidRequestError):
    inner_code = "InvalidVideoUrl"


class InsufficientStorageError(ImageLensError):
    """The server's disk is too full to hold the download (a server condition, not the caller's input)."""

    status = 507
    code = "InsufficientStorage"
    inner_code = "InsufficientStorage"


def local_video(uri: str, data_dir: Path | None) -> Path:
    """A ``file://`` URI or plain path, which must lie inside ``data_dir`` (unset: local files are refused)."""
    if data_dir is None:
        raise InvalidArgumentError(
            "Local video files are refused: set IMAGELENS_DATA_DIR to the folder they lie in (or use an http(s) URL)."
        )
    raw = uri[len("file://") :] if uri.startswith("file://") else uri
    root = Path(data_dir).expanduser().resolve()
    path = (root / raw).resolve() if not Path(raw).is_absolute() else Path(raw).resolve()
    if root != path and root not in path.parents:
        raise InvalidArgumentError(f"The video '{uri}' lies outside the data folder.")
    if not path.is_file():
        raise InvalidArgumentError(f"The video '{uri}' does not exist.")
    return path


class _DiskSink:
    """Writes chunks to ``out``; refuses to let the folder's free space fall below ``min_free``."""

    def __init__(self, out: BinaryIO, folder: Path, min_free: int) -> None:
        self.out, self.folder, self.min_free = out, folder, min_free
        self.written = 0
        self._next_check = 0

    def check_space(self, coming: int) -> None:
        free = shutil.disk_usage(self.folder).free
        if free - coming < self.min_free:
            raise InsufficientStorageError(
                f"Not enough disk space to download the video: {free:,} bytes free in the download folder after "
                f"{self.written:,} bytes written, {self.min_free:,} must stay free "
                "(IMAGELENS_VIDEO_FETCH_DIR, IMAGELENS_VIDEO_FETCH_MIN_FREE_BYTES)."
            )

    def __call__(self, chunk: bytes) -> None:
        if self.written >= self._next_check:
            self.check_space(_CHECK_EVERY)
            self._next_check = self.written + _CHECK_EVERY
        try:
            self.out.write(chunk)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise InsufficientStorageError(
                    f"The disk filled up while downloading the video ({self.written:,} bytes written)."
                ) from None
            raise
        self.written += len(chunk)


def download(
    uri: str,
    settings: Settings,
    video: VideoSettings,
    folder: Path,
    address_allowed: AddressPolicy | None = None,
) -> Path:
    """Stream ``uri`` into ``folder/video`` through the SSRF guard (``address_allowed``: as in
    :func:`~imagelens.io.url.fetch_url`); answers the path."""
    from imagelens.io.url import fetch_url_to

    path = folder / "video"
    with path.open("wb") as out:
        sink = _DiskSink(out, folder, video.fetch_min_free_bytes)
        try:
            fetch_url_to(
                uri,
                settings.url_settings(),
                video.max_fetch_bytes,
                sink,
                address_allowed=address_allowed,
                deadline_s=video.fetch_deadline_s,
            )
        except InvalidImageSizeError:
            raise VideoTooLargeError(
                f"The video at '{uri[:200]}' is larger than {video.max_fetch_bytes:,} bytes "
                "(IMAGELENS_VIDEO_MAX_FETCH_BYTES).",
                {"max_bytes": video.max_fetch_bytes},
            ) from None
        except InvalidImageUrlError as exc:
            message = exc.message.replace("Image URL", "Video URL")
            if exc.detail.get("reason") == "timeout":
                message = message.rstrip(".") + f", or the download took over {video.fetch_deadline_s:g} s "
                message += "(IMAGELENS_VIDEO_FETCH_DEADLINE_S)."
            raise InvalidVideoUrlError(message, exc.detail) from None
    return path


@contextmanager
def video_file(
    uri: str, settings: Settings, video: VideoSettings, address_allowed: AddressPolicy | None = None
) -> Iterator[Path]:
    """The video behind ``uri`` as a local file: http(s) streamed into a temporary file (removed afterwards), else
    a file inside the data folder."""
    if not isinstance(uri, str) or not uri.strip():
        raise InvalidRequestError("documentUrl must be a non-empty string.")
    if uri.lower().startswith(("http://", "https://")):
        parent = video.fetch_dir
        if parent is not None:
            Path(parent).mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="imagelens-video-", dir=parent) as tmp:
            yield download(uri, settings, video, Path(tmp), address_allowed)
        return
    if "://" in uri and not uri.startswith("file://"):
        raise InvalidArgumentError(
            f"Unsupported documentUrl scheme in '{uri[:100]}': use http(s) or a local file."
        )
    yield local_video(uri, settings.data_dir)
