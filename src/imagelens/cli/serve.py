"""``imagelens serve``: the Azure-compatible HTTP server."""

from __future__ import annotations

from typing import Annotated

import typer

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number


def _return_freed_tensor_memory() -> None:
    """Pin glibc's mmap threshold at 16 MiB, as ``MALLOC_MMAP_THRESHOLD_=16777216`` does.

    glibc raises the threshold after large frees, so later tensors come from the heap and freed memory stays with the
    process: RSS grows from call to call. Measured for one analyze call with six features (benchmarks/
    vision_pipeline.md and its notes): warm peak 2577 MB by default; 2.45-2.46 GB at 16 MiB with no measurable
    slowdown; 2158 MB at 1 MiB but 10-20 % slower per call. Skipped when the variable is set or libc is not glibc.
    """
    import ctypes
    import os

    # Pillow allocates images in blocks of at most 16 MB, just under the threshold: they would come from the heap and
    # stay with the process. 64 MiB blocks are mmapped and go back on free (a 9000^2 16-bit PNG: 430 MB kept -> 0).
    from PIL import Image

    Image.core.set_block_size(64 << 20)
    if "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return
    try:
        ctypes.CDLL("libc.so.6").mallopt(M_MMAP_THRESHOLD, 16 << 20)
    except (OSError, AttributeError):
        return


def serve_command(
    host: Annotated[str, typer.Option(help="address to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port")] = 5000,
    allow_unauthenticated_remote: Annotated[
        bool,
        typer.Option("--allow-unauthenticated-remote", help="bind beyond loopback with no access keys set"),
    ] = False,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
    warmup: Annotated[
        bool,
        typer.Option(
            "--warmup/--no-warmup",
            help="load hub.preload and embed the vocabularies in the background at start; /ready and analysis "
            "routes answer 503 (Retry-After) until done",
        ),
    ] = True,
) -> None:
    """Serve Azure AI Vision's REST API (4.0 imageanalysis:analyze and the 3.2 routes) on HOST:PORT."""
    import logging

    from imagelens.cli._common import require_extra

    require_extra("server", "fastapi", "uvicorn", "python_multipart|multipart", "prometheus_client")
    from imagelens.api.app import run_server
    from imagelens.config import Settings

    settings = Settings()
    settings = settings.model_copy(
        update={"server": settings.server.model_copy(update={"warmup": warmup or settings.server.warmup})}
    )
    keys = settings.api_key_list()
    if not keys:
        if host not in LOOPBACK and not allow_unauthenticated_remote:
            typer.echo(
                f"error: refusing to bind {host} with no access keys. Set IMAGELENS_API_KEYS=key1,key2 (clients send "
                "Ocp-Apim-Subscription-Key), or pass --allow-unauthenticated-remote.",
                err=True,
            )
            raise typer.Exit(2)
        typer.echo(
            f"imagelens: no access keys set (IMAGELENS_API_KEYS): open to anyone who can reach {host}.",
            err=True,
        )
    else:
        typer.echo(
            f"imagelens: {len(keys)} access key(s) configured; requests need Ocp-Apim-Subscription-Key.",
            err=True,
        )
    _return_freed_tensor_memory()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    run_server(settings, host, port, log_level)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve_command)
