"""``imagelens train`` and ``imagelens models custom list|show|cancel|delete|resume``: custom models from the shell.

``train`` registers the dataset (a COCO JSON, a classification CSV, or a folder holding one) in the store, creates
the model, and trains it: in the foreground with ``--wait``, else in a detached background process that outlives
the shell (follow it with ``imagelens models custom show NAME``). The server (``imagelens serve``) sees the same
store, so a model trained here answers ``model-name=NAME`` there, and a job interrupted here resumes there.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from imagelens.cli._common import EXIT_OK, cli_errors, print_json, require_extra

#: What training (and running a trained model) imports: the ``ml`` extra.
TRAINING_MODULES = ("torch", "transformers")

custom_app = typer.Typer(
    help="Trained custom models (the store at IMAGELENS_STORE_DIR).", no_args_is_help=True
)


def _record_json(record: Any) -> dict[str, Any]:
    """Azure's JSON for a model (as ``GET /models/{name}`` answers), plus its progress."""
    from imagelens.azure.customization import model_json

    body = model_json(record)
    body["progress"] = record.progress
    return body


def train_command(
    dataset: Annotated[
        Path, typer.Option("--dataset", help="COCO JSON, classification CSV, or a folder with one")
    ],
    name: Annotated[str, typer.Option("--name", help="the model name (letters, digits, . _ -)")],
    kind: Annotated[str, typer.Option("--kind", help="Generic-Classifier or Generic-Detector")],
    time_budget_minutes: Annotated[
        float, typer.Option("--time-budget-minutes", help="wall-clock budget")
    ] = 60.0,
    test_dataset: Annotated[
        Path | None,
        typer.Option("--test-dataset", help="report performance on this dataset instead of a split"),
    ] = None,
    wait: Annotated[
        bool, typer.Option("--wait/--no-wait", help="train in the foreground and show progress")
    ] = False,
) -> None:
    """Train a custom classifier or detector on a local dataset.

    A model of that name that failed or was cancelled is replaced; one that succeeded must be deleted first."""
    require_extra("ml", *TRAINING_MODULES)  # before anything is registered
    from imagelens.config import Settings
    from imagelens.customize.job_state import new_model_record, utc_now
    from imagelens.customize.jobs import JobManager
    from imagelens.customize.sources import load_registered_dataset
    from imagelens.errors import ConflictError, InvalidArgumentError
    from imagelens.models.hub import ModelHub
    from imagelens.store import DatasetRecord, check_name, open_store
    from imagelens.store.base import KIND_NEEDS, MODEL_KINDS

    settings = Settings()
    with cli_errors():
        check_name(name, "model name")
        if kind not in MODEL_KINDS:
            raise InvalidArgumentError(f"--kind must be one of {', '.join(MODEL_KINDS)}, got {kind!r}")
        if time_budget_minutes <= 0:
            raise InvalidArgumentError(f"--time-budget-minutes must be > 0, got {time_budget_minutes}")
        annotation_kind = KIND_NEEDS[kind]  # type: ignore[index]
        store = open_store(settings)
        names = {"train": f"{name}-train", "test": f"{name}-test"}
        for role, path in (("train", dataset), ("test", test_dataset)):
            if path is None:
                continue
            uri = str(path.expanduser().resolve())
            loaded = load_registered_dataset([uri], annotation_kind, settings)  # 400-style errors, all listed
            typer.echo(
                f"{role} dataset: {len(loaded.images)} images, {len(loaded.categories)} classes", err=True
            )
            try:
                store.create_dataset(
                    DatasetRecord(names[role], annotation_kind, (uri,), utc_now(), utc_now())
                )
            except ConflictError:
                existing = store.get_dataset(names[role])
                if existing.annotation_file_uris != (uri,) or existing.annotation_kind != annotation_kind:
                    raise
        store.create_model(
            new_model_record(
                name,
                kind,
                names["train"],
                time_budget_minutes / 60.0,
                test_dataset_name=names["test"] if test_dataset is not None else None,
            )  # fmt: skip
        )
        if not wait:
            pid = _spawn_background(name, store.root)
            typer.echo(
                f"training '{name}' in the background (pid {pid}, log {store.root / 'logs' / (name + '.log')}); "
                f"follow it with: imagelens models custom show {name}"
            )
            raise typer.Exit(EXIT_OK)

        def progress(job: str, info: dict[str, Any]) -> None:
            typer.echo(f"{job}: " + ", ".join(f"{k}={_fmt(v)}" for k, v in info.items()), err=True)

        manager = JobManager(store, settings, ModelHub(settings), isolation="thread", on_progress=progress)
        record = manager.run_training(name)
    print_json(_record_json(record))
    raise typer.Exit(EXIT_OK if record.status == "succeeded" else 1)


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _spawn_background(name: str, root: Path) -> int:
    """A detached ``python -m imagelens.customize.jobs run NAME`` (its own session: closing the shell or Ctrl-C
    does not stop it)."""
    import subprocess

    logs = root / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with (logs / f"{name}.log").open("ab") as log_file:
        child = subprocess.Popen(
            [sys.executable, "-m", "imagelens.customize.jobs", "run", name],
            stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    return child.pid


@custom_app.command("list")
def list_command(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every custom model: name, kind, status, cost and headline metric."""
    from rich.console import Console
    from rich.table import Table

    from imagelens.azure.customization import model_performance
    from imagelens.config import Settings
    from imagelens.store import open_store

    with cli_errors():
        records = open_store(Settings()).list_models()
    if as_json:
        for record in records:
            print_json(_record_json(record))
        return
    table = Table(title="custom models")
    for col in ("name", "kind", "status", "dataset", "minutes", "metric", "progress"):
        table.add_column(col)
    for r in records:
        perf = model_performance(r.performance or {})
        metric = perf.get("accuracyTop1", perf.get("meanAveragePrecision50"))
        label = "top1" if "accuracyTop1" in perf else "mAP50"
        table.add_row(
            r.name, r.kind, r.status, r.dataset_name, f"{r.training_seconds / 60:.1f}",
            f"{label} {metric:.3f}" if isinstance(metric, float) else "",
            ", ".join(f"{k}={_fmt(v)}" for k, v in r.progress.items()) if r.active else "",
        )  # fmt: skip
    Console().print(table)


@custom_app.command("show")
def show_command(name: str) -> None:
    """One model as Azure's JSON, plus its progress."""
    from imagelens.config import Settings
    from imagelens.store import open_store

    with cli_errors():
        record = open_store(Settings()).get_model(name)
    print_json(_record_json(record))


@custom_app.command("cancel")
def cancel_command(name: str) -> None:
    """Cancel a model's training (whichever process runs it stops at its next step)."""
    from imagelens.config import Settings
    from imagelens.customize.jobs import JobManager
    from imagelens.models.hub import ModelHub
    from imagelens.store import open_store

    settings = Settings()
    with cli_errors():
        record = JobManager(open_store(settings), settings, ModelHub(settings)).cancel(name)
    print_json(_record_json(record))


@custom_app.command("delete")
def delete_command(name: str) -> None:
    """Delete a finished model and its files."""
    from imagelens.config import Settings
    from imagelens.errors import ConflictError
    from imagelens.store import open_store

    with cli_errors():
        store = open_store(Settings())
        record = store.get_model(name)
        if record.active:
            raise ConflictError(f"The model '{name}' is {record.status}; cancel it first.")
        store.delete_model(name)
    typer.echo(f"deleted {name}")


@custom_app.command("resume")
def resume_command() -> None:
    """Resume (or fail, per IMAGELENS_TRAINING__RESUME_INTERRUPTED) jobs a stopped process left, in the foreground."""
    require_extra("ml", *TRAINING_MODULES)
    from imagelens.config import Settings
    from imagelens.customize.jobs import JobManager
    from imagelens.models.hub import ModelHub
    from imagelens.store import open_store

    settings = Settings()
    with cli_errors():
        manager = JobManager(open_store(settings), settings, ModelHub(settings), isolation="thread")
        done = manager.recover()
        manager.wait_idle()
        manager.close()
    print_json(done)
    raise typer.Exit(EXIT_OK if not done["failed"] else 1)


_registered: set[int] = set()


def register(app: typer.Typer) -> None:
    """Add ``train`` to ``app`` and ``custom`` to ``imagelens models`` (once per app)."""
    from imagelens.cli.models import models_app

    if id(app) in _registered:
        return
    _registered.add(id(app))
    app.command("train")(train_command)
    if not any(group.name == "custom" for group in models_app.registered_groups):
        models_app.add_typer(custom_app, name="custom")
