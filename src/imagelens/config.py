"""Settings: built once (``Settings()`` reads ``IMAGELENS_*`` environment variables, nested with ``__``), passed down."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class ImageLimits(BaseModel):
    """Azure 4.0's input rules, configurable."""

    max_bytes: int = Field(20 * 1024 * 1024, gt=0)
    min_side: int = Field(50, ge=1, description="width and height must be strictly greater than this")
    max_side: int = Field(16000, ge=1, description="width and height must be strictly less than this")
    max_pixels: int = Field(16000 * 16000, gt=0, description="refused before decoding (decompression bombs)")
    max_decode_bytes: int = Field(
        768 * 1024 * 1024,
        gt=0,
        description="refused before decoding: width x height x channels x bytes per sample of the decoded image "
        "(a 16-bit image costs twice an 8-bit one); the default admits every 8-bit RGB image within max_pixels",
    )
    max_jpeg_scans: int = Field(
        64, ge=1, description="progressive JPEG scans at most (each scan is a pass over the whole image)"
    )
    allow_truncated: bool = Field(
        False, description="decode truncated images (the missing part grey) instead of refusing them"
    )


class UrlFetchSettings(BaseModel):
    allow_private: bool = False
    timeout_s: float = Field(10.0, gt=0)
    max_redirects: int = Field(5, ge=0)
    user_agent: str = "imagelens"


#: Loaded int8 (dynamic, ``Linear`` layers) unless ``IMAGELENS_HUB__QUANTIZE`` says otherwise: the Florence-2
#: captioners. Agreement with fp32 and the speed-up are measured in benchmarks/perf_targets.md. Not by default: the
#: SigLIP image tower (int8 activations are scaled per batch, so an image's embedding would depend on the images
#: batched with it), the RT-DETR detector (its int8 scores collapsed).
DEFAULT_QUANTIZED = ("florence-2-base", "florence-2-large")
#: Image tower in bfloat16 unless ``IMAGELENS_HUB__BF16`` says otherwise, on CPUs that compute bf16 natively
#: (AVX512_BF16, AMX; fp32 elsewhere): the SigLIP embedder, 2.1x faster and half the weight memory, embeddings cosine
#: 0.99997 to fp32 (benchmarks/perf_targets.md). Not RT-DETR: in bf16 its outputs turned NaN.
DEFAULT_BF16 = ("siglip2-base-patch16-224",)
#: glibc's mmap threshold (MiB) for the library and the server alike (imagelens.models.memory). 16 MiB keeps the
#: resident memory flat call after call and a server returns a huge decoded image's memory; 1 MiB (the default until
#: 2026-12-03) made every mid-sized tensor an mmap + page faults: Florence-2's vision encoding took 3.5 s instead
#: of 1.9 s (benchmarks/perf_targets.md).
DEFAULT_MMAP_THRESHOLD_MIB = 16


class HubSettings(BaseModel):
    load_timeout_s: float = Field(
        300.0, gt=0, description="waiting for another thread's load of the same model"
    )
    idle_ttl_s: float = Field(1800.0, gt=0, description="unload a model unused for this long")
    max_loaded: int = Field(8, ge=1)
    preload: list[str] = Field(
        default_factory=list, description="model ids loaded at start and never evicted"
    )
    quantize: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_QUANTIZED),
        description="model ids loaded with int8 dynamic quantisation of their Linear layers (florence-2-*, "
        "siglip vision tower): a JSON list or comma-separated ids; 'none' (or []) loads every model in fp32; "
        "'default': the default list. Faster, outputs change slightly: benchmarks/perf_targets.md",
    )
    bf16: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_BF16),
        description="model ids whose image tower computes in bfloat16 on CPUs that do so natively (AVX512_BF16, "
        "AMX; fp32 elsewhere): a JSON list or comma-separated ids; 'none' (or []): fp32; 'default': the default "
        "list. Faster, embeddings change slightly: benchmarks/perf_targets.md",
    )
    malloc_mmap_threshold_mib: int = Field(
        DEFAULT_MMAP_THRESHOLD_MIB,
        ge=0,
        description="glibc serves allocations of this many MiB and more from mmap, so freed tensor memory goes back "
        "to the OS (flat RSS); 0 leaves glibc's default (imagelens.models.memory)",
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

    @field_validator("quantize", "bf16", mode="before")
    @classmethod
    def _model_ids(cls, value: Any, info: ValidationInfo) -> Any:
        """``IMAGELENS_HUB__QUANTIZE`` / ``IMAGELENS_HUB__BF16``: ``none`` / ``[]`` / empty -> fp32 everywhere;
        ``default``; a JSON list; or comma-separated ids."""
        if not isinstance(value, str):
            return value
        text = value.strip()
        if text.lower() in ("", "none", "off", "false", "fp32"):
            return []
        if text.lower() == "default":
            return list(DEFAULT_QUANTIZED if info.field_name == "quantize" else DEFAULT_BF16)
        if text.startswith("["):
            return json.loads(text)
        return [part.strip() for part in text.split(",") if part.strip()]


#: Items of one list in a parsed request (planogram positions, products, fixtures, detections, annotation files):
#: the parsers' own bound, whatever the server's ``requests.max_list_items`` lets through.
MAX_LIST_ITEMS = 5000


class RequestLimits(BaseModel):
    """Sizes and counts of what one request may carry, checked before the work starts (400 naming the limit)."""

    max_json_bytes: int = Field(1024 * 1024, gt=0, description="a JSON request body")
    max_json_depth: int = Field(32, ge=1, description="nesting of objects and arrays in a JSON body")
    max_number_chars: int = Field(64, ge=1, description="characters of one number in a JSON body")
    max_list_items: int = Field(
        1000, ge=1, description="items of any list in a request (positions, products ...)"
    )
    max_multipart_parts: int = Field(8, ge=1, description="fields and files of a multipart body")
    multipart_overhead_bytes: int = Field(
        64 * 1024, ge=0, description="allowed on top of the image size for multipart headers and fields"
    )


class ServerSettings(BaseModel):
    max_queue: int = Field(16, ge=0, description="requests waiting beyond the busy workers; more get 429")
    deadline_s: float = Field(
        60.0,
        gt=0,
        description="every request stops (Azure's Timeout error, HTTP 408) after this; decoding and each analysis "
        "stage check it, and a client disconnect stops the work at once",
    )
    operation_deadline_s: float = Field(
        300.0, gt=0, description="a background operation (3.2 read) fails with Timeout after this"
    )
    max_in_flight: int = Field(
        64,
        ge=1,
        description="requests with a body admitted at once (reading, queued or running); more get 429 before "
        "their body is read",
    )
    rate_limit_per_s: float | None = Field(
        None,
        gt=0,
        description="per-client request rate (token bucket; the client is its access key when keys are set, else "
        "its address); over it: 429 with Retry-After, before the body is read. None: no per-client limit",
    )
    rate_limit_burst: int = Field(
        20, ge=1, description="requests a client may send at once before its rate applies"
    )
    rate_limit_clients: int = Field(
        10_000, ge=1, description="clients tracked at most (least recently seen forgotten first)"
    )
    fetch_workers: int = Field(4, ge=1, description="image URL fetches at once (their own threads)")
    fetch_queue: int = Field(16, ge=0, description="image URL fetches waiting; more get 429")
    header_timeout_s: float = Field(
        10.0, gt=0, description="a client must send the request line and headers within this"
    )
    body_timeout_s: float = Field(
        15.0, gt=0, description="the longest wait for the next piece of a request body (slow senders: 408)"
    )
    keep_alive_s: int = Field(5, ge=1, description="an idle keep-alive connection is closed after this")
    max_header_bytes: int = Field(16 * 1024, ge=1024, description="request line and headers together")
    public_base_url: str | None = Field(
        None,
        description="the URL clients reach this server at (https://vision.example.com); used for Operation-Location. "
        "Unset: the request's Host header, when it is a valid host[:port], else the bound address",
    )
    log_format: Literal["json", "text"] = Field(
        "json", description="one access line per request: JSON (default) or plain text"
    )
    metrics: bool = Field(True, description="serve Prometheus metrics at /metrics")
    warmup: bool = Field(
        False,
        description="at start, load hub.preload and embed the vocabulary warm-up list in a background thread; "
        "/ready and analysis routes answer 503 with Retry-After until done (`imagelens serve` turns it on)",
    )
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


class CategorySettings(BaseModel):
    """Azure 3.2 ``categories`` (zero-shot over the 86-category taxonomy, docs/categories.md)."""

    threshold: float = Field(
        0.25,
        ge=0.0,
        le=1.0,
        description="report a category whose score is at least this (not measured: see docs)",
    )
    max_categories: int = Field(5, ge=1, le=86, description="categories reported at most, best first")


class LandmarkSettings(BaseModel):
    """Landmarks (zero-shot over a landmark list; docs/categories.md). No list ships with imagelens."""

    file: Path | None = Field(
        None,
        description="a landmark list: .txt (one name a line) or .csv (a 'name' column, optional 'aliases')",
    )
    threshold: float = Field(
        0.5, ge=0.0, le=1.0, description="report a landmark whose confidence is at least this"
    )
    max_landmarks: int = Field(5, ge=1, le=100, description="landmarks reported per image at most")
    max_entries: int = Field(
        10_000, ge=1, le=100_000, description="names in the list and the user additions together, at most"
    )


class ModerationSettings(BaseModel):
    """The ``adult`` feature's operating points and the moderation gate (docs/moderation.md)."""

    adult_threshold: float = Field(0.5, ge=0.0, le=1.0, description="isAdultContent when adultScore >= this")
    racy_threshold: float = Field(0.5, ge=0.0, le=1.0, description="isRacyContent when racyScore >= this")
    gore_threshold: float = Field(0.5, ge=0.0, le=1.0, description="isGoryContent when goreScore >= this")
    gate: bool = Field(
        False,
        description="moderate every analyze call first; a flagged image gets its other features withheld",
    )
    gate_on: list[Literal["adult", "racy", "gore"]] = Field(
        ["adult", "gore"], description="which flags close the gate"
    )


class ImageTypeSettings(BaseModel):
    """The ``imageType`` feature (docs/moderation.md)."""

    method: Literal["statistics", "zero_shot"] = Field(
        "statistics", description="image statistics (no model; measured) or image-text zero-shot prompts"
    )


class BrandSettings(BaseModel):
    """The ``brands`` feature (docs/brands.md): the brand list file and the reporting threshold."""

    file: Path | None = Field(
        None,
        description="brand list: a CSV with a 'brand' (or 'name') column, or a text file with one name per line; "
        "at most 10,000 names (user additions are kept under the store dir)",
    )
    threshold: float = Field(0.5, ge=0.0, le=1.0, description="report brands at or above this confidence")


class FeedbackSettings(BaseModel):
    """User feedback on results (docs/feedback.md): ``/imagelens/v1/feedback``, ``imagelens feedback``."""

    enabled: bool = Field(True, description="accept and keep feedback; false: the feedback routes answer 400")
    retention_days: float | None = Field(
        90.0,
        gt=0,
        description="items older than this are deleted (unset: no age limit; to keep none: enabled=false)",
    )
    max_items: int = Field(
        10_000, ge=1, le=1_000_000, description="items kept at most (the oldest dropped first)"
    )

    @field_validator("retention_days", mode="before")
    @classmethod
    def _no_limit(cls, value: object) -> object:
        """``none`` (or ``null``) in the environment: no age limit."""
        return None if isinstance(value, str) and value.strip().lower() in ("none", "null") else value


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
    requests: RequestLimits = Field(default_factory=RequestLimits)
    models: dict[str, str] = Field(default_factory=dict, description="role -> model id overrides")
    api_keys: str = Field("", description="comma-separated access keys for the HTTP server")
    cors_origins: str = Field(
        "", description="comma-separated browser origins allowed by CORS ('*': any; empty: off)"
    )

    def api_key_list(self) -> list[str]:
        return [k.strip() for k in self.api_keys.split(",") if k.strip()]

    workers: int = Field(2, ge=1, description="threads running analysis work")
    torch_threads: int = Field(
        0,
        ge=0,
        description="intra-op threads of each torch operation; 0: every core of the process (best on a machine of its "
        "own); 1 on a busy shared machine, where waiting OpenMP threads waste CPU (imagelens.models.threads)",
    )

    data_dir: Path | None = Field(
        None,
        description="local annotation files (file:// URIs or plain paths in annotationFileUris) and their images must "
        "lie under this folder; unset: the HTTP API refuses local files",
    )
    store_dir: Path | None = Field(
        None, description="the SQLite store and trained custom models; default: $XDG_DATA_HOME/imagelens"
    )
    training: TrainingSettings = Field(default_factory=TrainingSettings)
    categories: CategorySettings = Field(default_factory=CategorySettings)
    landmarks: LandmarkSettings = Field(default_factory=LandmarkSettings)
    moderation: ModerationSettings = Field(default_factory=ModerationSettings)
    image_type: ImageTypeSettings = Field(default_factory=ImageTypeSettings)
    brands: BrandSettings = Field(default_factory=BrandSettings)
    feedback: FeedbackSettings = Field(default_factory=FeedbackSettings)
    database_url: str | None = Field(
        None,
        description="a PostgreSQL libpq URI (postgresql://user:pw@host/db, or ?host=/socket/dir): every store and "
        "the retrieval index live there (pgvector) instead of SQLite; needs the 'postgres' extra",
    )

    def url_settings(self) -> UrlFetchSettings:
        """URL fetch settings with the top-level ``IMAGELENS_ALLOW_PRIVATE_URLS`` switch applied."""
        if self.allow_private_urls and not self.url.allow_private:
            return self.url.model_copy(update={"allow_private": True})
        return self.url
