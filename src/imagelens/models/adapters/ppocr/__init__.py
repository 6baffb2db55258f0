"""PP-OCR (PaddleOCR detector + direction classifier + CTC recogniser, as ONNX) through rapidocr.

rapidocr is given the explicit file paths of the spec (it never downloads: every path is checked first); it supplies
the character list and the classifier's resizing, and we run the three models in our own sessions (:mod:`.runtime`:
OpenVINO by default, bf16 where the CPU has it; onnxruntime when asked or when OpenVINO is missing). We run the stages ourselves rather than calling ``RapidOCR.__call__`` because we need what
its pipeline throws away: the recogniser's per-frame probabilities. With them our post-processing (the modules
below) decodes a Latin page without CJK look-alikes, splits words at gaps the model wrote no space for,
fixes letter/digit confusions from the model's second choice, and places every word's polygon from the frames its
characters came from (rapidocr 3.x gives each English word the *first character's* confidence instead).

Stages: ``preprocess`` (array checks, detector input) -> ``forward`` (detector, crops, classifier, recogniser: the
only stage touching a runtime) -> ``postprocess`` (decoding, words, polygons, reading order). Nothing in them
mutates the adapter, and every session may be called from several threads (OpenVINO: one infer request per
thread), so one adapter serves the hub's threads without a lock.

Modules: :mod:`.pipeline` (tuning and what passes between the stages), :mod:`.crops` (line crops and the
recogniser's input), :mod:`.runtime` (sessions: ``IMAGELENS_PPOCR_RUNTIME``, ``IMAGELENS_PPOCR_PRECISION``),
:mod:`.int8` (int8 detector and recogniser, opt-in: ``IMAGELENS_PPOCR_INT8``),
:mod:`.adapter` (the :class:`~imagelens.models.roles.TextReader`); and the post-processing
that does not depend on the runtime (numpy only, cheap to import and to unit-test):

- :mod:`.ctc`: greedy CTC decoding that keeps each character's frames and can forbid classes;
- :mod:`.charsets`: which script a page is in, and the classes to forbid for it;
- :mod:`.words`: splitting a decoded line into words, on spaces and on wide gaps;
- :mod:`.fixes`: letter/digit confusions fixed from the model's own second choices;
- :mod:`.layout`: reading order and the geometry that maps frames back to image pixels.
"""

from imagelens.models.adapters.ppocr import runtime
from imagelens.models.adapters.ppocr.adapter import PPOCRAdapter
from imagelens.models.adapters.ppocr.crops import crop_line, package_model_dir, rec_input
from imagelens.models.adapters.ppocr.pipeline import REC_HEIGHT, Forwarded, OcrParams, Prepared, RawLine

__all__ = [
    "REC_HEIGHT",
    "Forwarded",
    "OcrParams",
    "PPOCRAdapter",
    "Prepared",
    "RawLine",
    "crop_line",
    "package_model_dir",
    "rec_input",
    "runtime",
]
