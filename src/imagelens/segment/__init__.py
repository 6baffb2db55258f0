"""Background removal and foreground matting (Azure's ``imageanalysis:segment``).

``remove_background(rgb, matting, options)``: the MATTING model's coarse mask, refined against the image
(:mod:`.refine`), finished (:mod:`.compose`) and rendered as an RGBA cut-out, a greyscale matte or a 0/255 mask.
The library, the CLI (``imagelens remove-bg``) and the HTTP route reach it through ``Analyzer.remove_background``.
"""

from __future__ import annotations

from imagelens.segment.core import SegmentResult, remove_background
from imagelens.segment.options import AZURE_MODES, SegmentOptions, parse_color

__all__ = ["AZURE_MODES", "SegmentOptions", "SegmentResult", "parse_color", "remove_background"]
