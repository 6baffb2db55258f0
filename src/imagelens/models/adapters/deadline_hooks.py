"""The request's deadline inside one torch forward pass: a pre-hook on every block of the model's layer lists.

:func:`check_in_layers` hooks each element of every ``nn.ModuleList`` in a model (the encoder and decoder layers of
SigLIP, OWLv2, RT-DETR and Florence-2), so a forward pass stops within one layer of the deadline or of the client
going away, with :mod:`imagelens.deadline`'s error. Installed once at load; outside a request each hook costs one
context-variable read (no deadline, nothing checked).
"""

from __future__ import annotations

from typing import Any

from imagelens import deadline as deadlines


def check_in_layers(model: Any, every: int = 1) -> int:
    """Hook every ``every``-th block of each layer list in ``model`` (a ``torch.nn.Module``); returns how many."""
    import torch

    hooked = 0
    for module in model.modules():
        if isinstance(module, torch.nn.ModuleList) and len(module):
            deadlines.check_every(module, every)
            hooked += (len(module) + every - 1) // every
    return hooked
