"""A training job renews its lease on a thread, so a long stretch between the trainer's ``check`` calls (loading
models, embedding a dataset) does not let another replica take a live job over (found by
tests/postgres/test_replicas_e2e.py: without it, a replica slow to load its models lost its job to the other)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from imagelens.customize.control import TrainingCancelled, TrainingInterrupted
from imagelens.customize.job_state import new_model_record
from imagelens.customize.job_worker import JobControl
from imagelens.store.sqlite import SQLiteStore


class Host:
    def __init__(self, store: SQLiteStore) -> None:
        self.store = store
        self.owner = "host:1:me"
        self.heartbeat_s = 0.05
        self.closing = False
        self.on_progress = None


@pytest.fixture
def host(tmp_path: Path) -> Host:
    store = SQLiteStore(tmp_path / "store")
    store.create_model(new_model_record("m", "Generic-Classifier", "ds", 1.0))
    store.update_model("m", owner="host:1:me", status="training", heartbeat=time.time() - 100)
    return Host(store)


def test_the_lease_is_renewed_while_the_trainer_does_not_call_check(host: Host) -> None:
    with JobControl(host, "m", 0.0) as control:
        time.sleep(0.4)  # a long step: no check()
        beat = host.store.get_model("m").heartbeat
        assert beat is not None and time.time() - beat < 0.3
        control.check()  # still ours
    settled = host.store.get_model("m").heartbeat
    time.sleep(0.2)
    assert host.store.get_model("m").heartbeat == settled  # the renewals stop with the job


def test_a_job_taken_over_or_cancelled_meanwhile_stops_at_the_next_check(host: Host) -> None:
    with JobControl(host, "m", 0.0) as control:
        host.store.update_model("m", cancel_requested=True)
        time.sleep(0.3)
        with pytest.raises(TrainingCancelled):
            control.check()
        host.store.update_model("m", owner="host:2:other")
        time.sleep(0.3)
        with pytest.raises(TrainingInterrupted, match="took the job over"):
            control.check()
        assert host.store.get_model("m").owner == "host:2:other"  # the lost lease is not renewed


def test_without_with_check_renews_the_lease_itself(host: Host) -> None:
    control = JobControl(host, "m", 0.0)
    control.check()
    beat = host.store.get_model("m").heartbeat
    assert beat is not None and time.time() - beat < 1.0
    host.store.update_model("m", owner="host:2:other")
    time.sleep(0.1)
    with pytest.raises(TrainingInterrupted):
        control.check()
