"""What a background-removal call can ask for, checked once (library, CLI and HTTP share it)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from imagelens.errors import InvalidArgumentError

Output = Literal["cutout", "matte", "mask"]
Refine = Literal["guided", "none", "pymatting"]
OUTPUTS: tuple[str, ...] = ("cutout", "matte", "mask")
REFINES: tuple[str, ...] = ("guided", "none", "pymatting")
# Azure's modes and what each returns: an RGBA cut-out (at most 16 MP), or the greyscale matte at the input's size.
AZURE_MODES: dict[str, Output] = {"backgroundRemoval": "cutout", "foregroundMatting": "matte"}
CUTOUT_MAX_PIXELS = 16_000_000
_HEX = re.compile(r"^#?([0-9a-fA-F]{6})$")
_NAMED = {"white": (255, 255, 255), "black": (0, 0, 0), "transparent": None}


def parse_color(value: str | tuple[int, int, int] | None) -> tuple[int, int, int] | None:
    """``"#RRGGBB"``, ``"RRGGBB"``, ``"white"``/``"black"``, ``"r,g,b"`` or a tuple; ``None``/"transparent"."""
    if value is None:
        return None
    if isinstance(value, tuple):
        parts = list(value)
    else:
        text = value.strip().lower()
        if text in _NAMED:
            return _NAMED[text]
        match = _HEX.match(text)
        if match:
            h = match.group(1)
            return (int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16))
        try:
            parts = [int(p) for p in text.split(",")]
        except ValueError:
            parts = []
    if len(parts) != 3 or not all(isinstance(p, int) and 0 <= p <= 255 for p in parts):
        raise InvalidArgumentError(
            f"background colour must be '#RRGGBB', 'r,g,b' (0-255), 'white', 'black' or 'transparent', got {value!r}"
        )
    return (int(parts[0]), int(parts[1]), int(parts[2]))


@dataclass(frozen=True, slots=True)
class SegmentOptions:
    """``output``: ``cutout`` (RGBA, or RGB on ``background``), ``matte`` (greyscale alpha), ``mask`` (0/255 at
    ``threshold`` or 0.5). ``refine``: the matting of the model's coarse mask against the image (``guided``: fast
    guided filter, the default; ``pymatting``: closed-form matting, needs the ``pymatting`` package; ``none``).
    ``threshold``: alpha below it becomes 0 (cleans halos). ``feather``: Gaussian softening of the alpha edge, in
    pixels. ``keep_largest``: keep only the largest subject. ``width``/``height``: output size (one of them keeps the
    aspect ratio). ``background``: a colour or an RGB image (resized to fit) under the subject."""

    output: Output = "cutout"
    refine: Refine = "guided"
    threshold: float | None = None
    feather: float = 0.0
    keep_largest: bool = False
    width: int | None = None
    height: int | None = None
    background: tuple[int, int, int] | None = None
    background_image: npt.NDArray[np.uint8] | None = None
    model_id: str | None = None

    def __post_init__(self) -> None:
        if self.output not in OUTPUTS:
            raise InvalidArgumentError(f"output must be one of {', '.join(OUTPUTS)}, got {self.output!r}")
        if self.refine not in REFINES:
            raise InvalidArgumentError(f"refine must be one of {', '.join(REFINES)}, got {self.refine!r}")
        if self.threshold is not None and not 0.0 <= self.threshold < 1.0:
            raise InvalidArgumentError(f"threshold must be in [0, 1), got {self.threshold!r}")
        if not 0.0 <= self.feather <= 100.0:
            raise InvalidArgumentError(f"feather must be in [0, 100] pixels, got {self.feather!r}")
        for name in ("width", "height"):
            value = getattr(self, name)
            if value is not None and not 1 <= value <= 16000:
                raise InvalidArgumentError(f"{name} must be in [1, 16000], got {value!r}")
        if self.background is not None and self.background_image is not None:
            raise InvalidArgumentError("give a background colour or a background image, not both")
        img = self.background_image
        if img is not None and (img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3):
            raise InvalidArgumentError("background image must be an RGB uint8 (H, W, 3) array")
        if self.output != "cutout" and (self.background is not None or img is not None):
            raise InvalidArgumentError("a background applies to the cut-out only, not to a matte or a mask")

    @classmethod
    def for_azure_mode(cls, mode: str | None) -> SegmentOptions:
        """Azure's ``mode`` query parameter (required): ``backgroundRemoval`` or ``foregroundMatting``."""
        if not mode:
            raise InvalidArgumentError(
                "The 'mode' query parameter is required: backgroundRemoval or foregroundMatting."
            )
        if mode not in AZURE_MODES:
            raise InvalidArgumentError(
                f"The mode '{mode}' is not supported. Supported modes: {', '.join(AZURE_MODES)}."
            )
        return cls(output=AZURE_MODES[mode])

    def output_size(self, width: int, height: int) -> tuple[int, int]:
        """The output ``(width, height)`` for an input of ``width x height``; cut-outs are capped at 16 MP."""
        w, h = width, height
        if self.width is not None and self.height is not None:
            w, h = self.width, self.height
        elif self.width is not None:
            w, h = self.width, max(1, round(height * self.width / width))
        elif self.height is not None:
            w, h = max(1, round(width * self.height / height)), self.height
        if self.output == "cutout" and w * h > CUTOUT_MAX_PIXELS:
            scale = (CUTOUT_MAX_PIXELS / (w * h)) ** 0.5
            w, h = max(1, int(w * scale)), max(1, int(h * scale))
        return w, h
