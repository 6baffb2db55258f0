"""Azure-style ingestions as background jobs that survive a restart, and a replica's death.

An ingestion (``PUT .../indexes/{index}/ingestions/{name}``) is saved in the video store (``video.sqlite3``, or
PostgreSQL with ``IMAGELENS_DATABASE_URL``) before it is queued, with its request and a per-document status list. One
worker thread per server runs ingestions in order. A worker first claims the ingestion (a lease: owner + heartbeat,
renewed at every embedding batch; :meth:`~imagelens.video.store_base.VideoIndex.claim_ingestion`), so two replicas
never run the same one. After each document its status is saved; within a document, segments and a checkpoint are
saved every ``checkpoint_s`` of video (:func:`~imagelens.video.ingest.ingest_video`).

On start, :meth:`VideoService.recover` queues every ingestion still ``NotStarted`` or ``Running``; with several
replicas, :meth:`VideoService.check_leases` (every ``stale_after_s / 2``, :meth:`start_watch`) queues those whose owner
stopped renewing its lease for ``training.stale_after_s``. Either way, documents already done are skipped and the one
interrupted resumes from its last checkpoint, so a restart loses at most ``checkpoint_s`` of video work.

States: ``NotStarted``, ``Running``, ``Completed``, ``PartiallySucceeded`` (some documents failed or were only
partly decoded), ``Failed`` (none succeeded).
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from imagelens.errors import ConflictError, ImageLensError, InvalidArgumentError
from imagelens.retrieval.base import check_index_name
from imagelens.video import pg_store
from imagelens.video.ingest import ingest_video, video_file
from imagelens.video.pg_store import PostgresVideoIndex
from imagelens.video.settings import VideoSettings
from imagelens.video.speech import require_speech_model
from imagelens.video.store import (
    VideoIndex,
    drop_video_index,
    list_video_indexes,
    now,
    open_video_index,
)
from imagelens.video.store_base import lease_alive

if TYPE_CHECKING:
    from imagelens.analyzer import Analyzer

log = logging.getLogger("imagelens.video")
UNFINISHED = ("NotStarted", "Running")
MODES = ("add", "update", "remove")
MAX_VIDEOS = 10_000


def parse_ingestion(body: Any) -> dict[str, Any]:
    """Azure's ingestion body: ``{"videos": [{"mode", "documentId", "documentUrl", "metadata", "userData"}],
    "includeSpeechTranscript"?, "moderation"?, ...}``; answers the checked request saved with the job.
    ``includeSpeechTranscript: true`` transcribes the audio even when the index lacks the ``speech`` feature."""
    if not isinstance(body, dict):
        raise InvalidArgumentError("The ingestion body must be a JSON object with a 'videos' list.")
    speech = body.get("includeSpeechTranscript", False)
    if not isinstance(speech, bool):
        raise InvalidArgumentError("'includeSpeechTranscript' must be true or false.")
    videos = body.get("videos")
    if not isinstance(videos, list) or not videos:
        raise InvalidArgumentError(
            "'videos' must be a non-empty list of {mode, documentId, documentUrl} objects."
        )
    if len(videos) > MAX_VIDEOS:
        raise InvalidArgumentError(f"At most {MAX_VIDEOS:,} videos per ingestion.")
    out, seen = [], set()
    for n, item in enumerate(videos):
        if not isinstance(item, dict):
            raise InvalidArgumentError(f"videos[{n}] must be an object.")
        mode = item.get("mode", "add")
        if mode not in MODES:
            raise InvalidArgumentError(f"videos[{n}].mode must be one of {', '.join(MODES)}, got {mode!r}.")
        doc_id, url = item.get("documentId"), item.get("documentUrl")
        if mode != "remove" and (not isinstance(url, str) or not url.strip()):
            raise InvalidArgumentError(f"videos[{n}].documentUrl must be a non-empty string.")
        if doc_id is None and isinstance(url, str):
            doc_id = url.rstrip("/").rsplit("/", 1)[-1].split("?")[0]
        if not isinstance(doc_id, str) or not doc_id or "#" in doc_id or len(doc_id) > 1024:
            raise InvalidArgumentError(f"videos[{n}].documentId must be a non-empty string without '#'.")
        if doc_id in seen:
            raise InvalidArgumentError(f"The documentId '{doc_id}' appears twice in this ingestion.")
        seen.add(doc_id)
        metadata = item.get("metadata") or {}
        if not isinstance(metadata, dict) or not all(
            isinstance(v, str | int | float | bool) for v in metadata.values()
        ):
            raise InvalidArgumentError(f"videos[{n}].metadata must be an object of strings.")
        out.append(
            {
                "mode": mode,
                "documentId": doc_id,
                "documentUrl": url,
                "metadata": metadata,
                "userData": item.get("userData"),
            }
        )
    return {"videos": out, "includeSpeechTranscript": speech, "moderation": body.get("moderation") is True}


class LeaseLostError(RuntimeError):
    """Another worker took the ingestion over (this one stopped renewing its lease in time): stop, save nothing."""


class VideoService:
    """The server's video indexes (opened once) and the ingestion worker.

    ``owner`` names this worker in leases (``host:pid:token``); ``stale_after_s`` (default: the training jobs'
    ``training.stale_after_s``) is how long an owner may stay silent before its ingestion is taken over;
    ``after_checkpoint`` is handed to :func:`~imagelens.video.ingest.ingest_video` (tests interrupt through it)."""

    def __init__(
        self,
        analyzer: Analyzer,
        settings: VideoSettings | None = None,
        *,
        owner: str | None = None,
        stale_after_s: float | None = None,
        after_checkpoint: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.analyzer = analyzer
        self.settings = settings or VideoSettings()
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.stale_after_s = (
            stale_after_s if stale_after_s is not None else analyzer.settings.training.stale_after_s
        )
        self.after_checkpoint = after_checkpoint
        self._open: dict[str, VideoIndex] = {}
        self._lock = threading.Lock()
        self._queue: queue.Queue[tuple[str, str] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._watch: threading.Thread | None = None

    # --- indexes ---------------------------------------------------------------------------------------------

    def index(self, name: str) -> VideoIndex:
        with self._lock:
            index = self._open.get(name)
            if isinstance(index, PostgresVideoIndex) and not pg_store.exists(index.db, name):
                self._open.pop(name, None)  # another replica dropped it
                index = None
            if index is None:
                index = open_video_index(self.analyzer.settings, check_index_name(name))
                self._open[name] = index
            return index

    def adopt(self, index: VideoIndex) -> None:
        with self._lock:
            self._open[index.name] = index

    def drop(self, name: str) -> None:
        index = self.index(name)
        if any(job["state"] in UNFINISHED for job in index.ingestions()):
            raise ConflictError(
                f"The video index '{name}' has an ingestion in progress; delete it when it ends."
            )
        with self._lock:
            self._open.pop(name, None)
        index.close()
        drop_video_index(self.analyzer.settings, name)

    # --- ingestions ------------------------------------------------------------------------------------------

    def submit(self, index_name: str, name: str, body: Any) -> dict[str, Any]:
        check_index_name(name)
        index = self.index(index_name)
        request = parse_ingestion(body)
        if request["includeSpeechTranscript"] or "speech" in index.features():
            require_speech_model(self.analyzer.hub)  # not here: ModelNotFetched now, not a failed job later
        current = index.ingestion(name)
        if current is not None and current["state"] in UNFINISHED:
            raise ConflictError(f"The ingestion '{name}' is still running.")
        index.save_ingestion(name, "NotStarted", request)
        self._enqueue(index_name, name)
        job = index.ingestion(name)
        assert job is not None
        return job

    def recover(self) -> list[str]:
        """Queue every unfinished ingestion of every video index (run at start-up)."""
        resumed = []
        for index_name in list_video_indexes(self.analyzer.settings):
            try:
                jobs = self.index(index_name).ingestions()
            except Exception:  # a damaged index must not stop the server
                log.exception("video index %s could not be opened", index_name)
                continue
            for job in jobs:
                if job["state"] in UNFINISHED:
                    self._enqueue(index_name, job["name"])
                    resumed.append(f"{index_name}/{job['name']}")
        if resumed:
            log.info("resuming video ingestions: %s", ", ".join(resumed))
        if self.analyzer.settings.database_url:
            self.start_watch()  # replicas: take over the ingestions of one that dies
        return resumed

    def _enqueue(self, index_name: str, name: str) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._work, name="imagelens-video-ingest", daemon=True)
                self._thread.start()
        self._queue.put((index_name, name))

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                self.run(*item)
            except Exception:
                log.exception("video ingestion %s failed", item)
            finally:
                self._queue.task_done()

    def run(self, index_name: str, name: str) -> None:
        """Claim and run (or resume) one ingestion in this thread; nothing when another live worker holds it."""
        index = self.index(index_name)
        job = index.claim_ingestion(name, self.owner, self.stale_after_s)
        if job is None:
            return
        try:
            self._run(index, name, job)
        except LeaseLostError:
            log.warning("video ingestion %s/%s was taken over by another worker", index_name, name)
            return
        except Exception:
            index.release_ingestion(name, self.owner)  # resumable by the next start or another replica
            raise
        # (a BaseException - the process stopping - leaves the lease to run out, as a killed process does)
        index.release_ingestion(name, self.owner)

    def _run(self, index: VideoIndex, name: str, job: dict[str, Any]) -> None:
        request, details = job["request"], list(job["details"])
        done = {d["documentId"] for d in details}
        index.save_ingestion(name, "Running", request, details)
        for item in request["videos"]:
            if item["documentId"] in done:
                continue
            speech, moderation = bool(request.get("includeSpeechTranscript")), bool(request.get("moderation"))
            details.append(self._one(index, item, speech, moderation, name))
            self._renew(index, name)
            index.save_ingestion(name, "Running", request, details)
        ok = [d for d in details if d["succeeded"]]
        clean = all(d["succeeded"] and not d.get("warnings") for d in details)
        state = "Completed" if clean else ("PartiallySucceeded" if ok else "Failed")
        error = None if ok else "No document was ingested: see fileStatusDetails."
        index.save_ingestion(name, state, request, details, error)

    def _renew(self, index: VideoIndex, name: str, progress: dict[str, Any] | None = None) -> None:
        if not index.renew_ingestion(name, self.owner, progress):
            raise LeaseLostError(name)

    def check_leases(self) -> list[str]:
        """Queue every unfinished ingestion whose owner is gone (or that nobody owns); returns them. The claim in
        :meth:`run` decides which replica runs each."""
        queued = []
        for index_name in list_video_indexes(self.analyzer.settings):
            try:
                jobs = self.index(index_name).ingestions()
            except Exception:
                log.exception("video index %s could not be opened", index_name)
                continue
            for job in jobs:
                if job["state"] in UNFINISHED and not lease_alive(
                    job["owner"], job["heartbeat"], self.owner, self.stale_after_s
                ):
                    self._enqueue(index_name, job["name"])
                    queued.append(f"{index_name}/{job['name']}")
        if queued:
            log.warning("taking over video ingestions: %s", ", ".join(queued))
        return queued

    def start_watch(self, every_s: float | None = None) -> None:
        """Run :meth:`check_leases` periodically (servers on a shared PostgreSQL)."""
        every = every_s if every_s is not None else max(1.0, self.stale_after_s / 2)

        def loop() -> None:
            while not self._stop.wait(every):
                try:
                    self.check_leases()
                except Exception:  # the database may be down for a while: try again next time
                    log.warning("video lease check failed", exc_info=True)

        if self._watch is None:
            self._watch = threading.Thread(target=loop, name="imagelens-video-leases", daemon=True)
            self._watch.start()

    def _one(
        self,
        index: VideoIndex,
        item: dict[str, Any],
        speech: bool = False,
        moderation: bool = False,
        job: str = "",
    ) -> dict[str, Any]:
        status: dict[str, Any] = {"documentId": item["documentId"], "documentUrl": item["documentUrl"]}
        try:
            if item["mode"] == "remove":
                index.delete_video(item["documentId"])
            elif item["mode"] == "update":  # Azure: "update mode will update the metadata only"
                record = index.update_video_metadata(
                    item["documentId"], item["metadata"], item.get("userData")
                )
                status["segments"] = record.segments
            else:
                with video_file(item["documentUrl"], self.analyzer.settings, self.settings) as path:
                    report = ingest_video(
                        self.analyzer,
                        index,
                        path,
                        item["documentId"],
                        url=item["documentUrl"],
                        metadata=item["metadata"],
                        user_data=item.get("userData"),
                        settings=self.settings,
                        speech=speech or None,
                        moderation=moderation,
                        job=job,
                        progress=lambda doc, t, d: self._renew(
                            index,
                            job,
                            {"documentId": doc, "processedSeconds": round(t, 3), "durationSeconds": d},
                        ),
                        after_checkpoint=self.after_checkpoint,
                    )
                status["segments"] = report.count
                if report.speech:
                    status["speechSegments"] = len(report.speech)
                if report.warnings:
                    status["warnings"] = report.warnings
            status["succeeded"] = True
        except LeaseLostError:
            raise
        except ImageLensError as exc:
            status.update(succeeded=False, error={"code": exc.inner_code, "message": exc.message})
        except Exception as exc:  # one bad video never stops the others
            log.exception("ingesting %s failed", item["documentId"])
            status.update(
                succeeded=False, error={"code": "InternalServerError", "message": type(exc).__name__}
            )
        status["lastUpdatedTime"] = now()
        return status

    def wait(self) -> None:
        """Block until the queue is empty (tests, the CLI)."""
        self._queue.join()

    def close(self) -> None:
        self._stop.set()
        if self._watch is not None:
            self._watch.join(timeout=5)
        if self._thread is not None and self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout=5)
        with self._lock:
            for index in self._open.values():
                index.close()
            self._open.clear()
