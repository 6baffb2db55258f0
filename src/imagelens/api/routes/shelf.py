"""Azure's retail-shelf routes (Image Analysis 4.0 preview), mounted under ``/computervision``.

- ``POST /imagecomposition:stitch`` ``{"images": [url, ...]}`` (2-20) -> the stitched image;
- ``POST /imagecomposition:rectify`` ``{"url", "controlPoints": {"topLeft": {"x", "y"}, ...}}`` (normalised) -> the
  rectified image; without ``controlPoints`` the shelf quadrilateral is found automatically (an extension), and
  when no quadrilateral with clear edges is found the answer is a 400 ``InvalidRequest`` naming the best
  candidate's corners, never a warped guess;
- ``PUT|GET|DELETE /productrecognition/{model}/runs/{run}``: products and gaps (the PUT body is the image, raw or
  ``{"url"}``); only the built-in ``ms-pretrained-product-detection`` model exists here; ``GET
  /productrecognition/{model}/runs`` lists them (``$skip``/``$top``);
- ``POST /planogramcompliance:match`` ``{"detectedProducts": <run result>, "planogram": {...}}`` (keys in camelCase
  or, as some preview samples wrote them, PascalCase).

Images come back as JPEG, or PNG when the ``Accept`` header prefers ``image/png``. Bad input fails synchronously
with Azure's error body (a run whose image cannot be read is never created); the detection itself runs in the
background and the caller polls the run, as with Azure. The JSON shapes come from :mod:`imagelens.azure.shelf`;
product recognition goes through :meth:`imagelens.analyzer.Analyzer.recognize_products`, as in the library and
the CLI.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from imagelens.api.body import image_source, read_capped
from imagelens.azure import params
from imagelens.azure import shelf as wire
from imagelens.config import Settings
from imagelens.errors import (
    ImageLensError,
    InvalidArgumentError,
    InvalidImageUrlError,
    InvalidRequestError,
    NotFoundError,
)
from imagelens.shelf.runs import ProductRun, ProductRunStore, check_name

router = APIRouter(tags=["Product Recognition"])
log = logging.getLogger("imagelens.server")

API_VERSIONS = ("2023-04-01-preview", "2023-10-01", "2024-02-01")
PRETRAINED_MODEL = "ms-pretrained-product-detection"
MIN_IMAGES, MAX_IMAGES = 2, 20
_JSON_LIMIT = 64 * 1024
_PLANOGRAM_JSON_LIMIT = 16 * 1024 * 1024
_ABSOLUTE_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


# --- shared helpers -----------------------------------------------------------------------------------------------


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _runs(request: Request) -> ProductRunStore:
    """The app's run store, made on first use (``create_app`` may also provide one as ``app.state.product_runs``)."""
    store = getattr(request.app.state, "product_runs", None)
    if store is None:
        server = _settings(request).server
        store = ProductRunStore(server.operation_ttl_s, server.max_operations)
        request.app.state.product_runs = store
    return store


async def _json_body(request: Request, limit: int = _JSON_LIMIT) -> dict[str, Any]:
    raw = await read_capped(request, limit)
    try:
        payload = json.loads(raw or b"null")
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InvalidRequestError("The request body is not valid JSON.") from None
    if not isinstance(payload, dict):
        raise InvalidRequestError(f"The JSON body must be an object, got {type(payload).__name__}.")
    return payload


def _absolute_url(value: Any, field: str) -> str:
    """An http(s) URL, never a local path: ``load_image`` reads a bare string as a file name."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidArgumentError(f"'{field}' must be a non-empty URL string, got {value!r}.")
    url = value.strip()
    if not _ABSOLUTE_URL.match(url):
        raise InvalidImageUrlError(f"'{field}' must be an absolute http(s) URL, got {url[:200]!r}.")
    return url


def _load_rgb(source: bytes | str, settings: Settings) -> Any:
    from imagelens.io import load_image

    return load_image(source, settings.limits, settings.url_settings()).array()


def _image_format(request: Request) -> str:
    """``"png"`` when the Accept header ranks image/png above image/jpeg; JPEG otherwise (Azure's default)."""
    best: dict[str, tuple[float, int]] = {}
    for position, part in enumerate(request.headers.get("accept", "").split(",")):
        media, *options = (p.strip().lower() for p in part.split(";"))
        quality = 1.0
        for option in options:
            if option.startswith("q="):
                try:
                    quality = float(option[2:])
                except ValueError:
                    quality = 0.0
        if media in ("image/png", "image/jpeg", "image/jpg") and quality > 0:
            key = "png" if media == "image/png" else "jpeg"
            best.setdefault(key, (quality, -position))
    if "png" in best and ("jpeg" not in best or best["png"] > best["jpeg"]):
        return "png"
    return "jpeg"


def _image_response(array: Any, fmt: str) -> Response:
    from imagelens.io import encode_image

    return Response(encode_image(array, fmt, quality=92), media_type=f"image/{fmt}")


# --- image composition --------------------------------------------------------------------------------------------


@router.post("/imagecomposition:stitch", summary="Stitch 2-20 overlapping shelf images into one")
async def stitch_images(request: Request) -> Response:
    params.check_api_version(request.query_params.get("api-version"), API_VERSIONS)
    body = await _json_body(request)
    images = body.get("images")
    if not isinstance(images, list):
        raise InvalidArgumentError(f"'images' must be a list of {MIN_IMAGES} to {MAX_IMAGES} image URLs.")
    if not MIN_IMAGES <= len(images) <= MAX_IMAGES:
        raise InvalidArgumentError(
            f"'images' must hold {MIN_IMAGES} to {MAX_IMAGES} image URLs, got {len(images)}."
        )
    urls = [_absolute_url(u, f"images[{k}]") for k, u in enumerate(images)]
    settings = _settings(request)
    fmt = _image_format(request)

    def work() -> Any:
        from imagelens.shelf.stitch import stitch

        arrays = [_load_rgb(url, settings) for url in urls]
        return stitch(arrays, max_output_pixels=settings.limits.max_pixels).image

    return _image_response(await request.app.state.pool.run(work), fmt)


@router.post("/imagecomposition:rectify", summary="Warp a shelf image to a frontal view")
async def rectify_image(request: Request) -> Response:
    params.check_api_version(request.query_params.get("api-version"), API_VERSIONS)
    body = await _json_body(request)
    url = _absolute_url(body.get("url"), "url")
    raw_points = body.get("controlPoints")
    # Bad corners fail before the image is fetched.
    points = None if raw_points is None else wire.parse_control_points(raw_points)
    settings = _settings(request)
    fmt = _image_format(request)

    def work() -> Any:
        from imagelens.shelf.rectify import rectify

        return rectify(_load_rgb(url, settings), points, max_output_side=settings.limits.max_side - 1).image

    return _image_response(await request.app.state.pool.run(work), fmt)


# --- product recognition runs -------------------------------------------------------------------------------------


def _check_model(model_name: str) -> None:
    if model_name != PRETRAINED_MODEL:
        raise NotFoundError(
            f"The model '{model_name}' was not found. Custom product recognizers are not supported by this imagelens "
            f"version; use the built-in model '{PRETRAINED_MODEL}'."
        )


def run_json(run: ProductRun) -> dict[str, Any]:
    """Azure's ``ProductRecognition`` run object."""
    from imagelens.azure.v32 import timestamp

    out: dict[str, Any] = {
        "runName": run.run_name,
        "modelName": run.model_name,
        "status": run.status,
        "createdDateTime": timestamp(run.created),
        "updatedDateTime": timestamp(run.updated),
    }
    if run.status == "succeeded" and run.result is not None:
        out["result"] = run.result
    if run.error is not None:
        out["error"] = run.error
    return out


_RUN_PATH = "/productrecognition/{model_name}/runs/{run_name}"


@router.put(_RUN_PATH, status_code=201, summary="Start a product recognition run on a shelf image")
async def create_run(request: Request, model_name: str, run_name: str) -> JSONResponse:
    params.check_api_version(request.query_params.get("api-version"), API_VERSIONS)
    _check_model(model_name)
    check_name(run_name, "run name")
    runs = _runs(request)
    runs.ensure_free(model_name, run_name)  # before reading the image: a conflict costs nothing
    settings = _settings(request)
    source = await image_source(request, settings.limits.max_bytes)
    if isinstance(source, str):
        source = _absolute_url(source, "url")
    image = await request.app.state.pool.run(lambda: request.app.state.analyzer.load(source))
    runs.create(model_name, run_name)
    analyzer = request.app.state.analyzer

    def work() -> None:
        runs.mark_running(model_name, run_name)
        try:
            result = analyzer.recognize_products(image)
            runs.succeed(model_name, run_name, wire.product_recognition_json(result.recognition))
        except ImageLensError as error:
            runs.fail(model_name, run_name, error.to_azure()["error"])
        except Exception:  # no request to fail in the background: record it rather than stay "running"
            log.exception("product recognition run %s/%s failed", model_name, run_name)
            runs.fail(model_name, run_name, _internal_error())

    tasks: set[asyncio.Task[None]] = request.app.state.background_tasks
    task = asyncio.create_task(request.app.state.pool.run(work))
    # One yield lets the task take its first step: the pool either queues ``work`` or, when full, refuses at once.
    # A refusal is answered here with 429 and the run forgotten, as if it had never been asked for, rather than
    # left to fail unseen. (Runs live as long as the event loop: stopping it cancels work not yet started.)
    await asyncio.sleep(0)
    if task.done() and task.exception() is not None:
        runs.delete(model_name, run_name)
        raise task.exception()  # type: ignore[misc]
    tasks.add(task)  # keep a reference until done
    task.add_done_callback(tasks.discard)
    return JSONResponse(run_json(runs.get(model_name, run_name)), status_code=201)


def _internal_error() -> dict[str, Any]:
    message = "An internal error occurred while recognizing products."
    return {"code": "InternalServerError", "message": message,
            "innererror": {"code": "InternalServerError", "message": message}}  # fmt: skip


@router.get(_RUN_PATH, summary="Get a product recognition run and, once succeeded, its result")
async def get_run(request: Request, model_name: str, run_name: str) -> JSONResponse:
    params.check_api_version(request.query_params.get("api-version"), API_VERSIONS)
    _check_model(model_name)
    return JSONResponse(run_json(_runs(request).get(model_name, run_name)))


@router.get("/productrecognition/{model_name}/runs", summary="List a model's product recognition runs")
async def list_runs(request: Request, model_name: str) -> JSONResponse:
    from imagelens.azure import customization as paging

    params.check_api_version(request.query_params.get("api-version"), API_VERSIONS)
    _check_model(model_name)
    skip, top = paging.paging(request.query_params)
    runs, more = paging.page_of([run_json(r) for r in _runs(request).list(model_name)], skip, top)
    headers = {"Link": f'<{paging.next_link(str(request.url), skip, top)}>; rel="next"'} if more else None
    return JSONResponse(runs, headers=headers)


@router.delete(_RUN_PATH, status_code=204, summary="Delete a product recognition run")
async def delete_run(request: Request, model_name: str, run_name: str) -> Response:
    params.check_api_version(request.query_params.get("api-version"), API_VERSIONS)
    _check_model(model_name)
    _runs(request).delete(model_name, run_name)
    return Response(status_code=204)


# --- planogram compliance -----------------------------------------------------------------------------------------


@router.post("/planogramcompliance:match", summary="Match detected products to a planogram")
async def planogram_match(request: Request) -> JSONResponse:
    params.check_api_version(request.query_params.get("api-version"), API_VERSIONS)
    body = wire.camel_keys(await _json_body(request, _PLANOGRAM_JSON_LIMIT))  # the preview's PascalCase too
    for key in ("detectedProducts", "planogram"):
        if key not in body:
            raise InvalidArgumentError(f"The JSON body needs '{key}'; it has {sorted(body)[:10]}.")

    def work() -> dict[str, Any]:
        from imagelens.shelf.compliance import match_planogram

        plan = wire.parse_planogram(body["planogram"])
        detections = wire.parse_detections(body["detectedProducts"])
        if detections.image_size is None:
            raise InvalidArgumentError(
                "detectedProducts.imageMetadata {width, height} is required: planogram positions are placed by "
                "scaling the planogram to the image."
            )
        return wire.planogram_match_json(match_planogram(plan, detections, detections.image_size))

    return JSONResponse(await request.app.state.pool.run(work))
