"""The hub's lookup order, locking, eviction and errors, with a counting fake adapter (no real weights)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Self

import pytest

from imagelens.config import HubSettings, Settings
from imagelens.errors import InvalidArgumentError, ModelLoadTimeoutError, ModelUnavailableError
from imagelens.models.adapters.base import mark_tiny
from imagelens.models.availability import (
    MissingExtraError,
    ModelNotFetchedError,
    disk_shortfall,
    forget_probes,
    probe_hub,
)
from imagelens.models.hub import ModelHub
from imagelens.models.spec import HubSource, ModelSpec, PackageSource, Role

from ..cli.helpers import PROXY_VARS, blackhole, closed_port_endpoint, local_http

LOADS: list[tuple[str, Path | None]] = []


class CountingAdapter:
    """Loads a folder holding weights.txt; slow on purpose so concurrent loads overlap."""

    delay_s = 0.0
    closed: list[str] = []

    def __init__(self, spec: ModelSpec, text: str) -> None:
        self.spec, self.text = spec, text

    @classmethod
    def load(cls, path: Path | None, spec: ModelSpec) -> Self:
        LOADS.append((spec.id, path))
        time.sleep(cls.delay_s)
        if path is None:
            return cls(spec, "from-package")
        return cls(spec, (path / "weights.txt").read_text())

    @classmethod
    def write_tiny(cls, path: Path, spec: ModelSpec, seed: int = 0) -> None:
        (path / "weights.txt").write_text(f"tiny-{seed}")
        mark_tiny(path, spec, seed)

    def close(self) -> None:
        CountingAdapter.closed.append(self.spec.id)


ADAPTER = f"{__name__}:CountingAdapter"
HUB_SPEC = ModelSpec(
    id="fake-hub-model",
    roles=(Role.OCR,),
    adapter=ADAPTER,
    source=HubSource(repo_id="example-org/fake-model", revision="0123456789abcdef0123456789abcdef01234567"),
    license="MIT",
)
PKG_SPEC = ModelSpec(
    id="fake-package-model",
    roles=(Role.DETECTOR,),
    adapter=ADAPTER,
    source=PackageSource("json"),
    license="MIT",
)
MISSING_PKG_SPEC = ModelSpec(
    id="fake-missing-package",
    roles=(Role.MATTING,),
    adapter=ADAPTER,
    source=PackageSource("no_such_package_xyz"),
    license="MIT",
)
CATALOG = {s.id: s for s in (HUB_SPEC, PKG_SPEC, MISSING_PKG_SPEC)}


@pytest.fixture(autouse=True)
def _reset() -> None:
    LOADS.clear()
    CountingAdapter.closed.clear()
    CountingAdapter.delay_s = 0.0


def make_hub(tmp_path: Path, **hub_kwargs: object) -> ModelHub:
    settings = Settings(
        model_dir=tmp_path / "models",
        hub=HubSettings(offline=True, cache_dir=tmp_path / "hf-cache", **hub_kwargs),  # type: ignore[arg-type]
    )
    (tmp_path / "models").mkdir(exist_ok=True)
    return ModelHub(settings, catalog=CATALOG, defaults={})


def test_missing_hub_model_names_model_and_command(tmp_path: Path) -> None:
    hub = make_hub(tmp_path)
    with pytest.raises(ModelUnavailableError) as info:
        hub.get("fake-hub-model")
    assert "imagelens models pull fake-hub-model" in info.value.message
    assert info.value.status == 503
    assert not hub.is_present("fake-hub-model")


def test_model_dir_comes_first(tmp_path: Path) -> None:
    hub = make_hub(tmp_path)
    target = tmp_path / "models" / "fake-hub-model"
    target.mkdir()
    CountingAdapter.write_tiny(target, HUB_SPEC, seed=3)
    adapter = hub.get("fake-hub-model")
    assert adapter.text == "tiny-3"
    assert [("fake-hub-model", target)] == LOADS
    row = next(r for r in hub.describe() if r.id == "fake-hub-model")
    assert row.present and row.tiny and row.loaded and row.location.startswith("model-dir:")


def test_hf_cache_layout_is_found_offline(tmp_path: Path) -> None:
    """A snapshot in the Hugging Face cache layout, at the pinned revision, loads without the network."""
    hub = make_hub(tmp_path)
    repo = tmp_path / "hf-cache" / "models--example-org--fake-model"
    snapshot = repo / "snapshots" / HUB_SPEC.source.revision  # type: ignore[union-attr]
    snapshot.mkdir(parents=True)
    (snapshot / "weights.txt").write_text("from-cache")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(HUB_SPEC.source.revision)  # type: ignore[union-attr]
    assert hub.get("fake-hub-model").text == "from-cache"
    assert hub.locate("fake-hub-model")[1] == "hf-cache"


def test_package_model_and_missing_package(tmp_path: Path) -> None:
    hub = make_hub(tmp_path)
    assert hub.get("fake-package-model").text == "from-package"
    with pytest.raises(ModelUnavailableError, match="no_such_package_xyz"):
        hub.get("fake-missing-package")


def test_roles_resolve_and_settings_override(tmp_path: Path) -> None:
    hub = make_hub(tmp_path)
    assert hub.model_for_role(Role.DETECTOR) == "fake-package-model"
    hub.settings.models["ocr"] = "fake-package-model"
    assert hub.model_for_role(Role.OCR) == "fake-package-model"
    with pytest.raises(ModelUnavailableError, match="no model in the catalog has the role"):
        hub.model_for_role(Role.CAPTIONER)


def test_unknown_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="Unknown model 'nope'"):
        make_hub(tmp_path).get("nope")


def test_concurrent_gets_load_once(tmp_path: Path) -> None:
    hub = make_hub(tmp_path)
    CountingAdapter.delay_s = 0.2
    results: list[object] = []
    threads = [
        threading.Thread(target=lambda: results.append(hub.get("fake-package-model"))) for _ in range(6)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(LOADS) == 1
    assert all(r is results[0] for r in results)


def test_lock_wait_times_out_instead_of_hanging(tmp_path: Path) -> None:
    hub = make_hub(tmp_path, load_timeout_s=0.1)
    CountingAdapter.delay_s = 1.0
    first = threading.Thread(target=lambda: hub.get("fake-package-model"))
    first.start()
    time.sleep(0.05)
    with pytest.raises(ModelLoadTimeoutError):
        hub.get("fake-package-model")
    first.join()


def test_idle_models_are_evicted_and_pinned_ones_stay(tmp_path: Path) -> None:
    now = [0.0]
    settings = Settings(model_dir=tmp_path, hub=HubSettings(offline=True, idle_ttl_s=10))
    hub = ModelHub(settings, catalog=CATALOG, defaults={}, clock=lambda: now[0])
    hub.get("fake-package-model")
    now[0] = 5.0
    hub.evict_idle()
    assert hub.loaded_ids() == ["fake-package-model"]
    now[0] = 20.0
    hub.evict_idle()
    assert hub.loaded_ids() == []
    assert CountingAdapter.closed == ["fake-package-model"]
    hub.get("fake-package-model", pin=True)
    now[0] = 1000.0
    hub.evict_idle()
    assert hub.loaded_ids() == ["fake-package-model"]


def test_lru_capacity(tmp_path: Path) -> None:
    hub = make_hub(tmp_path, max_loaded=1)
    target = tmp_path / "models" / "fake-hub-model"
    target.mkdir()
    CountingAdapter.write_tiny(target, HUB_SPEC)
    hub.get("fake-package-model")
    hub.get("fake-hub-model")
    assert hub.loaded_ids() == ["fake-hub-model"]


def test_broken_model_folder_is_reported_not_crashed(tmp_path: Path) -> None:
    hub = make_hub(tmp_path)
    (tmp_path / "models" / "fake-hub-model").mkdir()  # no weights.txt inside
    with pytest.raises(ModelUnavailableError, match="failed to load from model-dir"):
        hub.get("fake-hub-model")


def test_offline_download_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailableError, match="offline"):
        make_hub(tmp_path).download("fake-hub-model")


def test_loads_wait_until_no_model_is_in_use(tmp_path: Path) -> None:
    """transformers builds models on the meta device: a load must never overlap another thread's inference."""
    hub = make_hub(tmp_path)
    events: list[str] = []
    inside = threading.Event()
    release = threading.Event()

    def user() -> None:
        with hub.using():
            inside.set()
            release.wait(5)
            events.append("use-done")

    def loader() -> None:
        hub.get("fake-package-model")
        events.append("loaded")

    t1 = threading.Thread(target=user)
    t1.start()
    assert inside.wait(5)
    t2 = threading.Thread(target=loader)
    t2.start()
    time.sleep(0.2)
    assert events == []  # the load is waiting
    release.set()
    t1.join(5)
    t2.join(5)
    assert events == ["use-done", "loaded"]


def test_a_user_thread_may_load_without_deadlock(tmp_path: Path) -> None:
    hub = make_hub(tmp_path)
    with hub.using():
        assert hub.get("fake-package-model").text == "from-package"


# --- an unreachable Hub answers fast, with the model, the cache searched and the commands that fetch it ---------------


@pytest.fixture()
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Probes go straight to the loopback stand-ins, never through a proxy; no cached answers between tests."""
    for var in PROXY_VARS:
        monkeypatch.delenv(var, raising=False)
    forget_probes()


def online_hub(
    tmp_path: Path, endpoint: str | None = None, catalog: dict[str, ModelSpec] | None = None
) -> ModelHub:
    """A hub allowed to download (``offline=False`` overrides the suite's HF_HUB_OFFLINE=1)."""
    settings = Settings(
        model_dir=tmp_path / "models",
        hub=HubSettings(offline=False, cache_dir=tmp_path / "hf-cache", endpoint=endpoint),
    )
    (tmp_path / "models").mkdir(exist_ok=True)
    return ModelHub(settings, catalog=catalog or CATALOG, defaults={})


def assert_actionable(message: str, tmp_path: Path, endpoint: str) -> None:
    rev = HUB_SPEC.source.revision  # type: ignore[union-attr]
    assert "fake-hub-model" in message
    assert str(tmp_path / "hf-cache" / "models--example-org--fake-model") in message  # the cache searched
    assert str(tmp_path / "models" / "fake-hub-model") in message  # and IMAGELENS_MODEL_DIR
    assert "unreachable" in message and endpoint in message
    assert "imagelens models pull fake-hub-model" in message
    assert f"hf download example-org/fake-model --revision {rev}" in message  # the air-gapped route
    assert "huggingface-cli download" in message


@pytest.mark.usefixtures("_no_proxy")
def test_closed_port_answers_within_3_s(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    endpoint = closed_port_endpoint()
    monkeypatch.setenv("HF_ENDPOINT", endpoint)  # read at call time, not at import
    hub = online_hub(tmp_path)
    start = time.monotonic()
    with pytest.raises(ModelUnavailableError) as info:
        hub.get("fake-hub-model")
    assert time.monotonic() - start < 3.0
    assert_actionable(info.value.message, tmp_path, endpoint)
    assert "connection refused" in info.value.message
    assert info.value.status == 503 and info.value.exit_code == 3
    start = time.monotonic()  # the probe's answer is reused: a second missing model costs nothing
    with pytest.raises(ModelUnavailableError):
        hub.download("fake-hub-model")
    assert time.monotonic() - start < 0.5


@pytest.mark.usefixtures("_no_proxy")
def test_blackhole_answers_within_3_s(tmp_path: Path) -> None:
    with blackhole() as endpoint:
        hub = online_hub(tmp_path, endpoint=endpoint)
        start = time.monotonic()
        with pytest.raises(ModelUnavailableError) as info:
            hub.get("fake-hub-model")
        elapsed = time.monotonic() - start
    assert elapsed < 3.0, elapsed
    assert_actionable(info.value.message, tmp_path, endpoint)
    assert "no answer within 1.5 s" in info.value.message


@pytest.mark.usefixtures("_no_proxy")
def test_probe_counts_any_http_answer_as_reachable() -> None:
    with local_http(404) as url:
        assert probe_hub(url, timeout_s=1.5, ttl_s=0) is None
    with local_http(502) as url:
        assert probe_hub(url, timeout_s=1.5, ttl_s=0) == "HTTP 502 from the endpoint or a proxy"


@pytest.mark.usefixtures("_no_proxy")
def test_reachable_hub_without_the_repo_says_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(
        constants, "HF_HUB_OFFLINE", False
    )  # read once at import, under the suite's HF_HUB_OFFLINE=1
    with local_http(401) as endpoint:
        hub = online_hub(tmp_path, endpoint=endpoint)
        start = time.monotonic()
        with pytest.raises(ModelNotFetchedError) as info:
            hub.download("fake-hub-model")
    assert time.monotonic() - start < 10
    assert "download from" in info.value.reason and "401" in info.value.reason
    assert "imagelens models pull" not in info.value.reason  # the reason alone never points back to pull


@pytest.mark.usefixtures("_no_proxy")
def test_too_little_disk_is_refused_before_downloading(tmp_path: Path) -> None:
    huge = ModelSpec(
        id="fake-huge",
        roles=(Role.OCR,),
        adapter=ADAPTER,
        source=HubSource(repo_id="example-org/huge", revision="0" * 40, size_bytes=10**18),
        license="MIT",
    )
    with local_http(200) as endpoint:
        hub = online_hub(tmp_path, endpoint=endpoint, catalog={huge.id: huge})
        with pytest.raises(ModelNotFetchedError, match="MB free"):
            hub.download("fake-huge")
    assert disk_shortfall(tmp_path, 1) is None


def test_offline_message_says_how_to_turn_it_off(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailableError) as info:
        make_hub(tmp_path).get("fake-hub-model")
    assert "offline mode" in info.value.message and "unset HF_HUB_OFFLINE" in info.value.message


class NeedsMissingDependency(CountingAdapter):
    @classmethod
    def load(cls, path: Path | None, spec: ModelSpec) -> Self:
        import no_such_dependency_xyz  # type: ignore[import-not-found]  # noqa: F401

        raise AssertionError("unreachable")


@pytest.mark.usefixtures("_no_proxy")
def test_missing_optional_dependency_is_named_and_files_are_kept(tmp_path: Path) -> None:
    """A missing torch is not a corrupt download: say which extra to install, never delete and re-fetch."""
    spec = ModelSpec(
        id="fake-needs-dep",
        roles=(Role.CAPTIONER,),
        adapter=f"{__name__}:NeedsMissingDependency",
        source=HUB_SPEC.source,
        license="MIT",
    )
    hub = online_hub(tmp_path, endpoint=closed_port_endpoint(), catalog={spec.id: spec})
    snapshot = (
        tmp_path / "hf-cache" / "models--example-org--fake-model" / "snapshots" / HUB_SPEC.source.revision
    )  # type: ignore[union-attr]
    snapshot.mkdir(parents=True)
    (snapshot / "weights.txt").write_text("real")
    with pytest.raises(MissingExtraError) as info:
        hub.get("fake-needs-dep")
    assert "pip install no_such_dependency_xyz" in info.value.message
    assert info.value.exit_code == 4 and info.value.status == 503
    assert (snapshot / "weights.txt").read_text() == "real"
    assert 'pip install "imagelens[ml]"' in MissingExtraError("florence-2-base", "torch").message


def test_describe_says_where_a_missing_model_would_live(tmp_path: Path) -> None:
    row = next(r for r in make_hub(tmp_path).describe() if r.id == "fake-hub-model")
    assert not row.present and row.location == "missing"
    assert row.path == str(tmp_path / "hf-cache" / "models--example-org--fake-model")
    assert row.source == "hf:example-org/fake-model@0123456789ab"
    package_row = next(r for r in make_hub(tmp_path).describe() if r.id == "fake-package-model")
    assert package_row.present and package_row.source == "package:json" and package_row.path
