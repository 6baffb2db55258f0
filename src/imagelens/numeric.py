"""Small numeric functions with one home: sigmoid, softmax, L2 normalisation (numpy only)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


def sigmoid(x: npt.ArrayLike) -> FloatArray:
    """``1 / (1 + exp(-x))`` in float64 without overflow warnings for any ``x`` (even float32's most negative
    logit, which masked queries carry)."""
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(x, dtype=np.float64)))


def softmax(logits: npt.ArrayLike, axis: int = -1) -> FloatArray:
    """Softmax along ``axis`` in float64, shifted by the maximum so large logits do not overflow."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=axis, keepdims=True)
    e = np.exp(z)
    out: FloatArray = e / e.sum(axis=axis, keepdims=True)
    return out


def l2_normalise(x: npt.ArrayLike, axis: int = -1, eps: float = 1e-12) -> npt.NDArray[np.floating]:
    """Rows scaled to unit L2 norm (rows of zeros stay zero). A float array keeps its dtype; others become float64."""
    a = np.asarray(x)
    if not np.issubdtype(a.dtype, np.floating):
        a = a.astype(np.float64)
    norm = np.linalg.norm(a, axis=axis, keepdims=True)
    out: npt.NDArray[np.floating] = (a / np.maximum(norm, a.dtype.type(eps))).astype(a.dtype, copy=False)
    return out
