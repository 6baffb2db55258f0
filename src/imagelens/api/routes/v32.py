"""Computer Vision 3.2 under ``/vision/v3.2``: read (async), ocr, generateThumbnail, areaOfInterest, models, and
the analyze family. A visual feature whose capability has not landed answers NotSupportedVisualFeature; celebrity
recognition is declined by design (no face identification). Which features each name needs is
:mod:`imagelens.azure.features`'; the bodies are :mod:`imagelens.azure.v32`'s."""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from imagelens.analyzer import Analyzer
from imagelens.api.body import image_source
from imagelens.api.openapi import route_extra
from imagelens.api.schemas import (
    AreaOfInterestResult32,
    DetectResult32,
    ImageAnalysis32,
    ImageDescriptionResult32,
    ListModelsResult32,
    OcrResult32,
    ReadOperationResult32,
    TagResult32,
    error_responses,
)
from imagelens.azure import features as azure_features
from imagelens.azure import params
from imagelens.azure import v32 as wire32
from imagelens.errors import (
    ImageLensError,
    InvalidArgumentError,
    NotFoundError,
)
from imagelens.features.base import AnalysisOptions
from imagelens.features.moderation import ungated
from imagelens.io import LoadedImage

router = APIRouter(tags=["Computer Vision 3.2"])

READ_KIND = "read"  # the operation store's kind for read/analyze results

Language = Annotated[str | None, Query(description="Language of the results (BCP-47), default en.")]
_ERRORS = error_responses(400, 500, 503)


def _ok(model: type) -> dict[int | str, dict[str, Any]]:
    return {200: {"model": model}, **_ERRORS}


def _analyzer(request: Request) -> Analyzer:
    analyzer: Analyzer = request.app.state.analyzer
    return analyzer


async def _load(request: Request) -> LoadedImage:
    analyzer = _analyzer(request)
    source = await image_source(request, analyzer.settings.limits.max_bytes)
    image: LoadedImage = await request.app.state.pool.run(lambda: analyzer.load(source))
    return image


def _split(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


async def _run(
    request: Request,
    features: list[str],
    language: str | None,
    max_candidates: int = 1,
    warnings: list[dict[str, str]] | None = None,
    model_version: str | None = None,
    details: list[str] | None = None,
) -> JSONResponse:
    language = params.check_language(language)
    params.check_model_version(model_version)
    wanted, tokens = azure_features.plan_visual_features_32(features)
    tokens += azure_features.detail_features_32(details or (), tokens)
    analyzer = _analyzer(request)
    image = await _load(request)
    options = AnalysisOptions(language=language)
    result = await request.app.state.pool.run(lambda: analyzer.analyze(image, tokens, options))
    body = wire32.analysis_json(result, request.state.request_id, wanted, max_candidates)
    if warnings:
        body["warnings"] = [*warnings, *body.get("warnings", [])]
    return JSONResponse(body)


ModelVersion = Annotated[
    str | None, Query(alias="model-version", description=f"'latest' (default) or '{params.MODEL_VERSION}'.")
]


@router.post(
    "/analyze",
    summary="Analyze an image (Computer Vision 3.2)",
    response_model=None,
    responses=_ok(ImageAnalysis32),
    openapi_extra=route_extra(),
)
async def analyze(
    request: Request,
    visual_features: Annotated[
        str | None,
        Query(
            alias="visualFeatures",
            description="Comma-separated: " + ", ".join(azure_features.VISUAL_FEATURES_32_NAMES) + ".",
            examples=["Description,Objects"],
        ),
    ] = None,
    details: Annotated[
        str | None,
        Query(
            description="Celebrities (declined by design: none listed, with a warning) or Landmarks (in the "
            "categories' detail; needs a landmark list, docs/categories.md)."
        ),
    ] = None,
    language: Language = None,
    model_version: ModelVersion = None,
) -> JSONResponse:
    warnings = azure_features.check_details_32(_split(details))
    return await _run(
        request, _split(visual_features), language, warnings=warnings, model_version=model_version,
        details=_split(details),
    )  # fmt: skip


@router.post(
    "/describe",
    summary="Describe an image",
    response_model=None,
    responses=_ok(ImageDescriptionResult32),
    openapi_extra=route_extra(),
)
async def describe(
    request: Request,
    max_candidates: Annotated[
        str | None, Query(alias="maxCandidates", description="1 to 10 (default 1).")
    ] = None,
    language: Language = None,
    model_version: ModelVersion = None,
) -> JSONResponse:
    count = params.parse_int(max_candidates, "maxCandidates", 1, 10, default=1)
    return await _run(request, ["Description"], language, count, model_version=model_version)


@router.post(
    "/tag",
    summary="Tag an image",
    response_model=None,
    responses=_ok(TagResult32),
    openapi_extra=route_extra(),
)
async def tag(
    request: Request, language: Language = None, model_version: ModelVersion = None
) -> JSONResponse:
    return await _run(request, ["Tags"], language, model_version=model_version)


@router.post(
    "/detect",
    summary="Detect objects",
    response_model=None,
    responses=_ok(DetectResult32),
    openapi_extra=route_extra(),
)
async def detect(
    request: Request, language: Language = None, model_version: ModelVersion = None
) -> JSONResponse:
    return await _run(request, ["Objects"], language, model_version=model_version)


@router.post(
    "/ocr",
    summary="Printed text (legacy OCR)",
    response_model=None,
    responses=_ok(OcrResult32),
    openapi_extra=route_extra(),
)
async def ocr(
    request: Request,
    language: Annotated[str | None, Query(description="The language of the text, default unk.")] = None,
    detect_orientation: Annotated[
        str | None, Query(alias="detectOrientation", description="true or false.")
    ] = None,
) -> JSONResponse:
    params.parse_bool(detect_orientation, "detectOrientation")
    analyzer = _analyzer(request)
    image = await _load(request)
    result = await request.app.state.pool.run(lambda: analyzer.analyze(image, ["read"], ungated()))
    assert result.read is not None
    return JSONResponse(wire32.legacy_ocr_json(result.read, language or "unk"))


@router.post(
    "/read/analyze",
    status_code=202,
    summary="Start reading text (images, PDF, multi-page TIFF); poll the Operation-Location header",
    response_model=None,
    responses={
        202: {
            "description": "Accepted: poll the URL in Operation-Location.",
            "headers": {"Operation-Location": {"schema": {"type": "string", "format": "uri"}}},
        },
        **_ERRORS,
    },
    openapi_extra=route_extra(),
)
async def read_analyze(
    request: Request,
    language: Annotated[
        str | None, Query(description="BCP-47 language of the text (a hint; echoed on each page).")
    ] = None,
    pages: Annotated[
        str | None, Query(description="Pages of a PDF/TIFF to read: numbers and ranges, e.g. 1,3-5,8-.")
    ] = None,
    reading_order: Annotated[
        str | None, Query(alias="readingOrder", description="basic (default) or natural (columns first).")
    ] = None,
    model_version: Annotated[
        str | None,
        Query(alias="model-version", description=f"'latest' (default) or '{params.MODEL_VERSION}'."),
    ] = None,
) -> Response:
    from imagelens.features.read import order_lines
    from imagelens.io import documents

    # Every parameter is checked before anything is accepted: a bad value is a 400, never a 202 then "failed".
    lang = params.check_language(language, default="") or None
    ranges = documents.parse_pages(pages)
    order = wire32.check_reading_order(reading_order)
    params.check_model_version(model_version)
    analyzer = _analyzer(request)
    pool = request.app.state.pool
    source = await image_source(request, analyzer.settings.limits.max_bytes)
    if isinstance(source, str):  # a URL: fetched now, so an unreachable one fails synchronously as in Azure
        from imagelens.io.url import fetch_url

        url, limit = analyzer.settings.url_settings(), analyzer.settings.limits.max_bytes
        source = await pool.run(lambda: fetch_url(str(source), url, limit))
    data: bytes = source
    is_document = documents.document_kind(data) is not None
    if is_document:
        count = await pool.run(lambda: documents.page_count(data))
        numbers = documents.select_pages(ranges, count)
        if len(numbers) > documents.MAX_PAGES:
            raise InvalidArgumentError(f"At most {documents.MAX_PAGES} pages are read per request.")
        image = None
    else:  # a plain image: decoded now (a bad one is a 400 here); only page 1 exists
        documents.select_pages(ranges, 1)
        image = await pool.run(lambda: analyzer.load(data))
    store = request.app.state.operations
    op_id = str(uuid.uuid4())
    store.create(READ_KIND, op_id)

    def read_page(page_image: Any) -> Any:
        result = analyzer.analyze(page_image, ["read"], ungated())  # the read answer has no withheld shape
        assert result.read is not None
        return order_lines(result.read, order), result.metadata

    def work() -> None:
        store.mark_running(READ_KIND, op_id)
        try:
            out = []
            if is_document:
                for page in documents.iter_pages(data, numbers, analyzer.settings.limits):
                    read, _ = read_page(page.image)
                    out.append(
                        wire32.read_page_json(
                            read, page.number, page.width, page.height,
                            unit=page.unit, per_pixel=page.per_pixel, language=lang,
                        )
                    )  # fmt: skip
            else:
                read, meta = read_page(image)
                out.append(wire32.read_page_json(read, 1, meta.width, meta.height, language=lang))
            store.succeed(READ_KIND, op_id, wire32.read_results_json(out))
        except ImageLensError as error:
            store.fail(READ_KIND, op_id, error.to_azure()["error"])
        except Exception:  # an accepted operation always ends: succeeded or failed
            store.fail(READ_KIND, op_id, {"code": "InternalServerError", "message": "The read failed."})

    tasks: set[asyncio.Task[None]] = request.app.state.background_tasks
    try:  # a worker slot is taken now (429 + Retry-After when none): a 202 always runs
        task = pool.start(work, request.app.state.settings.server.operation_deadline_s)
    except ImageLensError:
        store.delete(READ_KIND, op_id)
        raise
    tasks.add(task)  # keep a reference until done
    task.add_done_callback(tasks.discard)
    location = str(request.url_for("read_result", operation_id=op_id))
    return Response(status_code=202, headers={"Operation-Location": location})


@router.get(
    "/read/analyzeResults/{operation_id}",
    name="read_result",
    summary="The status and, once succeeded, the result of a read",
    response_model=None,
    responses={200: {"model": ReadOperationResult32}, **error_responses(404)},
)
@router.get("/read/operations/{operation_id}", name="read_operation_alias", include_in_schema=False)
async def read_result(request: Request, operation_id: str) -> JSONResponse:
    op = request.app.state.operations.get(READ_KIND, operation_id)
    if op is None:
        raise NotFoundError(f"The operation '{operation_id}' was not found (or its result has expired).")
    return JSONResponse(wire32.read_operation_json(op))


@router.post(
    "/generateThumbnail",
    summary="A thumbnail of exactly width x height",
    response_model=None,
    responses={
        200: {
            "description": "The JPEG thumbnail.",
            "content": {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}},
        },
        **_ERRORS,
    },
    openapi_extra=route_extra("width", "height"),
)
async def generate_thumbnail(
    request: Request,
    width: Annotated[str | None, Query(description="1 to 1024 pixels.")] = None,
    height: Annotated[str | None, Query(description="1 to 1024 pixels.")] = None,
    smart_cropping: Annotated[
        str | None, Query(alias="smartCropping", description="true: crop around the important content first.")
    ] = None,
) -> Response:
    from imagelens.io.encode import encode_image

    w = params.parse_int(width, "width", 1, 1024)
    h = params.parse_int(height, "height", 1, 1024)
    smart = params.parse_bool(smart_cropping, "smartCropping")
    analyzer = _analyzer(request)
    image = await _load(request)

    def work() -> bytes:
        return encode_image(analyzer.thumbnail(image, w, h, smart=smart).pixels, "jpeg")

    data = await request.app.state.pool.run(work)
    return Response(content=data, media_type="image/jpeg")


@router.post(
    "/areaOfInterest",
    summary="The box around the image's important content",
    response_model=None,
    responses=_ok(AreaOfInterestResult32),
    openapi_extra=route_extra(),
)
async def area_of_interest(request: Request) -> JSONResponse:
    analyzer = _analyzer(request)
    image = await _load(request)
    result = await request.app.state.pool.run(lambda: analyzer.area_of_interest(image))
    return JSONResponse(wire32.area_of_interest_json(result.box, result.metadata, request.state.request_id))


@router.get("/models", summary="Domain models", response_model=None, responses=_ok(ListModelsResult32))
async def list_models() -> JSONResponse:
    # Domain models available here: landmarks (celebrities is declined by design).
    return JSONResponse(wire32.list_models_json())


@router.post(
    "/models/{model}/analyze",
    summary="Analyze with a domain model (landmarks; celebrities: declined, always empty)",
    response_model=None,
    responses=error_responses(400, 404),
    openapi_extra=route_extra(),
)
async def analyze_domain(request: Request, model: str) -> JSONResponse:
    if model.lower() == "celebrities":  # declined by design: none listed, with a warning (never an identity)
        image = await _load(request)
        return JSONResponse(
            wire32.celebrities_json(image.width, image.height, image.format, request.state.request_id)
        )
    if model.lower() == "landmarks":
        params.check_language(request.query_params.get("language"))
        from imagelens.features.landmark_list import load_landmark_list

        analyzer = _analyzer(request)
        load_landmark_list(analyzer.settings)  # no list configured: a clear 400 before the image is read
        image = await _load(request)
        result = await request.app.state.pool.run(lambda: analyzer.analyze(image, ["landmarks"]))
        return JSONResponse(wire32.landmarks_domain_json(result, request.state.request_id))
    raise NotFoundError(f"The domain model '{model}' does not exist. Valid: celebrities, landmarks.")
