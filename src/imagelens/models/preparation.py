"""One-time work a model's first load would do besides loading (today: exporting a part to OpenVINO), done ahead
of time by ``imagelens models pull`` / ``models warm`` and ``imagelens serve``'s warm-up, so no request pays it.

An adapter opts in with a classmethod ``prepare(path, spec) -> str | None`` that does the work without keeping the
model loaded and says what it did (``None``: nothing to do here, e.g. the part runs in torch on this CPU). The
results are cached on disk by content (:mod:`imagelens.models.adapters.openvino_export`), so preparing again is a
lookup.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from imagelens.errors import ModelUnavailableError
from imagelens.models.quantization import bf16_spec, quantized_spec
from imagelens.models.spec import Role

if TYPE_CHECKING:
    from imagelens.models.hub import ModelHub


def role_defaults(hub: ModelHub) -> list[str]:
    """The configured model of every role, once each, in role order (roles without one are left out)."""
    out: list[str] = []
    for role in Role:
        try:
            model_id = hub.model_for_role(role)
        except ModelUnavailableError:
            continue
        if model_id not in out:
            out.append(model_id)
    return out


def prepare(hub: ModelHub, model_id: str) -> str | None:
    """Do ``model_id``'s one-time load work now (the model must be on this machine); what was done, or ``None``."""
    from imagelens.models.hub import import_adapter

    settings = hub.settings.hub
    spec = bf16_spec(
        quantized_spec(hub.spec(model_id), settings.quantize), settings.bf16
    )  # as a load sees it
    path, _ = hub.locate(model_id)
    step = getattr(import_adapter(spec), "prepare", None)
    if step is None:
        return None
    done: str | None = step(path, spec)
    return done
