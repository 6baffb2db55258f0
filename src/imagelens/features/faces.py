"""The ``faces`` feature (Azure v3.2's ``Faces`` visual feature; also weighted into smart crops): face boxes.

Boxes and detection confidences only. Nothing here, nor in the model behind it, estimates identity, age or gender:
Azure retired those attributes and this project does not offer them.
"""

from __future__ import annotations

from typing import ClassVar

from imagelens.features.base import FeatureContext
from imagelens.models.spec import Role
from imagelens.types import Face

FACES_ARTEFACT = "faces"


class FacesFeature:
    """Face boxes from the FACE_DETECTOR (YuNet), best first."""

    name: ClassVar[str] = "faces"
    field: ClassVar[str] = "faces"
    needs: ClassVar[tuple[Role, ...]] = (Role.FACE_DETECTOR,)
    after: ClassVar[tuple[str, ...]] = ()

    def run(self, ctx: FeatureContext) -> tuple[Face, ...]:
        model = ctx.hub.face_detector()
        return ctx.artefact(FACES_ARTEFACT, lambda: model.detect(ctx.image.array())).to_faces()
