"""The Ray engine: Ray Data ``map_batches`` over an actor pool of ``workers`` actors, each holding one
:class:`~imagelens.batch.tasks.Worker` (models loaded once per actor). Rows stream back to the driver as Arrow
batches, in any order; the driver writes them (and the index), so workers need no shared disk.

``address``: ``None`` starts a local Ray in this process (or uses the one already started), ``"auto"`` joins the
cluster this machine belongs to, anything else is a cluster address (``ray://host:10001`` or ``host:6379``). Every
node needs imagelens installed (with the models, or ``IMAGELENS_MODEL_DIR`` readable there).

Fault tolerance is Ray's: an actor that dies is restarted and the batch it held is retried
(``max_restarts=-1``, ``max_task_retries=-1``), so no item is lost; the driver writes each source once.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from imagelens.batch.tasks import WIRE_FIELDS, BatchTask, Row, Worker, WorkerStartError, start_worker
from imagelens.errors import InvalidArgumentError

Chunk = list[tuple[str, str | None]]


def _wire_schema() -> Any:
    import pyarrow as pa

    return pa.schema([(n, pa.binary() if n == "blob" else pa.string()) for n in WIRE_FIELDS])


class BatchActor:
    """The callable class Ray Data runs in each actor."""

    def __init__(self, task: BatchTask) -> None:
        # A worker that cannot start answers its first batch with a "fatal" row rather than raising: Ray keeps
        # only the text of an actor's exception, and the driver re-raises the ImageLensError itself.
        self.worker: Worker | None = None
        self.start_error: WorkerStartError | None = None
        try:
            self.worker = start_worker(task)
        except WorkerStartError as exc:
            self.start_error = exc

    def __call__(self, batch: Any) -> Any:
        import pyarrow as pa

        if self.start_error is not None:  # one "fatal" row: the driver raises the error (see RayEngine.run)
            fatal = dict.fromkeys(WIRE_FIELDS)
            fatal.update(source="", status="fatal", error=json.dumps(list(self.start_error.args)))
            return pa.Table.from_pylist([fatal], schema=_wire_schema())
        assert self.worker is not None

        sources, known = batch.column("source").to_pylist(), batch.column("known").to_pylist()
        items = [(s, k or None) for s, k in zip(sources, known, strict=True)]
        rows = self.worker.process_many(items)
        return pa.Table.from_pylist(rows, schema=_wire_schema())


class RayEngine:
    name = "ray"

    def __init__(self, workers: int = 2, address: str | None = None) -> None:
        if workers < 1:
            raise InvalidArgumentError(f"workers must be >= 1, got {workers}")
        self.workers = workers
        self.address = address

    def _connect(self) -> bool:
        """Start or join Ray; True when this call started it (and so shuts it down)."""
        import ray

        if ray.is_initialized():
            return False
        ray.init(address=self.address, include_dashboard=False, log_to_driver=False, configure_logging=False)
        return True

    def run(self, task: BatchTask, chunks: list[Chunk]) -> Iterator[list[Row]]:
        if not chunks:
            return
        import pyarrow as pa
        import ray
        import ray.data

        started = self._connect()
        try:
            ctx = ray.data.DataContext.get_current()
            ctx.enable_progress_bars = False
            ctx.print_on_execution_start = False
            items = [{"source": s, "known": k or ""} for chunk in chunks for s, k in chunk]
            size = max(len(c) for c in chunks)
            source = ray.data.from_items(items, override_num_blocks=len(chunks))
            ds = source.map_batches(
                BatchActor,
                fn_constructor_args=(task,),
                batch_size=size,
                batch_format="pyarrow",
                compute=ray.data.ActorPoolStrategy(size=self.workers),
                num_cpus=1,
            )
            for table in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
                assert isinstance(table, pa.Table)
                rows = table.to_pylist()
                for row in rows:
                    if row["status"] == "fatal":
                        raise WorkerStartError(*json.loads(row["error"])).original()
                yield rows
        finally:
            if started:
                ray.shutdown()
