"""The ``read`` feature (Azure's OCR): printed and handwritten text as one block of lines with words.

Azure answers ``readResult: {"blocks": [{"lines": [...]}]}`` -- one block holding every line in reading order, and
still one block, with no lines, when the image has no text. We return the same shape:
``ReadResult(blocks=(TextBlock(lines=()),))`` for an empty image, never ``blocks=()``.

The OCR result is memoised as the artefact ``"read"``, so another feature that needs the text of the same image (for
example a product-shelf reader) gets it without a second OCR pass.
"""

from __future__ import annotations

from typing import ClassVar

from imagelens.features.base import FeatureContext
from imagelens.models.spec import Role
from imagelens.types import ReadResult


class ReadFeature:
    name: ClassVar[str] = "read"
    field: ClassVar[str] = "read"
    needs: ClassVar[tuple[Role, ...]] = (Role.OCR,)
    after: ClassVar[tuple[str, ...]] = ()

    def run(self, ctx: FeatureContext) -> ReadResult:
        reader = ctx.hub.reader()
        return ctx.artefact("read", lambda: reader.read(ctx.image.array()))
