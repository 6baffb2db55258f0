"""The ``denseCaptions`` feature: up to 10 captions with boxes; the first describes the whole image (as Azure does).

The first entry is the whole-image caption (shared with ``caption`` through the ``"florence_caption"`` artefact) with
the whole image's box; the others are Florence-2's ``<DENSE_REGION_CAPTION>`` regions in original pixels, by
decreasing confidence, clipped to the image.
"""

from __future__ import annotations

from dataclasses import replace
from typing import ClassVar

from imagelens.features.base import AnalysisOptions, FeatureContext
from imagelens.features.caption import (
    CAPTION_LANGUAGES,
    captioner,
    check_caption_language,
    image_encoding,
    whole_image_caption,
)
from imagelens.features.translation import preload_translator, translate_texts
from imagelens.models.hub import ModelHub
from imagelens.models.spec import Role
from imagelens.policy import neutralize_gender
from imagelens.types import DenseCaption

#: Azure returns at most this many dense captions, the whole-image one included.
MAX_DENSE_CAPTIONS = 10


class DenseCaptionsFeature:
    """Azure's ``denseCaptions``: ``values[]`` of ``{"text", "confidence", "boundingBox"}``."""

    name: ClassVar[str] = "denseCaptions"
    field: ClassVar[str] = "dense_captions"
    needs: ClassVar[tuple[Role, ...]] = (Role.CAPTIONER,)
    after: ClassVar[tuple[str, ...]] = ()

    def validate(self, options: AnalysisOptions, hub: ModelHub) -> None:
        check_caption_language(options.language, self.name, hub)

    def preload(self, options: AnalysisOptions, hub: ModelHub) -> None:
        preload_translator(hub, options.language, self.name, CAPTION_LANGUAGES)

    def run(self, ctx: FeatureContext) -> tuple[DenseCaption, ...]:
        check_caption_language(ctx.options.language, self.name, ctx.hub)
        model = captioner(ctx)
        # the regions first, the caption after: when ``caption`` is requested too, the two decodings run at once on
        # the two workers instead of this one waiting for the caption's
        regions = model.dense_captions(
            image_encoding(ctx), whole_image=lambda: whole_image_caption(ctx), max_results=MAX_DENSE_CAPTIONS
        )
        regions = regions[:MAX_DENSE_CAPTIONS]
        if ctx.options.gender_neutral_caption:
            regions = tuple(replace(r, text=neutralize_gender(r.text)) for r in regions)
        texts = translate_texts(ctx.hub, [r.text for r in regions], ctx.options.language, self.name)
        return tuple(replace(r, text=t) for r, t in zip(regions, texts, strict=True))
