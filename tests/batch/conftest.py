"""Batch fixtures: a folder of small images generated at run time (plus files that are not images), a loopback HTTP
server for URL lists, tiny random models, and ONE real local Ray per test session (skipped only when ray cannot be
imported)."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from imagelens.config import HubSettings, Settings


def picture(seed: int, shape: tuple[int, int] = (72, 96)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    h, w = shape
    y, x = np.mgrid[0:h, 0:w]
    base = rng.integers(40, 255, 3)
    img = np.stack([(x * base[0]) // w, (y * base[1]) // h, ((x + y) * base[2]) // (h + w)], axis=-1)
    return img.astype(np.uint8)


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    """8 images (two in a sub-folder), one file that is not an image, one too small to analyze."""
    root = tmp_path / "photos"
    (root / "sub").mkdir(parents=True)
    for i in range(8):
        Image.fromarray(picture(i)).save(root / ("sub" if i % 4 == 3 else "") / f"p{i}.png")
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff not a jpeg")
    Image.fromarray(picture(99, (20, 20))).save(root / "tiny.png")
    return root


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture()
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """(base URL, folder) of a loopback HTTP server holding three images."""
    root = tmp_path / "web"
    root.mkdir()
    for i in range(3):
        Image.fromarray(picture(50 + i)).save(root / f"w{i}.png")
    handler = functools.partial(_Quiet, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture()
def url_list(tmp_path: Path, served: tuple[str, Path]) -> Path:
    """A URL list: three images, one missing (404), a comment and a blank line."""
    base, _ = served
    path = tmp_path / "urls.txt"
    lines = [
        "# served on loopback",
        f"{base}/w0.png",
        "",
        f"{base}/w1.png",
        f"{base}/w2.png",
        f"{base}/gone.png",
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture()
def settings(tmp_path: Path) -> Settings:
    """Loopback URLs allowed (they are the test server), the store under tmp."""
    return Settings(allow_private_urls=True, store_dir=tmp_path / "store", hub=HubSettings(offline=True))


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from imagelens.testing.tiny_models import write_tiny_models

    root = tmp_path_factory.mktemp("batch-tiny")
    write_tiny_models(root, seed=0, only=["siglip2-base-patch16-224", "mediapipe-selfie-seg"])
    return root


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[Any]:
    """One local Ray (2 CPUs, no dashboard) for the whole session, shut down at the end."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as exc:  # the `batch` extra is not installed
        pytest.skip(f"ray cannot be imported ({exc}); install imagelens[batch]")
    offline = {"env_vars": {"HF_HUB_OFFLINE": "1"}}  # no worker ever tries the network
    ray.init(
        num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False, runtime_env=offline
    )
    try:
        yield ray
    finally:
        ray.shutdown()
