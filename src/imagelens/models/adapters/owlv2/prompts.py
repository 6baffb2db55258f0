"""OWLv2 text queries (label -> prompt) and the detector's tuning from ``spec.options``."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from imagelens.errors import InvalidArgumentError

#: Label -> prompt. Labels are what results report; prompts are what the text encoder reads.
DEFAULT_PROMPTS: Mapping[str, str] = {
    "product": "a product on a shelf",
    "bottle": "a bottle",
    "box": "a box",
    "can": "a can",
    "package": "a package",
}
MAX_PROMPTS = 64
_ARTICLE = re.compile(r"^(a|an|the)\s+", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Query:
    """One text query: the ``label`` results carry and the ``prompt`` the text encoder reads."""

    label: str
    prompt: str


def parse_prompts(value: Mapping[str, str] | Sequence[str] | str) -> tuple[Query, ...]:
    """Queries from ``{label: prompt}``, or from prompts alone (label = the prompt without a leading article:
    ``"a bottle"`` -> ``"bottle"``), or from ``"label=prompt"`` strings. Labels must be unique."""
    if isinstance(value, str):
        value = [value]
    if isinstance(value, Mapping):
        pairs = [(str(k), v) for k, v in value.items()]
    elif isinstance(value, Sequence):
        pairs = []
        for item in value:
            if not isinstance(item, str):
                raise InvalidArgumentError(f"prompts must be strings, got {item!r}")
            label, sep, prompt = item.partition("=")
            if sep and label.strip() and prompt.strip():
                pairs.append((label.strip(), prompt))
            else:
                pairs.append((_ARTICLE.sub("", item.strip()), item))
    else:
        raise InvalidArgumentError(
            f"prompts must be a mapping label -> prompt or a list of prompts, got {value!r}"
        )
    if not 1 <= len(pairs) <= MAX_PROMPTS:
        raise InvalidArgumentError(f"between 1 and {MAX_PROMPTS} prompts are needed, got {len(pairs)}")
    queries = []
    for label, prompt in pairs:
        if not isinstance(prompt, str) or not prompt.strip() or not label.strip():
            raise InvalidArgumentError(
                f"a prompt and its label must be non-empty strings, got {label!r}: {prompt!r}"
            )
        queries.append(Query(label.strip(), " ".join(prompt.split())))
    labels = [q.label for q in queries]
    if len(set(labels)) != len(labels):
        dup = next(lbl for lbl in labels if labels.count(lbl) > 1)
        raise InvalidArgumentError(f"prompt labels must be unique; {dup!r} appears {labels.count(dup)} times")
    return tuple(queries)


@dataclass(frozen=True, slots=True)
class OpenVocabParams:
    """Tuning from ``spec.options``.

    ``score_threshold`` is on ``sigmoid(logit)`` of the best query (OWL-ViT's own demos use 0.1; text-query scores
    of a correct box are often only 0.2-0.4). ``nms_iou``: class-agnostic NMS (``None``: off). ``max_detections``
    is high because a shelf photo holds many facings.
    """

    queries: tuple[Query, ...] = parse_prompts(DEFAULT_PROMPTS)
    score_threshold: float = 0.1
    nms_iou: float | None = 0.5
    max_detections: int = 300

    def __post_init__(self) -> None:
        if not 0.0 <= self.score_threshold <= 1.0:
            raise InvalidArgumentError(f"score_threshold must be in [0, 1], got {self.score_threshold!r}")
        if self.nms_iou is not None and not 0.0 < self.nms_iou <= 1.0:
            raise InvalidArgumentError(f"nms_iou must be in (0, 1] or None, got {self.nms_iou!r}")
        if self.max_detections < 1:
            raise InvalidArgumentError(f"max_detections must be >= 1, got {self.max_detections!r}")

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> OpenVocabParams:
        kwargs: dict[str, Any] = {
            k: options[k] for k in ("score_threshold", "nms_iou", "max_detections") if k in options
        }
        if "prompts" in options:
            kwargs["queries"] = parse_prompts(options["prompts"])
        return cls(**kwargs)
