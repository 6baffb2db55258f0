"""Take over the training jobs of a replica that died, while this one keeps running.

With several server replicas on one PostgreSQL (``IMAGELENS_DATABASE_URL``), a job's owner renews its lease (the
record's ``heartbeat``) about once a second. :class:`LeaseWatcher` looks every ``every_s`` seconds for active jobs
whose owner has not renewed it for ``training.stale_after_s`` (and, on this host, whose process is gone), and takes
each over exactly as :meth:`~imagelens.customize.jobs.JobManager.recover` does at start: a compare-and-set on the
dead owner releases the job (only one replica wins it), then this replica's workers claim it and resume it from its
checkpoint; a job being cancelled is cancelled through the same path; one interrupted ``max_attempts`` times fails.
Checkpoints are in the dead owner's local ``work_dir``: a job taken over on another host starts again from scratch
(its training time so far still counts against its budget); on the same host it resumes from the checkpoint.

The same loop removes this host's fetched copies of models deleted (or trained again) on other replicas.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time

from imagelens.customize.job_state import job_error, recovery_action, utc_now
from imagelens.customize.jobs import JobManager
from imagelens.store.base import ACTIVE_STATUSES

log = logging.getLogger("imagelens.jobs")


class LeaseWatcher:
    """Periodic take-over of jobs whose owner's lease ran out (see the module docstring)."""

    def __init__(self, manager: JobManager, every_s: float | None = None) -> None:
        self.manager = manager
        self.every_s = (
            every_s if every_s is not None else max(1.0, manager.settings.training.stale_after_s / 2)
        )
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def check_once(self) -> list[str]:
        """Take over every job whose owner is gone; returns their names."""
        store, taken = self.manager.store, []
        for record in store.list_models():
            if (
                record.status not in ACTIVE_STATUSES
                or record.owner is None
                or self.manager.owner_alive(record)
            ):
                continue
            expect = {"owner": record.owner, "status": record.status}
            age = None if record.heartbeat is None else time.time() - record.heartbeat
            log.warning(
                "job %s: its owner %s last renewed its lease %s ago", record.name, record.owner,
                "never" if age is None else f"{age:.1f} s",
            )  # fmt: skip
            action, reason = recovery_action(record, self.manager.settings.training)
            if action == "fail":
                failed = store.update_model(
                    record.name, expect=expect, status="failed", owner=None, updated=utc_now(),
                    error=job_error("TrainingInterrupted", reason or "Training was interrupted."),
                )  # fmt: skip
                if failed is not None:
                    shutil.rmtree(store.work_dir(record.name), ignore_errors=True)
                    shutil.rmtree(store.model_dir(record.name), ignore_errors=True)
                    taken.append(record.name)
            elif store.update_model(record.name, expect=expect, owner=None, updated=utc_now()) is not None:
                self.manager.submit_training(record.name)  # resumes, or finishes the cancellation
                taken.append(record.name)
        if taken:
            log.warning("took over jobs of a stopped replica: %s", taken)
        return taken

    def prune_once(self) -> list[str]:
        """Remove this host's copies of model files whose model was deleted or trained again on another replica."""
        prune = getattr(self.manager.store, "prune_local_files", None)
        return list(prune()) if prune is not None else []

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                self.check_once()
                self.prune_once()
            except Exception:  # the database may be down for a while: try again next time
                log.warning("lease check failed", exc_info=True)

    def start(self) -> LeaseWatcher:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="imagelens-leases", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout_s)
