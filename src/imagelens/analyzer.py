"""The Analyzer: one call path for the library, the CLI and the HTTP server.

It validates the requested features, decodes the image once, orders features by their ``after`` dependencies,
runs independent ones concurrently, applies the policy once, and times each feature.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import numpy.typing as npt

from imagelens import __version__, deadline
from imagelens.config import Settings
from imagelens.errors import InvalidRequestError, NotSupportedFeatureError
from imagelens.features import moderation
from imagelens.features.base import AnalysisOptions, Feature, FeatureContext
from imagelens.features.registry import canonical_name, feature_class
from imagelens.io import ImageSource, LoadedImage, load_image
from imagelens.models import threads
from imagelens.models.hub import ModelHub
from imagelens.types import AnalysisResult, BoundingBox, ImageMetadata

if TYPE_CHECKING:
    from imagelens.retrieval.vectorize import VectorizeResult
    from imagelens.segment import SegmentOptions, SegmentResult
    from imagelens.shelf.products import ProductRecognitionResult
    from imagelens.store.base import CustomizationStore

MODEL_VERSION = f"imagelens-{__version__}"
T = TypeVar("T")


def parse_features(features: str | Iterable[str]) -> tuple[str, ...]:
    """``"read,smartCrops"`` or ``["Read", "SmartCrops"]`` -> validated, de-duplicated registry names in request
    order (matched without regard to case, as Azure does)."""
    items = features.split(",") if isinstance(features, str) else list(features)
    tokens: list[str] = []
    for item in items:
        token = str(item).strip()
        token = canonical_name(token) or token  # Azure matches feature names without regard to case
        if token and token not in tokens:
            tokens.append(token)
    if not tokens:
        raise InvalidRequestError(
            "At least one visual feature must be specified (e.g. features=read,smartCrops)."
        )
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


def check_model_name(features: str | Iterable[str] | None, model_name: str | None) -> None:
    """Azure runs a custom model alone: ``model-name`` and ``features`` are not combined (its docs: "To use a custom
    model, don't use the features query parameter"), and one of the two is required."""
    has_features = features is not None and bool(
        features.strip() if isinstance(features, str) else [f for f in features if str(f).strip()]
    )
    if model_name and has_features:
        raise NotSupportedFeatureError(
            f"The custom model '{model_name}' runs alone: do not combine 'model-name' with 'features' "
            "(make a separate call for the standard features)."
        )
    if model_name is not None and not model_name.strip():
        raise InvalidRequestError("The 'model-name' parameter is empty.")
    if not model_name and not has_features:
        raise InvalidRequestError(
            "Either 'features' or 'model-name' needs to be specified in the query parameter."
        )


@dataclass(frozen=True, slots=True)
class ThumbnailResult:
    """A thumbnail (``height x width x 3`` RGB uint8) of an image described by ``metadata``."""

    metadata: ImageMetadata
    pixels: npt.NDArray[np.uint8]
    timings_ms: dict[str, float] = field(default_factory=dict, compare=False)


@dataclass(frozen=True, slots=True)
class AreaOfInterestResult:
    """The region of an image holding its important content (Azure v3.2 ``areaOfInterest``)."""

    metadata: ImageMetadata
    box: BoundingBox
    timings_ms: dict[str, float] = field(default_factory=dict, compare=False)


@dataclass(frozen=True, slots=True)
class ProductsResult:
    """Products and gaps found on a shelf image, with the image's metadata."""

    metadata: ImageMetadata
    recognition: ProductRecognitionResult
    timings_ms: dict[str, float] = field(default_factory=dict, compare=False)


def _metadata(image: LoadedImage) -> ImageMetadata:
    return ImageMetadata(width=image.width, height=image.height, format=image.format)


class Analyzer:
    """Holds the settings, the model hub and (opened on first use of a custom model) the customization store;
    thread-safe, share one per process."""

    def __init__(
        self,
        settings: Settings | None = None,
        hub: ModelHub | None = None,
        store: CustomizationStore | None = None,
    ) -> None:
        self.settings = settings or Settings()
        self.hub = hub or ModelHub(self.settings)
        self._store = store

    @property
    def store(self) -> CustomizationStore:
        """Where custom models are recorded (``IMAGELENS_STORE_DIR``), opened on first use."""
        if self._store is None:
            from imagelens.store import open_store

            self._store = open_store(self.settings)
        return self._store

    def load(self, source: ImageSource) -> LoadedImage:
        return load_image(source, self.settings.limits, self.settings.url_settings())

    def analyze(
        self,
        source: ImageSource | LoadedImage,
        features: str | Iterable[str] | None = None,
        options: AnalysisOptions | None = None,
        *,
        model_name: str | None = None,
    ) -> AnalysisResult:
        """The requested ``features``, or, with ``model_name``, the prediction of that trained custom model."""
        if model_name is not None or not features:
            check_model_name(features, model_name)
        if model_name:
            return self.predict_custom(source, model_name)
        assert features is not None
        names = parse_features(features)
        options = options or AnalysisOptions()
        gate = moderation.gate_config(self.settings, options)  # None unless the moderation gate is on
        if gate is not None:
            names = moderation.gate_features(names)
        started = time.perf_counter()
        image = source if isinstance(source, LoadedImage) else self.load(source)
        timings: dict[str, float] = {"load": (time.perf_counter() - started) * 1000.0}
        ctx = FeatureContext(image, self.hub, options, frozenset(names))
        instances: dict[str, Feature] = {n: feature_class(n)() for n in names}
        for name in names:  # bad options fail before any model loads
            validate = getattr(instances[name], "validate", None)
            if validate is not None:
                validate(options, self.hub)
        t0 = time.perf_counter()
        for name in names:  # load every model first, outside hub.using(): loads and inference never overlap
            pick = getattr(instances[name], "model_for", None)  # a feature may choose its model per call
            for role in instances[name].needs:
                self.hub.get(pick(options, role) if pick is not None else role)
            preload = getattr(instances[name], "preload", None)  # models needed only for some options
            if preload is not None:
                preload(options, self.hub)
        timings["models"] = (time.perf_counter() - t0) * 1000.0

        def run_one(name: str) -> tuple[str, Any, float]:
            # torch's intra-op threads for this thread: the cores shared out among the workers (no oversubscription)
            threads.apply(self.settings.torch_threads)
            t0 = time.perf_counter()
            value = instances[name].run(ctx)
            return name, value, (time.perf_counter() - t0) * 1000.0

        withheld: tuple[str, ...] = ()
        with self.hub.using():
            if gate is not None:  # adult first; a flagged image gets nothing else computed
                _, value, timings[moderation.NAME] = run_one(moderation.NAME)
                ctx.results[moderation.NAME] = value
                withheld = moderation.withheld_by_gate(gate, value, names)
            for stage in plan_stages([n for n in names if n not in ctx.results and n not in withheld]):
                deadline.check()  # the request's deadline, or its client gone: stop between stages
                if len(stage) == 1:
                    outcomes = [run_one(stage[0])]
                else:
                    with ThreadPoolExecutor(max_workers=min(len(stage), self.settings.workers)) as pool:
                        outcomes = list(pool.map(_in_use(self.hub, run_one), stage))
                for name, value, ms in outcomes:
                    ctx.results[name] = value
                    timings[name] = ms

        fields = {instances[n].field: ctx.results[n] for n in names if n not in withheld}
        timings["total"] = (time.perf_counter() - started) * 1000.0
        return AnalysisResult(
            model_version=MODEL_VERSION,
            metadata=_metadata(image),
            timings_ms=timings,
            withheld=withheld,
            **fields,
        )

    def predict_custom(self, source: ImageSource | LoadedImage, model_name: str) -> AnalysisResult:
        """Azure's ``model-name=``: the custom model's tags or objects (``custom_model``), nothing else."""
        from imagelens.customize.predict import predict_pixels, resolve

        started = time.perf_counter()
        # 404/409 before the image is read; loads the model (and a classifier's backbone) before inference starts
        record, adapter = resolve(self.hub, self.store, model_name)
        timings: dict[str, float] = {"models": (time.perf_counter() - started) * 1000.0}
        t0 = time.perf_counter()
        image = source if isinstance(source, LoadedImage) else self.load(source)
        timings["load"] = (time.perf_counter() - t0) * 1000.0
        t0 = time.perf_counter()
        with self.hub.using():
            custom = predict_pixels(self.hub, record, adapter, image.array())
        timings["customModel"] = (time.perf_counter() - t0) * 1000.0
        timings["total"] = (time.perf_counter() - started) * 1000.0
        return AnalysisResult(
            model_version=MODEL_VERSION,
            metadata=_metadata(image),
            custom_model=custom,
            timings_ms=timings,
        )

    def _image(self, source: ImageSource | LoadedImage, timings: dict[str, float]) -> LoadedImage:
        t0 = time.perf_counter()
        image = source if isinstance(source, LoadedImage) else self.load(source)
        timings["load"] = (time.perf_counter() - t0) * 1000.0
        return image

    def thumbnail(
        self, source: ImageSource | LoadedImage, width: int, height: int, *, smart: bool = True
    ) -> ThumbnailResult:
        """Azure v3.2 ``generateThumbnail``: exactly ``width x height``, smart-cropped (or centre-cropped) first."""
        from imagelens.cropping import check_thumbnail_size, thumbnail

        started = time.perf_counter()
        check_thumbnail_size(width, height)  # bad sizes fail before the image is read
        timings: dict[str, float] = {}
        image = self._image(source, timings)
        t0 = time.perf_counter()
        pixels = thumbnail(image.array(), width, height, smart=smart)
        timings["thumbnail"] = (time.perf_counter() - t0) * 1000.0
        timings["total"] = (time.perf_counter() - started) * 1000.0
        return ThumbnailResult(metadata=_metadata(image), pixels=pixels, timings_ms=timings)

    def area_of_interest(self, source: ImageSource | LoadedImage) -> AreaOfInterestResult:
        """Azure v3.2 ``areaOfInterest``: the box around the image's important content."""
        from imagelens.cropping import area_of_interest

        started = time.perf_counter()
        timings: dict[str, float] = {}
        image = self._image(source, timings)
        t0 = time.perf_counter()
        box = area_of_interest(image.array())
        timings["areaOfInterest"] = (time.perf_counter() - t0) * 1000.0
        timings["total"] = (time.perf_counter() - started) * 1000.0
        return AreaOfInterestResult(metadata=_metadata(image), box=box, timings_ms=timings)

    def recognize_products(
        self,
        source: ImageSource | LoadedImage,
        *,
        prompts: Sequence[str] | dict[str, str] | None = None,
        threshold: float | None = None,
        min_gap_fraction: float = 0.5,
        model_id: str | None = None,
    ) -> ProductsResult:
        """Products and gaps on a shelf image, from the OPEN_VOCAB_DETECTOR (Azure's product recognition)."""
        from imagelens.shelf.products import recognize_products

        started = time.perf_counter()
        if threshold is not None and not 0.0 <= threshold <= 1.0:
            raise InvalidRequestError(f"threshold must be in [0, 1], got {threshold!r}")
        t0 = time.perf_counter()
        detector = self.hub.open_vocab_detector(model_id)  # loaded before inference: loads never overlap it
        timings: dict[str, float] = {"models": (time.perf_counter() - t0) * 1000.0}
        image = self._image(source, timings)
        t0 = time.perf_counter()
        with self.hub.using():
            recognition = recognize_products(
                image.array(),
                detector,
                prompts=prompts,
                threshold=threshold,
                min_gap_fraction=min_gap_fraction,
            )
        timings["products"] = (time.perf_counter() - t0) * 1000.0
        timings["total"] = (time.perf_counter() - started) * 1000.0
        return ProductsResult(metadata=_metadata(image), recognition=recognition, timings_ms=timings)

    def remove_background(
        self, source: ImageSource | LoadedImage, options: SegmentOptions | None = None
    ) -> tuple[ImageMetadata, SegmentResult]:
        """Azure's ``imageanalysis:segment``: an RGBA cut-out, a greyscale matte or a mask (``options.output``) from
        the MATTING model (``options.model_id`` or the role's default). Animated images: the first frame; an
        image's own transparency is flattened on white before matting (the loader's rule)."""
        from imagelens.segment import SegmentOptions, remove_background
        from imagelens.segment.select import matting_model_id

        started = time.perf_counter()
        options = options or SegmentOptions()
        t0 = time.perf_counter()
        matting = self.hub.matting(matting_model_id(self.hub, options.model_id))  # loaded before inference
        timings: dict[str, float] = {"models": (time.perf_counter() - t0) * 1000.0}
        image = self._image(source, timings)
        with self.hub.using():
            result = remove_background(image.array(), matting, options)
        result.timings_ms.update(timings)
        result.timings_ms["total"] = (time.perf_counter() - started) * 1000.0
        return _metadata(image), result

    def vectorize_image(
        self,
        source: ImageSource | LoadedImage,
        *,
        region: BoundingBox | None = None,
        model_version: str | None = None,
    ) -> VectorizeResult:
        """Azure 4.0 ``retrieval:vectorizeImage``: the image's (or ``region``'s) L2-normalised embedding, in the
        same space as :meth:`vectorize_text`."""
        from imagelens.models.spec import Role
        from imagelens.retrieval.vectorize import (
            VectorizeResult,
            check_model_version,
            crop_region,
            embed_images,
        )

        model_id = check_model_version(model_version, self.hub.model_for_role(Role.IMAGE_TEXT_EMBEDDING))
        embedder = self.hub.embedder(model_id)  # loaded before inference: loads never overlap it
        image = source if isinstance(source, LoadedImage) else self.load(source)
        pixels = crop_region(image.array(), region)
        with self.hub.using():
            vector = embed_images(embedder, [pixels])[0]
        return VectorizeResult(model_id, vector, embedder.fingerprint, image.width, image.height)

    def vectorize_text(self, text: str, *, model_version: str | None = None) -> VectorizeResult:
        """Azure 4.0 ``retrieval:vectorizeText``: the text's L2-normalised embedding (empty or over 1,000
        characters: InvalidRequest)."""
        from imagelens.models.spec import Role
        from imagelens.retrieval.vectorize import VectorizeResult, check_model_version, check_text, embed_text

        check_text(text)
        model_id = check_model_version(model_version, self.hub.model_for_role(Role.IMAGE_TEXT_EMBEDDING))
        embedder = self.hub.embedder(model_id)
        with self.hub.using():
            vector = embed_text(embedder, text)
        return VectorizeResult(model_id, vector, embedder.fingerprint)

    def close(self) -> None:
        self.hub.close()


_default: Analyzer | None = None


def analyze(
    source: ImageSource,
    features: str | Iterable[str] | None = ("read", "smartCrops"),
    *,
    analyzer: Analyzer | None = None,
    language: str = "en",
    gender_neutral_caption: bool = False,
    smartcrops_aspect_ratios: Sequence[float] | None = None,
    model_version: str = "latest",
    model_name: str | None = None,
) -> AnalysisResult:
    """Analyze one image (bytes, path, URL, PIL image, numpy RGB array or file object).

    With ``model_name`` (and ``features=None``) the trained custom model of that name runs instead of the standard
    features. Uses a process-wide default :class:`Analyzer` (settings from ``IMAGELENS_*``) unless one is given.
    """
    global _default
    if analyzer is None:
        if _default is None:
            _default = Analyzer()
        analyzer = _default
    options = AnalysisOptions(
        language=language,
        gender_neutral_caption=gender_neutral_caption,
        smartcrops_aspect_ratios=tuple(float(r) for r in smartcrops_aspect_ratios)
        if smartcrops_aspect_ratios
        else None,
        model_version=model_version,
    )
    if model_name is not None:
        default = ("read", "smartCrops")
        own = None if features == default else features
        return analyzer.analyze(source, own, options, model_name=model_name)
    return analyzer.analyze(source, features, options)
