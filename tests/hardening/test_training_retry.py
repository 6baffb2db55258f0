"""Killing only the training child process (kill -9, the OOM killer) no longer fails the job for good: the job is
started once more and resumes from its last checkpoint."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from imagelens.config import Settings
from imagelens.customize.job_state import new_model_record
from imagelens.customize.jobs import JobManager
from imagelens.models.hub import ModelHub
from imagelens.store import open_store
from tests.customize.test_jobs import DETECTOR, _register, _wait_for
from tests.customize.test_training_data import make_settings, write_detection


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_a_killed_training_child_is_retried_once_and_resumes(tiny_model_dir: Path, tmp_path: Path) -> None:
    settings: Settings = make_settings(tiny_model_dir, tmp_path, torch_threads=1)  # type: ignore[assignment]
    assert settings.data_dir is not None
    store = open_store(settings)
    _register(store, "boxes", write_detection(settings.data_dir, count=12), "imageObjectDetection")
    info = {"detector_config": {**DETECTOR, "max_epochs": 8}}
    store.create_model(new_model_record("det", "Generic-Detector", "boxes", 1.0, info=info))

    jobs = JobManager(store, settings, ModelHub(settings), isolation="process")
    try:
        jobs.submit_training("det")
        _wait_for(lambda: store.get_model("det").progress.get("epoch", 0) >= 2, timeout_s=180)
        with jobs._lock:
            children = list(jobs._children)
        assert len(children) == 1
        children[0].send_signal(signal.SIGKILL)  # only the child: the server (this process) lives on
        assert jobs.wait_idle(240)
        record = store.get_model("det")
        assert record.status == "succeeded", record.error
        assert record.attempts == 2
        assert record.info["resumed_from_epoch"] >= 2  # from the checkpoint, not from scratch
    finally:
        jobs.close()
