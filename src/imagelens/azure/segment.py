"""Azure's ``POST /computervision/imageanalysis:segment`` (Image Analysis 4.0 preview, retired by Microsoft in 2025).

Query: ``api-version`` (``2023-02-01-preview`` or ``2023-04-01-preview``, the versions that had it) and ``mode``
(required): ``backgroundRemoval`` answers a four-channel PNG (the subject on transparency, at most 16 megapixels,
aspect ratio kept), ``foregroundMatting`` a one-channel PNG alpha matte the size of the input. Body: the image bytes
(``application/octet-stream``, multipart) or ``{"url": ...}``. 200 ``Content-Type: image/png``; errors are Azure's
JSON error body (400 InvalidRequest/BadArgument, InvalidImageFormat, InvalidImageSize ...).

imagelens' own optional parameters (not Azure's; ignored by Azure clients that never send them): ``model``.
"""

from __future__ import annotations

from collections.abc import Mapping

from imagelens.azure.params import check_api_version
from imagelens.segment.options import SegmentOptions

SEGMENT_API_VERSIONS = ("2023-02-01-preview", "2023-04-01-preview")
PNG_MEDIA_TYPE = "image/png"


def segment_options(query: Mapping[str, str]) -> SegmentOptions:
    """Checked options from the query string, in Azure's order: api-version first, then mode."""
    check_api_version(query.get("api-version"), SEGMENT_API_VERSIONS)
    options = SegmentOptions.for_azure_mode(query.get("mode"))
    model = (query.get("model") or "").strip() or None
    if model is None:
        return options
    return SegmentOptions(output=options.output, model_id=model)


OPENAPI_PARAMETERS = [
    {
        "name": "api-version",
        "in": "query",
        "required": True,
        "schema": {"type": "string", "enum": list(SEGMENT_API_VERSIONS)},
    },
    {
        "name": "mode",
        "in": "query",
        "required": True,
        "schema": {"type": "string", "enum": ["backgroundRemoval", "foregroundMatting"]},
        "description": "backgroundRemoval: RGBA PNG of the subject; foregroundMatting: greyscale alpha matte PNG.",
    },
    {
        "name": "model",
        "in": "query",
        "required": False,
        "schema": {"type": "string"},
        "description": "imagelens only: a catalog model with the matting role (default: the role's default).",
    },
]
