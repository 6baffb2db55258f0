"""Image Analysis 4.0: ``POST /computervision/imageanalysis:analyze``.

With ``model-name=`` (and no ``features``) a trained custom model runs instead of the standard features and the
answer holds ``customModelResult``; an unknown model is a 404, one not trained yet a 409.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from imagelens.analyzer import Analyzer, check_model_name, parse_features
from imagelens.api.body import image_source
from imagelens.api.openapi import route_extra
from imagelens.api.schemas import ImageAnalysisResult, error_responses
from imagelens.azure import params
from imagelens.azure.analysis import analysis_result_json
from imagelens.azure.features import FEATURES_40, check_features_40
from imagelens.features.base import AnalysisOptions

router = APIRouter(tags=["Image Analysis 4.0"])

ApiVersion = Annotated[
    str | None,
    Query(
        alias="api-version",
        description=f"One of {', '.join(params.API_VERSIONS_40)}.",
        json_schema_extra={"enum": list(params.API_VERSIONS_40)},
    ),
]
Features = Annotated[
    str | None,
    Query(
        description=f"Comma-separated, any case: {', '.join(FEATURES_40)}. Required unless model-name is given.",
        examples=["caption,read"],
    ),
]
Language = Annotated[str | None, Query(description="Language of the results (BCP-47), default en.")]
GenderNeutral = Annotated[
    str | None,
    Query(
        alias="gender-neutral-caption", description="true: captions say 'person' rather than 'man'/'woman'."
    ),
]
AspectRatios = Annotated[
    str | None,
    Query(
        alias="smartcrops-aspect-ratios",
        description="Comma-separated width/height ratios in [0.75, 1.8] for smartCrops (at most 10).",
        examples=["0.9,1.33"],
    ),
]
ModelVersion = Annotated[
    str | None,
    Query(
        alias="model-version",
        description=f"'latest' (the default) or '{params.MODEL_VERSION}'.",
        json_schema_extra={"pattern": params.MODEL_VERSION_PATTERN.pattern},
    ),
]
ModelName = Annotated[
    str | None,
    Query(
        alias="model-name",
        description="A trained custom model to run instead of features (not with features).",
    ),
]


@router.post(
    "/imageanalysis:analyze",
    summary="Analyze an image (Azure Image Analysis 4.0)",
    response_model=None,
    responses={200: {"model": ImageAnalysisResult}, **error_responses(400, 404, 409, 500, 503)},
    openapi_extra=route_extra("api-version"),
)
async def analyze(
    request: Request,
    api_version: ApiVersion = None,
    features: Features = None,
    language: Language = None,
    gender_neutral_caption: GenderNeutral = None,
    smartcrops_aspect_ratios: AspectRatios = None,
    model_version: ModelVersion = None,
    model_name: ModelName = None,
) -> JSONResponse:
    params.check_api_version(api_version)
    version = params.check_model_version(model_version)
    analyzer: Analyzer = request.app.state.analyzer
    pool = request.app.state.pool
    if model_name is not None:
        from imagelens.customize.predict import resolve

        check_model_name(features, model_name)
        await pool.run(
            lambda: resolve(analyzer.hub, analyzer.store, model_name)
        )  # 404 / 409 before the image
        source = await image_source(request, analyzer.settings.limits.max_bytes)
        result = await pool.run(lambda: analyzer.analyze(source, model_name=model_name))
        return JSONResponse(analysis_result_json(result))
    check_model_name(features, None)  # neither features nor model-name: Azure's message
    names = parse_features(features or "")
    check_features_40(names)
    options = AnalysisOptions(
        language=params.check_language(language),
        gender_neutral_caption=params.parse_bool(gender_neutral_caption, "gender-neutral-caption"),
        smartcrops_aspect_ratios=params.parse_aspect_ratios(smartcrops_aspect_ratios),
        model_version=version,
    )
    source = await image_source(request, analyzer.settings.limits.max_bytes)
    result = await pool.run(lambda: analyzer.analyze(source, names, options))
    return JSONResponse(analysis_result_json(result))
