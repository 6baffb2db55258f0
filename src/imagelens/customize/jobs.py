"""Training and evaluation jobs in the background, recorded in the store so that none is lost to a restart.

A job's states and the decisions about them are in :mod:`~imagelens.customize.job_state`; what runs inside a job
(the training itself) is :mod:`~imagelens.customize.job_worker`. The record in the store is the truth; the threads of
a :class:`JobManager` are just workers:

* **Ownership.** A worker claims a job atomically (compare-and-set on its ``owner``), then writes a heartbeat about
  once a second while training. Two processes sharing a store never train the same job.
* **Restarts.** :meth:`JobManager.recover`, run when a server starts, looks at every unfinished job whose owner is
  gone (its process no longer exists, or it has not reported for ``stale_after_s``): a job never started is
  queued; a training job is resumed from its checkpoint (the detector's last whole epoch, the classifier's embedding
  cache) or, when resuming is off or it was interrupted ``max_attempts`` times, marked ``failed`` with the reason;
  a job being cancelled becomes ``cancelled``. Interrupted evaluations are run again (they have no state).
* **Cancellation** is cooperative: ``cancel`` sets a flag in the store; the trainer sees it at its next step,
  whichever process runs it, and the job ends ``cancelled`` with its files removed.
* **Shutdown.** :meth:`JobManager.close` asks running trainers to stop at their next step and leaves the jobs
  ``training`` without an owner, so the next start resumes them.

Training runs in a **child process** by default (``IMAGELENS_TRAINING__ISOLATION=process``): the server's loaded
models, memory and torch threads stay untouched, a crash stays contained, and loading a model for training can
never race the server's inference. The child claims the job itself, so a child that outlives a killed server keeps
its job (its heartbeat says so) and a restarted server leaves it alone. ``thread`` runs jobs in this process.

``python -m imagelens.customize.jobs run NAME`` runs one job in the foreground (the child, and the CLI's detached
training, are this command).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from imagelens.config import Settings
from imagelens.customize.control import TimeBudgetExceeded, TrainingCancelled, TrainingInterrupted
from imagelens.customize.evaluate import evaluate_model
from imagelens.customize.job_state import job_error, owner_alive, recovery_action, utc_now
from imagelens.customize.job_worker import JobControl, Progress, Trainer
from imagelens.errors import ConflictError, ImageLensError, NotFoundError
from imagelens.models.hub import ModelHub
from imagelens.store.base import (
    ACTIVE_STATUSES,
    FINAL_STATUSES,
    CustomizationStore,
    EvaluationRecord,
    ModelRecord,
)

log = logging.getLogger("imagelens.jobs")

CLAIM_ATTEMPTS = 8  # a row locked by another transaction for an instant is claimed again after 0.05 ... 0.4 s


# --- the manager ---------------------------------------------------------------------------------------------------


class JobManager:
    """Runs training and evaluation jobs on ``settings.training.workers`` daemon threads.

    ``classifier_config`` / ``detector_config`` (dicts of :class:`~imagelens.customize.train_classifier.
    ClassifierConfig` / :class:`~imagelens.customize.train_detector.DetectorConfig` fields) set this manager's
    defaults; a model's own ``info["classifier_config"]`` / ``info["detector_config"]`` (written when it was
    created) win, so a resumed job trains with the settings it started with.
    """

    def __init__(
        self,
        store: CustomizationStore,
        settings: Settings,
        hub: ModelHub,
        *,
        classifier_config: dict[str, Any] | None = None,
        detector_config: dict[str, Any] | None = None,
        on_progress: Progress | None = None,
        heartbeat_s: float = 1.0,
        isolation: str | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.hub = hub
        self.classifier_config = dict(classifier_config or {})
        self.detector_config = dict(detector_config or {})
        self.on_progress = on_progress
        self.heartbeat_s = heartbeat_s
        self.isolation = isolation or settings.training.isolation
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.closing = False
        self._queue: queue.Queue[tuple[str, ...] | None] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._children: set[subprocess.Popen[bytes]] = set()
        self._lock = threading.Lock()

    # --- queueing -------------------------------------------------------------------------------------------------

    def _ensure_workers(self) -> None:
        with self._lock:
            if self._threads or self.closing:
                return
            for i in range(self.settings.training.workers):
                thread = threading.Thread(target=self._work, name=f"imagelens-train-{i}", daemon=True)
                thread.start()
                self._threads.append(thread)

    def submit_training(self, name: str) -> None:
        self._ensure_workers()
        self._queue.put(("train", name))

    def submit_evaluation(self, model_name: str, name: str) -> None:
        self._ensure_workers()
        self._queue.put(("evaluate", model_name, name))

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                if item[0] == "train":
                    if self.isolation == "process":
                        self.run_training_in_child(item[1])
                    else:
                        self.run_training(item[1])
                else:
                    self.run_evaluation(item[1], item[2])
            except Exception:  # a worker must survive any job
                log.exception("job %s failed unexpectedly", item)
            finally:
                self._queue.task_done()

    def wait_idle(self, timeout_s: float | None = None) -> bool:
        """Block until every queued job is done (tests, the CLI); ``False`` on timeout."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while self._queue.unfinished_tasks:
            if deadline is not None and time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def close(self, timeout_s: float = 30.0) -> None:
        """Stop the workers; a training job in progress stops at its next step and stays resumable (a child process
        gets SIGTERM, which it handles the same way)."""
        self.closing = True
        with self._lock:
            children = list(self._children)
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(signal.SIGTERM)
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join(timeout=timeout_s)
        for child in children:
            try:
                child.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                child.kill()

    # --- a job in a child process ---------------------------------------------------------------------------------

    def run_training_in_child(self, name: str) -> ModelRecord:
        """Run ``python -m imagelens.customize.jobs run NAME`` with this manager's settings (on stdin) and wait.
        Its output goes to ``<store>/logs/NAME.log``. A child that dies without finishing its job fails the job
        with the exit code (unless a restart is in progress: then the job stays resumable)."""
        if self.closing:
            return self.store.get_model(name)
        payload = json.dumps(
            {
                "settings": json.loads(self.settings.model_dump_json()),
                "classifier_config": self.classifier_config,
                "detector_config": self.detector_config,
            }
        ).encode("utf-8")
        logs = self.store.root / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        record, code = self._child_once(name, payload, logs)
        interrupted = record.active and not self.closing and record.owner is not None
        if interrupted and not self.owner_alive(record) and self._may_retry(record):
            # The child was killed (OOM killer, kill -9): release the job and start it once more; it resumes from
            # its last checkpoint, and the attempt counts against training.max_attempts.
            log.warning("the training process of %s exited with code %s; retrying once", name, code)
            if self.store.update_model(name, expect={"owner": record.owner}, owner=None) is not None:
                record, code = self._child_once(name, payload, logs)
        if record.active and not self.closing and not self.owner_alive(record) and record.owner is not None:
            failed = self.store.update_model(
                name, expect={"owner": record.owner}, status="failed", owner=None, updated=utc_now(),
                error=job_error(
                    "InternalServerError",
                    f"The training process exited with code {code} before finishing; see the job's log "
                    f"(logs/{name}.log in the store).",
                ),
            )  # fmt: skip
            if failed is not None:
                self._remove_files(failed, keep_model=False)
                return failed
        return record

    def _may_retry(self, record: ModelRecord) -> bool:
        return (
            self.settings.training.resume_interrupted
            and record.attempts < self.settings.training.max_attempts
        )

    def _child_once(self, name: str, payload: bytes, logs: Path) -> tuple[ModelRecord, int | None]:
        with (logs / f"{name}.log").open("ab") as log_file:
            child = subprocess.Popen(
                [sys.executable, "-m", "imagelens.customize.jobs", "run", name, "--config-stdin"],
                stdin=subprocess.PIPE, stdout=log_file, stderr=subprocess.STDOUT,
            )  # fmt: skip
            with self._lock:
                self._children.add(child)
            try:
                child.communicate(payload)
            finally:
                with self._lock:
                    self._children.discard(child)
        return self.store.get_model(name), child.returncode

    # --- cancellation ---------------------------------------------------------------------------------------------

    def cancel(self, name: str) -> ModelRecord:
        """Cancel a job: at once when no worker has it, else by flag (status ``cancelling`` until it stops)."""
        for _ in range(5):  # compare-and-set; retried when a worker changes the record in between
            record = self.store.get_model(name)
            if record.status in FINAL_STATUSES:
                raise ConflictError(
                    f"The model '{name}' is not training (its status is '{record.status}'); nothing to cancel."
                )
            if record.owner is None:
                done = self.store.update_model(
                    name, expect={"owner": None, "status": record.status}, status="cancelled",
                    cancel_requested=False, updated=utc_now(), heartbeat=None,
                )  # fmt: skip
                if done is not None:
                    self._remove_files(done, keep_model=False)
                    return done
                continue
            flagged = self.store.update_model(
                name,
                expect={"owner": record.owner},
                status="cancelling",
                cancel_requested=True,
                updated=utc_now(),
            )
            if flagged is not None:
                return flagged
        return self.store.get_model(name)

    # --- restarts -------------------------------------------------------------------------------------------------

    def owner_alive(self, record: ModelRecord) -> bool:
        """Whether the process named in ``record.owner`` is still working on it."""
        return owner_alive(record, self.owner, self.settings.training.stale_after_s)

    def recover(self) -> dict[str, list[str]]:
        """Deal with the jobs a stopped process left behind (see the module docstring); returns what was done."""
        done: dict[str, list[str]] = {
            "queued": [],
            "resumed": [],
            "failed": [],
            "cancelled": [],
            "evaluations": [],
        }
        for record in self.store.list_models():
            if record.status not in ACTIVE_STATUSES or self.owner_alive(record):
                continue
            expect = {"owner": record.owner, "status": record.status}
            now = utc_now()
            action, reason = recovery_action(record, self.settings.training)
            if action == "cancel":
                if self.store.update_model(
                    record.name, expect=expect, status="cancelled", owner=None, cancel_requested=False,
                    updated=now,
                ):  # fmt: skip
                    self._remove_files(record, keep_model=False)
                    done["cancelled"].append(record.name)
            elif action == "fail":
                if self.store.update_model(
                    record.name, expect=expect, status="failed", owner=None, updated=now,
                    error=job_error("TrainingInterrupted", reason or "Training was interrupted."),
                ):  # fmt: skip
                    self._remove_files(record, keep_model=False)
                    done["failed"].append(record.name)
            elif self.store.update_model(record.name, expect=expect, owner=None, updated=now):
                self.submit_training(record.name)
                done["queued" if action == "queue" else "resumed"].append(record.name)
        for evaluation in self.store.list_evaluations():
            if evaluation.status in ("notStarted", "running"):
                self.submit_evaluation(evaluation.model_name, evaluation.name)
                done["evaluations"].append(f"{evaluation.model_name}/{evaluation.name}")
        if any(done.values()):
            log.info("recovered jobs: %s", {k: v for k, v in done.items() if v})
        return done

    # --- training -------------------------------------------------------------------------------------------------

    def run_training(self, name: str) -> ModelRecord:
        """Train ``name`` here and now (claiming it first); returns the final record, or the current one when
        another process owns the job or it is finished."""
        claimable = frozenset({"notStarted", "training", "cancelling"})
        claimed = None
        for attempt in range(CLAIM_ATTEMPTS):
            try:
                claimed = self.store.claim_model(name, self.owner, claimable)
            except NotFoundError:
                log.info("model %s was deleted before its job ran", name)
                raise
            if claimed is not None:
                break
            # None: another process owns it, it is finished, or (PostgreSQL, SKIP LOCKED) another transaction held
            # the row at that instant: a lease watcher's compare-and-set that lost. Only the last is worth a retry,
            # else a job handed over with no owner would stay "training" with nobody to run it.
            current = self.store.get_model(name)
            if current.owner is not None or current.status not in claimable:
                return current
            time.sleep(0.05 * (attempt + 1))
        if claimed is None:
            return self.store.get_model(name)
        if claimed.cancel_requested or claimed.status == "cancelling":
            return self._finish(name, status="cancelled", keep_model=False)
        attempts = claimed.attempts + 1
        record = self.store.update_model(
            name, expect={"owner": self.owner}, status="training", attempts=attempts, heartbeat=time.time(),
            updated=utc_now(), error=None,
        )  # fmt: skip
        assert record is not None
        control = JobControl(self, name, record.training_seconds)
        budget = record.time_budget_hours * 3600.0 - record.training_seconds
        try:
            if budget <= 0:
                raise TimeBudgetExceeded("the time budget was spent before a model was ready")
            with control:  # renews the lease on a thread while the trainer works
                performance, info = self._trainer().train(record, control, budget)
        except TrainingCancelled:
            return self._finish(name, status="cancelled", keep_model=False, seconds=control.elapsed())
        except TrainingInterrupted as stop:
            log.info("training of %s interrupted (%s); it resumes on the next start", name, stop)
            self.store.update_model(  # a clean stop does not count as an attempt
                name, expect={"owner": self.owner}, owner=None, training_seconds=control.elapsed(),
                attempts=attempts - 1, updated=utc_now(),
            )  # fmt: skip
            return self.store.get_model(name)
        except TimeBudgetExceeded as exc:
            return self._finish(
                name, status="failed", keep_model=False, seconds=control.elapsed(),
                error=job_error("TimeBudgetExceeded", f"Training failed: {exc}."),
            )  # fmt: skip
        except ImageLensError as exc:
            return self._finish(
                name, status="failed", keep_model=False, seconds=control.elapsed(),
                error=job_error(exc.inner_code, exc.message),
            )  # fmt: skip
        except Exception as exc:
            log.exception("training of %s failed", name)
            return self._finish(
                name, status="failed", keep_model=False, seconds=control.elapsed(),
                error=job_error("InternalServerError", f"Training failed: {type(exc).__name__}: {exc}"),
            )  # fmt: skip
        return self._finish(
            name,
            status="succeeded",
            keep_model=True,
            seconds=control.elapsed(),
            performance=performance,
            info=info,
        )

    def _finish(
        self, name: str, *, status: str, keep_model: bool, seconds: float | None = None, **changes: Any
    ) -> ModelRecord:
        if seconds is not None:
            changes["training_seconds"] = seconds
        record = self.store.update_model(
            name, expect={"owner": self.owner}, status=status, owner=None, heartbeat=None, cancel_requested=False,
            updated=utc_now(), **changes,
        )  # fmt: skip
        if record is None:  # another process took the job over: its files are its own now
            return self.store.get_model(name)
        self._remove_files(record, keep_model=keep_model)
        return record

    def _trainer(self) -> Trainer:
        return Trainer(self.store, self.settings, self.hub, self.classifier_config, self.detector_config)

    def _remove_files(self, record: ModelRecord, *, keep_model: bool) -> None:
        """Delete a finished job's checkpoints (and, unless it succeeded, its model files), unless the name has been
        trained again since (a failed or cancelled model may be replaced at once: the files are the new job's)."""
        try:
            if self.store.get_model(record.name).created != record.created:
                return
        except NotFoundError:
            pass
        shutil.rmtree(self.store.work_dir(record.name), ignore_errors=True)
        if not keep_model:
            shutil.rmtree(self.store.model_dir(record.name), ignore_errors=True)

    # --- evaluations ----------------------------------------------------------------------------------------------

    def run_evaluation(self, model_name: str, name: str) -> EvaluationRecord:
        from imagelens.customize.sources import load_registered_dataset

        try:
            evaluation = self.store.update_evaluation(model_name, name, status="running", updated=utc_now())
        except NotFoundError:
            log.info("evaluation %s/%s was deleted before it ran", model_name, name)
            raise
        try:
            record = self.store.get_model(model_name)
            if record.status != "succeeded":
                raise ConflictError(f"The model '{model_name}' has not succeeded (status '{record.status}').")
            source = self.store.get_dataset(evaluation.test_dataset_name)
            dataset = load_registered_dataset(
                source.annotation_file_uris, source.annotation_kind, self.settings
            )
            performance = evaluate_model(self.hub, self.store, record, dataset, self.settings)
        except ImageLensError as exc:
            return self.store.update_evaluation(
                model_name,
                name,
                status="failed",
                error=job_error(exc.inner_code, exc.message),
                updated=utc_now(),
            )
        except Exception as exc:
            log.exception("evaluation %s/%s failed", model_name, name)
            return self.store.update_evaluation(
                model_name, name, status="failed", updated=utc_now(),
                error=job_error("InternalServerError", f"Evaluation failed: {type(exc).__name__}: {exc}"),
            )  # fmt: skip
        return self.store.update_evaluation(
            model_name, name, status="succeeded", performance=performance, error=None, updated=utc_now()
        )


def main(argv: list[str] | None = None) -> int:
    """``python -m imagelens.customize.jobs run NAME`` | ``recover``: run one job (or every interrupted one) in the
    foreground with settings from the environment."""
    import argparse

    from imagelens.store import open_store

    parser = argparse.ArgumentParser(prog="python -m imagelens.customize.jobs")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="train one model now")
    run.add_argument("name")
    run.add_argument(
        "--config-stdin", action="store_true",
        help='read {"settings", "classifier_config", "detector_config"} as JSON from stdin instead of IMAGELENS_*',
    )  # fmt: skip
    sub.add_parser("recover", help="resume or fail interrupted jobs, then run them")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    configs: dict[str, Any] = {}
    if getattr(args, "config_stdin", False):
        configs = json.loads(sys.stdin.read())
        settings = Settings.model_validate(configs["settings"])
    else:
        settings = Settings()
    manager = JobManager(
        open_store(settings), settings, ModelHub(settings), isolation="thread",
        classifier_config=configs.get("classifier_config"), detector_config=configs.get("detector_config"),
    )  # fmt: skip
    signal.signal(signal.SIGTERM, lambda *_: setattr(manager, "closing", True))  # stop at the next step
    if args.command == "run":
        record = manager.run_training(args.name)
        log.info("model %s: %s", record.name, record.status)
        return 0 if record.status == "succeeded" else 1
    manager.recover()
    manager.wait_idle()
    manager.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
