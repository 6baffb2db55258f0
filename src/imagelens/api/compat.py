"""What Azure's gateway does before a request reaches a route, as one ASGI middleware (plus CORS).

- repeated slashes in the path collapse to one (``//computervision/imageanalysis:analyze``: the 4.0 SDK sends it
  whenever the endpoint ends in ``/``, the customization sample client for several routes);
- query parameter names match without regard to case (``Features=``, ``visualfeatures=``, ``API-Version=``): a name
  Azure knows is rewritten to Azure's spelling, other names pass unchanged;
- the key may come as the ``subscription-key`` query parameter instead of the ``Ocp-Apim-Subscription-Key`` header
  (the header wins when both are sent; the parameter never reaches a route);
- a 401 carries ``WWW-Authenticate`` as Azure's API gateway sends it;
- CORS for the origins in ``IMAGELENS_CORS_ORIGINS`` (comma-separated, ``*`` for any; off when empty). Preflight
  ``OPTIONS`` requests are answered before authentication, as browsers send them without the key.

:func:`install` registers both on the app; call it after the app's own request middleware so that these run first.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Azure's query parameter names (every surface imagelens serves), in Azure's spelling.
QUERY_NAMES: tuple[str, ...] = (
    "api-version",
    "features",
    "language",
    "gender-neutral-caption",
    "smartcrops-aspect-ratios",
    "model-version",
    "model-name",
    "modelVersion",
    "visualFeatures",
    "details",
    "maxCandidates",
    "detectOrientation",
    "smartCropping",
    "width",
    "height",
    "pages",
    "readingOrder",
    "subscription-key",
    "$skip",
    "$top",
    "$maxpagesize",
)
_CANONICAL = {name.lower(): name for name in QUERY_NAMES}
KEY_HEADER = b"ocp-apim-subscription-key"
WWW_AUTHENTICATE = 'AzureApiManagementKey realm="imagelens",name="Ocp-Apim-Subscription-Key",type="header"'
_SLASHES = re.compile(r"/{2,}")


def normalise_path(path: str) -> str:
    return _SLASHES.sub("/", path)


def normalise_query(query: str) -> tuple[str, str | None]:
    """(the query with Azure's names in Azure's spelling and ``subscription-key`` removed, that key or None)."""
    if not query:
        return query, None
    pairs = parse_qsl(query, keep_blank_values=True)
    key: str | None = None
    out: list[tuple[str, str]] = []
    changed = False
    for name, value in pairs:
        canonical = _CANONICAL.get(name.lower(), name)
        if canonical == "subscription-key":
            key = key if key is not None else value
            changed = True
            continue
        changed = changed or canonical != name
        out.append((canonical, value))
    return (urlencode(out, safe=",:$") if changed else query), key


class AzureGatewayMiddleware:
    """Path, query-name and query-key normalisation; ``WWW-Authenticate`` on 401 (see the module docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope = dict(scope)
        path = normalise_path(scope["path"])
        if path != scope["path"]:
            scope["path"] = path
            scope["raw_path"] = normalise_path(scope.get("raw_path", b"").decode("latin-1")).encode("latin-1")
        query, key = normalise_query(scope.get("query_string", b"").decode("latin-1"))
        scope["query_string"] = query.encode("latin-1")
        headers: list[tuple[bytes, bytes]] = list(scope.get("headers", []))
        if key is not None and not any(name.lower() == KEY_HEADER for name, _ in headers):
            headers.append((KEY_HEADER, key.encode("latin-1")))
        scope["headers"] = headers

        async def send_with_challenge(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 401:
                message = dict(message)
                message["headers"] = [
                    *message.get("headers", []),
                    (b"www-authenticate", WWW_AUTHENTICATE.encode()),
                ]
            await send(message)

        await self.app(scope, receive, send_with_challenge)


def cors_origins(setting: str) -> list[str]:
    return [origin.strip() for origin in setting.split(",") if origin.strip()]


def install(app: Any, cors: str = "") -> None:
    """Register CORS (when ``cors`` names origins) and the gateway middleware, outermost."""
    from starlette.middleware.cors import CORSMiddleware

    origins = cors_origins(cors)
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
            allow_headers=["*"],
            expose_headers=["Operation-Location", "apim-request-id", "Retry-After", "ETag"],
            max_age=600,
        )
    app.add_middleware(AzureGatewayMiddleware)
