"""``imagelens serve``: the Azure-compatible HTTP server."""

from __future__ import annotations

from typing import Annotated

import typer

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def _return_freed_memory(mmap_threshold_mib: int) -> None:
    """Make freed images and tensors go back to the system: Pillow allocates images in 64 MiB blocks (mmapped, so a
    9000^2 16-bit PNG leaves 0 MB behind instead of 430 MB), and glibc's mmap threshold is pinned at the configured
    ``hub.malloc_mmap_threshold_mib`` (16 MiB by default) before the first request, as ``MALLOC_MMAP_THRESHOLD_`` would (:func:`imagelens.models.memory.cap_mmap_threshold`;
    a hub made with another ``malloc_mmap_threshold_mib`` does not change it under running requests: at 1 MiB the
    server kept 60 MB after that PNG, at 32 MiB 1 run in 4 failed ``tests/hardening/test_serve_faults.py``)."""
    from PIL import Image

    from imagelens.models import memory

    Image.core.set_block_size(64 << 20)
    memory.cap_mmap_threshold(mmap_threshold_mib, pin=True)


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
    _return_freed_memory(settings.hub.malloc_mmap_threshold_mib)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    run_server(settings, host, port, log_level)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve_command)
