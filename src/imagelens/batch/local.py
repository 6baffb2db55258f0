"""The local engine: ``workers`` processes (spawned, so nothing heavy is forked), each building one
:class:`~imagelens.batch.tasks.Worker` (models loaded once per process); with one worker the items run in this
process. Chunks are submitted with a bounded number in flight and come back as they finish (any order).

A worker process that dies (killed, out of memory) stops the run with a clear error; what was written stays valid
and a rerun resumes. Retrying a dead worker's items is the Ray engine's job."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from imagelens.batch.tasks import BatchTask, Row, Worker, WorkerStartError, start_worker
from imagelens.errors import ImageLensError, InvalidArgumentError

Chunk = list[tuple[str, str | None]]

_worker: Worker | None = None
_init_error: BaseException | None = None


def _init(task: BatchTask) -> None:
    global _worker, _init_error
    try:
        _worker = start_worker(task)
    except BaseException as exc:  # reported with the first chunk, in the driver
        _init_error = exc


def _run_chunk(chunk: Chunk) -> list[Row]:
    if _init_error is not None:
        raise _init_error
    assert _worker is not None
    return _worker.process_many(chunk)


class WorkerDiedError(ImageLensError):
    inner_code = "WorkerDied"


class LocalEngine:
    name = "local"

    def __init__(self, workers: int = 2) -> None:
        if workers < 1:
            raise InvalidArgumentError(f"workers must be >= 1, got {workers}")
        self.workers = workers

    def run(self, task: BatchTask, chunks: list[Chunk]) -> Iterator[list[Row]]:
        if not chunks:
            return
        if self.workers == 1:
            worker = Worker(task)
            try:
                for chunk in chunks:
                    yield worker.process_many(chunk)
            finally:
                worker.close()
            return
        context = multiprocessing.get_context("spawn")
        pool = ProcessPoolExecutor(self.workers, mp_context=context, initializer=_init, initargs=(task,))
        todo = iter(chunks)
        pending: set[Future[list[Row]]] = set()
        try:
            for chunk in todo:
                pending.add(pool.submit(_run_chunk, chunk))
                if len(pending) >= 2 * self.workers:
                    break
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    rows = future.result()
                    nxt = next(todo, None)
                    if nxt is not None:
                        pending.add(pool.submit(_run_chunk, nxt))
                    yield rows
        except WorkerStartError as exc:
            raise exc.original() from None
        except BrokenProcessPool as exc:
            raise WorkerDiedError(
                f"A batch worker process died ({exc}); the output holds what finished, rerun to resume."
            ) from None
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
