from __future__ import annotations

import inspect

import pytest

from imagelens import errors


def _all_error_classes() -> list[type[errors.ImageLensError]]:
    return [
        obj
        for obj in vars(errors).values()
        if inspect.isclass(obj) and issubclass(obj, errors.ImageLensError)
    ]


def _make(cls: type[errors.ImageLensError]) -> errors.ImageLensError:
    if cls is errors.ModelUnavailableError:
        return cls("some-model", "it is not here")
    return cls("something is wrong")


@pytest.mark.parametrize("cls", _all_error_classes(), ids=lambda c: c.__name__)
def test_every_error_renders_azure_body(cls: type[errors.ImageLensError]) -> None:
    err = _make(cls)
    body = err.to_azure()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "innererror"}
    assert set(body["error"]["innererror"]) == {"code", "message"}
    assert body["error"]["message"] == err.message
    assert 400 <= cls.status < 600
    assert cls.exit_code != 0


def test_client_errors_are_4xx_and_exit_2() -> None:
    for cls in (
        errors.InvalidImageFormatError,
        errors.InvalidImageSizeError,
        errors.InvalidImageUrlError,
        errors.NotSupportedVisualFeatureError,
        errors.NotSupportedLanguageError,
        errors.InvalidArgumentError,
    ):
        assert cls.status == 400
        assert cls.code == "InvalidRequest"
        assert cls.exit_code == 2


def test_model_unavailable_names_model_and_command() -> None:
    err = errors.ModelUnavailableError("ppocr-v5-server-en", "not downloaded")
    assert "ppocr-v5-server-en" in err.message
    assert "imagelens models pull ppocr-v5-server-en" in err.message
    assert err.status == 503 and err.exit_code == 3
