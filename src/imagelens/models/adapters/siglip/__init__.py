"""Image-text embedding models (SigLIP 2 by default; SigLIP and CLIP too) through transformers.

One adapter serves three checkpoint families, told apart by ``config.json``'s ``model_type``:

- ``siglip``: SigLIP and the fixed-resolution SigLIP 2 checkpoints (``google/siglip2-base-patch16-224`` is a
  ``SiglipModel`` with a Gemma tokenizer). Images are squashed to the configured square (no crop).
- ``siglip2``: SigLIP 2 NaFlex (``Siglip2Model``): the image keeps its aspect ratio, cut into at most
  ``max_num_patches`` patches, padded and masked.
- ``clip``: CLIP (shortest edge resized, centre crop). CLIP has no logit bias and was trained with a softmax, so its
  ``sigmoid(scale * cos)`` is not a probability until calibrated.

Text follows how SigLIP was trained (big_vision): lower-cased (SigLIP 2), tokenised with the checkpoint's
tokenizer (which appends EOS), padded to the text model's full length (64) and run **without** an attention mask,
the model pooling the last position. CLIP pads to the longest text and uses its mask.

Image preprocessing is a few lines of Pillow/numpy reading ``preprocessor_config.json`` (a test checks it against
transformers' ``*ImageProcessorPil`` classes), so no torchvision. ``embed_images`` / ``embed_texts`` return
L2-normalised float32 rows; ``logit_scale`` (already exponentiated) and ``logit_bias`` turn a cosine into the model's
native multi-label logit ``scale * cos + bias``.

Prompt embeddings for a tag vocabulary (thousands of texts: minutes of CPU for a base model) are computed once per
(weights, labels, templates, text settings) and cached in memory and on disk as ``.npy`` next to the model
(:meth:`SiglipAdapter.prompt_embeddings`), so a restart reads them back in milliseconds.

Modules: :mod:`.preprocess` (images and texts to model inputs), :mod:`.cache` (the weights' fingerprint and the
on-disk prompt-embedding cache), :mod:`.adapter` (the :class:`~imagelens.models.roles.ImageTextEmbedder`).
"""

from imagelens.models.adapters.siglip.adapter import SiglipAdapter
from imagelens.models.adapters.siglip.cache import TEXT_CACHE_FOLDER
from imagelens.models.adapters.siglip.preprocess import (
    FAMILIES,
    PREPROCESSOR_FILE,
    Family,
    ImagePrep,
    TextPrep,
    naflex_size,
)

__all__ = [
    "FAMILIES",
    "PREPROCESSOR_FILE",
    "TEXT_CACHE_FOLDER",
    "Family",
    "ImagePrep",
    "SiglipAdapter",
    "TextPrep",
    "naflex_size",
]
