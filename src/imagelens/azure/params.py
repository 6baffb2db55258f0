"""Azure's query parameters, parsed and checked the way Azure answers (400 InvalidRequest / BadArgument).

Which features each surface accepts is :mod:`imagelens.azure.features`' (derived from the feature registry)."""

from __future__ import annotations

import re
from typing import Any

from imagelens.errors import InvalidArgumentError, InvalidRequestError, NotFoundError

API_VERSIONS_40 = ("2023-02-01-preview", "2023-04-01-preview", "2023-10-01", "2024-02-01")
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
#: Azure's pattern for ``model-version`` (query) and ``modelVersion`` (answers).
MODEL_VERSION_PATTERN = re.compile(r"^(latest|\d{4}-\d{2}-\d{2})(-preview)?$")
#: The version imagelens reports as ``modelVersion``, in Azure's date-like form: the date of the default model set
#: this release ships (it changes when a default model does). ``model-version`` accepts it and ``latest``.
MODEL_VERSION = "2026-12-01"


class ResourceNotFoundError(NotFoundError):
    """Azure's gateway answer for a path or ``api-version`` it does not serve: exactly
    ``404 {"error": {"code": "404", "message": "Resource not found"}}``."""

    code = "404"
    inner_code = "404"

    def __init__(self, message: str = "Resource not found") -> None:
        super().__init__(message)

    def to_azure(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message}}


def check_api_version(value: str | None, accepted: tuple[str, ...] = API_VERSIONS_40) -> str:
    """A missing ``api-version`` is a 400 naming the supported ones; an unknown one is Azure's plain 404."""
    if not value:
        raise InvalidRequestError(
            f"The 'api-version' query parameter is required. Supported versions: {', '.join(accepted)}."
        )
    if value not in accepted:
        raise ResourceNotFoundError()
    return value


def check_model_version(value: str | None) -> str:
    """``model-version``: Azure's pattern (else 400 BadArgument), then ``latest`` or :data:`MODEL_VERSION` (another
    well-formed version is a 400 naming the available ones, as Azure answers a version it does not have)."""
    if value is None or value == "":
        return "latest"
    if not MODEL_VERSION_PATTERN.match(value):
        raise InvalidArgumentError(
            f"The 'model-version' parameter '{value}' is not valid: it must be 'latest' or a date like "
            f"'{MODEL_VERSION}'."
        )
    if value not in ("latest", MODEL_VERSION):
        raise InvalidArgumentError(
            f"The model version '{value}' is not available. Available: latest, {MODEL_VERSION}."
        )
    return value


def wire_model_version(version: str) -> str:
    """``modelVersion`` in an answer: the library's own version string becomes :data:`MODEL_VERSION`."""
    return version if MODEL_VERSION_PATTERN.match(version) and version != "latest" else MODEL_VERSION


def parse_bool(value: str | None, name: str, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    lowered = value.strip().lower()
    if lowered in {"true", "1"}:
        return True
    if lowered in {"false", "0"}:
        return False
    raise InvalidArgumentError(f"The '{name}' parameter must be true or false, got '{value}'.")


def parse_aspect_ratios(value: str | None) -> tuple[float, ...] | None:
    if value is None or not value.strip():
        return None
    try:
        return tuple(float(part) for part in value.split(",") if part.strip())
    except ValueError:
        raise InvalidArgumentError(
            f"The 'smartcrops-aspect-ratios' parameter must be comma-separated numbers, got '{value}'."
        ) from None


def check_language(value: str | None, default: str = "en") -> str:
    if value is None or value == "":
        return default
    if not _LANGUAGE.match(value):
        raise InvalidArgumentError(f"The language '{value}' is not a valid language code.")
    return value


def parse_int(value: str | None, name: str, low: int, high: int, default: int | None = None) -> int:
    if value is None or value == "":
        if default is None:
            raise InvalidArgumentError(f"The '{name}' parameter is required.")
        return default
    try:
        number = int(value)
    except ValueError:
        raise InvalidArgumentError(f"The '{name}' parameter must be an integer, got '{value}'.") from None
    if not low <= number <= high:
        raise InvalidArgumentError(f"The '{name}' parameter must be between {low} and {high}, got {number}.")
    return number
