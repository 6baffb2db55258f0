"""The ``caption`` feature: one sentence for the whole image, with a confidence, from the CAPTIONER model (Florence-2).

The image is encoded once per call: the encoding is the artefact ``"florence_encoding"`` and the caption the artefact
``"florence_caption"``, so ``denseCaptions`` in the same call reuses both (its first entry *is* this caption). The
confidence is the decoder's geometric-mean token probability (see :mod:`imagelens.models.adapters.florence2`).
``gender-neutral-caption=true`` rewrites the text with :func:`imagelens.policy.neutralize_gender`. A ``language`` other
than English translates the (rewritten) English caption with that language's translator; the confidence stays the
captioner's.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, ClassVar

from imagelens.features.base import AnalysisOptions, FeatureContext
from imagelens.features.translation import check_translator, preload_translator, translate_texts
from imagelens.models.hub import ModelHub
from imagelens.models.roles import Captioner
from imagelens.models.spec import Role
from imagelens.policy import neutralize_gender
from imagelens.types import Caption

#: Languages the captioner writes itself; other languages go through a translator (Role.TRANSLATOR).
CAPTION_LANGUAGES = ("en",)

ENCODING_ARTEFACT = "florence_encoding"
CAPTION_ARTEFACT = "florence_caption"


def check_caption_language(language: str, feature: str, hub: ModelHub) -> None:
    """Raise NotSupportedLanguageError unless captions can be written in ``language`` (English, or a language whose
    translator is present; the message names the pull command when it is not)."""
    check_translator(hub, language, feature, native=CAPTION_LANGUAGES)


def captioner(ctx: FeatureContext) -> Captioner:
    """The loaded CAPTIONER (the hub loads it once and raises ModelUnavailableError when it is missing)."""
    return ctx.hub.captioner()


def image_encoding(ctx: FeatureContext) -> Any:
    """The captioner's vision encoding of this image (opaque to features), computed once per call whoever asks
    first."""
    model = captioner(ctx)
    return ctx.artefact(ENCODING_ARTEFACT, lambda: model.encode(ctx.image.array()))


def whole_image_caption(ctx: FeatureContext) -> Caption:
    """The whole-image caption, before any policy rewriting; computed once per call."""
    model = captioner(ctx)
    return ctx.artefact(CAPTION_ARTEFACT, lambda: model.caption(image_encoding(ctx), detailed=False))


class CaptionFeature:
    """Azure's ``caption``: ``{"text", "confidence"}`` for the whole image."""

    name: ClassVar[str] = "caption"
    field: ClassVar[str] = "caption"
    needs: ClassVar[tuple[Role, ...]] = (Role.CAPTIONER,)
    after: ClassVar[tuple[str, ...]] = ()

    def validate(self, options: AnalysisOptions, hub: ModelHub) -> None:
        check_caption_language(options.language, self.name, hub)

    def preload(self, options: AnalysisOptions, hub: ModelHub) -> None:
        preload_translator(hub, options.language, self.name, CAPTION_LANGUAGES)

    def run(self, ctx: FeatureContext) -> Caption:
        check_caption_language(ctx.options.language, self.name, ctx.hub)
        caption = whole_image_caption(ctx)
        if ctx.options.gender_neutral_caption:
            caption = replace(caption, text=neutralize_gender(caption.text))
        (text,) = translate_texts(ctx.hub, [caption.text], ctx.options.language, self.name)
        return replace(caption, text=text)
