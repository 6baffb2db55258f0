"""The Analyzer: one call path for the library, the CLI and the HTTP server.

It validates the requested features, decodes the image once, orders features by their ``after`` dependencies,
runs independent ones concurrently, applies the policy once, and times each feature.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from imagelens import __version__
from imagelens.config import Settings
from imagelens.errors import InvalidRequestError
from imagelens.features.base import AnalysisOptions, Feature, FeatureContext
from imagelens.features.registry import feature_class
from imagelens.io import ImageSource, LoadedImage, load_image
from imagelens.models.hub import ModelHub
from imagelens.types import AnalysisResult, ImageMetadata

MODEL_VERSION = f"imagelens-{__version__}"
T = TypeVar("T")


def parse_features(features: str | Iterable[str]) -> tuple[str, ...]:
    """``"read,smartCrops"`` or ``["read", "smartCrops"]`` -> validated, de-duplicated tokens in request order."""
    items = features.split(",") if isinstance(features, str) else list(features)
    tokens: list[str] = []
    for item in items:
        token = str(item).strip()
        if token and token not in tokens:
            tokens.append(token)
    if not tokens:
        raise InvalidRequestError("At least one visual feature must be specified (e.g. features=read,smartCrops).")
    for token in tokens:
        feature_class(token)  # raises NotSupportedVisualFeatureError for unknown tokens
    return tuple(tokens)


def plan_stages(names: Sequence[str]) -> list[list[str]]:
    """Group requested features into stages: each stage only depends on features of earlier stages."""
    requested = set(names)
    deps = {n: [d for d in feature_class(n).after if d in requested] for n in names}
    stages: list[list[str]] = []
    done: set[str] = set()
    pending = list(names)
    while pending:
        ready = [n for n in pending if all(d in done for d in deps[n])]
        if not ready:
            raise InvalidRequestError(f"features have a dependency cycle: {', '.join(pending)}")
        stages.append(ready)
        done.update(ready)
        pending = [n for n in pending if n not in done]
    return stages


def _in_use(hub: ModelHub, fn: Callable[[str], T]) -> Callable[[str], T]:
    """Run ``fn`` in a pool thread as a user of the hub's models (the guard counts per thread)."""

    def wrapped(arg: str) -> T:
        with hub.using():
            return fn(arg)

    return wrapped


class Analyzer:
    """Holds the settings and the model hub; thread-safe, share one per process."""

    def __init__(self, settings: Settings | None = None, hub: ModelHub | None = None) -> None:
        self.settings = settings or Settings()
        self.hub = hub or ModelHub(self.settings)

    def load(self, source: ImageSource) -> LoadedImage:
        return load_image(source, self.settings.limits, self.settings.url_settings())

    def analyze(
        self,
        source: ImageSource | LoadedImage,
        features: str | Iterable[str],
        options: AnalysisOptions | None = None,
    ) -> AnalysisResult:
        names = parse_features(features)
        options = options or AnalysisOptions()
        started = time.perf_counter()
        image = source if isinstance(source, LoadedImage) else self.load(source)
        timings: dict[str, float] = {"load": (time.perf_counter() - started) * 1000.0}
        ctx = FeatureContext(image, self.hub, options, frozenset(names))
        instances: dict[str, Feature] = {n: feature_class(n)() for n in names}
        t0 = time.perf_counter()
        for name in names:  # load every model first, outside hub.using(): loads and inference never overlap
            for role in instances[name].needs:
                self.hub.get(role)
        timings["models"] = (time.perf_counter() - t0) * 1000.0

        def run_one(name: str) -> tuple[str, Any, float]:
            t0 = time.perf_counter()
            value = instances[name].run(ctx)
            return name, value, (time.perf_counter() - t0) * 1000.0

        with self.hub.using():
            for stage in plan_stages(names):
                if len(stage) == 1:
                    outcomes = [run_one(stage[0])]
                else:
                    with ThreadPoolExecutor(max_workers=min(len(stage), self.settings.workers)) as pool:
                        outcomes = list(pool.map(_in_use(self.hub, run_one), stage))
                for name, value, ms in outcomes:
                    ctx.results[name] = value
                    timings[name] = ms

        fields = {instances[n].field: ctx.results[n] for n in names}
        timings["total"] = (time.perf_counter() - started) * 1000.0
        return AnalysisResult(
            model_version=MODEL_VERSION,
            metadata=ImageMetadata(width=image.width, height=image.height, format=image.format),
            timings_ms=timings,
            **fields,
        )

    def close(self) -> None:
        self.hub.close()


_default: Analyzer | None = None


def analyze(
    source: ImageSource,
    features: str | Iterable[str] = ("read", "smartCrops"),
    *,
    analyzer: Analyzer | None = None,
    language: str = "en",
    gender_neutral_caption: bool = False,
    smartcrops_aspect_ratios: Sequence[float] | None = None,
    model_version: str = "latest",
) -> AnalysisResult:
    """Analyze one image (bytes, path, URL, PIL image, numpy RGB array or file object).

    Uses a process-wide default :class:`Analyzer` (settings from ``IMAGELENS_*``) unless one is given.
    """
    global _default
    if analyzer is None:
        if _default is None:
            _default = Analyzer()
        analyzer = _default
    options = AnalysisOptions(
        language=language,
        gender_neutral_caption=gender_neutral_caption,
        smartcrops_aspect_ratios=tuple(float(r) for r in smartcrops_aspect_ratios) if smartcrops_aspect_ratios else None,
        model_version=model_version,
    )
    return analyzer.analyze(source, features, options)
