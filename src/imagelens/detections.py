"""One columnar type for what every detector finds: :class:`Detections`.

Every detector (the prebuilt COCO detector, a face detector, the open-vocabulary detector, a trained custom
detector) returns this type, in pixels of the original image after EXIF rotation, best first. Conversions happen at
the edges: to the result dataclasses of :mod:`imagelens.types` here, to COCO in :mod:`imagelens.customize`, to Azure
JSON in :mod:`imagelens.azure`. (The design follows roboflow/supervision's ``Detections``: numpy columns, a
vocabulary, and free per-detection ``data`` columns for what only one model family has.)

numpy only; no heavy imports.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import numpy.typing as npt

from imagelens.geometry import nms as _nms
from imagelens.types import BoundingBox, DetectedObject, Face, Person, Tag

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def _frozen(array: npt.ArrayLike, dtype: Any) -> npt.NDArray[Any]:
    out = np.array(array, dtype=dtype, copy=True)
    out.setflags(write=False)
    return out


@dataclass(frozen=True, slots=True, eq=False)
class Detections:
    """``N`` detections, best first (callers may re-order with :meth:`sorted`).

    * ``boxes``: ``(N, 4)`` float64 ``x1, y1, x2, y2`` in original-image pixels;
    * ``scores``: ``(N,)`` float64 in [0, 1];
    * ``class_ids``: ``(N,)`` int64 indices into ``class_names`` (the model's vocabulary, or the prompts of an
      open-vocabulary call); a class-less detector (faces) uses one class;
    * ``masks``: optional ``(N, H, W)`` bool instance masks over the whole image;
    * ``keypoints``: optional ``(N, K, 2)`` float64 points in pixels (e.g. a face detector's five landmarks);
    * ``data``: optional per-detection columns, each of length ``N`` (e.g. ``"query"``: the decoder query a
      (query, class) pair came from; ``"patch"``: an open-vocabulary detector's patch index).

    Arrays are copied and made read-only, so a ``Detections`` can be shared between features safely.
    """

    boxes: FloatArray
    scores: FloatArray
    class_ids: IntArray
    class_names: tuple[str, ...]
    masks: npt.NDArray[np.bool_] | None = None
    keypoints: FloatArray | None = None
    data: Mapping[str, npt.NDArray[Any]] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        boxes = _frozen(self.boxes, np.float64)
        set_(self, "boxes", boxes.reshape(0, 4) if boxes.size == 0 else boxes)
        set_(self, "scores", _frozen(self.scores, np.float64).reshape(-1))
        set_(self, "class_ids", _frozen(self.class_ids, np.int64).reshape(-1))
        set_(self, "class_names", tuple(str(n) for n in self.class_names))
        n = len(self.scores)
        if self.boxes.shape != (n, 4):
            raise ValueError(f"boxes must have shape ({n}, 4) to match {n} scores, got {self.boxes.shape}")
        if self.class_ids.shape != (n,):
            raise ValueError(f"class_ids must have shape ({n},), got {self.class_ids.shape}")
        if n and (self.class_ids.min() < 0 or self.class_ids.max() >= len(self.class_names)):
            raise ValueError(
                f"class_ids must index class_names (0..{len(self.class_names) - 1}), "
                f"got ids in [{self.class_ids.min()}, {self.class_ids.max()}]"
            )
        if n and (np.isnan(self.scores).any() or self.scores.min() < 0.0 or self.scores.max() > 1.0):
            raise ValueError(
                f"scores must be in [0, 1], got [{np.nanmin(self.scores)!r}, {np.nanmax(self.scores)!r}]"
            )
        if self.masks is not None:
            set_(self, "masks", _frozen(self.masks, np.bool_))
            assert self.masks is not None
            if self.masks.ndim != 3 or self.masks.shape[0] != n:
                raise ValueError(f"masks must have shape ({n}, H, W), got {self.masks.shape}")
        if self.keypoints is not None:
            set_(self, "keypoints", _frozen(self.keypoints, np.float64))
            assert self.keypoints is not None
            if self.keypoints.ndim != 3 or self.keypoints.shape[0] != n or self.keypoints.shape[2] != 2:
                raise ValueError(f"keypoints must have shape ({n}, K, 2), got {self.keypoints.shape}")
        columns: dict[str, npt.NDArray[Any]] = {}
        for key, column in self.data.items():
            arr = np.array(column, copy=True)
            arr.setflags(write=False)
            if arr.shape[:1] != (n,):
                raise ValueError(f"data column {key!r} must have length {n}, got shape {arr.shape}")
            columns[str(key)] = arr
        set_(self, "data", MappingProxyType(columns))

    # --- construction -------------------------------------------------------------------------------------------

    @classmethod
    def empty(cls, class_names: Sequence[str] = (), *, data_keys: Sequence[str] = ()) -> Detections:
        """No detections (with the vocabulary, so callers can still name classes)."""
        return cls(
            boxes=np.zeros((0, 4)),
            scores=np.zeros(0),
            class_ids=np.zeros(0, np.int64),
            class_names=tuple(class_names),
            data={k: np.zeros(0, np.int64) for k in data_keys},
        )

    # --- reading ------------------------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.scores)

    @property
    def names(self) -> tuple[str, ...]:
        """The class name of each detection."""
        return tuple(self.class_names[int(i)] for i in self.class_ids)

    def class_id(self, name: str) -> int | None:
        """The id of a class name in this vocabulary, or ``None``."""
        try:
            return self.class_names.index(name)
        except ValueError:
            return None

    def __getitem__(self, index: npt.ArrayLike | slice) -> Detections:
        """A subset by boolean mask, indices or slice, order as given."""
        idx: Any = index if isinstance(index, slice) else np.asarray(index)
        if not isinstance(idx, slice) and idx.dtype != np.bool_:
            idx = idx.astype(np.int64).reshape(-1)
        return Detections(
            boxes=self.boxes[idx].reshape(-1, 4),
            scores=self.scores[idx].reshape(-1),
            class_ids=self.class_ids[idx].reshape(-1),
            class_names=self.class_names,
            masks=None if self.masks is None else self.masks[idx],
            keypoints=None if self.keypoints is None else self.keypoints[idx],
            data={k: v[idx] for k, v in self.data.items()},
        )

    # --- transforms (each returns a new Detections) -------------------------------------------------------------

    def sorted(self) -> Detections:
        """Best first; ties keep their current order (a stable sort, so results are deterministic)."""
        return self[np.argsort(-self.scores, kind="stable")]

    def above(self, threshold: float) -> Detections:
        """Those scoring ``>= threshold``."""
        return self[self.scores >= threshold]

    def of_class(self, name: str) -> Detections:
        """Those of one class (none when the vocabulary lacks it)."""
        cid = self.class_id(name)
        if cid is None:
            return self[np.zeros(len(self), bool)]
        return self[self.class_ids == cid]

    def first_per(self, key: str) -> Detections:
        """The first detection of each distinct value of ``data[key]`` (with a best-first order: the best per
        group), order kept. E.g. ``first_per("query")`` keeps one class per decoder query: one name per box."""
        if key not in self.data:
            return self
        _, first = np.unique(self.data[key], return_index=True)
        return self[np.sort(first)]

    def nms(self, iou_threshold: float, *, class_agnostic: bool = False) -> Detections:
        """Greedy non-maximum suppression, best first; per class unless ``class_agnostic``."""
        if len(self) == 0:
            return self
        if class_agnostic:
            keep = _nms(self.boxes, self.scores, iou_threshold)
        else:
            # Offsetting each class far apart makes one NMS call class-aware (boxes of different classes never
            # overlap).
            span = float(self.boxes.max() - self.boxes.min()) + 1.0
            shifted = self.boxes + (self.class_ids.astype(np.float64) * span)[:, None]
            keep = _nms(shifted, self.scores, iou_threshold)
        return self[np.sort(np.asarray(keep, np.int64))].sorted()

    def clipped(self, width: float, height: float) -> Detections:
        """Boxes clipped to ``[0, width] x [0, height]``."""
        boxes = self.boxes.copy()
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0.0, float(width))
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0.0, float(height))
        return Detections(
            boxes, self.scores, self.class_ids, self.class_names, self.masks, self.keypoints, self.data
        )

    def head(self, k: int) -> Detections:
        """The first ``k``."""
        return self[slice(0, max(int(k), 0))]

    @staticmethod
    def concatenate(parts: Sequence[Detections]) -> Detections:
        """Detections of one vocabulary joined in order (masks/keypoints/data kept only when every part has them)."""
        if not parts:
            raise ValueError("concatenate needs at least one Detections")
        names = parts[0].class_names
        if any(p.class_names != names for p in parts):
            raise ValueError("concatenate needs the same class_names in every part")
        masks = None
        if all(p.masks is not None for p in parts):
            masks = np.concatenate([p.masks for p in parts if p.masks is not None])
        keypoints = None
        if all(p.keypoints is not None for p in parts):
            keypoints = np.concatenate([p.keypoints for p in parts if p.keypoints is not None])
        keys = set.intersection(*(set(p.data) for p in parts))
        return Detections(
            boxes=np.concatenate([p.boxes for p in parts]).reshape(-1, 4),
            scores=np.concatenate([p.scores for p in parts]),
            class_ids=np.concatenate([p.class_ids for p in parts]),
            class_names=names,
            masks=masks,
            keypoints=keypoints,
            data={k: np.concatenate([p.data[k] for p in parts]) for k in sorted(keys)},
        )

    # --- to the result dataclasses ------------------------------------------------------------------------------

    def bounding_boxes(self) -> tuple[BoundingBox, ...]:
        return tuple(BoundingBox.from_xyxy(*(float(v) for v in box)) for box in self.boxes)

    def to_objects(self) -> tuple[DetectedObject, ...]:
        """Azure's objects: a box and one tag (class name, score) each, in this order."""
        return tuple(
            DetectedObject(box=box, tags=(Tag(name, float(score)),))
            for box, name, score in zip(self.bounding_boxes(), self.names, self.scores, strict=True)
        )

    def to_people(self) -> tuple[Person, ...]:
        return tuple(
            Person(box=box, confidence=float(score))
            for box, score in zip(self.bounding_boxes(), self.scores, strict=True)
        )

    def to_faces(self) -> tuple[Face, ...]:
        return tuple(
            Face(box=box, confidence=float(score))
            for box, score in zip(self.bounding_boxes(), self.scores, strict=True)
        )

    @classmethod
    def from_objects(cls, objects: Sequence[DetectedObject], class_names: Sequence[str] = ()) -> Detections:
        """Back from result dataclasses (each object's first tag); unknown names extend the vocabulary."""
        names = list(class_names)
        ids = []
        for obj in objects:
            name = obj.tags[0].name if obj.tags else ""
            if name not in names:
                names.append(name)
            ids.append(names.index(name))
        return cls(
            boxes=np.array([o.box.xyxy() for o in objects], np.float64).reshape(-1, 4),
            scores=np.array([o.tags[0].confidence if o.tags else 0.0 for o in objects], np.float64),
            class_ids=np.array(ids, np.int64),
            class_names=tuple(names),
        )
