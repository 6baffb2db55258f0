"""``imagelens batch ... --ray-address`` joins a real external Ray cluster: a head started here with ``ray start
--head`` on loopback (its own temp dir and ports, token authentication on, as ``ray start`` sets it by default), the
CLI run as a separate process (a driver of that cluster), its rows equal to the local pool's, the work seen in the
cluster's own worker logs. The head's processes are stopped by process id at the end (never ``ray stop``, which
stops every Ray on the machine). A wrong address fails within seconds with a clear error."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import imagelens
from imagelens.batch.local import LocalEngine
from imagelens.batch.output import read_rows
from imagelens.batch.runner import run_batch
from imagelens.batch.sources import expand_source
from imagelens.batch.tasks import BatchTask
from imagelens.config import HubSettings, Settings

FEATURES = ("color", "smartCrops")
SRC = str(Path(imagelens.__file__).resolve().parents[1])  # where this imagelens is imported from


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ours(temp_dir: str) -> list[Any]:
    """Processes whose command line names our temp dir (gcs_server, raylet, workers, monitors)."""
    import psutil

    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        if proc.info["pid"] != os.getpid() and temp_dir in " ".join(proc.info["cmdline"] or []):
            found.append(proc)
    return found


def _stop(pgid: int, temp_dir: str) -> None:
    """SIGTERM to the head's process group and to every process naming its temp dir, SIGKILL after 3 s."""
    import psutil

    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, sig)
        procs = _ours(temp_dir)
        for proc in procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.send_signal(sig)
        _, alive = psutil.wait_procs(procs, timeout=3)
        if not alive and not _ours(temp_dir):
            return


@pytest.fixture(scope="module")
def ray_head() -> Iterator[dict[str, Any]]:
    """A Ray head on loopback, started by ``ray start --head`` in its own session; stopped by pid at the end."""
    pytest.importorskip("ray.data", reason="install imagelens[batch]")
    ray_bin = shutil.which("ray", path=str(Path(sys.executable).parent)) or shutil.which("ray")
    if ray_bin is None:
        pytest.skip("the `ray` command is not installed")
    temp_dir = tempfile.mkdtemp(prefix="rl-", dir="/tmp")  # short: Ray's socket paths live under it
    gcs = _free_port()
    env = {
        **os.environ,
        "RAY_AUTH_MODE": "token",  # ray start's default, with a token of this test's own
        "RAY_AUTH_TOKEN": secrets.token_hex(32),
        "PYTHONPATH": os.pathsep.join([SRC, *filter(None, [os.environ.get("PYTHONPATH")])]),
        "HF_HUB_OFFLINE": "1",
        "RAY_USAGE_STATS_ENABLED": "0",
    }
    env.pop("RAY_ADDRESS", None)
    cmd = [
        ray_bin,
        "start",
        "--head",
        f"--port={gcs}",
        f"--dashboard-port={_free_port()}",
        f"--dashboard-agent-listen-port={_free_port()}",
        f"--metrics-export-port={_free_port()}",
        f"--runtime-env-agent-port={_free_port()}",
        "--node-ip-address=127.0.0.1",
        "--num-cpus=2",
        "--include-dashboard=false",
        "--disable-usage-stats",
        f"--temp-dir={temp_dir}",
    ]
    proc = subprocess.Popen(
        cmd, env=env, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        out, _ = proc.communicate(timeout=120)
        if proc.returncode != 0:
            pytest.fail(f"ray start failed ({proc.returncode}): {out[-2000:]}")
        yield {"address": f"127.0.0.1:{gcs}", "env": env, "dir": temp_dir}
    finally:
        _stop(proc.pid, temp_dir)
        left = [p.pid for p in _ours(temp_dir)]
        shutil.rmtree(temp_dir, ignore_errors=True)
        assert not left, f"Ray processes left running: {left}"


def _worker_logs(temp_dir: str) -> list[Path]:
    return list(Path(temp_dir).glob("session_*/logs/python-core-worker-*.log"))


def _cli(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "imagelens.cli", "batch", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _by_source(path: Path) -> dict[str, tuple[Any, ...]]:
    return {r["source"]: (r["status"], r["sha256"], r["result"], r["error"]) for r in read_rows(path)}


@pytest.mark.slow
def test_batch_analyze_joins_an_external_cluster_with_the_local_pools_rows(
    ray_head: dict[str, Any], folder: Path, tmp_path: Path
) -> None:
    env = {**ray_head["env"], "IMAGELENS_STORE_DIR": str(tmp_path / "store")}
    before = len(_worker_logs(ray_head["dir"]))
    out = tmp_path / "ray.jsonl"
    done = _cli(
        env,
        "analyze",
        str(folder),
        "-o",
        str(out),
        "-f",
        ",".join(FEATURES),
        "--ray-address",
        ray_head["address"],
        "--workers",
        "1",
        "--chunk-size",
        "5",
        "--json",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert (report["engine"], report["ok"], report["errors"]) == ("ray", 8, 2)
    assert len(_worker_logs(ray_head["dir"])) > before  # the actors ran on the external cluster's node
    settings = Settings(store_dir=tmp_path / "store", hub=HubSettings(offline=True))
    task = BatchTask("analyze", settings=settings, features=FEATURES)
    run_batch(task, expand_source(folder), tmp_path / "local.jsonl", LocalEngine(1))
    assert _by_source(out) == _by_source(tmp_path / "local.jsonl")


def test_a_wrong_address_fails_fast_with_a_clear_error(folder: Path, tmp_path: Path) -> None:
    """Nothing listening: exit code 3 and the address in the message, in seconds (no Ray is started)."""
    from typer.testing import CliRunner

    from imagelens.cli import app

    runner = CliRunner()
    port = _free_port()  # bound and released: nothing listens there
    args = ["batch", "analyze", str(folder), "-o", str(tmp_path / "o.jsonl"), "-f", "color", "--ray-address"]
    started = time.monotonic()
    result = runner.invoke(app, [*args, f"127.0.0.1:{port}"])
    assert time.monotonic() - started < 15
    assert result.exit_code == 3, result.output
    assert f"Cannot reach the Ray cluster at 127.0.0.1:{port}" in result.output
    result = runner.invoke(app, [*args, "http://example:80/x"])
    assert result.exit_code == 2 and "--ray-address takes 'auto', HOST:PORT" in result.output


def test_a_ray_client_address_without_ray_client_says_what_to_install(folder: Path, tmp_path: Path) -> None:
    from imagelens.batch.ray_engine import _client_missing

    if _client_missing() is None:
        pytest.skip("ray[client] is installed here")
    from typer.testing import CliRunner

    from imagelens.cli import app

    args = ["batch", "analyze", str(folder), "-o", str(tmp_path / "o.jsonl"), "-f", "color"]
    result = CliRunner().invoke(app, [*args, "--ray-address", f"ray://127.0.0.1:{_free_port()}"])
    assert result.exit_code == 2 and "pip install 'ray[client]'" in result.output


def test_address_forms() -> None:
    from imagelens.batch.ray_engine import RayEngine, parse_address
    from imagelens.errors import InvalidArgumentError

    assert parse_address("auto") is None
    assert parse_address("10.0.0.5:6379") == ("10.0.0.5", 6379)
    assert parse_address("ray://head.example:10001") == ("head.example", 10001)
    assert parse_address("[::1]:6379") == ("::1", 6379)
    for bad in ("", "head", "head:", "head:port", "head:70000", "ray://head", "http://head:80/"):
        with pytest.raises(InvalidArgumentError):
            RayEngine(1, bad)


def test_a_refused_join_names_token_authentication() -> None:
    from imagelens.batch.ray_engine import RayClusterUnavailableError, _unavailable

    try:
        try:
            raise RuntimeError("Failed to connect to GCS.\nTraceback ...InvalidAuthToken: token missing")
        except RuntimeError as inner:
            raise ConnectionError("Failed to connect to Ray cluster at 10.0.0.5:6379") from inner
    except ConnectionError as exc:
        error = _unavailable("10.0.0.5:6379", exc)
    assert isinstance(error, RayClusterUnavailableError) and error.exit_code == 3 and error.status == 503
    assert (
        "Cannot join the Ray cluster at 10.0.0.5:6379. The cluster uses token authentication" in error.message
    )
    assert "RAY_AUTH_MODE=token" in error.message and "Traceback" not in error.message


def test_a_process_already_on_another_ray_refuses_to_join_a_second_cluster(ray_cluster: Any) -> None:
    """The in-process Ray of this session is up: an address of another (listening) cluster is refused, not
    silently replaced by the Ray already running."""
    from imagelens.batch.ray_engine import RayEngine
    from imagelens.errors import InvalidArgumentError

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        with pytest.raises(InvalidArgumentError, match=f"cannot also join 127.0.0.1:{port}"):
            RayEngine(1, f"127.0.0.1:{port}")._connect()
