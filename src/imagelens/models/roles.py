"""The seam between features and models: one small typed Protocol per model role.

Features depend on these Protocols, never on one architecture's output quirks. The hub hands out adapters through
typed accessors (:meth:`imagelens.models.hub.ModelHub.detector` and friends) that check the adapter against its role's
Protocol, and ``tests/models/test_roles.py`` checks every catalog entry's adapter class against the Protocol of each
role it declares. Images are upright RGB ``uint8`` arrays ``(H, W, 3)``; boxes are in pixels of that array.

No heavy imports here (numpy and the core types only).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, Self, runtime_checkable

import numpy as np
import numpy.typing as npt

from imagelens.detections import Detections
from imagelens.errors import InvalidArgumentError
from imagelens.models.spec import ModelSpec, Role
from imagelens.types import Caption, DenseCaption, ReadResult

RGBImage = npt.NDArray[np.uint8]
Embeddings = npt.NDArray[np.float32]
Prompts = Mapping[str, str] | Sequence[str] | str


@runtime_checkable
class Model(Protocol):
    """What the hub needs of every adapter: load from a resolved folder (``None`` for weights shipped inside a
    package) and release resources. Stages inside an adapter are ``preprocess -> forward -> postprocess``; only
    ``forward`` touches the backend."""

    spec: ModelSpec

    @classmethod
    def load(cls, path: Path | None, spec: ModelSpec) -> Self: ...

    def close(self) -> None: ...


@runtime_checkable
class TextReader(Model, Protocol):
    """Role.OCR: text lines, words, polygons and confidences, in reading order."""

    def read(self, rgb: RGBImage) -> ReadResult: ...


@runtime_checkable
class ImageTextEmbedder(Model, Protocol):
    """Role.IMAGE_TEXT_EMBEDDING: images and texts in one space, rows L2-normalised, ``(N, dim)`` float32.

    ``logit_scale``/``logit_bias`` turn a cosine into the model's image-text logit; ``prompt_embeddings`` embeds
    every label through every template (averaged, normalised) and may cache the result on disk; ``fingerprint``
    identifies the weights (a head trained on these embeddings refuses other weights)."""

    path: Path | None
    logit_scale: float
    logit_bias: float

    @property
    def dim(self) -> int: ...

    @property
    def fingerprint(self) -> str: ...

    def embed_images(self, images: Sequence[RGBImage]) -> Embeddings: ...

    def embed_texts(self, texts: Sequence[str]) -> Embeddings: ...

    def prompt_embeddings(self, labels: Sequence[str], templates: Sequence[str] = ...) -> Embeddings: ...


@runtime_checkable
class ImageEmbedder(Model, Protocol):
    """Role.IMAGE_EMBEDDING: image embeddings only, rows L2-normalised, ``(N, dim)`` float32 (e.g. the backbone of a
    few-shot custom classifier). Every :class:`ImageTextEmbedder` has these members too."""

    @property
    def dim(self) -> int: ...

    @property
    def fingerprint(self) -> str: ...

    def embed_images(self, images: Sequence[RGBImage]) -> Embeddings: ...


@runtime_checkable
class Captioner(Model, Protocol):
    """Role.CAPTIONER: whole-image captions and dense (region) captions.

    ``encode`` runs the vision tower once; the returned encoding is opaque to features and is passed back to
    ``caption`` and ``dense_captions`` so that both tasks in one call share it."""

    def encode(self, rgb: RGBImage) -> Any: ...

    def caption(self, encoding: Any, detailed: bool = False) -> Caption: ...

    def dense_captions(
        self, encoding: Any, whole_image: Caption | Callable[[], Caption] | None = None, max_results: int = 10
    ) -> tuple[DenseCaption, ...]: ...


@dataclass(frozen=True, slots=True)
class DetectorParams:
    """A closed-vocabulary detector's tuning (from ``spec.options``).

    ``score_threshold`` filters ``objects``; ``person_threshold`` filters ``people``, lower, as Azure's people
    feature reports less certain persons than its objects feature does. One forward pass serves both: the adapter
    keeps every pair above the lower of the two and each feature filters. ``nms_iou``: class-aware NMS after the
    threshold (``None``: off, for models trained NMS-free).
    """

    score_threshold: float = 0.5
    person_threshold: float = 0.3
    max_detections: int = 100
    nms_iou: float | None = None
    person_label: str = "person"

    def __post_init__(self) -> None:
        for name in ("score_threshold", "person_threshold"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise InvalidArgumentError(f"{name} must be in [0, 1], got {value!r}")
        if self.max_detections < 1:
            raise InvalidArgumentError(f"max_detections must be >= 1, got {self.max_detections!r}")
        if self.nms_iou is not None and not 0.0 < self.nms_iou <= 1.0:
            raise InvalidArgumentError(f"nms_iou must be in (0, 1] or None, got {self.nms_iou!r}")

    @property
    def min_threshold(self) -> float:
        return min(self.score_threshold, self.person_threshold)

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> DetectorParams:
        names = {"score_threshold", "person_threshold", "max_detections", "nms_iou", "person_label"}
        return cls(**{k: v for k, v in options.items() if k in names})


@runtime_checkable
class Detector(Model, Protocol):
    """Role.DETECTOR: a closed vocabulary (``class_names``). ``detect`` returns every detection scoring at least
    ``threshold`` (default ``params.min_threshold``), best first; a model that can score several classes for one
    box puts the box's id in ``data["query"]`` so callers can keep one class per box."""

    params: DetectorParams

    @property
    def class_names(self) -> tuple[str, ...]: ...

    def detect(self, rgb: RGBImage, threshold: float | None = None) -> Detections: ...


@runtime_checkable
class OpenVocabDetector(Model, Protocol):
    """Role.OPEN_VOCAB_DETECTOR: boxes for text prompts (``class_names`` of the result are the prompts' labels).
    ``prompts`` default to the spec's, ``threshold`` to the spec's."""

    def detect(
        self, rgb: RGBImage, prompts: Prompts | None = None, threshold: float | None = None
    ) -> Detections: ...


@runtime_checkable
class FaceDetector(Model, Protocol):
    """Role.FACE_DETECTOR: face boxes only (one class, ``"face"``), best first; landmarks as ``keypoints`` when
    the model has them. Never identity, age or gender."""

    def detect(self, rgb: RGBImage) -> Detections: ...


@runtime_checkable
class Matting(Model, Protocol):
    """Role.MATTING: a foreground alpha matte ``(H, W)`` float32 in [0, 1] at the image's size."""

    def matte(self, rgb: RGBImage) -> npt.NDArray[np.float32]: ...


@runtime_checkable
class EmbeddingClassifier(Model, Protocol):
    """Role.IMAGE_CLASSIFIER: a classifier head over the image embeddings of ``backbone_id`` (an
    IMAGE_TEXT_EMBEDDING model the hub shares, so a head costs one matrix product per image). ``predict_proba``
    gives ``(N, C)`` calibrated probabilities over ``class_names``; ``backbone_fingerprint`` names the weights the
    head was trained on (``""`` when unknown)."""

    @property
    def class_names(self) -> tuple[str, ...]: ...

    @property
    def backbone_id(self) -> str: ...

    @property
    def backbone_fingerprint(self) -> str: ...

    def predict_proba(self, embeddings: npt.ArrayLike) -> npt.NDArray[np.float64]: ...


@runtime_checkable
class Translator(Model, Protocol):
    """Role.TRANSLATOR: texts from ``source`` into ``target`` (language codes), one output per input, in order.

    ``fingerprint`` identifies the weights (what a cached translation depends on); ``cache_dir`` is where such a
    cache may be written (``None``: nowhere)."""

    source: str
    target: str
    fingerprint: str
    cache_dir: Path | None

    def translate(self, texts: Sequence[str]) -> list[str]: ...


@runtime_checkable
class SpeechRecognizer(Model, Protocol):
    """Role.SPEECH_RECOGNITION: 16 kHz mono float32 samples -> timed segments ``(start_s, end_s, text)`` in order,
    times in seconds from the first sample."""

    sample_rate: int

    def transcribe(self, audio_16k: npt.NDArray[np.float32]) -> list[tuple[float, float, str]]: ...


ROLE_PROTOCOLS: Mapping[Role, type[Model]] = {
    Role.OCR: TextReader,
    Role.IMAGE_TEXT_EMBEDDING: ImageTextEmbedder,
    Role.CAPTIONER: Captioner,
    Role.DETECTOR: Detector,
    Role.OPEN_VOCAB_DETECTOR: OpenVocabDetector,
    Role.FACE_DETECTOR: FaceDetector,
    Role.MATTING: Matting,
    Role.IMAGE_CLASSIFIER: EmbeddingClassifier,
    Role.IMAGE_EMBEDDING: ImageEmbedder,
    Role.TRANSLATOR: Translator,
    Role.SPEECH_RECOGNITION: SpeechRecognizer,
}


def protocol_members(protocol: type) -> list[str]:
    """The attribute and method names a Protocol requires (its own and its Protocol bases')."""
    names: set[str] = set()
    for klass in protocol.__mro__:
        if klass in (object, Protocol) or not getattr(klass, "_is_protocol", False):
            continue
        names.update(n for n in vars(klass) if not n.startswith("_"))
        names.update(klass.__dict__.get("__annotations__", {}))
    return sorted(names)


def missing_members(cls: type, protocol: type) -> list[str]:
    """What a class lacks to satisfy ``protocol``: missing names, and methods whose required parameters differ
    (a Protocol method's parameter that the class's method does not accept). Attributes that instances set in
    ``__init__``/``load`` are accepted when the class declares them (annotations or slots)."""
    problems: list[str] = []
    declared: set[str] = set()
    for klass in cls.__mro__:
        declared.update(getattr(klass, "__annotations__", {}))
        slots = getattr(klass, "__slots__", ())
        declared.update((slots,) if isinstance(slots, str) else slots)
    for name in protocol_members(protocol):
        proto_attr = inspect.getattr_static(protocol, name, None)
        if not hasattr(cls, name) and name not in declared:
            problems.append(f"{name}: missing")
            continue
        if callable(proto_attr) and not isinstance(proto_attr, property):
            impl = getattr(cls, name, None)
            if not callable(impl):
                problems.append(f"{name}: not a method")
                continue
            skip = ("self", "cls")
            want = [
                p
                for p in inspect.signature(getattr(protocol, name)).parameters.values()
                if p.name not in skip
            ]
            have = [p for p in inspect.signature(impl).parameters.values() if p.name not in skip]
            if any(p.kind is p.VAR_KEYWORD for p in have):
                continue
            positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
            n_required = sum(1 for p in want if p.kind in positional and p.default is p.empty)
            n_have = sum(1 for p in have if p.kind in positional)
            if n_have < n_required and not any(p.kind is p.VAR_POSITIONAL for p in have):
                problems.append(f"{name}: takes {n_have} positional parameters, needs {n_required}")
            names = {p.name for p in have}
            for p in want:
                if p.default is not p.empty and p.name not in names:
                    problems.append(f"{name}: no parameter {p.name!r}")
    return problems
