"""What the catalog holds on this machine: one row per model for ``imagelens models list``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from imagelens.errors import ModelUnavailableError
from imagelens.models.adapters.base import is_tiny
from imagelens.models.availability import package_dir, repo_folder
from imagelens.models.spec import HubSource, PackageSource, Role

if TYPE_CHECKING:
    from imagelens.models.hub import ModelHub


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """One row of ``imagelens models list``."""

    id: str
    roles: tuple[str, ...]
    license: str
    size_bytes: int | None
    present: bool
    location: str  # "model-dir:PATH", "hf-cache:PATH", "package:NAME" or "missing"
    tiny: bool
    loaded: bool
    default_for: tuple[str, ...]
    path: str | None = (
        None  # the folder it loads from; for a missing Hub model, the cache folder it would fill
    )
    source: str = ""  # "hf:REPO@REV" or "package:NAME"


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def describe(hub: ModelHub) -> list[ModelInfo]:
    """Never touches the network: a Hub model is present when its pinned revision is in the local cache."""
    loaded = set(hub.loaded_ids())
    defaults: dict[str, list[str]] = {}
    for role in Role:
        try:
            defaults.setdefault(hub.model_for_role(role), []).append(role.value)
        except ModelUnavailableError:
            continue
    rows = []
    for spec in hub.specs():
        try:
            path, where = hub.locate(spec.id)
            present = True
        except ModelUnavailableError:
            path, where, present = None, "missing", False
        size = folder_size(path) if path is not None else spec.source.size_bytes
        shown = path
        if isinstance(spec.source, HubSource):
            source = f"hf:{spec.source.repo_id}@{spec.source.revision[:12]}"
            if shown is None:
                shown = hub.cache_root / repo_folder(spec.source)
        elif isinstance(spec.source, PackageSource):
            source = f"package:{spec.source.package}"
            if shown is None:
                shown = package_dir(spec.source.package)
        else:
            from imagelens.models.file_sources import describe

            source = describe(spec.source)
        rows.append(
            ModelInfo(
                id=spec.id,
                roles=tuple(r.value for r in spec.roles),
                license=spec.license,
                size_bytes=size,
                present=present,
                location=where if path is None else f"{where}:{path}",
                tiny=is_tiny(path),
                loaded=spec.id in loaded,
                default_for=tuple(defaults.get(spec.id, ())),
                path=None if shown is None else str(shown),
                source=source,
            )
        )
    return rows
