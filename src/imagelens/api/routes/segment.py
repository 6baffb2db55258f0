"""Image Analysis 4.0 preview: ``POST /computervision/imageanalysis:segment`` (background removal, matting)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from imagelens.analyzer import Analyzer
from imagelens.api.body import image_source
from imagelens.azure.segment import OPENAPI_PARAMETERS, PNG_MEDIA_TYPE, segment_options

router = APIRouter(tags=["Image Analysis 4.0"])


@router.post(
    "/imageanalysis:segment",
    summary="Remove the background or compute the foreground matte (Azure Image Analysis 4.0 preview)",
    response_class=Response,
    responses={200: {"content": {PNG_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}}}},
    openapi_extra={"parameters": OPENAPI_PARAMETERS},
)
async def segment(request: Request) -> Response:
    options = segment_options(request.query_params)  # 400 before the body is read
    analyzer: Analyzer = request.app.state.analyzer
    source = await image_source(request, analyzer.settings.limits.max_bytes)

    def work() -> tuple[bytes, str]:
        _, result = analyzer.remove_background(source, options)
        return result.png(), result.model_id

    png, model_id = await request.app.state.pool.run(work)
    return Response(content=png, media_type=PNG_MEDIA_TYPE, headers={"x-imagelens-model": model_id})
