"""Azure's model-customization routes (Image Analysis 4.0 preview), mounted under ``/computervision``.

- ``PUT|GET|PATCH|DELETE /datasets/{name}``; ``GET /datasets`` lists them;
- ``PUT|GET|DELETE /models/{name}``; ``GET /models`` lists them; ``POST /models/{name}:cancel``;
- ``PUT|GET|DELETE /models/{model}/evaluations/{name}``; ``GET /models/{model}/evaluations`` lists them.

The request and response bodies (Azure's names, keys matched case-insensitively) are built and parsed in
:mod:`imagelens.azure.customization`; this module is the HTTP part. Annotation files are http(s) URLs or,
self-hosted, ``file://`` URIs and paths inside ``IMAGELENS_DATA_DIR``. Errors have Azure's body: an unknown dataset
or model is 404, a duplicate name 409 (a model that failed or was cancelled may be created again: the new one
replaces it), a bad value 400 ``BadArgument``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response

from imagelens.api.body import read_capped
from imagelens.azure import customization as wire
from imagelens.azure import params
from imagelens.config import Settings
from imagelens.customize.job_state import new_model_record, utc_now
from imagelens.customize.jobs import JobManager
from imagelens.errors import ConflictError, InvalidArgumentError, NotFoundError
from imagelens.store.base import (
    KIND_NEEDS,
    RETRAINABLE_STATUSES,
    CustomizationStore,
    DatasetRecord,
    EvaluationRecord,
    ModelRecord,
    check_name,
)

router = APIRouter(tags=["Model customization (preview)"])

MAX_BODY = 1024 * 1024
T = TypeVar("T")


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
        if app.state.settings.database_url:  # replicas share the jobs: take over those of a replica that died
            from imagelens.customize.leases import LeaseWatcher

            app.state.lease_watcher = LeaseWatcher(jobs).start()
    return jobs


def stop(app: FastAPI) -> None:
    """Stop the job workers; running trainings stay resumable."""
    jobs: JobManager | None = getattr(app.state, "training_jobs", None)
    watcher = getattr(app.state, "lease_watcher", None)
    if watcher is not None:
        watcher.stop()
    if jobs is not None:
        jobs.close()


async def _call(request: Request, fn: Callable[[JobManager], T]) -> T:
    """Run store work (SQLite, file checks) in the work pool, never on the event loop."""
    jobs = start(request.app)
    result: T = await request.app.state.pool.run(lambda: fn(jobs))
    return result


# --- request parsing ---------------------------------------------------------------------------------------------


async def _body(request: Request) -> dict[str, Any]:
    return wire.parse_body(await read_capped(request, MAX_BODY))


def _exists(get: Callable[[str], Any], name: str) -> bool:
    try:
        get(name)
    except NotFoundError:
        return False
    return True


def _check_version(request: Request) -> None:
    params.check_api_version(request.query_params.get("api-version"), wire.API_VERSIONS)


def _page(request: Request, items: list[dict[str, Any]]) -> JSONResponse:
    """A list answer honouring ``$skip``/``$top`` (capped at ``wire.MAX_TOP``); when more follow, the next page's
    URL is in the ``Link`` header (``rel="next"``) -- the body stays the bare array the preview answered."""
    skip, top = wire.paging(request.query_params)
    page, more = wire.page_of(items, skip, top)
    headers = {"Link": f'<{wire.next_link(str(request.url), skip, top)}>; rel="next"'} if more else None
    return JSONResponse(page, headers=headers)


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
    kind = wire.annotation_kind(body)
    uris, props = wire.annotation_file_uris(body), wire.custom_properties(body)

    def work(jobs: JobManager) -> DatasetRecord:
        if _exists(jobs.store.get_dataset, name):  # before the (slower) file checks
            raise ConflictError(f"The dataset '{name}' already exists.")
        _validate_files(uris, kind, jobs.settings)
        now = utc_now()
        return jobs.store.create_dataset(DatasetRecord(name, kind, tuple(uris), now, now, props))

    return _dataset_response(await _call(request, work))


def _dataset_response(record: DatasetRecord) -> JSONResponse:
    return JSONResponse(wire.dataset_json(record), headers={"ETag": wire.etag(record)})


@router.get("/datasets", summary="List datasets")
async def list_datasets(request: Request) -> JSONResponse:
    _check_version(request)
    records = await _call(request, lambda jobs: jobs.store.list_datasets())
    return _page(request, [wire.dataset_json(r) for r in records])


@router.get("/datasets/{name}", summary="Get a dataset")
async def get_dataset(request: Request, name: str) -> JSONResponse:
    _check_version(request)
    return _dataset_response(await _call(request, lambda jobs: jobs.store.get_dataset(name)))


@router.patch("/datasets/{name}", summary="Update a dataset's annotation files or properties")
async def update_dataset(request: Request, name: str) -> JSONResponse:
    _check_version(request)
    body = await _body(request)

    if_match = request.headers.get("if-match")

    def work(jobs: JobManager) -> DatasetRecord:
        current = jobs.store.get_dataset(name)
        wire.check_if_match(if_match, wire.etag(current))
        kind = body.get("annotationkind")
        if kind is not None and kind != current.annotation_kind:
            raise InvalidArgumentError(
                f"'annotationKind' of the dataset '{name}' is '{current.annotation_kind}' and cannot change; "
                "register a new dataset instead."
            )
        changes: dict[str, Any] = {}
        if "annotationfileuris" in body:
            uris = wire.annotation_file_uris(body)
            _validate_files(uris, current.annotation_kind, jobs.settings)
            changes["annotation_file_uris"] = tuple(uris)
        if "customproperties" in body:
            changes["custom_properties"] = wire.custom_properties(body)
        return jobs.store.update_dataset(name, updated=utc_now(), **changes)

    return _dataset_response(await _call(request, work))


@router.delete("/datasets/{name}", summary="Delete a dataset")
async def delete_dataset(request: Request, name: str) -> Response:
    _check_version(request)

    if_match = request.headers.get("if-match")

    def work(jobs: JobManager) -> None:
        wire.check_if_match(if_match, wire.etag(jobs.store.get_dataset(name)))
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
    wanted = wire.model_request(body)

    def work(jobs: JobManager) -> ModelRecord:
        try:
            existing: ModelRecord | None = jobs.store.get_model(name)
        except NotFoundError:
            existing = None
        if existing is not None and existing.status not in RETRAINABLE_STATUSES:  # before the dataset checks
            raise ConflictError(
                f"The model '{name}' already exists (its status is '{existing.status}'); "
                + ("cancel it" if existing.active else "delete it")
                + " before training again under this name."
            )
        _check_dataset_kind(jobs.store, wanted.dataset_name, wanted.kind, "training")
        if wanted.test_dataset_name:
            _check_dataset_kind(jobs.store, wanted.test_dataset_name, wanted.kind, "test")
        record = jobs.store.create_model(  # replaces a failed or cancelled model of that name
            new_model_record(
                name, wanted.kind, wanted.dataset_name, wanted.time_budget_hours,
                test_dataset_name=wanted.test_dataset_name,
            )
        )  # fmt: skip
        jobs.submit_training(name)
        return record

    return JSONResponse(wire.model_json(await _call(request, work)))


@router.get("/models", summary="List models")
async def list_models(request: Request) -> JSONResponse:
    _check_version(request)
    records = await _call(request, lambda jobs: jobs.store.list_models())
    return _page(request, [wire.model_json(r) for r in records])


@router.get("/models/{name}", summary="Get a model (its training status and performance)")
async def get_model(request: Request, name: str) -> JSONResponse:
    _check_version(request)
    return JSONResponse(wire.model_json(await _call(request, lambda jobs: jobs.store.get_model(name))))


@router.post("/models/{name}:cancel", summary="Cancel a model's training")
async def cancel_model(request: Request, name: str) -> JSONResponse:
    _check_version(request)
    return JSONResponse(wire.model_json(await _call(request, lambda jobs: jobs.cancel(name))))


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
    test_name = wire.evaluation_request(body)

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

    return JSONResponse(wire.evaluation_json(await _call(request, work)))


@router.get("/models/{model_name}/evaluations", summary="List a model's evaluations")
async def list_evaluations(request: Request, model_name: str) -> JSONResponse:
    _check_version(request)

    def work(jobs: JobManager) -> list[EvaluationRecord]:
        jobs.store.get_model(model_name)
        return jobs.store.list_evaluations(model_name)

    return _page(request, [wire.evaluation_json(r) for r in await _call(request, work)])


@router.get("/models/{model_name}/evaluations/{name}", summary="Get an evaluation")
async def get_evaluation(request: Request, model_name: str, name: str) -> JSONResponse:
    _check_version(request)
    record = await _call(request, lambda jobs: jobs.store.get_evaluation(model_name, name))
    return JSONResponse(wire.evaluation_json(record))


@router.delete("/models/{model_name}/evaluations/{name}", summary="Delete an evaluation")
async def delete_evaluation(request: Request, model_name: str, name: str) -> Response:
    _check_version(request)
    await _call(request, lambda jobs: jobs.store.delete_evaluation(model_name, name))
    return Response(status_code=204)
