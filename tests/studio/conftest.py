"""A real ``imagelens serve`` on loopback with tiny models, a data folder and an API key, and Debian's Chromium
driven by Selenium (never a downloaded browser). Skipped, with the reason, where Chromium or Selenium is absent;
CI installs both (``.ci/run``: apt ``chromium chromium-driver``, pip ``selenium``)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("IMAGELENS_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("IMAGELENS_CHROMEDRIVER", "/usr/bin/chromedriver")
API_KEY = "studio-test-key"
REPO = Path(__file__).resolve().parents[2]


@dataclass
class Server:
    url: str
    data_dir: Path
    artifacts: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _browser_missing() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"Chromium is not installed ({CHROMIUM}): apt-get install -y chromium chromium-driver"
    if not Path(CHROMEDRIVER).exists():
        return f"chromedriver is not installed ({CHROMEDRIVER}): apt-get install -y chromium-driver"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed: pip install selenium"
    return None


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Screenshots of each page: $IMAGELENS_STUDIO_ARTIFACTS when set, else a pytest temporary folder."""
    wanted = os.environ.get("IMAGELENS_STUDIO_ARTIFACTS")
    folder = Path(wanted) if wanted else tmp_path_factory.mktemp("studio-artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def studio_server(
    tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory, artifacts: Path
) -> Iterator[Server]:
    reason = _browser_missing()
    if reason:
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("studio-server")
    port = _free_port()
    env = {
        **os.environ,
        "IMAGELENS_MODEL_DIR": str(tiny_model_dir),
        "IMAGELENS_DATA_DIR": str(root / "data"),
        "IMAGELENS_STORE_DIR": str(root / "store"),
        "IMAGELENS_API_KEYS": API_KEY,
        "IMAGELENS_ALLOW_PRIVATE_URLS": "1",  # the failing-URL test fetches from loopback
        "IMAGELENS_TRAINING__ISOLATION": "thread",
        "IMAGELENS_WORKERS": "1",
        "HF_HUB_OFFLINE": "1",
        "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")]),
    }
    (root / "data").mkdir()
    log = (root / "server.log").open("wb")
    cmd = [sys.executable, "-m", "imagelens.cli", "serve", "--port", str(port), "--log-level", "warning"]
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    try:
        while True:
            try:
                with urllib.request.urlopen(f"{url}/ready", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"imagelens serve did not start: {(root / 'server.log').read_text()[-2000:]}"
                )
            time.sleep(0.2)
        yield Server(url, root / "data", artifacts)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="session")
def browser(studio_server: Server) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_script_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
