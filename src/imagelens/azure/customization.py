"""Azure's model-customization names and JSON shapes (Image Analysis 4.0 preview), with no web framework.

Azure published no formal spec for these; names follow its documentation and Microsoft's sample client
(``cognitive-service-vision-model-customization-python-samples``):

- a dataset: ``{"annotationKind": "imageClassification"|"imageObjectDetection", "annotationFileUris": [...],
  "customProperties": {...}}``;
- a model: ``{"trainingParameters": {"trainingDatasetName", "timeBudgetInHours", "modelKind":
  "Generic-Classifier"|"Generic-Detector"}, "evaluationParameters": {"testDatasetName"}}``; the answer has ``status``
  (notStarted, training, succeeded, failed, cancelling, cancelled), ``trainingCostInMinutes``, ``modelPerformance``
  and, when failed, ``error``;
- an evaluation: ``{"evaluationParameters": {"testDatasetName"}}``.

Request keys are matched case-insensitively (the sample client sends ``TrainingParameters``, ``AnnotationKind`` ...).
Extension: ``timeBudgetInMinutes`` instead of hours. The HTTP routes (``imagelens.api.routes.customization``) and the
CLI (``imagelens models custom show``, ``imagelens train``) both build their JSON here; the store and the job manager
keep neutral records (a job's performance is the metrics' own dictionary, see
:func:`imagelens.customize.evaluate.metrics_performance`).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from imagelens.config import MAX_LIST_ITEMS
from imagelens.errors import ImageLensError, InvalidArgumentError, InvalidRequestError
from imagelens.store.base import (
    ANNOTATION_KINDS,
    MODEL_KINDS,
    AnnotationKind,
    DatasetRecord,
    EvaluationRecord,
    ModelKind,
    ModelRecord,
)

JSON = dict[str, Any]
T = TypeVar("T")
API_VERSIONS = ("2023-02-01-preview", "2023-04-01-preview")
MAX_BUDGET_HOURS = 1000.0


# --- requests ------------------------------------------------------------------------------------------------------


def lower_keys(value: Any, where: str) -> dict[str, Any]:
    """A JSON object with lower-cased keys (Azure matches keys case-insensitively); ``None`` is an empty one."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidArgumentError(f"'{where}' must be a JSON object, got {type(value).__name__}.")
    return {str(k).lower(): v for k, v in value.items()}


def parse_body(raw: bytes) -> dict[str, Any]:
    """A request body: a JSON object (empty when the body is), keys lower-cased."""
    try:
        payload = json.loads(raw or b"{}")
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError, ValueError):
        raise InvalidRequestError("The request body is not valid JSON.") from None
    return lower_keys(payload, "body")


def required_string(body: Mapping[str, Any], key: str, label: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value.strip():
        raise InvalidArgumentError(f"'{label}' is required and must be a non-empty string.")
    return value.strip()


def annotation_kind(body: Mapping[str, Any]) -> AnnotationKind:
    kind = body.get("annotationkind")
    if kind not in ANNOTATION_KINDS:
        raise InvalidArgumentError(
            f"'annotationKind' must be one of {', '.join(ANNOTATION_KINDS)}, got {kind!r}."
        )
    return kind  # type: ignore[no-any-return]


def annotation_file_uris(body: Mapping[str, Any]) -> list[str]:
    value = body.get("annotationfileuris")
    if not isinstance(value, list) or not value or not all(isinstance(u, str) and u.strip() for u in value):
        raise InvalidArgumentError("'annotationFileUris' must be a non-empty list of URI strings.")
    if len(value) > MAX_LIST_ITEMS:
        raise InvalidArgumentError(
            f"'annotationFileUris' has more than {MAX_LIST_ITEMS} items (MAX_LIST_ITEMS)."
        )
    return [u.strip() for u in value]


def custom_properties(body: Mapping[str, Any]) -> dict[str, Any]:
    value = body.get("customproperties") or {}
    if not isinstance(value, Mapping):
        raise InvalidArgumentError("'customProperties' must be a JSON object of strings.")
    return {str(k): v for k, v in value.items()}


def time_budget_hours(training: Mapping[str, Any]) -> float:
    """``timeBudgetInHours`` (or the extension ``timeBudgetInMinutes``) as hours, checked."""
    if training.get("timebudgetinhours") is not None:
        raw, factor, label = training["timebudgetinhours"], 1.0, "timeBudgetInHours"
    elif training.get("timebudgetinminutes") is not None:
        raw, factor, label = training["timebudgetinminutes"], 1.0 / 60.0, "timeBudgetInMinutes"
    else:
        raise InvalidArgumentError("'trainingParameters.timeBudgetInHours' is required.")
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw) or raw <= 0:
        raise InvalidArgumentError(f"'{label}' must be a positive number, got {raw!r}.")
    hours = float(raw) * factor
    if hours > MAX_BUDGET_HOURS:
        raise InvalidArgumentError(f"'{label}' must be at most {MAX_BUDGET_HOURS:g} hours, got {hours:g}.")
    return hours


@dataclass(frozen=True, slots=True)
class ModelRequest:
    """``PUT /models/{name}``'s body, checked."""

    kind: ModelKind
    dataset_name: str
    time_budget_hours: float
    test_dataset_name: str | None


def model_request(body: Mapping[str, Any]) -> ModelRequest:
    training = lower_keys(body.get("trainingparameters"), "trainingParameters")
    kind = training.get("modelkind")
    if kind not in MODEL_KINDS:
        hint = " (Product-Recognition is not supported: the product kind is 'Product-Recognizer')"
        raise InvalidArgumentError(
            f"'modelKind' must be one of {', '.join(MODEL_KINDS)}, got {kind!r}"
            + (hint if kind == "Product-Recognition" else "")
            + "."
        )
    dataset_name = required_string(training, "trainingdatasetname", "trainingParameters.trainingDatasetName")
    hours = time_budget_hours(training)
    evaluation = lower_keys(body.get("evaluationparameters"), "evaluationParameters")
    test_name = evaluation.get("testdatasetname")
    if test_name is not None and (not isinstance(test_name, str) or not test_name.strip()):
        raise InvalidArgumentError("'evaluationParameters.testDatasetName' must be a non-empty string.")
    return ModelRequest(kind, dataset_name, hours, test_name.strip() if test_name else None)  # type: ignore[arg-type]


def evaluation_request(body: Mapping[str, Any]) -> str:
    """``PUT /models/{model}/evaluations/{name}``'s test dataset name."""
    evaluation = lower_keys(body.get("evaluationparameters"), "evaluationParameters")
    return required_string(evaluation, "testdatasetname", "evaluationParameters.testDatasetName")


# --- lists and conditional requests -------------------------------------------------------------------------------

#: The most items one list page holds (``$top`` above it is capped, as Azure caps it).
MAX_TOP = 1000


def paging(query: Mapping[str, str]) -> tuple[int, int]:
    """``$skip`` (>= 0, default 0) and ``$top`` (1..:data:`MAX_TOP`, default and cap :data:`MAX_TOP`)."""
    from imagelens.azure.params import parse_int

    skip = parse_int(query.get("$skip"), "$skip", 0, 2**31 - 1, default=0)
    raw_top = query.get("$top")
    top = parse_int(raw_top, "$top", 1, 2**31 - 1, default=MAX_TOP)
    return skip, min(top, MAX_TOP)


def page_of(items: list[T], skip: int, top: int) -> tuple[list[T], bool]:
    """The items ``$skip``/``$top`` select, and whether more follow."""
    return items[skip : skip + top], len(items) > skip + top


def next_link(url: str, skip: int, top: int) -> str:
    """The URL of the next page: ``url`` with ``$skip`` advanced by ``top`` (and ``$top`` kept)."""
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in ("$skip", "$top")]
    query += [("$skip", str(skip + top)), ("$top", str(top))]
    return urlunsplit(parts._replace(query=urlencode(query, safe="$,:")))


class PreconditionFailedError(ImageLensError):
    """``If-Match`` names another version of the resource (HTTP 412)."""

    status = 412
    code = "PreconditionFailed"
    inner_code = "PreconditionFailed"
    exit_code = 2


def check_if_match(header: str | None, current: str) -> None:
    """``If-Match``: absent or ``*`` passes; otherwise one of its ETags must be ``current``."""
    if header is None or header.strip() == "*":
        return
    tags = [t.strip().removeprefix("W/") for t in header.split(",")]
    if current not in tags:
        raise PreconditionFailedError(
            f"If-Match {header.strip()} does not match the current ETag {current}: the resource changed."
        )


# --- responses -----------------------------------------------------------------------------------------------------


def etag(record: DatasetRecord) -> str:
    digest = hashlib.sha256(f"{record.updated}{record.annotation_file_uris}".encode()).hexdigest()[:16]
    return f'"{digest}"'


def dataset_json(record: DatasetRecord) -> JSON:
    return {
        "name": record.name,
        "annotationKind": record.annotation_kind,
        "annotationFileUris": list(record.annotation_file_uris),
        "customProperties": record.custom_properties,
        "createdDateTime": record.created,
        "updatedDateTime": record.updated,
        "eTag": etag(record),
    }


def model_performance(performance: Mapping[str, Any]) -> JSON:
    """A stored performance (:func:`imagelens.customize.evaluate.metrics_performance`) in Azure's
    ``modelPerformance`` names. A performance stored by an earlier imagelens, already in Azure's names, is returned
    as it is."""
    task = performance.get("task")
    per_class = performance.get("per_class") or []
    if task == "classification":
        return {
            "accuracyTop1": performance["accuracy_top1"],
            "accuracyTop5": performance["accuracy_top5"],
            "averagePrecision": performance["mean_average_precision"],
            "calibrationECE": performance["calibration_ece"],
            "tagPerformance": {
                c["name"]: {"accuracy": c["recall"], "averagePrecision": c["average_precision"]}
                for c in per_class
            },
        }
    if task == "detection":
        return {
            "meanAveragePrecision30": performance["map30"],
            "meanAveragePrecision50": performance["map50"],
            "meanAveragePrecision75": performance["map75"],
            "tagPerformance": {
                c["name"]: {"averagePrecision50": c["ap50"], "accuracy": c["recall50"]} for c in per_class
            },
        }
    return dict(performance)


def model_json(record: ModelRecord) -> JSON:
    body: JSON = {
        "name": record.name,
        "status": record.status,
        "createdDateTime": record.created,
        "updatedDateTime": record.updated,
        "trainingParameters": {
            "trainingDatasetName": record.dataset_name,
            "timeBudgetInHours": record.time_budget_hours,
            "modelKind": record.kind,
        },
        "trainingCostInMinutes": round(record.training_seconds / 60.0, 2),
    }
    if record.test_dataset_name:
        body["evaluationParameters"] = {"testDatasetName": record.test_dataset_name}
    if record.performance is not None:
        body["modelPerformance"] = model_performance(record.performance)
    if record.error is not None:
        body["error"] = record.error
    return body


def evaluation_json(record: EvaluationRecord) -> JSON:
    body: JSON = {
        "name": record.name,
        "modelName": record.model_name,
        "evaluationParameters": {"testDatasetName": record.test_dataset_name},
        "status": record.status,
        "createdDateTime": record.created,
        "updatedDateTime": record.updated,
    }
    if record.performance is not None:
        body["modelPerformance"] = model_performance(record.performance)
    if record.error is not None:
        body["error"] = record.error
    return body
