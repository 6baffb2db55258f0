"""A deterministic, stratified train/validation split of a dataset."""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict

from imagelens.customize.records import Dataset, ImageRecord
from imagelens.errors import InvalidArgumentError


def _stratum(dataset: Dataset) -> dict[int, int | None]:
    """Image id -> the class it is stratified by: its label, or for detection its rarest class."""
    per_class = dataset.images_per_category()
    classes: dict[int, set[int]] = defaultdict(set)
    for a in dataset.annotations:
        classes[a.image_id].add(a.category_id)
    out: dict[int, int | None] = {}
    for im in dataset.images:
        found = classes.get(im.id)
        out[im.id] = min(found, key=lambda c: (per_class.get(c, 0), c)) if found else None
    return out


def split_dataset(
    dataset: Dataset, *, validation_fraction: float = 0.2, seed: int = 0
) -> tuple[Dataset, Dataset]:
    """(train, validation), stratified by class and deterministic.

    Each image belongs to one stratum: its category (classification) or its rarest category (detection; images
    without boxes form their own stratum). Inside a stratum images are ordered by a hash of the seed and the file
    name, and the first ``round(n * fraction)`` go to validation, at least one and at most ``n - 1`` when the
    stratum has two or more images (a single image stays in train). Hashing instead of shuffling keeps the split
    independent of file order, and adding images does not move the others.
    """
    if not 0.0 < validation_fraction < 1.0:
        raise InvalidArgumentError(f"validation_fraction must be in (0, 1), got {validation_fraction}")
    strata: dict[int | None, list[ImageRecord]] = defaultdict(list)
    key = _stratum(dataset)
    for im in dataset.images:
        strata[key[im.id]].append(im)

    def order(im: ImageRecord) -> str:
        name = im.file_name or im.url or str(im.id)
        return hashlib.sha256(f"{seed}\x00{name}\x00{im.id}".encode()).hexdigest()

    validation: set[int] = set()
    for members in strata.values():
        n = len(members)
        k = math.floor(n * validation_fraction + 0.5)
        k = min(max(k, 1), n - 1) if n >= 2 else 0
        validation.update(im.id for im in sorted(members, key=order)[:k])
    train = [im.id for im in dataset.images if im.id not in validation]
    return dataset.subset(train), dataset.subset(validation)
