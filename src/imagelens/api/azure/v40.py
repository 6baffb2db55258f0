"""Image Analysis 4.0: ``POST /computervision/imageanalysis:analyze``.

With ``model-name=`` (and no ``features``) a trained custom model runs instead of the standard features and the
answer holds ``customModelResult``; an unknown model is a 404, one not trained yet a 409.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from imagelens.analyzer import Analyzer, check_model_name, parse_features
from imagelens.api.body import image_source
from imagelens.azure import params
from imagelens.azure.analysis import analysis_result_json
from imagelens.errors import NotSupportedVisualFeatureError
from imagelens.features.base import AnalysisOptions

router = APIRouter(tags=["Image Analysis 4.0"])


@router.post("/imageanalysis:analyze", summary="Analyze an image (Azure Image Analysis 4.0)")
async def analyze(request: Request) -> JSONResponse:
    q = request.query_params
    params.check_api_version(q.get("api-version"))
    model_name = q.get("model-name")
    if model_name is not None:
        return await _analyze_custom(request, model_name)
    check_model_name(q.get("features"), None)  # neither features nor model-name: Azure's message
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


async def _analyze_custom(request: Request, model_name: str) -> JSONResponse:
    from imagelens.customize.predict import resolve

    check_model_name(request.query_params.get("features"), model_name)
    analyzer: Analyzer = request.app.state.analyzer
    pool = request.app.state.pool
    # 404 / 409 before reading the image
    await pool.run(lambda: resolve(analyzer.hub, analyzer.store, model_name))
    source = await image_source(request, analyzer.settings.limits.max_bytes)
    result = await pool.run(lambda: analyzer.analyze(source, model_name=model_name))
    return JSONResponse(analysis_result_json(result))
