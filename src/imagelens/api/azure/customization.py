"""Azure's model-customization routes (Image Analysis 4.0 preview), mounted under ``/computervision``.

Azure published no formal spec for these; names follow its documentation and Microsoft's sample client
(``cognitive-service-vision-model-customization-python-samples``):

- ``PUT|GET|PATCH|DELETE /datasets/{name}`` ``{"annotationKind": "imageClassification"|"imageObjectDetection",
  "annotationFileUris": [...], "customProperties": {...}}``; ``GET /datasets`` lists them;
- ``PUT|GET|DELETE /models/{name}`` ``{"trainingParameters": {"trainingDatasetName", "timeBudgetInHours",
  "modelKind": "Generic-Classifier"|"Generic-Detector"}, "evaluationParameters": {"testDatasetName"}}``; the answer
  has ``status`` (notStarted, training, succeeded, failed, cancelling, cancelled), ``trainingCostInMinutes``,
  ``modelPerformance`` and, when failed, ``error``; ``GET /models`` lists them;
- ``POST /models/{name}:cancel``;
- ``PUT|GET|DELETE /models/{model}/evaluations/{name}`` ``{"evaluationParameters": {"testDatasetName"}}``.

Request keys are matched case-insensitively (the sample client sends ``TrainingParameters``, ``AnnotationKind`` ...).
Annotation files are http(s) URLs or, self-hosted, ``file://`` URIs and paths inside ``IMAGELENS_DATA_DIR``.
Extensions: ``timeBudgetInMinutes`` instead of hours; list routes. Errors have Azure's body: an unknown dataset or
model is 404, a duplicate name 409, a bad value 400 ``BadArgument``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response

from imagelens.api.body import read_capped
from imagelens.azure import params
from imagelens.config import Settings
from imagelens.customize.jobs import JobManager, new_model_record, utc_now
from imagelens.errors import ConflictError, InvalidArgumentError, InvalidRequestError, NotFoundError
from imagelens.store.base import (
    ANNOTATION_KINDS,
    KIND_NEEDS,
    MODEL_KINDS,
    CustomizationStore,
    DatasetRecord,
    EvaluationRecord,
    ModelRecord,
    check_name,
)

router = APIRouter(tags=["Model customization (preview)"])

API_VERSIONS = ("2023-02-01-preview", "2023-04-01-preview")
MAX_BODY = 1024 * 1024
MAX_BUDGET_HOURS = 1000.0
T = TypeVar("T")
JSON = dict[str, Any]


# --- app state ---------------------------------------------------------------------------------------------------


def start(app: FastAPI) -> JobManager:
    """The app's job manager, created on first use with the analyzer's hub and store; interrupted jobs are
    recovered at that moment. ``create_app`` can call this at start-up (and :func:`stop` at shutdown) so recovery
    does not wait for the first customization request."""
    jobs: JobManager | None = getattr(app.state, "training_jobs", None)
    if jobs is None:
        analyzer = app.state.analyzer
        jobs = JobManager(analyzer.store, app.state.settings, analyzer.hub)
        jobs.recover()
        app.state.training_jobs = jobs
    return jobs


def stop(app: FastAPI) -> None:
    """Stop the job workers; running trainings stay resumable."""
    jobs: JobManager | None = getattr(app.state, "training_jobs", None)
    if jobs is not None:
        jobs.close()


async def _call(request: Request, fn: Callable[[JobManager], T]) -> T:
    """Run store work (SQLite, file checks) in the work pool, never on the event loop."""
    jobs = start(request.app)
    result: T = await request.app.state.pool.run(lambda: fn(jobs))
    return result


# --- request parsing ---------------------------------------------------------------------------------------------


def _ci(value: Any, where: str) -> dict[str, Any]:
    """A JSON object with lower-cased keys (Azure matches keys case-insensitively)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidArgumentError(f"'{where}' must be a JSON object, got {type(value).__name__}.")
    return {str(k).lower(): v for k, v in value.items()}


async def _body(request: Request) -> dict[str, Any]:
    raw = await read_capped(request, MAX_BODY)
    try:
        payload = json.loads(raw or b"{}")
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InvalidRequestError("The request body is not valid JSON.") from None
    return _ci(payload, "body")


def _exists(get: Callable[[str], Any], name: str) -> bool:
    try:
        get(name)
    except NotFoundError:
        return False
    return True


def _check_version(request: Request) -> None:
    params.check_api_version(request.query_params.get("api-version"), API_VERSIONS)


def _string(body: Mapping[str, Any], key: str, label: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value.strip():
        raise InvalidArgumentError(f"'{label}' is required and must be a non-empty string.")
    return value.strip()


def _uris(body: Mapping[str, Any]) -> list[str]:
    value = body.get("annotationfileuris")
    if not isinstance(value, list) or not value or not all(isinstance(u, str) and u.strip() for u in value):
        raise InvalidArgumentError("'annotationFileUris' must be a non-empty list of URI strings.")
    return [u.strip() for u in value]


def _properties(body: Mapping[str, Any]) -> dict[str, Any]:
    value = body.get("customproperties") or {}
    if not isinstance(value, Mapping):
        raise InvalidArgumentError("'customProperties' must be a JSON object of strings.")
    return {str(k): v for k, v in value.items()}


def _budget_hours(training: Mapping[str, Any]) -> float:
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


# --- wire shapes -------------------------------------------------------------------------------------------------


def _etag(record: DatasetRecord) -> str:
    import hashlib

    return (
        '"' + hashlib.sha256(f"{record.updated}{record.annotation_file_uris}".encode()).hexdigest()[:16] + '"'
    )


def dataset_json(record: DatasetRecord) -> JSON:
    return {
        "name": record.name,
        "annotationKind": record.annotation_kind,
        "annotationFileUris": list(record.annotation_file_uris),
        "customProperties": record.custom_properties,
        "createdDateTime": record.created,
        "updatedDateTime": record.updated,
        "eTag": _etag(record),
    }


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
        body["modelPerformance"] = record.performance
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
        body["modelPerformance"] = record.performance
    if record.error is not None:
        body["error"] = record.error
    return body


# --- datasets ----------------------------------------------------------------------------------------------------


def _validate_files(uris: list[str], kind: str, settings: Settings) -> None:
    """Local annotation files must lie inside the data folder and make a valid dataset (checked now, so a bad file
    is a 400 at registration rather than a failed training later). Remote ones are read when training starts."""
    from imagelens.customize.sources import check_uris, classify_uri, load_registered_dataset

    check_uris(uris, settings.data_dir, require_data_dir=True)
    local = [u for u in uris if classify_uri(u) == "local"]
    if local and len(local) == len(uris):
        load_registered_dataset(local, kind, settings, require_data_dir=True)  # type: ignore[arg-type]


@router.put("/datasets/{name}", summary="Register a dataset")
async def create_dataset(request: Request, name: str) -> JSONResponse:
    _check_version(request)
    check_name(name, "dataset name")
    body = await _body(request)
    kind = body.get("annotationkind")
    if kind not in ANNOTATION_KINDS:
        raise InvalidArgumentError(
            f"'annotationKind' must be one of {', '.join(ANNOTATION_KINDS)}, got {kind!r}."
        )
    uris, props = _uris(body), _properties(body)

    def work(jobs: JobManager) -> DatasetRecord:
        if _exists(jobs.store.get_dataset, name):  # before the (slower) file checks
            raise ConflictError(f"The dataset '{name}' already exists.")
        _validate_files(uris, kind, jobs.settings)
        now = utc_now()
        return jobs.store.create_dataset(DatasetRecord(name, kind, tuple(uris), now, now, props))

    return JSONResponse(dataset_json(await _call(request, work)))


@router.get("/datasets", summary="List datasets")
async def list_datasets(request: Request) -> JSONResponse:
    _check_version(request)
    records = await _call(request, lambda jobs: jobs.store.list_datasets())
    return JSONResponse([dataset_json(r) for r in records])


@router.get("/datasets/{name}", summary="Get a dataset")
async def get_dataset(request: Request, name: str) -> JSONResponse:
    _check_version(request)
    return JSONResponse(dataset_json(await _call(request, lambda jobs: jobs.store.get_dataset(name))))


@router.patch("/datasets/{name}", summary="Update a dataset's annotation files or properties")
async def update_dataset(request: Request, name: str) -> JSONResponse:
    _check_version(request)
    body = await _body(request)

    def work(jobs: JobManager) -> DatasetRecord:
        current = jobs.store.get_dataset(name)
        kind = body.get("annotationkind")
        if kind is not None and kind != current.annotation_kind:
            raise InvalidArgumentError(
                f"'annotationKind' of the dataset '{name}' is '{current.annotation_kind}' and cannot change; "
                "register a new dataset instead."
            )
        changes: dict[str, Any] = {}
        if "annotationfileuris" in body:
            uris = _uris(body)
            _validate_files(uris, current.annotation_kind, jobs.settings)
            changes["annotation_file_uris"] = tuple(uris)
        if "customproperties" in body:
            changes["custom_properties"] = _properties(body)
        return jobs.store.update_dataset(name, updated=utc_now(), **changes)

    return JSONResponse(dataset_json(await _call(request, work)))


@router.delete("/datasets/{name}", summary="Delete a dataset")
async def delete_dataset(request: Request, name: str) -> Response:
    _check_version(request)

    def work(jobs: JobManager) -> None:
        jobs.store.get_dataset(name)
        busy = [
            m.name
            for m in jobs.store.list_models()
            if m.active and name in (m.dataset_name, m.test_dataset_name)
        ]
        if busy:
            raise ConflictError(f"The dataset '{name}' is in use by model(s) in training: {', '.join(busy)}.")
        jobs.store.delete_dataset(name)

    await _call(request, work)
    return Response(status_code=204)


# --- models ------------------------------------------------------------------------------------------------------


def _check_dataset_kind(store: CustomizationStore, dataset_name: str, model_kind: str, role: str) -> None:
    dataset = store.get_dataset(dataset_name)  # 404 when absent
    needed = KIND_NEEDS[model_kind]  # type: ignore[index]
    if dataset.annotation_kind != needed:
        raise InvalidArgumentError(
            f"A {model_kind} needs an '{needed}' {role} dataset; '{dataset_name}' is '{dataset.annotation_kind}'."
        )


@router.put("/models/{name}", summary="Create a model and start training it")
async def create_model(request: Request, name: str) -> JSONResponse:
    _check_version(request)
    check_name(name, "model name")
    body = await _body(request)
    training = _ci(body.get("trainingparameters"), "trainingParameters")
    kind = training.get("modelkind")
    if kind not in MODEL_KINDS:
        raise InvalidArgumentError(
            f"'modelKind' must be one of {', '.join(MODEL_KINDS)}, got {kind!r}"
            + (
                " (Product-Recognition is not supported by imagelens)."
                if kind == "Product-Recognition"
                else "."
            )
        )
    dataset_name = _string(training, "trainingdatasetname", "trainingParameters.trainingDatasetName")
    hours = _budget_hours(training)
    evaluation = _ci(body.get("evaluationparameters"), "evaluationParameters")
    test_name = evaluation.get("testdatasetname")
    if test_name is not None and (not isinstance(test_name, str) or not test_name.strip()):
        raise InvalidArgumentError("'evaluationParameters.testDatasetName' must be a non-empty string.")

    def work(jobs: JobManager) -> ModelRecord:
        if _exists(jobs.store.get_model, name):
            raise ConflictError(f"The model '{name}' already exists.")
        _check_dataset_kind(jobs.store, dataset_name, kind, "training")
        if test_name:
            _check_dataset_kind(jobs.store, test_name, kind, "test")
        record = jobs.store.create_model(
            new_model_record(name, kind, dataset_name, hours, test_dataset_name=test_name or None)
        )
        jobs.submit_training(name)
        return record

    return JSONResponse(model_json(await _call(request, work)))


@router.get("/models", summary="List models")
async def list_models(request: Request) -> JSONResponse:
    _check_version(request)
    records = await _call(request, lambda jobs: jobs.store.list_models())
    return JSONResponse([model_json(r) for r in records])


@router.get("/models/{name}", summary="Get a model (its training status and performance)")
async def get_model(request: Request, name: str) -> JSONResponse:
    _check_version(request)
    return JSONResponse(model_json(await _call(request, lambda jobs: jobs.store.get_model(name))))


@router.post("/models/{name}:cancel", summary="Cancel a model's training")
async def cancel_model(request: Request, name: str) -> JSONResponse:
    _check_version(request)
    return JSONResponse(model_json(await _call(request, lambda jobs: jobs.cancel(name))))


@router.delete("/models/{name}", summary="Delete a model")
async def delete_model(request: Request, name: str) -> Response:
    _check_version(request)

    def work(jobs: JobManager) -> None:
        record = jobs.store.get_model(name)
        if record.active:
            raise ConflictError(
                f"The model '{name}' is {record.status}; cancel it (POST /models/{name}:cancel) before deleting it."
            )
        jobs.store.delete_model(name)

    await _call(request, work)
    return Response(status_code=204)


# --- evaluations -------------------------------------------------------------------------------------------------


@router.put("/models/{model_name}/evaluations/{name}", summary="Evaluate a model on a dataset")
async def create_evaluation(request: Request, model_name: str, name: str) -> JSONResponse:
    _check_version(request)
    check_name(name, "evaluation name")
    body = await _body(request)
    evaluation = _ci(body.get("evaluationparameters"), "evaluationParameters")
    test_name = _string(evaluation, "testdatasetname", "evaluationParameters.testDatasetName")

    def work(jobs: JobManager) -> EvaluationRecord:
        model = jobs.store.get_model(model_name)
        if model.status != "succeeded":
            raise ConflictError(
                f"The model '{model_name}' has not succeeded (its status is '{model.status}')."
            )
        _check_dataset_kind(jobs.store, test_name, model.kind, "test")
        now = utc_now()
        record = jobs.store.create_evaluation(EvaluationRecord(model_name, name, test_name, now, now))
        jobs.submit_evaluation(model_name, name)
        return record

    return JSONResponse(evaluation_json(await _call(request, work)))


@router.get("/models/{model_name}/evaluations", summary="List a model's evaluations")
async def list_evaluations(request: Request, model_name: str) -> JSONResponse:
    _check_version(request)

    def work(jobs: JobManager) -> list[EvaluationRecord]:
        jobs.store.get_model(model_name)
        return jobs.store.list_evaluations(model_name)

    return JSONResponse([evaluation_json(r) for r in await _call(request, work)])


@router.get("/models/{model_name}/evaluations/{name}", summary="Get an evaluation")
async def get_evaluation(request: Request, model_name: str, name: str) -> JSONResponse:
    _check_version(request)
    record = await _call(request, lambda jobs: jobs.store.get_evaluation(model_name, name))
    return JSONResponse(evaluation_json(record))


@router.delete("/models/{model_name}/evaluations/{name}", summary="Delete an evaluation")
async def delete_evaluation(request: Request, model_name: str, name: str) -> Response:
    _check_version(request)
    await _call(request, lambda jobs: jobs.store.delete_evaluation(model_name, name))
    return Response(status_code=204)
