"""A trained custom classifier: a linear head on a frozen image-embedding model (the backbone).

The folder holds ``head.npz`` (weights, bias) and ``head.json`` (class names, category ids, temperature, and which
backbone, by catalog id and weights fingerprint, produced the embeddings it was trained on). The backbone is not
loaded here: it is a catalog model the hub already shares with the tags feature and retrieval, so a custom
classifier costs a few kilobytes and one matrix product per image. Callers embed the image with
``hub.embedder(adapter.backbone_id)`` and pass the embedding to :meth:`CustomClassifierAdapter.predict_proba`
(the :class:`~imagelens.models.roles.EmbeddingClassifier` role).

Probabilities are ``softmax((x @ W.T + b) / T)`` with ``T`` fitted on held-out images (temperature scaling), so the
top confidence means what it says on the validation split.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import numpy as np
import numpy.typing as npt

from imagelens.errors import InvalidArgumentError, ModelUnavailableError
from imagelens.models.spec import ModelSpec
from imagelens.numeric import softmax

HEAD_WEIGHTS = "head.npz"
HEAD_META = "head.json"
FORMAT_VERSION = 1
DEFAULT_BACKBONE = "siglip2-base-patch16-224"

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True, eq=False)
class ClassifierHead:
    """``C`` classes over ``D``-dimensional L2-normalised embeddings."""

    class_names: tuple[str, ...]
    category_ids: tuple[int, ...]
    weights: npt.NDArray[np.float32]  # (C, D)
    bias: npt.NDArray[np.float32]  # (C,)
    temperature: float
    backbone: str
    backbone_fingerprint: str = ""

    def __post_init__(self) -> None:
        c = len(self.class_names)
        if c < 1 or len(self.category_ids) != c:
            raise ValueError(
                f"need >= 1 class and one category id per class, got {c} names, {len(self.category_ids)} ids"
            )
        if self.weights.ndim != 2 or self.weights.shape[0] != c or self.bias.shape != (c,):
            raise ValueError(
                f"weights must be ({c}, D) and bias ({c},), got {self.weights.shape}, {self.bias.shape}"
            )
        if not (self.temperature > 0 and np.isfinite(self.temperature)):
            raise ValueError(f"temperature must be a positive number, got {self.temperature!r}")

    @property
    def dim(self) -> int:
        return int(self.weights.shape[1])

    def logits(self, embeddings: npt.ArrayLike) -> FloatArray:
        x = np.asarray(embeddings, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise InvalidArgumentError(f"embeddings must have shape (N, {self.dim}), got {x.shape}")
        return x @ self.weights.T.astype(np.float64) + self.bias.astype(np.float64)  # type: ignore[no-any-return]

    def probabilities(self, embeddings: npt.ArrayLike) -> FloatArray:
        """``(N, C)`` calibrated class probabilities (rows sum to 1)."""
        return softmax(self.logits(embeddings) / self.temperature)

    def save(self, folder: Path) -> None:
        """Write both files atomically (a reader never sees half a head)."""
        folder.mkdir(parents=True, exist_ok=True)
        meta = {
            "format": FORMAT_VERSION,
            "class_names": list(self.class_names),
            "category_ids": [int(i) for i in self.category_ids],
            "temperature": float(self.temperature),
            "backbone": self.backbone,
            "backbone_fingerprint": self.backbone_fingerprint,
        }
        _atomic_write(folder / HEAD_WEIGHTS, lambda fh: np.savez(fh, weights=self.weights, bias=self.bias))
        _atomic_write(folder / HEAD_META, lambda fh: fh.write(json.dumps(meta, indent=1).encode("utf-8")))

    @classmethod
    def load(cls, folder: Path) -> ClassifierHead:
        meta = json.loads((folder / HEAD_META).read_text(encoding="utf-8"))
        if int(meta.get("format", 0)) > FORMAT_VERSION:
            raise ValueError(
                f"head format {meta.get('format')} is newer than this imagelens supports ({FORMAT_VERSION})"
            )
        with np.load(folder / HEAD_WEIGHTS, allow_pickle=False) as arrays:
            weights = np.asarray(arrays["weights"], dtype=np.float32)
            bias = np.asarray(arrays["bias"], dtype=np.float32)
        return cls(
            class_names=tuple(str(n) for n in meta["class_names"]),
            category_ids=tuple(int(i) for i in meta["category_ids"]),
            weights=weights,
            bias=bias,
            temperature=float(meta["temperature"]),
            backbone=str(meta["backbone"]),
            backbone_fingerprint=str(meta.get("backbone_fingerprint", "")),
        )


def _atomic_write(target: Path, write: Any) -> None:
    fd, tmp = tempfile.mkstemp(prefix=target.name, suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class CustomClassifierAdapter:
    """A loaded classifier head (numpy only; thread-safe, read-only)."""

    spec: ModelSpec
    head: ClassifierHead

    def __init__(self, spec: ModelSpec, head: ClassifierHead) -> None:
        self.spec = spec
        self.head = head

    @property
    def backbone_id(self) -> str:
        return self.head.backbone

    @property
    def backbone_fingerprint(self) -> str:
        return self.head.backbone_fingerprint

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.head.class_names

    @classmethod
    def load(cls, path: Path | None, spec: ModelSpec) -> Self:
        folder = Path(path) if path is not None else Path(str(spec.options.get("dir", "")))
        try:
            head = ClassifierHead.load(folder)
        except (OSError, KeyError, ValueError, json.JSONDecodeError) as exc:
            raise ModelUnavailableError(
                spec.id, f"its classifier head in {folder} cannot be read ({exc})"
            ) from exc
        return cls(spec, head)

    def predict_proba(self, embeddings: npt.ArrayLike) -> FloatArray:
        """``(N, C)`` calibrated probabilities for embeddings from :attr:`backbone_id`."""
        return self.head.probabilities(embeddings)

    def ranked(self, probabilities: Sequence[float]) -> list[tuple[str, float]]:
        """``(class name, probability)`` for one image, best first (ties: class order)."""
        p = np.asarray(probabilities, dtype=np.float64)
        order = np.argsort(-p, kind="stable")
        return [(self.head.class_names[i], float(np.clip(p[i], 0.0, 1.0))) for i in order]

    def close(self) -> None:
        return None


if TYPE_CHECKING:  # mypy checks the adapter against its role's Protocol
    from imagelens.models.roles import EmbeddingClassifier

    _conforms: type[EmbeddingClassifier] = CustomClassifierAdapter
