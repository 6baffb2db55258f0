"""PP-OCR's tuning and what passes between the adapter's stages (``preprocess -> forward -> postprocess``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

from imagelens.errors import InvalidArgumentError

FloatArray = npt.NDArray[np.float32]

REC_HEIGHT = 48
REC_MIN_WIDTH = 320  # PP-OCR pads every recogniser batch to at least 48 x 320
TALL_RATIO = 1.5  # a box this many times taller than wide is first read as vertical text (PP-OCR's rule)
CLS_FLIP_THRESHOLD = 0.9  # PaddleOCR's default: turn a crop over only when the classifier is this sure
WORD_MAX_INNER_GAP = 0.2  # a word's box grows over ink until a blank this wide (line heights)
KEEP_PROB = 1e-3  # recogniser classes below this on every frame of a line are dropped after the forward pass
# onnxruntime session config of every PP-OCR session: idle intra-op threads sleep rather than spin (same results)
SESSION_CONFIG = {"session.intra_op.allow_spinning": "0", "session.inter_op.allow_spinning": "0"}


@dataclass(frozen=True, slots=True)
class OcrParams:
    """Tuning knobs. The defaults are the ones measured in ``benchmarks/ocr_sroie.md``."""

    # detector (PP-OCR's defaults): input scaled so its short side is >= 736 px, long side first capped at 2000
    det_limit_side_len: int = 736
    det_limit_type: Literal["min", "max"] = "min"
    det_max_side_len: int = 2000
    det_thresh: float = 0.3
    det_box_thresh: float = 0.5
    det_unclip_ratio: float = 1.6
    # lines whose mean character probability is below this are dropped (rapidocr's text_score)
    min_line_score: float = 0.5
    # what the page may contain: "auto" decides from the page (see imagelens.models.adapters.ppocr.charsets)
    charset: Literal["auto", "any", "latin", "ascii"] = "auto"
    # split words at ink-free gaps at least this wide, in line heights (None: only at the spaces the model wrote)
    min_gap: float | None = 0.3
    # letter/digit confusions fixed from the model's second choice, when it had this share of the first's probability
    fix_confusions: bool = True
    fix_min_ratio: float = 0.05
    # re-read crops that were turned (tall boxes, classifier flips) as they lie; keep the more confident reading
    verify_turns: bool = True
    rec_batch_size: int = 6

    def __post_init__(self) -> None:
        if self.det_limit_type not in ("min", "max"):
            raise InvalidArgumentError(f"det_limit_type must be 'min' or 'max', got {self.det_limit_type!r}")
        if self.charset not in ("auto", "any", "latin", "ascii"):
            raise InvalidArgumentError(f"charset must be auto, any, latin or ascii, got {self.charset!r}")
        if self.det_limit_side_len < 32 or self.det_max_side_len < 32:
            raise InvalidArgumentError(
                f"detector side limits must be >= 32, got {self.det_limit_side_len} and {self.det_max_side_len}"
            )
        if self.rec_batch_size < 1:
            raise InvalidArgumentError(f"rec_batch_size must be >= 1, got {self.rec_batch_size}")


@dataclass(frozen=True, slots=True)
class Prepared:
    """``preprocess`` output: the image (BGR, as PP-OCR was trained) and the detector's input tensor."""

    bgr: npt.NDArray[np.uint8]
    det_input: FloatArray  # (1, 3, H, W)
    pad_top: int  # rows of padding added above the image for the detector (very wide images)
    padded_shape: tuple[int, int]  # (height, width) of the padded image the detector input was resized from


@dataclass(frozen=True, slots=True)
class RawLine:
    """One detected line after recognition, still in model terms."""

    quad: npt.NDArray[np.float64]  # image corners, clockwise from the top-left
    turned_90: bool
    turned_180: bool
    probs: FloatArray  # (frames, K) probabilities of the kept classes
    classes: npt.NDArray[np.intp]  # (K,) recogniser class of each column; column 0 is the blank
    content_frames: float  # frames covering the crop (the rest is batch padding)
    ink: npt.NDArray[np.bool_]  # per pixel column of the recogniser input (height 48): does it hold ink?
    px_per_frame: float  # recogniser input pixels per output frame (8 for PP-OCR)


Recognised = tuple[FloatArray, npt.NDArray[np.intp], float, npt.NDArray[np.bool_], float]


@dataclass(frozen=True, slots=True)
class Forwarded:
    """``forward`` output: the image size and its recognised lines (in no particular order)."""

    width: int
    height: int
    lines: tuple[RawLine, ...] = field(default_factory=tuple)
