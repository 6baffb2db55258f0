"""How the Azure routes describe themselves in ``/openapi.json``, and ``/docs`` served without a CDN.

The routes declare their query parameters (as optional strings: each is then checked by
:mod:`imagelens.azure.params`, so a wrong value answers Azure's error body and wording rather than FastAPI's). The
ones Azure requires are named in the route's ``openapi_extra`` (made by :func:`route_extra`) and marked required
in the document by :func:`install_openapi`. The image body is read by hand (raw bytes, ``{"url"}`` JSON or multipart),
so :data:`IMAGE_BODY` describes it.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI

log = logging.getLogger("imagelens.server")

DOCS_STATIC = "/docs/static"
_REQUIRED = "x-imagelens-required-query"

IMAGE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "The image: its bytes, a JSON object with its URL, or a multipart form with one file.",
        "content": {
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
            "application/json": {
                "schema": {
                    "type": "object",
                    "title": "ImageUrl",
                    "required": ["url"],
                    "properties": {
                        "url": {"type": "string", "format": "uri", "description": "An http(s) URL."}
                    },
                }
            },
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            },
        },
    }
}


def route_extra(*required: str, image: bool = True) -> dict[str, Any]:
    """A route's ``openapi_extra``: the query parameters it requires, and (``image``) the image request body."""
    return {**(IMAGE_BODY if image else {}), _REQUIRED: list(required)}


def install_openapi(app: FastAPI) -> None:
    """Finish the generated document: mark the parameters named by :func:`route_extra` as required, describe the
    optional string parameters as plain strings (not ``string | null``), and drop FastAPI's 422 answers (a
    validation error answers 400 with Azure's body here)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()  # cached on the app: the edits below are made once
        for path in schema.get("paths", {}).values():
            for operation in path.values():
                if isinstance(operation, dict):
                    _finish(operation)
        schemas = schema.get("components", {}).get("schemas", {})
        if "HTTPValidationError" not in json.dumps(schema.get("paths", {})):
            schemas.pop("HTTPValidationError", None)
            schemas.pop("ValidationError", None)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _finish(operation: dict[str, Any]) -> None:
    required = set(operation.pop(_REQUIRED, ()))
    for parameter in operation.get("parameters", ()):
        if parameter.get("in") != "query":
            continue
        if parameter.get("name") in required:
            parameter["required"] = True
        param_schema = parameter.get("schema", {})
        options = param_schema.get("anyOf")
        if isinstance(options, list):
            kept = [o for o in options if o != {"type": "null"}]
            if len(kept) == 1:
                del param_schema["anyOf"]
                param_schema.update(kept[0])
    responses = operation.get("responses", {})
    if "422" in responses and "HTTPValidationError" in json.dumps(responses["422"]):
        del responses["422"]


def new_app(**kwargs: Any) -> FastAPI:
    """A FastAPI app whose ``/docs`` and ``/redoc`` load Swagger UI and ReDoc from this server
    (``fastapi-offline``'s bundled copies, under ``/docs/static``), so the docs work without internet access."""
    try:
        from fastapi_offline import FastAPIOffline
    except ImportError:
        log.warning(
            "fastapi-offline is not installed: /docs loads Swagger UI from a CDN (blank offline). "
            'Install it with: pip install "imagelens[server]"'
        )
        return FastAPI(**kwargs)
    app: FastAPI = FastAPIOffline(static_url=DOCS_STATIC, **kwargs)
    return app
