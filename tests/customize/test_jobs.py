"""Background jobs: the store as the truth, cancellation, and restarts (a training process SIGKILLed mid-training)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from imagelens.analyzer import Analyzer
from imagelens.azure.customization import model_performance
from imagelens.config import Settings
from imagelens.customize.job_state import new_model_record, utc_now
from imagelens.customize.jobs import JobManager
from imagelens.errors import ConflictError, NotFoundError
from imagelens.models.hub import ModelHub
from imagelens.store import DatasetRecord, SQLiteStore, open_store

from .test_training_data import COLOURS, colour_image, make_settings, write_classification, write_detection

DETECTOR = {"lr": 5e-3, "freeze_backbone_epochs": 1, "batch_size": 4, "patience": 100}


@pytest.fixture(autouse=True)
def _restore_torch_threads() -> Iterator[None]:
    import torch

    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture()
def settings(tiny_model_dir: Path, tmp_path: Path) -> Settings:
    return make_settings(tiny_model_dir, tmp_path, torch_threads=1)  # type: ignore[return-value]


def _register(store: SQLiteStore, name: str, coco: Path, kind: str) -> None:
    now = utc_now()
    store.create_dataset(DatasetRecord(name, kind, (str(coco),), now, now))  # type: ignore[arg-type]


def _wait_for(predicate: Any, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)


def test_classifier_job_trains_evaluates_and_predicts(settings: Settings) -> None:
    data = settings.data_dir
    assert data is not None
    store = open_store(settings)
    _register(store, "colours", write_classification(data, per_class=4), "imageClassification")
    _register(
        store,
        "colours-test",
        write_classification(data, per_class=3, seed=5, name="t.json"),
        "imageClassification",
    )
    store.create_model(
        new_model_record("cls", "Generic-Classifier", "colours", 1.0, test_dataset_name="colours-test")
    )
    hub = ModelHub(settings)
    record = JobManager(store, settings, hub).run_training("cls")
    assert record.status == "succeeded", record.error
    assert record.owner is None and record.attempts == 1 and record.training_seconds > 0
    assert record.performance is not None and record.performance["task"] == "classification"
    performance = model_performance(record.performance)  # Azure's names, as the routes and the CLI show it
    assert performance["accuracyTop1"] >= 0.8  # on the test dataset
    assert set(performance["tagPerformance"]) == set(COLOURS)
    assert (store.model_dir("cls") / "head.npz").is_file() and not store.work_dir("cls").exists()

    import numpy as np

    result = Analyzer(settings, hub, store).analyze(
        colour_image(COLOURS["green"], np.random.default_rng(1)), model_name="cls"
    )
    custom = result.custom_model
    assert custom is not None and custom.objects == ()
    assert [t.name for t in custom.tags][0] == "green" and len(custom.tags) == len(COLOURS)
    assert sum(t.confidence for t in custom.tags) == pytest.approx(1.0)
    assert result.tags is None and result.read is None  # nothing else runs with a custom model
    with pytest.raises(NotFoundError):
        Analyzer(settings, hub, store).analyze(
            colour_image((0, 0, 0), np.random.default_rng(2)), model_name="nope"
        )


def test_cancel_a_job_nobody_runs_and_refuse_a_finished_one(settings: Settings) -> None:
    store = open_store(settings)
    store.create_model(new_model_record("queued", "Generic-Detector", "x", 1.0))
    jobs = JobManager(store, settings, ModelHub(settings))
    record = jobs.cancel("queued")
    assert record.status == "cancelled"
    assert jobs.run_training("queued").status == "cancelled"  # a worker arriving later does nothing
    with pytest.raises(ConflictError, match="not training"):
        jobs.cancel("queued")
    with pytest.raises(NotFoundError):
        jobs.cancel("absent")


def test_cancel_stops_a_running_training(settings: Settings) -> None:
    data = settings.data_dir
    assert data is not None
    store = open_store(settings)
    _register(store, "boxes", write_detection(data, count=12), "imageObjectDetection")
    info = {"detector_config": {**DETECTOR, "max_epochs": 500}}
    store.create_model(new_model_record("det", "Generic-Detector", "boxes", 1.0, info=info))
    jobs = JobManager(store, settings, ModelHub(settings))
    jobs.submit_training("det")
    _wait_for(lambda: store.get_model("det").progress.get("epoch", 0) >= 1)
    assert store.work_dir("det").is_dir()
    assert jobs.cancel("det").status == "cancelling"
    assert jobs.wait_idle(60)
    record = store.get_model("det")
    assert record.status == "cancelled" and record.owner is None and not record.cancel_requested
    assert not store.work_dir("det").exists() and not store.model_dir("det").exists()
    jobs.close()


def test_a_failed_dataset_is_reported_and_live_owners_are_left_alone(settings: Settings) -> None:
    store = open_store(settings)
    mine = f"{socket.gethostname()}:{os.getpid()}:someone"
    store.create_model(new_model_record("busy", "Generic-Classifier", "gone", 1.0))
    store.update_model("busy", status="training", owner=mine, heartbeat=time.time())
    jobs = JobManager(store, settings, ModelHub(settings))
    assert not any(jobs.recover().values())  # its owner is alive and reporting
    assert store.get_model("busy").owner == mine
    store.update_model("busy", heartbeat=time.time() - 10_000)  # alive but silent for hours: taken over
    assert jobs.recover()["resumed"] == ["busy"]
    assert jobs.wait_idle(60)
    record = store.get_model("busy")
    assert record.status == "failed" and record.error is not None
    assert record.error["code"] == "NotFound" and "'gone'" in record.error["message"]
    jobs.close()


def _start_killable_job(settings: Settings, name: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "IMAGELENS_MODEL_DIR": str(settings.model_dir),
        "IMAGELENS_STORE_DIR": str(settings.store_dir),
        "IMAGELENS_DATA_DIR": str(settings.data_dir),
        "IMAGELENS_HUB__OFFLINE": "true",
        "IMAGELENS_TRAINING__TORCH_THREADS": "1",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "imagelens.customize.jobs", "run", name],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


@pytest.mark.slow
def test_a_job_killed_mid_training_resumes_or_fails_with_a_reason(settings: Settings, tmp_path: Path) -> None:
    data = settings.data_dir
    assert data is not None and settings.store_dir is not None
    store = open_store(settings)
    _register(store, "boxes", write_detection(data, count=12), "imageObjectDetection")
    info = {"detector_config": {**DETECTOR, "max_epochs": 10}}
    store.create_model(new_model_record("det", "Generic-Detector", "boxes", 1.0, info=info))

    child = _start_killable_job(settings, "det")
    try:
        _wait_for(lambda: store.get_model("det").progress.get("epoch", 0) >= 2, timeout_s=120)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    killed = store.get_model("det")
    assert killed.status == "training" and killed.owner is not None  # what a crash leaves behind
    assert (store.work_dir("det") / "checkpoint.pt").is_file()

    # a restart with resuming off: failed, with the reason
    copy_dir = tmp_path / "store-copy"
    shutil.copytree(settings.store_dir, copy_dir)
    strict = settings.model_copy(
        update={
            "store_dir": copy_dir,
            "training": settings.training.model_copy(update={"resume_interrupted": False}),
        }
    )
    copy = SQLiteStore(copy_dir)
    assert JobManager(copy, strict, ModelHub(strict)).recover()["failed"] == ["det"]
    failed = copy.get_model("det")
    assert failed.status == "failed" and failed.owner is None
    assert failed.error is not None and failed.error["code"] == "TrainingInterrupted"
    assert (
        "interrupted (at epoch" in failed.error["message"] and "RESUME_INTERRUPTED" in failed.error["message"]
    )

    # a restart with resuming on (the default), training in a child process as the server does
    jobs = JobManager(store, settings, ModelHub(settings), isolation="process")
    assert jobs.recover()["resumed"] == ["det"]
    assert jobs.wait_idle(180)
    record = store.get_model("det")
    assert record.status == "succeeded", record.error
    assert record.attempts == 2
    assert record.info["resumed_from_epoch"] >= 2  # from the checkpoint, not from scratch
    assert [h["epoch"] for h in record.info["history"]] == list(range(11))
    assert record.training_seconds >= killed.training_seconds
    jobs.close()


def test_a_failed_or_cancelled_model_is_trained_again_under_its_name(settings: Settings) -> None:
    """Regression: a failed run used to block its name for good (409). A failed or cancelled model is now replaced,
    record, evaluations and files at once; a succeeded or running one still answers ConflictError."""
    from imagelens.store import EvaluationRecord

    data = settings.data_dir
    assert data is not None
    store = open_store(settings)
    _register(store, "colours", write_classification(data, per_class=3), "imageClassification")
    jobs = JobManager(store, settings, ModelHub(settings))
    first = store.create_model(new_model_record("again", "Generic-Classifier", "gone", 1.0))
    failed = jobs.run_training("again")
    assert failed.status == "failed" and failed.error is not None and "'gone'" in failed.error["message"]
    leftovers = [store.model_dir("again") / "stale.bin", store.work_dir("again") / "stale.bin"]
    for path in [*leftovers, store.root / "logs" / "again.log"]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"old run")
    store.create_evaluation(EvaluationRecord("again", "old", "colours", utc_now(), utc_now()))
    time.sleep(0.002)  # a new creation time, so the new model is a new catalog entry

    second = store.create_model(new_model_record("again", "Generic-Classifier", "colours", 1.0))
    assert store.get_model("again") == second and second.status == "notStarted" and second.error is None
    assert second.created != first.created
    assert not any(p.exists() for p in leftovers) and not (store.root / "logs" / "again.log").exists()
    assert store.list_evaluations("again") == []
    trained = jobs.run_training("again")
    assert trained.status == "succeeded", trained.error
    assert (store.model_dir("again") / "head.npz").is_file()
    with pytest.raises(ConflictError, match="delete it"):
        store.create_model(new_model_record("again", "Generic-Classifier", "colours", 1.0))
    assert store.get_model("again") == trained  # refused: nothing changed

    store.create_model(new_model_record("stopped", "Generic-Detector", "x", 1.0))
    assert jobs.cancel("stopped").status == "cancelled"
    assert store.create_model(new_model_record("stopped", "Generic-Detector", "y", 1.0)).dataset_name == "y"

    mine = f"{socket.gethostname()}:{os.getpid()}:someone"
    store.create_model(new_model_record("busy", "Generic-Detector", "x", 1.0))
    store.update_model("busy", status="training", owner=mine, heartbeat=time.time())
    with pytest.raises(ConflictError, match="cancel it"):
        store.create_model(new_model_record("busy", "Generic-Detector", "x", 1.0))
    store.update_model("busy", status="failed")  # failed, but its process is still cleaning up
    with pytest.raises(ConflictError):
        store.create_model(new_model_record("busy", "Generic-Detector", "x", 1.0))
    jobs.close()


def test_a_finished_job_leaves_the_files_of_the_next_run_alone(settings: Settings) -> None:
    """A job that ends after its name was trained again must not delete the new job's files."""
    store = open_store(settings)
    old = store.create_model(new_model_record("name", "Generic-Detector", "x", 1.0))
    jobs = JobManager(store, settings, ModelHub(settings))
    assert jobs.cancel("name").status == "cancelled"
    time.sleep(0.002)
    store.create_model(new_model_record("name", "Generic-Detector", "x", 1.0))
    work = store.work_dir("name")
    work.mkdir(parents=True)
    jobs._remove_files(old, keep_model=False)  # the old job's late clean-up
    assert work.is_dir()


def test_a_detector_job_on_a_non_rtdetr_base_fails_with_the_reason(settings: Settings) -> None:
    """Training assumes the RT-DETR family: a job whose detector role names another family fails at once, saying
    which families it fine-tunes (and downloads nothing)."""
    data = settings.data_dir
    assert data is not None
    other = settings.model_copy(update={"models": {"detector": "owlv2-base-patch16-ensemble"}})
    store = open_store(other)
    _register(store, "boxes", write_detection(data, count=4), "imageObjectDetection")
    store.create_model(new_model_record("det", "Generic-Detector", "boxes", 1.0))
    record = JobManager(store, other, ModelHub(other)).run_training("det")
    assert record.status == "failed" and record.error is not None
    assert record.error["code"] == "BadArgument"
    assert (
        "RT-DETR-family" in record.error["message"]
        and "owlv2-base-patch16-ensemble" in record.error["message"]
    )
