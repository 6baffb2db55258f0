"""The Ray engine: Ray Data ``map_batches`` over an actor pool of ``workers`` actors, each holding one
:class:`~imagelens.batch.tasks.Worker` (models loaded once per actor). Rows stream back to the driver as Arrow
batches, in any order; the driver writes them (and the index), so workers need no shared disk.

``address``: ``None`` starts a local Ray in this process (or uses the one already started), ``"auto"`` joins the
cluster this machine belongs to (``RAY_ADDRESS``, else the last ``ray start`` here), anything else is a cluster
address: ``host:port`` (the head's GCS port, 6379 by default: the driver then runs on a node of the cluster) or
``ray://host:port`` (Ray Client, 10001 by default). An address that does not answer fails in seconds with
:class:`RayClusterUnavailableError` (nothing waits on a dead address). Every node needs imagelens installed (with
the models, or ``IMAGELENS_MODEL_DIR`` readable there). A cluster with token authentication (``ray start`` turns it
on by default) needs ``RAY_AUTH_MODE=token`` and its token (``RAY_AUTH_TOKEN`` or ``~/.ray/auth_token``) here.

Fault tolerance is Ray's: an actor that dies is restarted and the batch it held is retried
(``max_restarts=-1``, ``max_task_retries=-1``), so no item is lost; the driver writes each source once.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

from imagelens.batch.tasks import WIRE_FIELDS, BatchTask, Row, Worker, WorkerStartError, start_worker
from imagelens.errors import ImageLensError, InvalidArgumentError

#: Seconds a cluster address gets to accept a TCP connection before the run fails.
CONNECT_TIMEOUT_S = 5.0

Chunk = list[tuple[str, str | None]]


def _wire_schema() -> Any:
    import pyarrow as pa

    return pa.schema([(n, pa.binary() if n == "blob" else pa.string()) for n in WIRE_FIELDS])


class RayClusterUnavailableError(ImageLensError):
    """The Ray cluster named by ``--ray-address`` cannot be reached or refused this driver."""

    status = 503
    code = "ServiceUnavailable"
    inner_code = "RayClusterUnavailable"
    exit_code = 3


def parse_address(address: str) -> tuple[str, int] | None:
    """``(host, port)`` of a ``host:port`` or ``ray://host:port`` address, ``None`` for ``auto``; anything else is
    an :class:`InvalidArgumentError`."""
    if address == "auto":
        return None
    rest = address.removeprefix("ray://")
    host, sep, port = rest.rpartition(":")
    host = host.strip("[]")  # [::1]:6379
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536 or "/" in rest:
        raise InvalidArgumentError(
            f"--ray-address takes 'auto', HOST:PORT (the head's GCS port, 6379 by default) or ray://HOST:PORT "
            f"(Ray Client, 10001 by default), not {address!r}."
        )
    return host, int(port)


def check_reachable(address: str, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Fail fast (``timeout`` seconds at most) when nothing accepts connections at the address."""
    target = parse_address(address)
    if target is None:
        return
    try:
        with socket.create_connection(target, timeout=timeout):
            pass
    except OSError as exc:
        reason = "no answer" if isinstance(exc, TimeoutError) else exc.strerror or str(exc)
        raise RayClusterUnavailableError(
            f"Cannot reach the Ray cluster at {address} ({reason}). Start one with `ray start --head` "
            "or check --ray-address."
        ) from None


def _unavailable(address: str | None, exc: BaseException) -> RayClusterUnavailableError:
    """Ray's error chain in one line each (no tracebacks), with a hint when the cluster refused our token."""
    chain: list[str] = []
    refused_token = False
    cause: BaseException | None = exc
    while cause is not None and len(chain) < 5:
        text = str(cause).strip()
        refused_token = refused_token or "auth" in text.lower() or "Auth" in type(cause).__name__
        chain.append(f"{type(cause).__name__}: {(text.splitlines() or [''])[0]}")
        cause = cause.__cause__ or cause.__context__
    text = " <- ".join(chain)
    hint = ""
    if refused_token:
        hint = (
            " The cluster uses token authentication: set RAY_AUTH_MODE=token and its token (RAY_AUTH_TOKEN or "
            "~/.ray/auth_token) here."
        )
    return RayClusterUnavailableError(f"Cannot join the Ray cluster at {address}.{hint} ({text[:600]})")


def _client_missing() -> str | None:
    """Why Ray Client (``ray://``) cannot run here, or None (``ray[client]`` installed)."""
    try:
        from ray._private.utils import get_ray_client_dependency_error
    except ImportError:  # a Ray without the check: let ray.init say it
        return None
    error = get_ray_client_dependency_error()
    return None if error is None else str(error)


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
        if address is not None:
            parse_address(address)  # a malformed address fails before any work
        self.address = address

    def _connect(self) -> bool:
        """Start or join Ray; True when this call started it (and so shuts it down). An address is checked before
        anything else, and a process already attached to another cluster refuses to pretend it joined this one."""
        import ray

        if self.address is not None:
            if self.address.startswith("ray://"):
                missing = _client_missing()
                if missing:
                    raise InvalidArgumentError(
                        f"A ray:// address needs Ray Client on this machine: pip install 'ray[client]' ({missing})."
                    )
            check_reachable(self.address)
        if ray.is_initialized():
            target = parse_address(self.address) if self.address is not None else None
            if target is not None and not self.address.startswith("ray://"):  # type: ignore[union-attr]
                try:
                    current = str(ray.get_runtime_context().gcs_address)
                except Exception:  # Ray Client mode has no GCS address here
                    current = ""
                if current and not current.endswith(f":{target[1]}"):
                    raise InvalidArgumentError(
                        f"This process already uses the Ray cluster at {current}; it cannot also join "
                        f"{self.address}. Run the batch in a fresh process."
                    )
            return False
        if self.address is None:
            ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
            return True
        try:
            ray.init(address=self.address, log_to_driver=False, configure_logging=False)
        except Exception as exc:  # ConnectionError, RuntimeError, AuthenticationError ... from Ray
            raise _unavailable(self.address, exc) from None
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
