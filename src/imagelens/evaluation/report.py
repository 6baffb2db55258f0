"""The one result shape of ``imagelens eval FEATURE``: ``{"feature", "model", "data", "n", "metrics", "threshold"}``."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class EvalReport:
    """``metrics`` maps the README's metric names to numbers; ``threshold`` is the recommendation for
    ``target_precision`` (``{}`` where a feature has no score to threshold); ``details``: per-class or per-image
    figures and anything else worth keeping (not part of the stable shape)."""

    feature: str
    model: str
    data: str
    n: int
    metrics: dict[str, float | int | None]
    threshold: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self, *, details: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "feature": self.feature,
            "model": self.model,
            "data": self.data,
            "n": self.n,
            "metrics": {k: _clean(v) for k, v in self.metrics.items()},
            "threshold": {k: _clean(v) for k, v in self.threshold.items()},
        }
        if details:
            out["details"] = self.details
        return out

    def table(self) -> str:
        """A plain-text table: one metric per row, then the threshold recommendation."""
        rows = [f"{self.feature} with {self.model} on {self.data} ({self.n} items)"]
        width = max([len(k) for k in self.metrics] + [9])
        for key, value in self.metrics.items():
            rows.append(f"  {key:<{width}}  {_fmt(value)}")
        if self.threshold:
            t = self.threshold
            if t.get("threshold") is None:
                rows.append(f"  no threshold reaches precision {t.get('target_precision')}")
            else:
                rows.append(
                    f"  threshold {_fmt(t['threshold'])} reaches precision {_fmt(t.get('precision'))} "
                    f"(target {t.get('target_precision')}) at recall {_fmt(t.get('recall'))}"
                )
        return "\n".join(rows)


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, float):
        return round(value, 6)
    return value


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}" if math.isfinite(value) else "-"
    return str(value)
