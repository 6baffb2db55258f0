"""The ``people`` feature: person boxes with confidences, from the same detector run as ``objects``.

Azure's people feature reports persons the objects feature would not (it has a lower bar), so the threshold here is
the detector's ``person_threshold`` (0.3 by default, vs 0.5 for objects), applied to the shared ``"detections"``
artefact: asking for both features costs one forward pass.
"""

from __future__ import annotations

from typing import ClassVar

from imagelens.features.base import AnalysisOptions, FeatureContext
from imagelens.features.objects import check_requested_detector, detections, detector, requested_model
from imagelens.models.hub import ModelHub
from imagelens.models.spec import Role
from imagelens.types import Person


class PeopleFeature:
    """Azure's ``people``: boxes of the class "person", best first."""

    name: ClassVar[str] = "people"
    field: ClassVar[str] = "people"
    needs: ClassVar[tuple[Role, ...]] = (Role.DETECTOR,)
    after: ClassVar[tuple[str, ...]] = ()

    def validate(self, options: AnalysisOptions, hub: ModelHub) -> None:
        check_requested_detector(options, hub)

    def model_for(self, options: AnalysisOptions, role: Role) -> str | Role:
        return requested_model(options, role)

    def run(self, ctx: FeatureContext) -> tuple[Person, ...]:
        params = detector(ctx).params
        return detections(ctx).of_class(params.person_label).above(params.person_threshold).to_people()
