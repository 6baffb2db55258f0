"""Azure's query parameters, parsed and checked the way Azure answers (400 InvalidRequest / BadArgument).

Which features each surface accepts is :mod:`imagelens.azure.features`' (derived from the feature registry)."""

from __future__ import annotations

import re

from imagelens.errors import InvalidArgumentError, InvalidRequestError

API_VERSIONS_40 = ("2023-02-01-preview", "2023-04-01-preview", "2023-10-01", "2024-02-01")
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")


def check_api_version(value: str | None, accepted: tuple[str, ...] = API_VERSIONS_40) -> str:
    if not value:
        raise InvalidRequestError(
            f"The 'api-version' query parameter is required. Supported versions: {', '.join(accepted)}."
        )
    if value not in accepted:
        raise InvalidArgumentError(
            f"The api-version '{value}' is not supported. Supported versions: {', '.join(accepted)}."
        )
    return value


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
