"""Input columns shared by the metrics: integer ids, finite floats, ``[x, y, w, h]`` boxes (checked, numpy)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from imagelens.errors import InvalidArgumentError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


def int_column(values: npt.ArrayLike, what: str, n: int | None = None) -> IntArray:
    arr = np.asarray(values)
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.ndim != 1 or not (np.issubdtype(arr.dtype, np.integer) or arr.dtype == bool):
        raise InvalidArgumentError(
            f"{what} must be a 1-D sequence of integers, got dtype {arr.dtype} shape {arr.shape}"
        )
    if n is not None and len(arr) != n:
        raise InvalidArgumentError(f"{what} must have {n} entries (one per box), got {len(arr)}")
    return arr.astype(np.int64)


def float_column(values: npt.ArrayLike | None, what: str, n: int, default: float | FloatArray) -> FloatArray:
    if values is None:
        return np.broadcast_to(np.asarray(default, dtype=np.float64), (n,)).copy()
    arr = np.asarray(values, dtype=np.float64).reshape(-1)
    if len(arr) != n:
        raise InvalidArgumentError(f"{what} must have {n} entries (one per box), got {len(arr)}")
    if not np.all(np.isfinite(arr)):
        raise InvalidArgumentError(
            f"{what} must be finite numbers, got {arr[~np.isfinite(arr)][:3].tolist()}"
        )
    return arr


def box_column(values: npt.ArrayLike, what: str) -> FloatArray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0:
        return np.zeros((0, 4), dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise InvalidArgumentError(f"{what} must have shape (N, 4) as [x, y, width, height], got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise InvalidArgumentError(f"{what} must be finite numbers")
    return arr
