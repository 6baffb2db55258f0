"""From a registered dataset (annotation file URIs) to a validated :class:`~imagelens.customize.records.Dataset`, and
its images to pixels.

Azure reads COCO files from blob storage URLs. A self-hosted service also reads local files, but only under the
configured data folder (``IMAGELENS_DATA_DIR``): an HTTP caller must not be able to make the server read
``/etc/passwd`` as an annotation file or an image. Remote files and images are fetched with the same SSRF-safe
fetcher as image URLs.

Several annotation files are merged: categories by name, image and annotation ids renumbered.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit

import numpy as np
import numpy.typing as npt

from imagelens.config import Settings
from imagelens.customize.records import Annotation, Category, Dataset, DatasetKind, ImageRecord, Issue
from imagelens.customize.validation import validate_dataset
from imagelens.errors import InvalidArgumentError
from imagelens.store.base import AnnotationKind

DATASET_KIND: dict[AnnotationKind, DatasetKind] = {
    "imageClassification": "classification",
    "imageObjectDetection": "detection",
}
MAX_ANNOTATION_BYTES = 256 * 1024 * 1024
UriKind = Literal["url", "local"]


def classify_uri(uri: str) -> UriKind:
    """``url`` for http(s), ``local`` for ``file://`` and plain paths; other schemes are refused."""
    scheme = urlsplit(uri).scheme.lower()
    if scheme in ("http", "https"):
        return "url"
    if (
        scheme == "file" or scheme == "" or (len(scheme) == 1 and uri[1:2] == ":")
    ):  # a Windows drive is a path
        return "local"
    raise InvalidArgumentError(
        f"The annotation file URI '{uri}' has the scheme '{scheme}'; expected http(s)://, file:// or a path."
    )


def local_path(uri: str, data_dir: Path | None, *, require_data_dir: bool = True) -> Path:
    """The file a ``file://`` URI or plain path names: relative paths are relative to ``data_dir``; the result (after
    resolving symlinks) must lie inside ``data_dir``. Without a ``data_dir`` local files are refused unless
    ``require_data_dir`` is false (the CLI, run by someone who can read the files anyway)."""
    if urlsplit(uri).scheme.lower() == "file":
        parts = urlsplit(uri)
        if parts.netloc not in ("", "localhost"):
            raise InvalidArgumentError(
                f"The file URI '{uri}' names the host '{parts.netloc}'; only local files."
            )
        raw = Path(unquote(parts.path))
    else:
        raw = Path(uri).expanduser()
    if data_dir is None:
        if require_data_dir:
            raise InvalidArgumentError(
                f"The annotation file '{uri}' is a local file, but this server has no data folder: set "
                "IMAGELENS_DATA_DIR to the folder local datasets may be read from, or use an http(s) URL."
            )
        return raw.resolve()
    base = Path(data_dir).expanduser().resolve()
    target = (raw if raw.is_absolute() else base / raw).resolve()
    if not target.is_relative_to(base):
        raise InvalidArgumentError(
            f"The annotation file '{uri}' lies outside the data folder {base}; refused."
        )
    return target


def check_uris(uris: list[str], data_dir: Path | None, *, require_data_dir: bool = True) -> list[str]:
    """Check annotation file URIs at registration (cheap: local files must exist inside ``data_dir``)."""
    if not uris or not all(isinstance(u, str) and u.strip() for u in uris):
        raise InvalidArgumentError("annotationFileUris must be a non-empty list of non-empty strings.")
    for uri in uris:
        if classify_uri(uri) == "local":
            path = local_path(uri, data_dir, require_data_dir=require_data_dir)
            if not path.exists():
                raise InvalidArgumentError(f"The annotation file '{uri}' does not exist (looked for {path}).")
    return [u.strip() for u in uris]


def load_annotation_file(
    uri: str, kind: DatasetKind, settings: Settings, *, require_data_dir: bool = False
) -> Dataset:
    """One annotation file (local or http(s)) as a Dataset; its local images must lie inside ``settings.data_dir``.

    Remote files are COCO JSON (Azure's format); local ones may also be a classification CSV or a folder holding
    ``annotations.json`` / ``labels.csv`` (see :func:`imagelens.customize.dataset.load_dataset`)."""
    from imagelens.customize.coco import parse_coco

    if classify_uri(uri) == "local":
        from imagelens.customize.dataset import load_dataset

        path = local_path(uri, settings.data_dir, require_data_dir=require_data_dir)
        dataset = load_dataset(path, kind=kind)  # COCO JSON, a CSV (classification) or a folder holding one
        if settings.data_dir is not None:
            _check_inside(dataset, Path(settings.data_dir).expanduser().resolve())
        return dataset
    from imagelens.io.url import fetch_url

    raw = fetch_url(uri, settings.url_settings(), MAX_ANNOTATION_BYTES)
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidArgumentError(f"The annotation file '{uri}' is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidArgumentError(f"The annotation file '{uri}' must hold a COCO object.")
    with tempfile.TemporaryDirectory() as empty:  # no local root: every image is read from its URL
        dataset = parse_coco(data, root=Path(empty), kind=kind)
    return replace(dataset, root=None)


def _check_inside(dataset: Dataset, base: Path) -> None:
    for im in dataset.images:
        if im.path is not None and not im.path.resolve().is_relative_to(base):
            raise InvalidArgumentError(
                f"The image '{im.file_name}' of {dataset.source} lies outside the data folder {base}; refused."
            )


def merge_datasets(parts: list[Dataset]) -> Dataset:
    """One dataset from several: categories matched by name (numbered in first-seen order), ids renumbered."""
    if len(parts) == 1:
        return parts[0]
    kinds = {p.kind for p in parts}
    if len(kinds) != 1:
        raise InvalidArgumentError(f"the annotation files mix dataset kinds {sorted(kinds)}")
    by_name: dict[str, int] = {}
    images: list[ImageRecord] = []
    annotations: list[Annotation] = []
    issues: list[Issue] = []
    for part in parts:
        cat_map: dict[int, int] = {}
        for c in part.categories:
            cat_map[c.id] = by_name.setdefault(c.name, len(by_name) + 1)
        img_map: dict[int, int] = {}
        for im in part.images:
            img_map[im.id] = len(images) + 1
            images.append(replace(im, id=img_map[im.id]))
        for a in part.annotations:
            annotations.append(
                replace(
                    a,
                    id=len(annotations) + 1,
                    image_id=img_map.get(a.image_id, -a.image_id),
                    category_id=cat_map.get(a.category_id, -a.category_id),
                )
            )
        issues.extend(part.load_issues)
    return Dataset(
        kind=parts[0].kind,
        categories=tuple(Category(i, n) for n, i in by_name.items()),
        images=tuple(images),
        annotations=tuple(annotations),
        root=None,
        source=None,
        bbox_format=parts[0].bbox_format,
        load_issues=tuple(issues),
    )


def load_registered_dataset(
    uris: list[str] | tuple[str, ...],
    annotation_kind: AnnotationKind,
    settings: Settings,
    *,
    require_data_dir: bool = False,
    min_images_per_class: int = 1,
) -> Dataset:
    """Load, merge and validate; raise InvalidArgumentError listing every problem when the dataset is unusable."""
    kind = DATASET_KIND[annotation_kind]
    parts = [load_annotation_file(u, kind, settings, require_data_dir=require_data_dir) for u in uris]
    dataset = merge_datasets(parts)
    validate_dataset(dataset, min_images_per_class=min_images_per_class).raise_for_errors()
    return dataset


def load_rgb(image: ImageRecord, settings: Settings) -> npt.NDArray[np.uint8]:
    """An image of a dataset as upright RGB pixels (the same decoding, limits and URL rules as analysis)."""
    from imagelens.io import load_image

    source: str | Path
    if image.path is not None:
        source = image.path
    elif image.url is not None:
        source = image.url
    else:
        raise InvalidArgumentError(f"image {image.id} ({image.file_name!r}) has neither a file nor a URL")
    return np.asarray(load_image(source, settings.limits, settings.url_settings()).array())
