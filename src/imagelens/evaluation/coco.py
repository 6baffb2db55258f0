"""A COCO-format folder: images plus ``annotations/*.json`` (instances, person keypoints). Read with ``json``;
pycocotools is needed only for the cross-check and for masks."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imagelens.errors import InvalidArgumentError

IMAGE_FOLDERS = ("images", "JPEGImages", "val2017", ".")


@dataclass(frozen=True, slots=True)
class CocoFolder:
    root: Path
    annotation_file: Path
    images_dir: Path
    data: dict[str, Any]

    @property
    def images(self) -> list[dict[str, Any]]:
        return sorted(self.data.get("images", []), key=lambda im: int(im["id"]))

    @property
    def categories(self) -> dict[int, str]:
        return {int(c["id"]): str(c["name"]) for c in self.data.get("categories", [])}

    def annotations_by_image(self) -> dict[int, list[dict[str, Any]]]:
        out: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for ann in self.data.get("annotations", []):
            out[int(ann["image_id"])].append(ann)
        return out

    def image_path(self, image: dict[str, Any]) -> Path:
        return self.images_dir / str(image["file_name"])


def find_annotation(root: Path, prefixes: tuple[str, ...]) -> Path:
    """The first ``annotations/<prefix>*.json`` (or ``<root>/<prefix>*.json``) for the first prefix that has one."""
    if root.is_file() and root.suffix == ".json":
        return root
    for prefix in prefixes:
        for folder in (root / "annotations", root):
            found = sorted(folder.glob(f"{prefix}*.json")) if folder.is_dir() else []
            if found:
                return found[0]
    raise InvalidArgumentError(
        f"{root} holds no COCO annotation file (annotations/{'*.json or annotations/'.join(prefixes)}*.json)"
    )


def load_coco(root: str | Path, prefixes: tuple[str, ...] = ("instances",)) -> CocoFolder:
    """The COCO folder at ``root`` (or a COCO JSON file whose images are beside it or in ``images/``)."""
    path = Path(root)
    if not path.exists():
        raise InvalidArgumentError(f"the data folder {path} does not exist")
    ann = find_annotation(path, prefixes)
    try:
        data = json.loads(ann.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidArgumentError(f"cannot read {ann}: {exc}") from exc
    if not isinstance(data, dict) or "images" not in data:
        raise InvalidArgumentError(f"{ann} is not a COCO annotation file (no 'images')")
    base = path if path.is_dir() else path.parent
    first = data["images"][0]["file_name"] if data["images"] else None
    images_dir = base
    for name in IMAGE_FOLDERS:
        candidate = base / name if name != "." else base
        if first is None or (candidate / str(first)).is_file():
            images_dir = candidate
            break
    else:
        raise InvalidArgumentError(
            f"the images of {ann} (e.g. {first}) are in none of {IMAGE_FOLDERS} under {base}"
        )
    return CocoFolder(base, ann, images_dir, data)
