"""PP-OCR (PaddleOCR detector + direction classifier + CTC recogniser, as ONNX) through rapidocr.

rapidocr builds the onnxruntime sessions from the explicit file paths in the spec (it never downloads: every path is
given and checked first). We run the stages ourselves rather than calling ``RapidOCR.__call__`` because we need what
its pipeline throws away: the recogniser's per-frame probabilities. With them the post-processing in
:mod:`imagelens.ocr` decodes a Latin page without CJK look-alikes, splits words at gaps the model wrote no space for,
fixes letter/digit confusions from the model's second choice, and places every word's polygon from the frames its
characters came from (rapidocr 3.x gives each English word the *first character's* confidence instead).

Stages: ``preprocess`` (array checks, detector input) -> ``forward`` (detector, crops, classifier, recogniser: the
only stage touching onnxruntime) -> ``postprocess`` (decoding, words, polygons, reading order). Nothing in them
mutates the adapter, and onnxruntime sessions may be run from several threads, so one adapter serves the hub's
threads without a lock.
"""

from __future__ import annotations

import importlib.util
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, Self

import numpy as np
import numpy.typing as npt

from imagelens.errors import InvalidArgumentError, ModelUnavailableError
from imagelens.geometry import quad_to_polygon
from imagelens.models.adapters.base import mark_tiny
from imagelens.models.spec import ModelSpec
from imagelens.ocr.charsets import CharsetPolicy, detect_policy, forbidden_classes, is_ascii_text_char
from imagelens.ocr.ctc import CtcChar, greedy_decode
from imagelens.ocr.fixes import Kind, fix_confusions, kind_of
from imagelens.ocr.layout import reading_order, reading_quad, sub_quad
from imagelens.ocr.words import (
    WordChars,
    character_pitch,
    ink_breaks,
    ink_columns,
    split_on_spaces,
    split_words,
    word_spans,
)
from imagelens.types import Line, Point, Polygon, ReadResult, TextBlock, Word

FloatArray = npt.NDArray[np.float32]

REC_HEIGHT = 48
REC_MIN_WIDTH = 320  # PP-OCR pads every recogniser batch to at least 48 x 320
TALL_RATIO = 1.5  # a box this many times taller than wide is first read as vertical text (PP-OCR's rule)
CLS_FLIP_THRESHOLD = 0.9  # PaddleOCR's default: turn a crop over only when the classifier is this sure
WORD_MAX_INNER_GAP = 0.2  # a word's box grows over ink until a blank this wide (line heights)
KEEP_PROB = 1e-3  # recogniser classes below this on every frame of a line are dropped after the forward pass


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
    # what the page may contain: "auto" decides from the page (see imagelens.ocr.charsets)
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


_Recognised = tuple[FloatArray, npt.NDArray[np.intp], float, npt.NDArray[np.bool_], float]


@dataclass(frozen=True, slots=True)
class Forwarded:
    """``forward`` output: the image size and its recognised lines (in no particular order)."""

    width: int
    height: int
    lines: tuple[RawLine, ...] = field(default_factory=tuple)


def package_model_dir() -> Path:
    spec = importlib.util.find_spec("rapidocr")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError("rapidocr is not installed")
    return Path(spec.origin).parent / "models"


class PPOCRAdapter:
    """A loaded PP-OCR model. ``read(rgb)`` is the whole pipeline; the stages are public for tests and benchmarks."""

    def __init__(
        self, spec: ModelSpec, engine: Any, vocabulary: Sequence[str], params: OcrParams | None = None
    ):
        self.spec = spec
        self.params = params or OcrParams()
        self._engine = engine
        self._det = engine.text_det.session
        self._cls = engine.text_cls.session if engine.text_cls is not None else None
        self._rec = engine.text_rec.session
        self.vocabulary: tuple[str, ...] = tuple(vocabulary)
        self._ascii_classes = np.asarray(
            [i for i, t in enumerate(self.vocabulary) if i > 0 and all(is_ascii_text_char(c) for c in t)],
            dtype=np.intp,
        )
        self._digit_classes = np.asarray([i for i, t in enumerate(self.vocabulary) if kind_of(t) == "digit"])
        self._is_letter = np.asarray([kind_of(t) == "letter" for t in self.vocabulary], dtype=bool)
        self._forbidden = {p: forbidden_classes(self.vocabulary, p) for p in CharsetPolicy}

    # --- loading --------------------------------------------------------------------------------------------------

    @classmethod
    def load(cls, path: Path | None, spec: ModelSpec) -> Self:
        """Build the engine from the spec's files under ``path`` (``None``: the files inside the rapidocr package)."""
        from rapidocr import RapidOCR
        from rapidocr.utils.typings import OCRVersion

        root = package_model_dir() if path is None else Path(path)
        files: dict[str, Path | None] = {}
        for key in ("det", "rec", "cls", "keys"):
            rel = spec.options.get(key)
            files[key] = None if rel is None else root / str(rel)
        for key in ("det", "rec"):
            if files[key] is None:
                raise ModelUnavailableError(spec.id, f"its spec names no '{key}' file")
        for key, file in files.items():
            if file is not None and not file.is_file():
                raise ModelUnavailableError(spec.id, f"the {key} file {file} is missing")
        version = OCRVersion(spec.options.get("ocr_version", "PP-OCRv5"))
        params: dict[str, Any] = {
            "Global.log_level": "error",
            "Global.use_cls": files["cls"] is not None,
            "Det.model_path": str(files["det"]),
            "Det.ocr_version": version,
            "Rec.model_path": str(files["rec"]),
            "Rec.ocr_version": version,
        }
        if files["cls"] is not None:
            params["Cls.model_path"] = str(files["cls"])
        if files["keys"] is not None:
            params["Rec.rec_keys_path"] = str(files["keys"])
        engine = RapidOCR(params=params)
        logging.getLogger("RapidOCR").setLevel(logging.ERROR)
        # rapidocr loads its sessions on first use; load them now so errors surface here and reads share no lazy state.
        engine._load_det_model()
        engine._load_rec_model()
        if files["cls"] is not None:
            engine._load_cls_model()
        text_rec: Any = engine.text_rec
        characters = list(text_rec.postprocess_op.character)  # blank first, space last (rapidocr's layout)
        characters[0] = ""  # rapidocr names the CTC blank "blank": never let it pass for a letter
        return cls(spec, engine, characters)

    def close(self) -> None:
        """Drop the onnxruntime sessions (the hub calls this when it evicts the model)."""
        self._engine = self._det = self._cls = self._rec = None

    @property
    def closed(self) -> bool:
        return self._engine is None

    # --- the pipeline ---------------------------------------------------------------------------------------------

    def read(self, rgb: npt.NDArray[np.uint8], params: OcrParams | None = None) -> ReadResult:
        """Text in an RGB image (H x W x 3, uint8): one block, lines in reading order, pixels of ``rgb``."""
        p = params or self.params
        prepared = self.preprocess(rgb, p)
        return self.postprocess(self.forward(prepared, p), p)

    def preprocess(self, rgb: npt.NDArray[np.uint8], params: OcrParams | None = None) -> Prepared:
        import cv2

        p = params or self.params
        arr = np.asarray(rgb)
        if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
            raise InvalidArgumentError(
                f"read() needs an RGB uint8 array of shape (H, W, 3), got dtype {arr.dtype} and shape {arr.shape}"
            )
        if arr.shape[0] < 1 or arr.shape[1] < 1:
            raise InvalidArgumentError(f"read() needs a non-empty image, got shape {arr.shape}")
        bgr = np.ascontiguousarray(arr[:, :, ::-1])
        h, w = bgr.shape[:2]
        # A banner-like image (one line of text) leaves the detector too few rows; pad it as rapidocr does.
        pad_top = 0
        if w / h > 8 or h <= 30:
            pad_top = max(0, int(abs(max(int(w / 8), 30) * 2 - h) / 2))
        padded = (
            cv2.copyMakeBorder(bgr, pad_top, pad_top, 0, 0, cv2.BORDER_CONSTANT, value=(0, 0, 0))
            if pad_top
            else bgr
        )
        ph, pw = padded.shape[:2]
        scale = min(1.0, p.det_max_side_len / max(ph, pw))
        sh, sw = ph * scale, pw * scale
        if p.det_limit_type == "min" and min(sh, sw) < p.det_limit_side_len:
            scale *= p.det_limit_side_len / min(sh, sw)
        elif p.det_limit_type == "max" and max(sh, sw) > p.det_limit_side_len:
            scale *= p.det_limit_side_len / max(sh, sw)
        rh = max(32, int(round(ph * scale / 32)) * 32)
        rw = max(32, int(round(pw * scale / 32)) * 32)
        resized = cv2.resize(padded, (rw, rh))
        tensor = ((resized.astype(np.float32) / 255.0 - 0.5) / 0.5).transpose(2, 0, 1)[None]
        return Prepared(
            bgr=bgr, det_input=np.ascontiguousarray(tensor), pad_top=pad_top, padded_shape=(ph, pw)
        )

    def forward(self, prepared: Prepared, params: OcrParams | None = None) -> Forwarded:
        """Detect lines, crop them, recognise them.

        A crop's orientation is a guess: a tall box is turned 90 degrees (vertical text) and the direction classifier
        may turn a crop 180 degrees. Both guesses are often wrong on receipts and forms: a lone ``1`` is a tall box,
        and the classifier turns ``0.00`` into ``00°0`` or ``QTY`` into ``BTY`` (on the SROIE receipts every one of its
        flips was wrong). So whenever a crop was turned we also recognise it as it lies in the image, and keep the
        reading the recogniser is more confident of. Only turned crops pay for a second recognition.
        """
        p = params or self.params
        if self.closed:
            raise ModelUnavailableError(
                self.spec.id, "this adapter was closed (the hub unloaded it); get it again"
            )
        h, w = prepared.bgr.shape[:2]
        quads = self._detect(prepared, p)
        if not quads:
            return Forwarded(width=w, height=h)
        straight = [crop_line(prepared.bgr, q) for q in quads]
        turned_90 = [s.shape[0] / max(1, s.shape[1]) >= TALL_RATIO for s in straight]
        crops = [
            np.ascontiguousarray(np.rot90(s)) if t else s for s, t in zip(straight, turned_90, strict=True)
        ]
        turned_180 = self._classify(crops)
        crops = [
            np.ascontiguousarray(c[::-1, ::-1]) if f else c for c, f in zip(crops, turned_180, strict=True)
        ]
        recognised = self._recognise(crops, p)
        doubtful = [i for i in range(len(crops)) if p.verify_turns and (turned_90[i] or turned_180[i])]
        if doubtful:
            as_is = self._recognise([straight[i] for i in doubtful], p)
            for i, alt in zip(doubtful, as_is, strict=True):
                if self._confidence(alt) > self._confidence(recognised[i]):
                    recognised[i], turned_90[i], turned_180[i] = alt, False, False
        lines = tuple(
            RawLine(
                quad=q,
                turned_90=t90,
                turned_180=t180,
                probs=probs,
                classes=classes,
                content_frames=frames,
                ink=ink,
                px_per_frame=px,
            )
            for q, t90, t180, (probs, classes, frames, ink, px) in zip(
                quads, turned_90, turned_180, recognised, strict=True
            )
        )
        return Forwarded(width=w, height=h, lines=lines)

    def _confidence(self, recognised: _Recognised) -> float:
        """Mean character probability of a crop's unconstrained reading (0 when it reads as nothing)."""
        probs, classes = recognised[0], recognised[1]
        chars = greedy_decode(probs, [self.vocabulary[c] for c in classes])
        return float(np.mean([c.prob for c in chars])) if chars else 0.0

    def postprocess(self, forwarded: Forwarded, params: OcrParams | None = None) -> ReadResult:
        p = params or self.params
        if not forwarded.lines:
            return ReadResult(blocks=(TextBlock(lines=()),))
        # 1. What script is the page in? Decide from the unconstrained reading of every line.
        if p.charset == "auto":
            first = [self._decode(line, None) for line in forwarded.lines]
            policy = detect_policy("".join(c.text for c in chars) for chars in first)
        else:
            policy = CharsetPolicy(p.charset)
        lines: list[tuple[npt.NDArray[np.float64], Line]] = []
        for raw in forwarded.lines:
            chars = self._decode(raw, self._forbidden[policy])
            if not chars or float(np.mean([c.prob for c in chars])) < p.min_line_score:
                continue
            line = self._build_line(raw, chars, policy, p, forwarded.width, forwarded.height)
            if line is not None:
                lines.append((raw.quad, line))
        order = reading_order([quad for quad, _ in lines])
        return ReadResult(blocks=(TextBlock(lines=tuple(lines[i][1] for i in order)),))

    # --- stages' parts --------------------------------------------------------------------------------------------

    def _detect(self, prepared: Prepared, p: OcrParams) -> list[npt.NDArray[np.float64]]:
        from rapidocr.ch_ppocr_det.utils import DBPostProcess

        post = DBPostProcess(
            thresh=p.det_thresh,
            box_thresh=p.det_box_thresh,
            max_candidates=1000,
            unclip_ratio=p.det_unclip_ratio,
            score_mode="fast",
            use_dilation=True,
        )
        pred = np.asarray(self._det(prepared.det_input))
        if pred.ndim != 4 or pred.shape[1] != 1:
            raise ValueError(f"the detector must return (N, 1, H, W), got {pred.shape}")
        boxes, _ = post(pred, prepared.padded_shape)
        h, w = prepared.bgr.shape[:2]
        quads = []
        for box in np.asarray(boxes, dtype=np.float64).reshape(-1, 4, 2):
            box[:, 1] -= prepared.pad_top
            box[:, 0] = np.clip(box[:, 0], 0, w - 1)
            box[:, 1] = np.clip(box[:, 1], 0, h - 1)
            if np.linalg.norm(box[0] - box[1]) > 3 and np.linalg.norm(box[0] - box[3]) > 3:
                quads.append(box)
        return quads

    def _classify(self, crops: list[npt.NDArray[np.uint8]]) -> list[bool]:
        """Which crops are upside down (PP-OCR's 0/180 degree classifier, when the model has one)."""
        if self._cls is None or self._engine is None:
            return [False] * len(crops)
        text_cls = self._engine.text_cls
        flips = [False] * len(crops)
        batch = text_cls.cls_batch_num
        for beg in range(0, len(crops), batch):
            norm = np.stack([text_cls.resize_norm_img(c) for c in crops[beg : beg + batch]]).astype(
                np.float32
            )
            out = np.asarray(self._cls(norm))
            for k, row in enumerate(out):
                flips[beg + k] = int(row.argmax()) == 1 and float(row[1]) > CLS_FLIP_THRESHOLD
        return flips

    def _recognise(self, crops: list[npt.NDArray[np.uint8]], p: OcrParams) -> list[_Recognised]:
        """Per crop: probabilities on the kept classes, those classes, content frames, ink columns, pixels/frame."""
        ratios = np.asarray([c.shape[1] / max(1, c.shape[0]) for c in crops])
        order = np.argsort(ratios, kind="stable")  # similar widths in one batch: less padding
        results: list[_Recognised] = [None] * len(crops)  # type: ignore[list-item]
        for beg in range(0, len(crops), p.rec_batch_size):
            idx = order[beg : beg + p.rec_batch_size]
            max_ratio = max(REC_MIN_WIDTH / REC_HEIGHT, float(ratios[idx].max()))
            batch_w = int(REC_HEIGHT * max_ratio)
            inputs = [rec_input(crops[i], batch_w) for i in idx]
            out = np.asarray(self._rec(np.stack([x for x, _ in inputs])), dtype=np.float32)
            if out.ndim != 3 or out.shape[2] != len(self.vocabulary):
                raise ValueError(
                    f"the recogniser returned shape {out.shape}; expected (N, frames, {len(self.vocabulary)}) "
                    "to match its character list"
                )
            frames_total = out.shape[1]
            px_per_frame = batch_w / max(1, frames_total)
            for k, i in enumerate(idx):
                ink = inputs[k][1]
                content = len(ink) / px_per_frame
                keep = min(frames_total, math.ceil(content) + 1)
                probs, classes = self._compact(out[k, :keep])
                results[int(i)] = (probs, classes, content, ink, px_per_frame)
        return results

    def _compact(self, probs: FloatArray) -> tuple[FloatArray, npt.NDArray[np.intp]]:
        """Keep blank, space, the ASCII classes and every class that reached ``KEEP_PROB`` on some frame: enough for
        every later decision, and ~100x smaller than the full 18,000-class matrix."""
        space = len(self.vocabulary) - 1
        seen = np.flatnonzero((probs > KEEP_PROB).any(axis=0)) if len(probs) else np.zeros(0, np.intp)
        classes = np.unique(np.concatenate(([0, space], self._ascii_classes, seen)).astype(np.intp))
        return np.ascontiguousarray(probs[:, classes]), classes

    def _decode(self, raw: RawLine, forbidden: npt.NDArray[np.intp] | None) -> tuple[CtcChar, ...]:
        vocab = [self.vocabulary[c] for c in raw.classes]
        local = None
        if forbidden is not None and len(forbidden):
            local = np.flatnonzero(np.isin(raw.classes, forbidden))
        return greedy_decode(raw.probs, vocab, local)

    def _alternatives(self, raw: RawLine, policy: CharsetPolicy) -> Any:
        allowed = ~np.isin(raw.classes, self._forbidden[policy])
        digit_cols = np.flatnonzero(np.isin(raw.classes, self._digit_classes) & allowed)
        letter_cols = np.flatnonzero(self._is_letter[raw.classes] & allowed)

        def best(ch: CtcChar, kind: Kind) -> tuple[str, float] | None:
            cols = digit_cols if kind == "digit" else letter_cols
            if not len(cols):
                return None
            window = raw.probs[ch.start : ch.end + 1][:, cols]
            flat = int(window.argmax())
            col = int(cols[flat % len(cols)])
            return self.vocabulary[int(raw.classes[col])], float(window.max())

        return best

    def _build_line(
        self,
        raw: RawLine,
        chars: tuple[CtcChar, ...],
        policy: CharsetPolicy,
        p: OcrParams,
        width: int,
        height: int,
    ) -> Line | None:
        breaks = None
        if p.min_gap is not None:
            breaks = ink_breaks(chars, raw.ink, raw.px_per_frame, min_gap_px=p.min_gap * REC_HEIGHT)
        words = split_words(chars, breaks=breaks)
        if p.fix_confusions:
            alternatives = self._alternatives(raw, policy)
            words = [
                WordChars(fix_confusions(w.chars, alternatives, min_ratio=p.fix_min_ratio)) for w in words
            ]
        if not words:
            return None
        quad = reading_quad(raw.quad, turned_90=raw.turned_90, turned_180=raw.turned_180)
        spans = word_spans(
            [(w.start, w.end) for w in words],
            raw.ink,
            raw.px_per_frame,
            pitch=character_pitch(split_on_spaces(chars)) or raw.content_frames / max(1, len(chars)),
            max_gap_px=WORD_MAX_INNER_GAP * REC_HEIGHT,
        )
        width_px = max(len(raw.ink), 1)
        out_words = [
            Word(
                text=word.text,
                polygon=_clipped_polygon(sub_quad(quad, x0 / width_px, x1 / width_px), width, height),
                confidence=min(1.0, max(0.0, word.confidence)),
            )
            for word, (x0, x1) in zip(words, spans, strict=True)
        ]
        return Line(
            text=" ".join(w.text for w in out_words),
            polygon=_clipped_polygon(raw.quad, width, height),
            words=tuple(out_words),
        )

    # --- tiny random models for tests -----------------------------------------------------------------------------

    @classmethod
    def write_tiny(cls, path: Path, spec: ModelSpec, seed: int = 0) -> None:
        """Random-weight det/rec(/cls) ONNX models (+ keys file) at the spec's relative paths, then the tiny marker."""
        root = Path(path)
        rng = np.random.default_rng(seed)
        keys_rel = spec.options.get("keys")
        characters = list(TINY_CHARACTERS)
        for key, builder in (("det", _tiny_det), ("cls", _tiny_cls)):
            rel = spec.options.get(key)
            if rel is not None:
                _save_onnx(builder(rng), root / str(rel))
        rec = _tiny_rec(rng, len(characters) + 2)  # + CTC blank + space
        if keys_rel is None:  # the character list travels in the model's metadata, as in PP-OCRv5+ exports
            rec.metadata_props.add(key="character", value="\n".join(characters))
        else:
            keys_path = root / str(keys_rel)
            keys_path.parent.mkdir(parents=True, exist_ok=True)
            keys_path.write_text("\n".join(characters) + "\n", encoding="utf-8")
        rec_rel = spec.options.get("rec")
        if rec_rel is None or spec.options.get("det") is None:
            raise InvalidArgumentError(
                f"spec {spec.id!r} must name 'det' and 'rec' files, got {spec.options!r}"
            )
        _save_onnx(rec, root / str(rec_rel))
        mark_tiny(root, spec, seed)

    def with_params(self, **changes: Any) -> PPOCRAdapter:
        """A view of this model with other tuning (shares the sessions)."""
        return type(self)(self.spec, self._engine, self.vocabulary, replace(self.params, **changes))


def crop_line(bgr: npt.NDArray[np.uint8], quad: npt.NDArray[np.float64]) -> npt.NDArray[np.uint8]:
    """The line's pixels, straightened to a rectangle as wide as the quad's top/bottom edges and as tall as its sides."""
    import cv2

    pts = quad.astype(np.float32)
    crop_w = max(1, int(max(np.linalg.norm(pts[0] - pts[1]), np.linalg.norm(pts[2] - pts[3]))))
    crop_h = max(1, int(max(np.linalg.norm(pts[0] - pts[3]), np.linalg.norm(pts[1] - pts[2]))))
    target = np.asarray([[0, 0], [crop_w, 0], [crop_w, crop_h], [0, crop_h]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(pts, target)
    crop = cv2.warpPerspective(
        bgr, matrix, (crop_w, crop_h), borderMode=cv2.BORDER_REPLICATE, flags=cv2.INTER_CUBIC
    )
    return np.asarray(crop, dtype=np.uint8)


def rec_input(crop: npt.NDArray[np.uint8], batch_w: int) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
    """PP-OCR recogniser input (height 48, aspect kept, normalised to [-1, 1], right-padded with zeros) and which of
    its pixel columns hold ink."""
    import cv2

    h, w = crop.shape[:2]
    resized_w = max(1, min(batch_w, math.ceil(REC_HEIGHT * w / max(1, h))))
    resized = cv2.resize(crop, (resized_w, REC_HEIGHT))
    out = np.zeros((3, REC_HEIGHT, batch_w), dtype=np.float32)
    out[:, :, :resized_w] = (resized.astype(np.float32).transpose(2, 0, 1) / 255.0 - 0.5) / 0.5
    gray = np.asarray(cv2.cvtColor(resized, cv2.COLOR_BGR2GRAY), dtype=np.uint8)
    return out, ink_columns(gray)


def _clipped_polygon(quad: npt.ArrayLike, width: int, height: int) -> Polygon:
    pts = np.asarray(quad, dtype=np.float64).copy()
    pts[:, 0] = np.clip(pts[:, 0], 0, width)
    pts[:, 1] = np.clip(pts[:, 1], 0, height)
    poly = quad_to_polygon(pts)
    return Polygon(tuple(Point(round(pt.x, 1), round(pt.y, 1)) for pt in poly.points))


# --- tiny random models -------------------------------------------------------------------------------------------

TINY_CHARACTERS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz.,:-/#%"
_TINY_OPSET = 17
_TINY_IR_VERSION = 8


def _tensor(rng: np.random.Generator, name: str, shape: tuple[int, ...], std: float) -> Any:
    from onnx import numpy_helper

    return numpy_helper.from_array(rng.normal(0.0, std, size=shape).astype(np.float32), name)


def _graph_model(nodes: list[Any], inputs: list[Any], outputs: list[Any], inits: list[Any], name: str) -> Any:
    from onnx import helper

    graph = helper.make_graph(nodes, name, inputs, outputs, initializer=inits)
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", _TINY_OPSET)], producer_name="imagelens"
    )
    model.ir_version = _TINY_IR_VERSION
    return model


def _tiny_det(rng: np.random.Generator) -> Any:
    """x (N, 3, H, W) -> probability map (N, 1, H, W): conv 3x3 -> ReLU -> conv 1x1 -> sigmoid."""
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, "H", "W"])
    y = helper.make_tensor_value_info("maps", TensorProto.FLOAT, ["N", 1, "H", "W"])
    inits = [
        _tensor(rng, "w1", (4, 3, 3, 3), 0.5),
        _tensor(rng, "b1", (4,), 0.5),
        _tensor(rng, "w2", (1, 4, 1, 1), 1.0),
        _tensor(rng, "b2", (1,), 0.5),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["h1"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["h1"], ["h2"]),
        helper.make_node("Conv", ["h2", "w2", "b2"], ["h3"]),
        helper.make_node("Sigmoid", ["h3"], ["maps"]),
    ]
    return _graph_model(nodes, [x], [y], inits, "tiny_ppocr_det")


def _tiny_rec(rng: np.random.Generator, classes: int, hidden: int = 8) -> Any:
    """x (N, 3, 48, W) -> (N, W/8, classes) softmax: one conv over 48 x 8 patches, then a linear layer per frame."""
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, REC_HEIGHT, "W"])
    y = helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["N", "T", classes])
    inits = [
        _tensor(rng, "w1", (hidden, 3, REC_HEIGHT, 8), 0.05),
        _tensor(rng, "b1", (hidden,), 0.5),
        _tensor(rng, "w2", (hidden, classes), 3.0),  # large: peaked (confident) random outputs
        _tensor(rng, "b2", (classes,), 1.0),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["h1"], strides=[REC_HEIGHT, 8]),
        helper.make_node(
            "Constant", [], ["axis2"], value=helper.make_tensor("axis2", TensorProto.INT64, [1], [2])
        ),
        helper.make_node("Squeeze", ["h1", "axis2"], ["h2"]),
        helper.make_node("Transpose", ["h2"], ["h3"], perm=[0, 2, 1]),
        helper.make_node("MatMul", ["h3", "w2"], ["h4"]),
        helper.make_node("Add", ["h4", "b2"], ["h5"]),
        helper.make_node("Softmax", ["h5"], ["probs"], axis=-1),
    ]
    return _graph_model(nodes, [x], [y], inits, "tiny_ppocr_rec")


def _tiny_cls(rng: np.random.Generator) -> Any:
    """x (N, 3, 48, 192) -> (N, 2) softmax over {0, 180} degrees."""
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, REC_HEIGHT, 192])
    y = helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["N", 2])
    inits = [_tensor(rng, "w", (3, 2), 1.0), _tensor(rng, "b", (2,), 0.5)]
    nodes = [
        helper.make_node("GlobalAveragePool", ["x"], ["h1"]),
        helper.make_node("Flatten", ["h1"], ["h2"]),
        helper.make_node("Gemm", ["h2", "w", "b"], ["h3"]),
        helper.make_node("Softmax", ["h3"], ["probs"], axis=-1),
    ]
    return _graph_model(nodes, [x], [y], inits, "tiny_ppocr_cls")


def _save_onnx(model: Any, path: Path) -> None:
    import onnx

    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(model, str(path))
