"""The PP-OCR adapter: detector, direction classifier and recogniser sessions from rapidocr, our post-processing."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import numpy as np
import numpy.typing as npt

from imagelens import deadline as deadlines
from imagelens.errors import InvalidArgumentError, ModelUnavailableError
from imagelens.models.adapters.ppocr.charsets import (
    CharsetPolicy,
    detect_policy,
    forbidden_classes,
    is_ascii_text_char,
)
from imagelens.models.adapters.ppocr.crops import (
    clipped_polygon,
    crop_line,
    package_model_dir,
    rec_input,
)
from imagelens.models.adapters.ppocr.ctc import CtcChar, greedy_decode
from imagelens.models.adapters.ppocr.fixes import Kind, fix_confusions, kind_of
from imagelens.models.adapters.ppocr.int8 import int8_model, int8_parts
from imagelens.models.adapters.ppocr.layout import reading_order, reading_quad, sub_quad
from imagelens.models.adapters.ppocr.pipeline import (
    CLS_FLIP_THRESHOLD,
    KEEP_PROB,
    REC_HEIGHT,
    REC_MIN_WIDTH,
    TALL_RATIO,
    WORD_MAX_INNER_GAP,
    FloatArray,
    Forwarded,
    OcrParams,
    Prepared,
    RawLine,
    Recognised,
)
from imagelens.models.adapters.ppocr.runtime import Session, open_session
from imagelens.models.adapters.ppocr.words import (
    WordChars,
    character_pitch,
    ink_breaks,
    split_on_spaces,
    split_words,
    word_spans,
)
from imagelens.models.spec import ModelSpec
from imagelens.types import Line, ReadResult, TextBlock, Word


class PPOCRAdapter:
    """A loaded PP-OCR model, a :class:`~imagelens.models.roles.TextReader`. ``read(rgb)`` is the whole pipeline;
    the stages are public for tests and benchmarks."""

    spec: ModelSpec
    params: OcrParams
    #: The recogniser's classes: the CTC blank (``""``) first, the space last.
    vocabulary: tuple[str, ...]

    def __init__(
        self,
        spec: ModelSpec,
        engine: Any,
        vocabulary: Sequence[str],
        sessions: dict[str, Session | None],
        params: OcrParams | None = None,
    ):
        self.spec = spec
        self.params = params or OcrParams()
        self._engine = engine  # rapidocr's: the classifier's resizing and batch size
        # detector, direction classifier (None when the model has none), recogniser: see runtime.py
        self._sessions = dict(sessions)
        self.vocabulary = tuple(vocabulary)
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
        # rapidocr's recogniser carries the character list and its classifier the crop resizing: load them now (no
        # lazy state shared by reads). Its detector is not needed: our sessions below run every model.
        engine._load_rec_model()
        if files["cls"] is not None:
            engine._load_cls_model()
        # Our own sessions on the same files (runtime.py: OpenVINO by default, else onnxruntime with threads that
        # sleep rather than spin); int8 copies (.int8) when asked (IMAGELENS_PPOCR_INT8, IMAGELENS_HUB__QUANTIZE).
        quantised: set[str] = set()
        for key in int8_parts(spec):
            src = files[key]
            if src is not None:
                # no onnx / quantisation tooling, an unwritable cache: the fp32 model reads instead
                try:
                    files[key] = int8_model(src, key)
                    quantised.add(key)
                except Exception as exc:
                    logging.getLogger(__name__).warning(
                        "PP-OCR %s stays fp32: int8 build failed (%s)", key, exc
                    )
        sessions: dict[str, Session | None] = {}
        for key in ("det", "cls", "rec"):
            file = files[key]
            sessions[key] = None if file is None else open_session(file, spec.id, int8=key in quantised)
        # rapidocr's own onnxruntime sessions: ours replace them, so free their memory
        for part in (engine.text_rec, engine.text_cls):
            if part is not None:
                part.session = None
        text_rec: Any = engine.text_rec
        characters = list(text_rec.postprocess_op.character)  # blank first, space last (rapidocr's layout)
        characters[0] = ""  # rapidocr names the CTC blank "blank": never let it pass for a letter
        return cls(spec, engine, characters, sessions)

    def close(self) -> None:
        """Drop the sessions (the hub calls this when it evicts the model)."""
        self._engine = None
        self._sessions = {}

    @property
    def sessions(self) -> dict[str, Session | None]:
        """The loaded models by part (``det``, ``cls``, ``rec``): where each runs and at what precision."""
        return dict(self._sessions)

    def _session(self, part: str) -> Session:
        session = self._sessions.get(part)
        if session is None:
            raise ModelUnavailableError(
                self.spec.id, "this adapter was closed (the hub unloaded it); get it again"
            )
        return session

    @property
    def closed(self) -> bool:
        return self._engine is None

    # --- the pipeline ---------------------------------------------------------------------------------------------

    def read(self, rgb: npt.NDArray[np.uint8], params: OcrParams | None = None) -> ReadResult:
        """Text in an RGB image (H x W x 3, uint8): one block, lines in reading order, pixels of ``rgb``."""
        p = params or self.params
        prepared = self.preprocess(rgb, p)
        try:
            forwarded = self.forward(prepared, p)
        finally:
            for session in self._sessions.values():
                if session is not None:
                    session.release_idle()  # a model between pages holds its weights, not its last page's buffers
        return self.postprocess(forwarded, p)

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

    def _confidence(self, recognised: Recognised) -> float:
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
        deadlines.check()
        pred = np.asarray(self._session("det")(prepared.det_input))
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
        classifier = self._sessions.get("cls")
        if classifier is None or self._engine is None:
            return [False] * len(crops)
        text_cls = self._engine.text_cls
        flips = [False] * len(crops)
        batch = text_cls.cls_batch_num
        for beg in range(0, len(crops), batch):
            deadlines.check()  # between batches of crops: a page of many lines stops at the deadline
            norm = np.stack([text_cls.resize_norm_img(c) for c in crops[beg : beg + batch]]).astype(
                np.float32
            )
            out = np.asarray(classifier(norm))
            for k, row in enumerate(out):
                flips[beg + k] = int(row.argmax()) == 1 and float(row[1]) > CLS_FLIP_THRESHOLD
        return flips

    def _recognise(self, crops: list[npt.NDArray[np.uint8]], p: OcrParams) -> list[Recognised]:
        """Per crop: probabilities on the kept classes, those classes, content frames, ink columns, pixels/frame."""
        ratios = np.asarray([c.shape[1] / max(1, c.shape[0]) for c in crops])
        order = np.argsort(ratios, kind="stable")  # similar widths in one batch: less padding
        recogniser = self._session("rec")
        results: list[Recognised] = [None] * len(crops)  # type: ignore[list-item]
        for beg in range(0, len(crops), p.rec_batch_size):
            deadlines.check()
            idx = order[beg : beg + p.rec_batch_size]
            max_ratio = max(REC_MIN_WIDTH / REC_HEIGHT, float(ratios[idx].max()))
            batch_w = int(REC_HEIGHT * max_ratio)
            inputs = [rec_input(crops[i], batch_w) for i in idx]
            out = np.asarray(recogniser(np.stack([x for x, _ in inputs])), dtype=np.float32)
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
                polygon=clipped_polygon(sub_quad(quad, x0 / width_px, x1 / width_px), width, height),
                confidence=min(1.0, max(0.0, word.confidence)),
            )
            for word, (x0, x1) in zip(words, spans, strict=True)
        ]
        return Line(
            text=" ".join(w.text for w in out_words),
            polygon=clipped_polygon(raw.quad, width, height),
            words=tuple(out_words),
        )

    def with_params(self, **changes: Any) -> PPOCRAdapter:
        """A view of this model with other tuning (shares the sessions)."""
        return type(self)(
            self.spec, self._engine, self.vocabulary, self._sessions, replace(self.params, **changes)
        )


if TYPE_CHECKING:  # mypy checks the adapter against its role's Protocol
    from imagelens.models.roles import TextReader

    _conforms: type[TextReader] = PPOCRAdapter
