"""Open-vocabulary object detection with OWLv2 (``google/owlv2-base-patch16-ensemble``, Apache-2.0), via transformers.

OWLv2 scores every image patch (3600 at 960 px) against free-text queries: ``sigmoid(logit)`` per (patch, query),
one box per patch. We use it as a *generic product detector*: a handful of prompts ("a product on a shelf",
"a bottle", ...), each box labelled with its best prompt, then class-agnostic NMS, because "a bottle" and
"a product on a shelf" are usually the same object and a shelf needs one box per facing.

Geometry, the part that is easy to get wrong: the processor pads the image at the bottom and right to a square
of side ``max(width, height)`` *before* resizing it to the network size, so the model's normalised boxes are
relative to that square, not to the image. Pixels are therefore ``box * max(width, height)`` on both axes
(not ``* width`` and ``* height``); boxes in the padding are clipped away.

Preprocessing is our own numpy/scipy copy of ``Owlv2ImageProcessorPil`` (rescale, pad with zeros, resize with a
Gaussian anti-aliasing filter and linear ``scipy.ndimage.zoom``, normalise), in float32 to halve the memory of
large photos; a test checks it against transformers. Text queries are embedded once per prompt set and cached,
so a request costs one vision pass.

Stages: ``preprocess`` (pixels -> tensor input) -> ``forward`` (the only torch call) -> ``postprocess`` (numpy).

Modules: :mod:`.prompts` (text queries and tuning), :mod:`.processing` (the padded-square geometry: preprocessing
and decoding), :mod:`.adapter` (the :class:`~imagelens.models.roles.OpenVocabDetector`).
"""

from imagelens.models.adapters.owlv2.adapter import Owlv2Adapter, QueryEmbeddings, RawOpenVocab
from imagelens.models.adapters.owlv2.processing import (
    OPENAI_CLIP_MEAN,
    OPENAI_CLIP_STD,
    PREPROCESSOR_FILE,
    OwlImageProcessing,
    decode_open_vocab,
)
from imagelens.models.adapters.owlv2.prompts import (
    DEFAULT_PROMPTS,
    MAX_PROMPTS,
    OpenVocabParams,
    Query,
    parse_prompts,
)

__all__ = [
    "DEFAULT_PROMPTS",
    "MAX_PROMPTS",
    "OPENAI_CLIP_MEAN",
    "OPENAI_CLIP_STD",
    "PREPROCESSOR_FILE",
    "OpenVocabParams",
    "OwlImageProcessing",
    "Owlv2Adapter",
    "Query",
    "QueryEmbeddings",
    "RawOpenVocab",
    "decode_open_vocab",
    "parse_prompts",
]
