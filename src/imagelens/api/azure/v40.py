"""Image Analysis 4.0: ``POST /computervision/imageanalysis:analyze``."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from imagelens.analyzer import Analyzer, parse_features
from imagelens.api.azure import params
from imagelens.api.azure.wire import analysis_result_json
from imagelens.api.body import image_source
from imagelens.errors import NotSupportedFeatureError, NotSupportedVisualFeatureError
from imagelens.features.base import AnalysisOptions

router = APIRouter(tags=["Image Analysis 4.0"])


@router.post("/imageanalysis:analyze", summary="Analyze an image (Azure Image Analysis 4.0)")
async def analyze(request: Request) -> JSONResponse:
    q = request.query_params
    params.check_api_version(q.get("api-version"))
    if q.get("model-name"):
        raise NotSupportedFeatureError(
            f"Custom model '{q.get('model-name')}' cannot be used: custom models are not supported by this "
            "imagelens version yet."
        )
    names = parse_features(q.get("features") or "")
    for name in names:
        if name not in params.FEATURES_40:
            raise NotSupportedVisualFeatureError(
                f"The visual feature '{name}' is not valid for Image Analysis 4.0. "
                f"Valid: {', '.join(params.FEATURES_40)}."
            )
    options = AnalysisOptions(
        language=params.check_language(q.get("language")),
        gender_neutral_caption=params.parse_bool(q.get("gender-neutral-caption"), "gender-neutral-caption"),
        smartcrops_aspect_ratios=params.parse_aspect_ratios(q.get("smartcrops-aspect-ratios")),
        model_version=q.get("model-version") or "latest",
    )
    analyzer: Analyzer = request.app.state.analyzer
    source = await image_source(request, analyzer.settings.limits.max_bytes)
    result = await request.app.state.pool.run(lambda: analyzer.analyze(source, names, options))
    return JSONResponse(analysis_result_json(result))
