"""What runs inside a training job: the trainer's line to the store (:class:`JobControl`) and the training itself
(:class:`Trainer`: load the dataset, train a classifier or a detector, evaluate it).

:class:`~imagelens.customize.jobs.JobManager` claims a job, then hands it to a :class:`Trainer` in its own thread or
in a child process (``python -m imagelens.customize.jobs run NAME``), and records how it ended.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, fields, replace
from typing import Any, Protocol

import numpy as np

from imagelens.config import Settings
from imagelens.customize.control import TrainingCancelled, TrainingInterrupted
from imagelens.customize.evaluate import evaluate_model, metrics_performance
from imagelens.errors import ModelUnavailableError, NotFoundError
from imagelens.models.hub import ModelHub
from imagelens.models.spec import Role
from imagelens.store.base import CustomizationStore, ModelRecord

Progress = Callable[[str, dict[str, Any]], None]

log = logging.getLogger("imagelens.jobs")


class JobHost(Protocol):
    """What a :class:`JobControl` needs from whoever runs the job (a :class:`~imagelens.customize.jobs.JobManager`)."""

    store: CustomizationStore
    owner: str
    heartbeat_s: float
    closing: bool
    on_progress: Progress | None


class JobControl:
    """The trainer's line to the store: heartbeat, accumulated training time, cancel flag, progress.

    Used as a context manager, it renews the job's lease (``heartbeat``) on a thread every ``heartbeat_s`` seconds,
    so the lease holds while the trainer spends long stretches between :meth:`check` calls (loading models,
    embedding a dataset); other replicas take a job over only when its owner stops renewing it. :meth:`check` then
    raises what the last renewal found (the job taken over, a cancel request). Outside ``with``, :meth:`check`
    renews the lease itself.

    A training child whose server process dies (SIGKILL of the server alone) is not stopped: it keeps renewing its
    lease, finishes the job, writes the result (and, on PostgreSQL, the model's files) to the store and exits, so no
    replica runs the job again and no work is lost. The renewal thread notices the new parent and logs it once."""

    def __init__(self, manager: JobHost, name: str, seconds_before: float) -> None:
        self.manager = manager
        self.name = name
        self.started = time.monotonic()
        self.seconds_before = seconds_before
        self._last_beat = 0.0
        self._lost = False
        self._cancelled = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._parent = os.getppid()
        self.orphaned = False

    def elapsed(self) -> float:
        return self.seconds_before + time.monotonic() - self.started

    def _beat(self) -> None:
        record = self.manager.store.update_model(
            self.name,
            expect={"owner": self.manager.owner},
            heartbeat=time.time(),
            training_seconds=self.elapsed(),
        )
        if record is None:
            self._lost = True
        elif record.cancel_requested:
            self._cancelled = True

    def _keep_alive(self) -> None:
        while not self._lost and not self._stop.wait(self.manager.heartbeat_s):
            if not self.orphaned and os.getppid() != self._parent:
                self.orphaned = True
                log.warning(
                    "the process that started the training of %s (pid %d) is gone; finishing the job here and "
                    "keeping its lease", self.name, self._parent,
                )  # fmt: skip
            try:
                self._beat()
            except Exception:  # the database may be down for a moment: try again at the next beat
                log.warning("could not renew the lease of %s", self.name, exc_info=True)

    def __enter__(self) -> JobControl:
        self._thread = threading.Thread(
            target=self._keep_alive, name=f"imagelens-lease-{self.name}", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def check(self) -> None:
        if self.manager.closing:
            raise TrainingInterrupted("the process is shutting down")
        if self._thread is None:
            now = time.monotonic()
            if now - self._last_beat >= self.manager.heartbeat_s:
                self._last_beat = now
                self._beat()
        if self._lost:
            raise TrainingInterrupted("another process took the job over")
        if self._cancelled:
            raise TrainingCancelled(f"the model '{self.name}' was cancelled")

    def report(self, **progress: Any) -> None:
        clean = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in progress.items()}
        self.manager.store.update_model(self.name, expect={"owner": self.manager.owner}, progress=clean)
        if self.manager.on_progress is not None:
            self.manager.on_progress(self.name, clean)


class Trainer:
    """Trains one job's model with the hub's models and the store's datasets; returns (performance, info).

    ``classifier_config`` / ``detector_config`` are the defaults; a model's own ``info["classifier_config"]`` /
    ``info["detector_config"]`` (written when it was created) win, so a resumed job trains with its first settings.
    """

    def __init__(
        self,
        store: CustomizationStore,
        settings: Settings,
        hub: ModelHub,
        classifier_config: dict[str, Any],
        detector_config: dict[str, Any],
    ) -> None:
        self.store = store
        self.settings = settings
        self.hub = hub
        self.classifier_config = classifier_config
        self.detector_config = detector_config

    def train(
        self, record: ModelRecord, control: JobControl, budget_s: float
    ) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        from imagelens.customize.sources import load_registered_dataset, load_rgb

        torch_threads = self.settings.training.torch_threads
        if torch_threads:
            import torch

            torch.set_num_threads(torch_threads)
        control.report(stage="loading dataset")
        try:
            source = self.store.get_dataset(record.dataset_name)
        except NotFoundError:
            raise NotFoundError(f"The training dataset '{record.dataset_name}' no longer exists.") from None
        dataset = load_registered_dataset(source.annotation_file_uris, source.annotation_kind, self.settings)
        work = self.store.work_dir(record.name)
        work.mkdir(parents=True, exist_ok=True)
        self.store.clear_stale_model_dir(record)
        out = self.store.model_dir(record.name)

        def load(im: Any) -> Any:
            return load_rgb(im, self.settings)

        performance: dict[str, Any] | None
        if record.kind == "Generic-Classifier":
            from imagelens.customize.train_classifier import ClassifierConfig, train_classifier

            config = _config(ClassifierConfig, self.classifier_config, record.info.get("classifier_config"))
            backbone_id = self.hub.model_for_role(Role.IMAGE_EMBEDDING)
            backbone = self.hub.get(backbone_id)
            result = train_classifier(
                dataset, _SharedEmbedder(self.hub, backbone), load, backbone=backbone_id,
                backbone_fingerprint=str(getattr(backbone, "fingerprint", "")), config=config, control=control,
                work_dir=work, time_budget_s=budget_s,
            )  # fmt: skip
            result.head.save(out)
            performance = metrics_performance(result.validation) if result.validation else None
            info: dict[str, Any] = {
                **record.info,
                "backbone": backbone_id,
                "classes": list(result.head.class_names),
                "temperature": result.head.temperature,
                "num_train": result.num_train,
                "num_validation": result.num_validation,
            }
        else:
            from imagelens.customize.train_detector import DetectorConfig, train_detector

            config_d = _config(DetectorConfig, self.detector_config, record.info.get("detector_config"))
            from imagelens.customize.detector_model import check_fine_tunable

            base_id = self.hub.model_for_role(Role.DETECTOR)
            check_fine_tunable(self.hub.spec(base_id))  # RT-DETR family only: refused before any download
            base_dir = self._model_folder(base_id)
            result_d = train_detector(
                dataset, base_dir, out, load, config=config_d, control=control, work_dir=work,
                time_budget_s=budget_s, base_model=base_id,
            )  # fmt: skip
            performance = metrics_performance(result_d.validation)
            info = {
                **record.info,
                "base_model": base_id,
                "classes": list(result_d.class_names),
                "score_threshold": config_d.score_threshold,
                "best_epoch": result_d.best_epoch,
                "stopped": result_d.stopped,
                "selected_on": result_d.selected_on,
                "resumed_from_epoch": result_d.resumed_from_epoch,
                "history": [asdict(h) for h in result_d.history],
                "num_train": result_d.num_train,
                "num_validation": result_d.num_validation,
            }
        if record.test_dataset_name:
            control.report(stage="evaluating")
            test = self.store.get_dataset(record.test_dataset_name)
            test_set = load_registered_dataset(test.annotation_file_uris, test.annotation_kind, self.settings)
            trained = replace(record, info=info)
            performance = evaluate_model(self.hub, self.store, trained, test_set, self.settings)
        return performance, info

    def _model_folder(self, model_id: str) -> Any:
        try:
            path, _ = self.hub.locate(model_id)
        except ModelUnavailableError:
            if self.hub.offline:
                raise
            path = self.hub.download(model_id)
        if path is None:
            raise ModelUnavailableError(model_id, "a detector to fine-tune needs a folder of weights")
        return path


class _SharedEmbedder:
    """The hub's backbone, used as the hub requires (inside ``using()``, so no load in another thread overlaps it)."""

    def __init__(self, hub: ModelHub, backbone: Any) -> None:
        self.hub = hub
        self.backbone = backbone

    def embed_images(self, images: Any) -> Any:
        with self.hub.using():
            return self.backbone.embed_images(images)


def _config(cls: Any, defaults: dict[str, Any], own: Any) -> Any:
    known = {f.name for f in fields(cls)}
    merged = {**defaults, **(own if isinstance(own, dict) else {})}
    return cls(**{k: v for k, v in merged.items() if k in known})
