"""The error tree. Each class knows its HTTP status and Azure's error codes.

Azure AI Vision answers errors as ``{"error": {"code", "message", "innererror": {"code", "message"}}}``.
``code`` is the broad class (``InvalidRequest``, ``Unauthorized`` ...) and ``innererror.code`` the precise
reason (``InvalidImageFormat``, ``NotSupportedVisualFeature`` ...). Both live here, once, so the library, the CLI
and the HTTP server report the same thing.
"""

from __future__ import annotations

from typing import Any, ClassVar


class ImageLensError(Exception):
    """Base of every error imagelens raises on purpose."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "InternalServerError"
    inner_code: ClassVar[str] = "InternalServerError"
    exit_code: ClassVar[int] = 1

    def __init__(self, message: str, detail: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail: dict[str, Any] = dict(detail or {})

    def to_azure(self) -> dict[str, Any]:
        """Azure's error body."""
        return {
            "error": {
                "code": self.code,
                "message": self.message,
                "innererror": {"code": self.inner_code, "message": self.message},
            }
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


# --- 4xx: the caller's input -------------------------------------------------------------------------------------


class InvalidRequestError(ImageLensError):
    status = 400
    code = "InvalidRequest"
    inner_code = "InvalidRequest"
    exit_code = 2


class InvalidArgumentError(InvalidRequestError):
    """A parameter has a wrong value (Azure's ``BadArgument``)."""

    code = "InvalidRequest"
    inner_code = "BadArgument"


class InvalidImageFormatError(InvalidRequestError):
    inner_code = "InvalidImageFormat"


class InvalidImageSizeError(InvalidRequestError):
    """Too many bytes, or width/height outside the accepted range."""

    inner_code = "InvalidImageSize"


class InvalidImageUrlError(InvalidRequestError):
    inner_code = "InvalidImageUrl"


class NotSupportedVisualFeatureError(InvalidRequestError):
    inner_code = "NotSupportedVisualFeature"


class NotSupportedLanguageError(InvalidRequestError):
    inner_code = "NotSupportedLanguage"


class NotSupportedFeatureError(InvalidRequestError):
    """A capability that exists in Azure but is not built here (or is declined by design)."""

    inner_code = "NotSupportedFeature"


class UnauthorizedError(ImageLensError):
    status = 401
    code = "401"
    inner_code = "Unauthorized"
    exit_code = 2


class NotFoundError(ImageLensError):
    status = 404
    code = "NotFound"
    inner_code = "NotFound"
    exit_code = 2


class ConflictError(ImageLensError):
    status = 409
    code = "Conflict"
    inner_code = "Conflict"
    exit_code = 2


class TooManyRequestsError(ImageLensError):
    status = 429
    code = "429"
    inner_code = "TooManyRequests"
    exit_code = 4

    def __init__(self, message: str, retry_after_s: int = 1, detail: dict[str, Any] | None = None) -> None:
        super().__init__(message, detail)
        self.retry_after_s = retry_after_s


class RequestTimeoutError(ImageLensError):
    """The request ran past its deadline (decode, inference or reading the body). Azure's inner code ``Timeout``.

    A 4xx on purpose: the work was stopped, the service is fine, and the same input will time out again.
    """

    status = 408
    code = "InvalidRequest"
    inner_code = "Timeout"
    exit_code = 4


class CancelledRequestError(ImageLensError):
    """The client went away; the work was stopped. Azure's inner code ``CancelledRequest`` (nobody reads the body)."""

    status = 499
    code = "InvalidRequest"
    inner_code = "CancelledRequest"
    exit_code = 4


# --- 5xx: the service ----------------------------------------------------------------------------------------------


class ModelUnavailableError(ImageLensError):
    """A model is not on this machine (or failed to load). The message names it and the command that fetches it."""

    status = 503
    code = "ServiceUnavailable"
    inner_code = "ModelUnavailable"
    exit_code = 3

    def __init__(self, model_id: str, reason: str, detail: dict[str, Any] | None = None) -> None:
        message = (
            f"Model '{model_id}' is not available: {reason}. Fetch it with: imagelens models pull {model_id}"
        )
        super().__init__(message, {"model": model_id, **(detail or {})})
        self.model_id = model_id


class ModelLoadTimeoutError(ImageLensError):
    status = 503
    code = "ServiceUnavailable"
    inner_code = "ModelLoadTimeout"
    exit_code = 3


class OperationTimeoutError(ImageLensError):
    status = 500
    code = "InternalServerError"
    inner_code = "Timeout"
    exit_code = 1
