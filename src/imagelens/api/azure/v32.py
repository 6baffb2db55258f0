"""Computer Vision 3.2 under ``/vision/v3.2``: read (async), ocr, generateThumbnail, areaOfInterest, models, and
the analyze family. A visual feature whose capability has not landed answers NotSupportedVisualFeature; celebrity
recognition is declined by design (no face identification)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from imagelens.analyzer import Analyzer
from imagelens.api.body import image_source
from imagelens.azure import params
from imagelens.azure import v32 as wire32
from imagelens.errors import (
    ImageLensError,
    InvalidArgumentError,
    NotFoundError,
    NotSupportedFeatureError,
    NotSupportedVisualFeatureError,
)
from imagelens.features.base import AnalysisOptions

router = APIRouter(tags=["Computer Vision 3.2"])

# v3.2 visualFeatures -> the imagelens features they need (None: not built yet)
VISUAL_FEATURES_32: dict[str, tuple[str, ...] | None] = {
    "categories": None,
    "tags": ("tags",),
    "description": ("caption", "tags"),
    "faces": ("faces",),
    "imagetype": None,
    "color": ("color",),
    "adult": None,
    "objects": ("objects",),
    "brands": None,
}
DETAILS_32 = {"celebrities", "landmarks"}
CELEBRITIES_DECLINED = (
    "Celebrity recognition is declined by design: imagelens never identifies people from their faces."
)


def _analyzer(request: Request) -> Analyzer:
    analyzer: Analyzer = request.app.state.analyzer
    return analyzer


async def _load(request: Request) -> Any:
    analyzer = _analyzer(request)
    source = await image_source(request, analyzer.settings.limits.max_bytes)
    return await request.app.state.pool.run(lambda: analyzer.load(source))


def _split(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def _check_details(details: list[str]) -> None:
    for detail in details:
        lowered = detail.lower()
        if lowered == "celebrities":
            raise NotSupportedFeatureError(CELEBRITIES_DECLINED)
        if lowered not in DETAILS_32:
            raise InvalidArgumentError(f"The detail '{detail}' is not valid. Valid: Celebrities, Landmarks.")
        raise NotSupportedVisualFeatureError(
            "The 'Landmarks' detail is not supported by this imagelens version yet."
        )


def _plan(features: list[str]) -> tuple[list[str], list[str]]:
    """v3.2 visual features (lower-case) and the imagelens features that compute them."""
    if not features:
        raise InvalidArgumentError("At least one visual feature must be given in 'visualFeatures'.")
    wanted: list[str] = []
    tokens: list[str] = []
    for feature in features:
        key = feature.lower()
        if key not in VISUAL_FEATURES_32:
            raise InvalidArgumentError(
                f"The visual feature '{feature}' is not valid. Valid: Categories, Tags, Description, Faces, "
                "ImageType, Color, Adult, Objects, Brands."
            )
        needs = VISUAL_FEATURES_32[key]
        if needs is None:
            raise NotSupportedVisualFeatureError(
                f"The visual feature '{feature}' is not supported by this imagelens version yet."
            )
        wanted.append(key)
        tokens.extend(t for t in needs if t not in tokens)
    return wanted, tokens


async def _run(request: Request, features: list[str], max_candidates: int = 1) -> JSONResponse:
    q = request.query_params
    language = params.check_language(q.get("language"))
    wanted, tokens = _plan(features)
    analyzer = _analyzer(request)
    image = await _load(request)
    options = AnalysisOptions(language=language)
    result = await request.app.state.pool.run(lambda: analyzer.analyze(image, tokens, options))
    return JSONResponse(wire32.analysis_json(result, request.state.request_id, wanted, max_candidates))


@router.post("/analyze")
async def analyze(request: Request) -> JSONResponse:
    q = request.query_params
    _check_details(_split(q.get("details")))
    return await _run(request, _split(q.get("visualFeatures")))


@router.post("/describe")
async def describe(request: Request) -> JSONResponse:
    max_candidates = params.parse_int(
        request.query_params.get("maxCandidates"), "maxCandidates", 1, 10, default=1
    )
    return await _run(request, ["Description"], max_candidates)


@router.post("/tag")
async def tag(request: Request) -> JSONResponse:
    return await _run(request, ["Tags"])


@router.post("/detect")
async def detect(request: Request) -> JSONResponse:
    return await _run(request, ["Objects"])


@router.post("/ocr")
async def ocr(request: Request) -> JSONResponse:
    q = request.query_params
    language = q.get("language") or "unk"
    params.parse_bool(q.get("detectOrientation"), "detectOrientation")
    analyzer = _analyzer(request)
    image = await _load(request)
    result = await request.app.state.pool.run(lambda: analyzer.analyze(image, ["read"]))
    assert result.read is not None
    return JSONResponse(wire32.legacy_ocr_json(result.read, language))


@router.post("/read/analyze", status_code=202)
async def read_analyze(request: Request) -> Response:
    q = request.query_params
    params.check_language(q.get("language"))
    analyzer = _analyzer(request)
    # Bad input (unreachable URL, bad image) fails synchronously, as Azure's does, instead of a 202 then "failed".
    image = await _load(request)
    store = request.app.state.operations
    op_id = str(uuid.uuid4())
    store.create(op_id)

    def work() -> None:
        store.update(op_id, status="running")
        try:
            result = analyzer.analyze(image, ["read"], AnalysisOptions())
            assert result.read is not None
            store.update(
                op_id, status="succeeded", result=wire32.read_results_json(result.read, result.metadata)
            )
        except ImageLensError as error:
            store.update(op_id, status="failed", error=error.to_azure()["error"])

    tasks: set[asyncio.Task[None]] = request.app.state.background_tasks
    task = asyncio.create_task(request.app.state.pool.run(work))
    tasks.add(task)  # keep a reference until done
    task.add_done_callback(tasks.discard)
    location = str(request.url_for("read_result", operation_id=op_id))
    return Response(status_code=202, headers={"Operation-Location": location})


@router.get("/read/analyzeResults/{operation_id}", name="read_result")
@router.get("/read/operations/{operation_id}", name="read_operation_alias", include_in_schema=False)
async def read_result(request: Request, operation_id: str) -> JSONResponse:
    op = request.app.state.operations.get(operation_id)
    if op is None:
        raise NotFoundError(f"The operation '{operation_id}' was not found (or its result has expired).")
    body: dict[str, Any] = {
        "status": op.status,
        "createdDateTime": wire32.timestamp(op.created),
        "lastUpdatedDateTime": wire32.timestamp(op.updated),
    }
    if op.status == "succeeded":
        body["analyzeResult"] = op.result
    if op.error is not None:
        body["error"] = op.error
    return JSONResponse(body)


@router.post("/generateThumbnail")
async def generate_thumbnail(request: Request) -> Response:
    from imagelens.cropping import thumbnail
    from imagelens.io.encode import encode_image

    q = request.query_params
    width = params.parse_int(q.get("width"), "width", 1, 1024)
    height = params.parse_int(q.get("height"), "height", 1, 1024)
    smart = params.parse_bool(q.get("smartCropping"), "smartCropping")
    image = await _load(request)
    data = await request.app.state.pool.run(
        lambda: encode_image(thumbnail(image.array(), width, height, smart=smart), "jpeg")
    )
    return Response(content=data, media_type="image/jpeg")


@router.post("/areaOfInterest")
async def area_of_interest(request: Request) -> JSONResponse:
    from imagelens.azure.analysis import box_json
    from imagelens.cropping import area_of_interest as aoi
    from imagelens.types import ImageMetadata

    image = await _load(request)
    box = await request.app.state.pool.run(lambda: aoi(image.array()))
    metadata = ImageMetadata(image.width, image.height, image.format)
    return JSONResponse(
        {
            "areaOfInterest": box_json(box, image.width, image.height),
            "requestId": request.state.request_id,
            "metadata": wire32.metadata_json(metadata),
            "modelVersion": "imagelens-2021-04-01",
        }
    )


@router.get("/models")
async def list_models() -> JSONResponse:
    # Domain models available here: none yet (celebrities is declined by design, landmarks not built).
    return JSONResponse({"models": []})


@router.post("/models/{model}/analyze")
async def analyze_domain(request: Request, model: str) -> JSONResponse:
    if model.lower() == "celebrities":
        raise NotSupportedFeatureError(CELEBRITIES_DECLINED)
    if model.lower() == "landmarks":
        raise NotSupportedVisualFeatureError(
            "The 'landmarks' model is not supported by this imagelens version yet."
        )
    raise NotFoundError(f"The domain model '{model}' does not exist. Valid: celebrities, landmarks.")
