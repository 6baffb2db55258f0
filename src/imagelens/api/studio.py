"""The studio: a web page at ``/studio`` to try every feature, label and train, and search, on this server's REST API.

The page (``imagelens/web/``: one HTML file, plain ES modules and a stylesheet, no build step, no CDN) is static
and holds no data, so it and its assets are served without a key; it asks for the key and sends it with every API
call as ``Ocp-Apim-Subscription-Key``. The few JSON routes here, under ``/studio/api/``, are what the Azure routes
do not have, and need the key like every other route, but one:

- ``GET /studio/api/info`` (open, like ``/health``: it tells the page whether to ask for a key): the analysis
  features (from :data:`imagelens.features.registry.FEATURE_LIST`) with the surface that serves each, the image
  size limit, whether a data folder is set and whether a key is required;
- ``PUT|GET /studio/api/datasets/{name}/images/{file}``: images the page uploads into the data folder for labelling
  (``IMAGELENS_DATA_DIR/studio/{name}/images``);
- ``PUT|GET /studio/api/datasets/{name}/coco``: the dataset's COCO annotation file there (import = PUT, export =
  GET); the page then registers it with the Azure route ``PUT /computervision/datasets/{name}``;
- ``POST /studio/api/shelves/stitch`` ``{"images": [base64, ...]}`` and ``POST /studio/api/shelves/rectify``
  ``{"image": base64, "controlPoints"?}``: Azure's ``imagecomposition`` routes take image URLs only, which the
  server cannot fetch back from the page (loopback URLs are refused by default); these take the uploaded tiles
  themselves, run the same :mod:`imagelens.shelf` code and answer a PNG;
- ``GET /studio/api/models/{name}``: a model's training progress and its full stored performance (per-class AP,
  confusion matrix, PR curves) that Azure's ``modelPerformance`` leaves out;
- ``GET /studio/api/models/{name}/evaluations/{evaluation}``: the same full performance of an evaluation;
- ``GET /studio/api/models/{name}/suggestions?dataset=...&top=10&method=margin``: active learning, the dataset's
  unlabelled images (uploaded, no annotation) ranked by the model's uncertainty, most uncertain first.
"""

from __future__ import annotations

import io
import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response

from imagelens import __version__
from imagelens.api.body import read_capped
from imagelens.azure.features import FEATURES_40, VISUAL_FEATURES_32
from imagelens.errors import (
    InvalidArgumentError,
    InvalidImageFormatError,
    InvalidRequestError,
    NotFoundError,
    NotSupportedFeatureError,
)
from imagelens.features.registry import FEATURE_LIST, available_features
from imagelens.store.base import check_name

router = APIRouter(include_in_schema=False)

#: The page's files and their media types; nothing else under ``/studio/static/`` is served.
ASSETS: dict[str, str] = {
    "studio.css": "text/css; charset=utf-8",
    "studio.js": "text/javascript; charset=utf-8",
    "common.js": "text/javascript; charset=utf-8",
    "overlay.js": "text/javascript; charset=utf-8",
    "try.js": "text/javascript; charset=utf-8",
    "search.js": "text/javascript; charset=utf-8",
    "label.js": "text/javascript; charset=utf-8",
    "shelves.js": "text/javascript; charset=utf-8",
}
#: Served without a key: the page and its assets hold no data; ``info`` tells the page whether to ask for a key.
OPEN = frozenset({"/studio", "/studio/api/info"})
OPEN_PREFIX = "/studio/static/"
_FILE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
                ".bmp": "image/bmp", ".webp": "image/webp"}  # fmt: skip
MAX_COCO_BYTES = 8 * 1024 * 1024
_SECURITY_HEADERS = {
    # Everything the page needs is on this origin; inline scripts and other origins are refused.
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob: http: https:; "
    "style-src 'self'; script-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def _asset(name: str) -> bytes:
    return resources.files("imagelens").joinpath("web", name).read_bytes()


@router.get("/studio")
async def page() -> Response:
    return Response(_asset("studio.html"), media_type="text/html; charset=utf-8", headers=_SECURITY_HEADERS)


@router.get("/studio/static/{name}")
async def asset(name: str) -> Response:
    media_type = ASSETS.get(name)
    if media_type is None:
        raise NotFoundError(f"No studio asset '{name}'.")
    headers = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
    return Response(_asset(name), media_type=media_type, headers=headers)


def _surface(name: str) -> str:
    """Which route the page calls for a registry feature: Azure 4.0's analyze, or 3.2's (faces, color, categories,
    adult, brands, imageType; landmarks through 3.2's ``details=Landmarks``)."""
    if name in FEATURES_40:
        return "v40"
    if any(needs is not None and name in needs for needs in VISUAL_FEATURES_32.values()):
        return "v32"
    if name == "landmarks":
        return "v32"
    return "none"


def info_json(settings: Any) -> dict[str, Any]:
    installed = set(available_features())
    features = [
        {
            "name": f.name,
            "field": f.field,
            "summary": f.summary,
            "azure40": f.azure_40,
            "surface": _surface(f.name),
            "available": f.name in installed,
        }
        for f in FEATURE_LIST
    ]
    return {
        "version": __version__,
        "features": features,
        "maxBytes": settings.limits.max_bytes,
        "dataDir": settings.data_dir is not None,
        "keyRequired": bool(settings.api_key_list()),
    }


@router.get("/studio/api/info")
async def info(request: Request) -> JSONResponse:
    return JSONResponse(info_json(request.app.state.settings))


# --- datasets made in the page -------------------------------------------------------------------------------------


def _dataset_dir(request: Request, name: str) -> Path:
    data_dir = request.app.state.settings.data_dir
    if data_dir is None:
        raise NotSupportedFeatureError(
            "Labelling in the studio needs a data folder: start the server with IMAGELENS_DATA_DIR set."
        )
    check_name(name, "dataset name")
    return Path(data_dir) / "studio" / name


def _file_name(file: str) -> str:
    if not _FILE.match(file) or ".." in file or Path(file).suffix.lower() not in _IMAGE_TYPES:
        raise InvalidArgumentError(
            f"The image file name must be letters, digits, '.', '_' or '-' ending in one of "
            f"{', '.join(_IMAGE_TYPES)}; got {file!r}."
        )
    return file


def _image_size(data: bytes) -> tuple[int, int]:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as img:
            img.verify()
        with Image.open(io.BytesIO(data)) as img:
            return img.size
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise InvalidImageFormatError(f"Input data is not a valid image: {exc}") from None


@router.put("/studio/api/datasets/{name}/images/{file}")
async def put_image(request: Request, name: str, file: str) -> JSONResponse:
    folder = _dataset_dir(request, name) / "images"
    data = await read_capped(request, request.app.state.settings.limits.max_bytes)
    width, height = _image_size(data)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / _file_name(file)).write_bytes(data)
    return JSONResponse({"file_name": f"images/{file}", "width": width, "height": height})


@router.get("/studio/api/datasets/{name}/images/{file}")
async def get_image(request: Request, name: str, file: str) -> Response:
    path = _dataset_dir(request, name) / "images" / _file_name(file)
    if not path.is_file():
        raise NotFoundError(f"The dataset '{name}' has no image '{file}'.")
    return Response(path.read_bytes(), media_type=_IMAGE_TYPES[path.suffix.lower()])


def annotation_uri(name: str) -> str:
    """The dataset's annotation file as the Azure route takes it: a path inside the data folder."""
    return f"studio/{name}/annotations.json"


@router.get("/studio/api/datasets/{name}/coco")
async def get_coco(request: Request, name: str) -> JSONResponse:
    path = _dataset_dir(request, name) / "annotations.json"
    if not path.is_file():
        return JSONResponse({"images": [], "annotations": [], "categories": []})
    return JSONResponse(json.loads(path.read_text(encoding="utf-8")))


def check_coco(coco: Any, folder: Path) -> dict[str, Any]:
    """A COCO object whose images all lie in ``folder/images`` (uploaded before); InvalidArgumentError otherwise."""
    if not isinstance(coco, dict) or not all(isinstance(coco.get(k), list) for k in ("images", "categories")):
        raise InvalidArgumentError("A COCO file is a JSON object with 'images' and 'categories' lists.")
    coco.setdefault("annotations", [])
    if not isinstance(coco["annotations"], list):
        raise InvalidArgumentError("'annotations' must be a list.")
    missing = []
    for image in coco["images"]:
        file_name = str(image.get("file_name", "")) if isinstance(image, dict) else ""
        base = file_name.removeprefix("images/")
        if not _FILE.match(base) or not (folder / "images" / base).is_file():
            missing.append(file_name or repr(image))
        elif isinstance(image, dict):
            image["file_name"] = f"images/{base}"
    if missing:
        raise InvalidArgumentError(
            "Upload these images before the annotations that name them: " + ", ".join(missing[:10])
        )
    return coco


@router.put("/studio/api/datasets/{name}/coco")
async def put_coco(request: Request, name: str) -> JSONResponse:
    folder = _dataset_dir(request, name)
    raw = await read_capped(request, MAX_COCO_BYTES)
    try:
        coco = json.loads(raw or b"null")
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InvalidArgumentError("The COCO file is not valid JSON.") from None
    coco = check_coco(coco, folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "annotations.json").write_text(json.dumps(coco), encoding="utf-8")
    return JSONResponse({"annotationFileUri": annotation_uri(name), "images": len(coco["images"])})


# --- training progress -----------------------------------------------------------------------------------------------


@router.get("/studio/api/models/{name}")
async def model_detail(request: Request, name: str) -> JSONResponse:
    from imagelens.api.routes import customization

    jobs = customization.start(request.app)
    record = await request.app.state.pool.run(lambda: jobs.store.get_model(name))
    return JSONResponse(
        {
            "name": record.name,
            "status": record.status,
            "kind": record.kind,
            "progress": record.progress,
            "performance": record.performance,
            "error": record.error,
            "trainingSeconds": round(record.training_seconds, 1),
        }
    )


@router.get("/studio/api/models/{name}/evaluations/{evaluation}")
async def evaluation_detail(request: Request, name: str, evaluation: str) -> JSONResponse:
    """An evaluation's status and its full stored performance (per-class AP, PR curves, confusion)."""
    from imagelens.api.routes import customization

    jobs = customization.start(request.app)
    record = await request.app.state.pool.run(lambda: jobs.store.get_evaluation(name, evaluation))
    return JSONResponse(
        {
            "name": evaluation,
            "status": record.status,
            "performance": record.performance,
            "error": record.error,
        }
    )


MAX_SUGGEST_IMAGES = 500


def unlabelled_images(folder: Path) -> list[str]:
    """The files in ``folder/images`` that no annotation of ``folder/annotations.json`` names, sorted."""
    images = folder / "images"
    files = sorted(p.name for p in images.iterdir() if p.is_file() and p.suffix.lower() in _IMAGE_TYPES) if (
        images.is_dir()) else []  # fmt: skip
    coco_path = folder / "annotations.json"
    coco = json.loads(coco_path.read_text(encoding="utf-8")) if coco_path.is_file() else {}
    by_id = {
        im.get("id"): str(im.get("file_name", "")).removeprefix("images/") for im in coco.get("images", [])
    }
    labelled = {by_id.get(a.get("image_id")) for a in coco.get("annotations", [])}
    return [f for f in files if f not in labelled]


@router.get("/studio/api/models/{name}/suggestions")
async def model_suggestions(
    request: Request, name: str, dataset: str, top: int = 10, method: str = "margin"
) -> JSONResponse:
    """Which of the dataset's unlabelled images to label next: the custom model's most uncertain first
    (:func:`imagelens.customize.active.rank_custom_results`, as ``imagelens suggest-labels``)."""
    from imagelens.customize.active import METHODS, rank_custom_results

    folder = _dataset_dir(request, dataset)
    if method not in METHODS:
        raise InvalidArgumentError(f"method must be one of {', '.join(METHODS)}; got {method!r}.")
    if not 1 <= top <= 100:
        raise InvalidArgumentError(f"top must be 1 to 100; got {top}.")
    analyzer = request.app.state.analyzer
    files = unlabelled_images(folder)
    scanned = files[:MAX_SUGGEST_IMAGES]

    skipped: list[dict[str, str]] = []

    def work() -> list[tuple[int | str, float]]:
        from imagelens.customize.predict import resolve

        resolve(analyzer.hub, analyzer.store, name)  # 404 / 409 even without images
        results, ids = [], []
        for file in scanned:
            try:
                custom = analyzer.predict_custom(folder / "images" / file, name).custom_model
            except InvalidRequestError as exc:  # too small, too large, not decodable: named, not fatal
                skipped.append({"file_name": f"images/{file}", "message": str(exc)})
                continue
            assert custom is not None
            results.append(custom)
            ids.append(file)
        return rank_custom_results(results, ids, method=method, top=top)  # type: ignore[arg-type]

    ranked = await request.app.state.pool.run(work)
    return JSONResponse(
        {
            "model": name,
            "dataset": dataset,
            "method": method,
            "unlabelled": len(files),
            "scanned": len(scanned),
            "suggestions": [
                {"file_name": f"images/{f}", "uncertainty": round(score, 4)} for f, score in ranked
            ],
            "skipped": skipped,
        }
    )


# --- shelves: the image-composition routes on uploaded images -----------------------------------------------------


async def _base64_images(request: Request, key: str, count: int) -> tuple[dict[str, Any], list[Any]]:
    import base64
    import binascii

    from imagelens.io import decode_image_bytes

    limits = request.app.state.settings.limits
    raw = await read_capped(request, count * (limits.max_bytes * 4 // 3 + 64) + 4096)
    try:
        body = json.loads(raw or b"null")
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InvalidArgumentError("The request body is not valid JSON.") from None
    items = body.get(key) if isinstance(body, dict) else None
    items = [items] if isinstance(items, str) else items
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise InvalidArgumentError(f"'{key}' must hold base64-encoded images.")
    arrays = []
    for k, item in enumerate(items):
        try:
            data = base64.b64decode(item.split(",", 1)[-1], validate=True)
        except (binascii.Error, ValueError):
            raise InvalidArgumentError(f"Image {k + 1} is not valid base64.") from None
        if len(data) > limits.max_bytes:
            raise InvalidArgumentError(f"Image {k + 1} is over the {limits.max_bytes} byte limit.")
        arrays.append(data)
    decoded = await request.app.state.pool.run(
        lambda: [decode_image_bytes(d, limits).array() for d in arrays]
    )
    return body, decoded


def _png(array: Any) -> Response:
    from imagelens.io import encode_image

    return Response(encode_image(array, "png"), media_type="image/png")


@router.post("/studio/api/shelves/stitch")
async def shelves_stitch(request: Request) -> Response:
    _, images = await _base64_images(request, "images", 20)
    max_pixels = request.app.state.settings.limits.max_pixels

    def work() -> Any:
        from imagelens.shelf.stitch import stitch

        return stitch(images, max_output_pixels=max_pixels).image

    return _png(await request.app.state.pool.run(work))


@router.post("/studio/api/shelves/rectify")
async def shelves_rectify(request: Request) -> Response:
    from imagelens.azure.shelf import parse_control_points

    body, images = await _base64_images(request, "image", 1)
    if len(images) != 1:
        raise InvalidArgumentError("'image' must be one base64-encoded image.")
    raw_points = body.get("controlPoints")
    points = None if raw_points is None else parse_control_points(raw_points)
    max_side = request.app.state.settings.limits.max_side - 1

    def work() -> Any:
        from imagelens.shelf.rectify import rectify

        return rectify(images[0], points, max_output_side=max_side).image

    return _png(await request.app.state.pool.run(work))


def register(app: FastAPI) -> None:
    """Mount the studio (``create_app`` calls this)."""
    app.include_router(router)
