"""The ``adult`` feature (Azure 3.2 ``Adult``) and the moderation gate.

Scores. For each of adult, racy and gory, a set of positive sentences ("an explicit pornographic photo.") and a set
of neutral ones ("an ordinary photo of people wearing clothes.") are embedded once per model (:mod:`zero_shot`);
each side's prompts are averaged into one label. The score is the softmax between the two labels' native
image-text logits, which for two labels is ``sigmoid(l_pos - l_neg)`` (the model's logit bias cancels), passed
through a per-category Platt transform ``sigmoid(a * (l_pos - l_neg) + b)``: ``a = 1, b = 0`` (plain softmax)
until a calibration is fitted with real weights and put in the model's ``spec.options["moderation"]``
(``{"adult": {"a": .., "b": ..}, ...}``). A softmax between two prompt sets rather than a sigmoid of one native
logit: the native logit of a single prompt is calibrated for "does this caption match", which is near 0 for almost
every image and sentence, whereas the contrast asks "which of the two descriptions fits better".

Booleans. ``is_adult`` is ``adult_score >= adult_threshold`` (and likewise racy, gore). The thresholds come from
``Settings.moderation`` (``IMAGELENS_MODERATION__ADULT_THRESHOLD`` ...), overridden per call by
``AnalysisOptions.extra["moderation"]`` (``{"adult_threshold": 0.7, "gate": True, ...}``; a value outside [0, 1] is
a 400).

The gate. With ``moderation.gate`` on (settings or per call), the Analyzer runs ``adult`` before anything else; an
image flagged by any category in ``gate_on`` (default adult and gore) gets every other requested feature withheld:
not computed, its field ``None``, and ``AnalysisResult.withheld`` names them (the HTTP answers carry the adult block
and a ``ContentWithheldByModeration`` warning). See docs/moderation.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from imagelens.config import Settings
from imagelens.errors import InvalidArgumentError
from imagelens.features.base import AnalysisOptions, FeatureContext
from imagelens.features.tags import image_embedding
from imagelens.features.zero_shot import PromptSet, label_embeddings, label_logits
from imagelens.models.hub import ModelHub
from imagelens.models.spec import Role
from imagelens.numeric import sigmoid
from imagelens.types import Moderation

NAME = "adult"
#: ``AnalysisOptions.extra`` key of the per-call overrides.
OPTION = "moderation"
CATEGORIES: tuple[str, ...] = ("adult", "racy", "gore")

#: category -> (positive sentences, neutral sentences). Written for this project; not measured (no real weights here).
PROMPTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "adult": (
        (
            "an explicit pornographic photo.",
            "a photo of naked people having sex.",
            "a photo showing exposed genitals.",
            "a nude photo of a naked person.",
            "hardcore adult content.",
        ),
        (
            "a photo of people wearing clothes.",
            "an ordinary everyday photo.",
            "a safe-for-work photo.",
            "a photo of a landscape, a street or a room.",
            "a photo of food, animals or objects.",
        ),
    ),
    "racy": (
        (
            "a sexually suggestive photo.",
            "a photo of a person in lingerie.",
            "a provocative photo of a person in underwear.",
            "a sexy pin-up photo showing a lot of skin.",
            "a racy photo of a scantily clad model.",
        ),
        (
            "a photo of a fully clothed person.",
            "a modest photo of people in everyday clothes.",
            "an ordinary everyday photo.",
            "a photo of a landscape, a street or a room.",
            "a photo of food, animals or objects.",
        ),
    ),
    "gore": (
        (
            "a gory photo with blood and open wounds.",
            "a photo of a bloody injury.",
            "a graphic photo of a mutilated body.",
            "a violent photo of a dead body covered in blood.",
            "a photo of gore.",
        ),
        (
            "a photo of a healthy person.",
            "a peaceful ordinary photo without blood.",
            "an ordinary everyday photo.",
            "a photo of a landscape, a street or a room.",
            "a photo of food, animals or objects.",
        ),
    ),
}

PROMPT_SET = PromptSet(
    "moderation",
    tuple(f"{c}{side}" for c in CATEGORIES for side in ("", " (neutral)")),
    tuple(group for c in CATEGORIES for group in PROMPTS[c]),
)


def _threshold(value: Any, name: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"moderation {name} must be a number in [0, 1], got {value!r}") from None
    if not 0.0 <= number <= 1.0:  # NaN fails too
        raise InvalidArgumentError(f"moderation {name} must be in [0, 1], got {value!r}")
    return number


@dataclass(frozen=True, slots=True)
class ModerationConfig:
    """Thresholds, the gate, and the per-category Platt transform ``(a, b)`` of the score."""

    adult_threshold: float = 0.5
    racy_threshold: float = 0.5
    gore_threshold: float = 0.5
    gate: bool = False
    gate_on: tuple[str, ...] = ("adult", "gore")
    calibration: tuple[tuple[float, float], ...] = ((1.0, 0.0), (1.0, 0.0), (1.0, 0.0))

    @classmethod
    def resolve(
        cls, settings: Settings, options: AnalysisOptions, spec_options: Mapping[str, Any] | None = None
    ) -> ModerationConfig:
        """Settings, then the model's calibration (``spec.options["moderation"]``), then the call's overrides
        (``options.extra["moderation"]``); InvalidArgumentError (400) for a bad value."""
        base = settings.moderation
        values: dict[str, Any] = {
            "adult_threshold": base.adult_threshold,
            "racy_threshold": base.racy_threshold,
            "gore_threshold": base.gore_threshold,
            "gate": base.gate,
            "gate_on": tuple(base.gate_on),
        }
        calibration = [(1.0, 0.0)] * len(CATEGORIES)
        fitted = (spec_options or {}).get(OPTION) or {}
        for i, category in enumerate(CATEGORIES):
            if category in fitted:
                platt = fitted[category]
                calibration[i] = (float(platt.get("a", 1.0)), float(platt.get("b", 0.0)))
        call = options.extra.get(OPTION) or {}
        if not isinstance(call, Mapping):
            raise InvalidArgumentError(f"options.extra['{OPTION}'] must be a mapping, got {call!r}")
        unknown = set(call) - set(values)
        if unknown:
            raise InvalidArgumentError(
                f"unknown moderation option(s) {sorted(unknown)}; valid: {', '.join(values)}"
            )
        values.update(call)
        gate_on = values["gate_on"]
        gate_on = (gate_on,) if isinstance(gate_on, str) else tuple(gate_on)
        if not gate_on or any(c not in CATEGORIES for c in gate_on):
            raise InvalidArgumentError(
                f"moderation gate_on must name some of {', '.join(CATEGORIES)}, got {values['gate_on']!r}"
            )
        return cls(
            adult_threshold=_threshold(values["adult_threshold"], "adult_threshold"),
            racy_threshold=_threshold(values["racy_threshold"], "racy_threshold"),
            gore_threshold=_threshold(values["gore_threshold"], "gore_threshold"),
            gate=bool(values["gate"]),
            gate_on=gate_on,
            calibration=tuple(calibration),
        )

    def decide(self, adult: float, racy: float, gore: float) -> Moderation:
        return Moderation(
            adult_score=adult,
            racy_score=racy,
            gore_score=gore,
            is_adult=adult >= self.adult_threshold,
            is_racy=racy >= self.racy_threshold,
            is_gory=gore >= self.gore_threshold,
        )

    def closes_gate(self, moderation: Moderation) -> bool:
        flags = {"adult": moderation.is_adult, "racy": moderation.is_racy, "gore": moderation.is_gory}
        return any(flags[c] for c in self.gate_on)


def scores_from_logits(
    logits: npt.ArrayLike, calibration: Sequence[tuple[float, float]]
) -> tuple[float, float, float]:
    """``(adult, racy, gore)`` from the 6 logits of :data:`PROMPT_SET` (positive, neutral per category)."""
    x = np.asarray(logits, np.float64).reshape(len(CATEGORIES), 2)
    a = np.array([c[0] for c in calibration], np.float64)
    b = np.array([c[1] for c in calibration], np.float64)
    s = np.clip(sigmoid(a * (x[:, 0] - x[:, 1]) + b), 0.0, 1.0)
    return float(s[0]), float(s[1]), float(s[2])


def _spec_options(hub: ModelHub) -> Mapping[str, Any]:
    return hub.spec(hub.model_for_role(Role.IMAGE_TEXT_EMBEDDING)).options


class AdultFeature:
    """Azure 3.2 ``adult``: adult, racy and gory scores in [0, 1] and the booleans at the operator's thresholds."""

    name: ClassVar[str] = NAME
    field: ClassVar[str] = "adult"
    needs: ClassVar[tuple[Role, ...]] = (Role.IMAGE_TEXT_EMBEDDING,)
    after: ClassVar[tuple[str, ...]] = ()

    def validate(self, options: AnalysisOptions, hub: ModelHub) -> None:
        ModerationConfig.resolve(hub.settings, options, _spec_options(hub))

    def scores(self, ctx: FeatureContext) -> tuple[float, float, float]:
        model = ctx.hub.embedder()
        config = ModerationConfig.resolve(ctx.hub.settings, ctx.options, _spec_options(ctx.hub))
        logits = label_logits(model, image_embedding(ctx), label_embeddings(model, PROMPT_SET))
        return scores_from_logits(logits, config.calibration)

    def run(self, ctx: FeatureContext) -> Moderation:
        config = ModerationConfig.resolve(ctx.hub.settings, ctx.options, _spec_options(ctx.hub))
        return config.decide(*self.scores(ctx))


# --- the gate (called by the Analyzer) ------------------------------------------------------------------------------


def gate_config(settings: Settings, options: AnalysisOptions) -> ModerationConfig | None:
    """The config when the gate is on for this call (settings or ``options.extra["moderation"]["gate"]``), else
    ``None``. Bad per-call values raise here, before any model loads."""
    config = ModerationConfig.resolve(settings, options)
    return config if config.gate else None


def gate_features(names: tuple[str, ...]) -> tuple[str, ...]:
    """The call's features with ``adult`` first (the gate runs it before the others)."""
    return (NAME, *(n for n in names if n != NAME))


def withheld_by_gate(
    config: ModerationConfig, moderation: Moderation, names: Sequence[str]
) -> tuple[str, ...]:
    """The features the gate withholds: every one but ``adult`` when the image is flagged, else none."""
    return tuple(n for n in names if n != NAME) if config.closes_gate(moderation) else ()


def ungated(options: AnalysisOptions | None = None) -> AnalysisOptions:
    """``options`` with the gate off for this call (routes whose answer has no place for a withheld result: 3.2
    ``ocr`` and ``read``)."""
    options = options or AnalysisOptions()
    extra = dict(options.extra)
    extra[OPTION] = {**(extra.get(OPTION) or {}), "gate": False}
    return replace(options, extra=extra)
