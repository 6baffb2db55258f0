"""Which MATTING model answers a background removal: an any-subject model when one is here, else the people models.

In order: the model the request names (``SegmentOptions.model_id``, ``--model``); the one configured for the role
(``IMAGELENS_MODELS__matting``); the first any-subject (salient-object) model of :data:`ANY_SUBJECT` that is present
(fetched, or in ``IMAGELENS_MODEL_DIR``); else the role's default, the person segmenter (MediaPipe Selfie). Nothing is
downloaded to decide: a missing any-subject model simply falls back. The choice is logged and travels with the result
(``SegmentResult.model_id``; the HTTP route answers it in ``x-imagelens-model``).
"""

from __future__ import annotations

import logging

from imagelens.models.hub import ModelHub
from imagelens.models.spec import Role

log = logging.getLogger("imagelens.segment")

#: Salient-object models for any subject, preferred in this order when present.
ANY_SUBJECT: tuple[str, ...] = ("birefnet-lite",)


_announced: set[tuple[int, str]] = set()


def matting_model_id(hub: ModelHub, requested: str | None = None) -> str:
    if requested:
        return requested
    if hub.settings.models.get(Role.MATTING.value):
        return hub.model_for_role(Role.MATTING)
    chosen = next((m for m in ANY_SUBJECT if hub.is_present(m)), None)
    why = "any subject"
    if chosen is None:
        chosen, why = (
            hub.model_for_role(Role.MATTING),
            f"people; no any-subject model present ({', '.join(ANY_SUBJECT)})",
        )
    if (id(hub), chosen) not in _announced:  # once per hub and model, not per request
        _announced.add((id(hub), chosen))
        log.info("background removal uses %s (%s)", chosen, why)
    return chosen
