"""Settings: built once (``Settings()`` reads ``IMAGELENS_*`` environment variables, nested with ``__``), passed down."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ImageLimits(BaseModel):
    """Azure 4.0's input rules, configurable."""

    max_bytes: int = Field(20 * 1024 * 1024, gt=0)
    min_side: int = Field(50, ge=1, description="width and height must be strictly greater than this")
    max_side: int = Field(16000, ge=1, description="width and height must be strictly less than this")
    max_pixels: int = Field(16000 * 16000, gt=0, description="refused before decoding (decompression bombs)")


class UrlFetchSettings(BaseModel):
    allow_private: bool = False
    timeout_s: float = Field(10.0, gt=0)
    max_redirects: int = Field(5, ge=0)
    user_agent: str = "imagelens"


class HubSettings(BaseModel):
    load_timeout_s: float = Field(
        300.0, gt=0, description="waiting for another thread's load of the same model"
    )
    idle_ttl_s: float = Field(1800.0, gt=0, description="unload a model unused for this long")
    max_loaded: int = Field(8, ge=1)
    preload: list[str] = Field(
        default_factory=list, description="model ids loaded at start and never evicted"
    )
    offline: bool | None = Field(None, description="never download; default: HF_HUB_OFFLINE")
    cache_dir: Path | None = Field(
        None, description="Hugging Face cache folder; default: HF_HUB_CACHE / HF_HOME"
    )
    endpoint: str | None = Field(
        None, description="Hugging Face Hub URL; default: HF_ENDPOINT, else huggingface.co"
    )
    probe_timeout_s: float = Field(
        1.5,
        gt=0,
        description="before a download, the Hub must answer within this (wall time, DNS included); else the missing "
        "model is reported at once instead of after the download's retries",
    )
    probe_ttl_s: float = Field(60.0, ge=0, description="how long a probe's answer is reused in this process")
    etag_timeout_s: float = Field(10.0, gt=0, description="huggingface_hub's metadata request timeout")


class ServerSettings(BaseModel):
    max_queue: int = Field(16, ge=0, description="requests waiting beyond the busy workers; more get 429")
    operation_ttl_s: float = Field(
        48 * 3600.0, gt=0, description="how long async results (3.2 read) are kept"
    )
    max_operations: int = Field(1000, ge=1, description="async results kept at most (oldest dropped first)")


class TrainingSettings(BaseModel):
    """Background training of custom models (see :mod:`imagelens.customize.jobs`)."""

    workers: int = Field(1, ge=1, description="training jobs run at the same time in one process")
    resume_interrupted: bool = Field(
        True,
        description="resume a job a restart interrupted (from its last checkpoint); false: mark it failed",
    )
    max_attempts: int = Field(
        3, ge=1, description="starts of one job (the first and each resume) before it fails"
    )
    stale_after_s: float = Field(
        120.0,
        gt=0,
        description="a running job whose owner has not reported for this long counts as interrupted",
    )
    torch_threads: int | None = Field(
        1,
        ge=1,
        description="torch threads while training (None: torch's default). 1 leaves a core to serving, and on a "
        "shared 2-core machine trained 3x faster than 2 (benchmarks/customize_training.md)",
    )
    isolation: Literal["process", "thread"] = Field(
        "process",
        description="run each training job in a child process (the server's models and memory stay untouched, a "
        "crash stays contained) or in a thread of this process (no start-up cost; for the CLI and tests)",
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="IMAGELENS_", env_nested_delimiter="__", extra="ignore", protected_namespaces=()
    )

    model_dir: Path | None = Field(
        None, description="a folder of model folders named by catalog id; searched first"
    )
    allow_private_urls: bool = Field(
        False, description="allow image URLs to private, loopback or link-local hosts"
    )
    limits: ImageLimits = Field(default_factory=ImageLimits)
    url: UrlFetchSettings = Field(default_factory=UrlFetchSettings)
    hub: HubSettings = Field(default_factory=HubSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    models: dict[str, str] = Field(default_factory=dict, description="role -> model id overrides")
    api_keys: str = Field("", description="comma-separated access keys for the HTTP server")
    cors_origins: str = Field(
        "", description="comma-separated browser origins allowed by CORS ('*': any; empty: off)"
    )

    def api_key_list(self) -> list[str]:
        return [k.strip() for k in self.api_keys.split(",") if k.strip()]

    workers: int = Field(2, ge=1, description="threads running analysis work")

    data_dir: Path | None = Field(
        None,
        description="local annotation files (file:// URIs or plain paths in annotationFileUris) and their images must "
        "lie under this folder; unset: the HTTP API refuses local files",
    )
    store_dir: Path | None = Field(
        None, description="the SQLite store and trained custom models; default: $XDG_DATA_HOME/imagelens"
    )
    training: TrainingSettings = Field(default_factory=TrainingSettings)

    def url_settings(self) -> UrlFetchSettings:
        """URL fetch settings with the top-level ``IMAGELENS_ALLOW_PRIVATE_URLS`` switch applied."""
        if self.allow_private_urls and not self.url.allow_private:
            return self.url.model_copy(update={"allow_private": True})
        return self.url
