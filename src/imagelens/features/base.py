"""What a feature is, and the per-image context features share.

A feature declares ``name`` (the Azure ``features=`` token), ``field`` (the :class:`AnalysisResult` attribute it
fills), the model ``needs`` (roles it cannot run without) and ``after`` (features whose results it uses when they are
requested in the same call). :class:`FeatureContext` decodes the image once and memoises shared artefacts, so the
image embedding, the detector boxes or the OCR lines are computed once per image whoever asks first.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, TypeVar

from imagelens.io import LoadedImage
from imagelens.models.hub import ModelHub
from imagelens.models.spec import Role

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class AnalysisOptions:
    """Per-call options (Azure's query parameters, in library form)."""

    language: str = "en"
    gender_neutral_caption: bool = False
    smartcrops_aspect_ratios: tuple[float, ...] | None = None
    model_version: str = "latest"
    extra: dict[str, Any] = field(default_factory=dict)


class Feature(Protocol):
    name: ClassVar[str]
    field: ClassVar[str]
    needs: ClassVar[tuple[Role, ...]]
    after: ClassVar[tuple[str, ...]]

    def run(self, ctx: FeatureContext) -> Any: ...

    # Optional: ``def validate(self, options: AnalysisOptions, hub: ModelHub) -> None`` raises for options the feature
    # cannot honour (e.g. an unsupported language). The Analyzer calls it before loading any model.


class FeatureContext:
    """One image, its options, the hub, and the artefacts computed so far (thread-safe memo)."""

    def __init__(
        self, image: LoadedImage, hub: ModelHub, options: AnalysisOptions, requested: frozenset[str]
    ) -> None:
        self.image = image
        self.hub = hub
        self.options = options
        self.requested = requested
        self.results: dict[str, Any] = {}
        self._memo: dict[str, Any] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def artefact(self, key: str, compute: Callable[[], T]) -> T:
        """Compute ``key`` once per image, whichever feature asks first; others wait for it."""
        with self._guard:
            if key in self._memo:
                return self._memo[key]  # type: ignore[no-any-return]
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            with self._guard:
                if key in self._memo:
                    return self._memo[key]  # type: ignore[no-any-return]
            value = compute()
            with self._guard:
                self._memo[key] = value
            return value

    def result_of(self, feature_name: str) -> Any:
        """The result of another feature run earlier in this call (``None`` when it was not requested)."""
        return self.results.get(feature_name)
