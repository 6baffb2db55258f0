"""The ``categories`` feature: Azure Computer Vision 3.2's 86-category taxonomy, zero-shot with the image-text model.

The 86 names (``people_``, ``animal_dog`` ...) are Azure's, in the order of its taxonomy page; the prompt phrases
that describe each one ("a photo of a dog", "an abstract non-photographic image") are imagelens' own
(``imagelens/data/azure_categories/azure_v32_categories.csv``). A name is ``<parent>_<detail>``; a name ending in
``_`` is the parent itself ("people, nothing more specific"). ``object_``, ``sky_`` and ``trans_`` do not exist in
Azure's list: those parents have children only.

Scoring (:func:`select_categories`): the image is compared with all 86 categories at once (a softmax over the
model's native logits, so the scores of one image sum to 1). A child implies its parent, so a parent's score is the
mass of its whole group (itself and its children). Reported, best first, at most ``max_categories``:

- every child whose own score reaches the threshold (``animal_dog`` 0.9);
- a parent (``people_``) with its group's score when the group reaches the threshold but none of its children
  does on its own (the picture is clearly people, but no one kind of people).

So an entry is reported for a group exactly when the group's mass reaches the threshold. The threshold
(``IMAGELENS_CATEGORIES__THRESHOLD``, default 0.25) and the cap (``IMAGELENS_CATEGORIES__MAX_CATEGORIES``) are
settings, validated in [0, 1]; the default was NOT measured with real weights (docs/categories.md says how to).

Landmarks (Azure's ``details=Landmarks``): when the ``landmarks`` feature runs in the same call, its landmarks are
attached to the reported categories that carry landmarks (``building_*`` and ``outdoor_*``), as Azure's
``detail.landmarks``; none are attached when no such category is reported (Azure's domain model runs only there).
"""

from __future__ import annotations

import csv
import io
import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from importlib import resources
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from imagelens.config import CategorySettings
from imagelens.errors import InvalidArgumentError
from imagelens.features.base import FeatureContext
from imagelens.features.tags import image_embedding
from imagelens.features.zero_shot import PromptSet, label_embeddings, label_logits, softmax
from imagelens.models.roles import ImageTextEmbedder
from imagelens.models.spec import Role
from imagelens.types import Category, Landmark

__all__ = [
    "LANDMARK_PARENTS",
    "CategoriesFeature",
    "CategoryScores",
    "Taxonomy",
    "attach_landmarks",
    "category_scores",
    "check_threshold",
    "select_categories",
    "taxonomy",
]

#: Parents whose categories carry ``detail.landmarks`` (Azure lists the landmarks model under ``building_``; its
#: outdoor scenes hold landmarks too).
LANDMARK_PARENTS = ("building", "outdoor")
_DATA = ("data", "azure_categories", "azure_v32_categories.csv")


@dataclass(frozen=True, slots=True)
class Taxonomy:
    """Azure's 86 names in its order, each one's parent (``"people"`` for ``people_`` and ``people_group``) and the
    prompt phrases that describe it."""

    names: tuple[str, ...]
    parents: tuple[str, ...]
    prompts: tuple[tuple[str, ...], ...]

    def __post_init__(self) -> None:
        if not len(self.names) == len(self.parents) == len(self.prompts):
            raise InvalidArgumentError("a taxonomy needs one parent and one prompt group per name")

    @property
    def parent_names(self) -> tuple[str, ...]:
        """The parents in first-seen order (15 for Azure's list)."""
        return tuple(dict.fromkeys(self.parents))

    def is_parent_only(self, index: int) -> bool:
        return self.names[index].endswith("_")

    def prompt_set(self) -> PromptSet:
        return PromptSet("azure-v32-categories", self.names, self.prompts)


@lru_cache(maxsize=1)
def taxonomy() -> Taxonomy:
    """The packaged 86-category taxonomy with imagelens' prompt phrases."""
    text = resources.files("imagelens").joinpath(*_DATA).read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    names = tuple(r["name"] for r in rows)
    parents = tuple(n.partition("_")[0] for n in names)
    prompts = tuple(tuple(p.strip() for p in r["prompts"].split("|") if p.strip()) for r in rows)
    return Taxonomy(names, parents, prompts)


def check_threshold(value: float, what: str = "category threshold") -> float:
    """``value`` as a float in [0, 1], else InvalidArgumentError (400)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"the {what} must be a number in [0, 1], got {value!r}") from None
    if not 0.0 <= number <= 1.0:
        raise InvalidArgumentError(f"the {what} must be in [0, 1], got {value!r}")
    return number


@dataclass(frozen=True, slots=True, eq=False)
class CategoryScores:
    """One image's scores: ``own[i]`` the softmax probability of ``names[i]``; ``group[parent]`` the mass of the
    parent's whole group (itself and its children)."""

    taxonomy: Taxonomy
    own: npt.NDArray[np.float64]
    group: dict[str, float]

    def score(self, name: str) -> float:
        """A child's own score; a parent-only name (``people_``) or a bare parent (``trans``) gets its group's."""
        parent = name.partition("_")[0]
        if name.endswith("_") or name == parent:
            return self.group[parent]
        return float(self.own[self.taxonomy.names.index(name)])


def category_scores(probabilities: npt.ArrayLike, tax: Taxonomy | None = None) -> CategoryScores:
    """Own and group scores from one image's probabilities over the taxonomy (they should sum to 1)."""
    tax = tax or taxonomy()
    own = np.asarray(probabilities, np.float64)
    if own.shape != (len(tax.names),):
        raise InvalidArgumentError(f"expected {len(tax.names)} category probabilities, got shape {own.shape}")
    parents = np.asarray(tax.parents)
    group = {p: float(np.clip(own[parents == p].sum(), 0.0, 1.0)) for p in tax.parent_names}
    return CategoryScores(tax, own, group)


def select_categories(
    probabilities: npt.ArrayLike, threshold: float, max_categories: int, tax: Taxonomy | None = None
) -> tuple[Category, ...]:
    """The reported categories, best first (ties: taxonomy order); see the module docstring for the rule."""
    tax = tax or taxonomy()
    threshold = check_threshold(threshold)
    if max_categories < 1:
        raise InvalidArgumentError(f"max_categories must be >= 1, got {max_categories}")
    scores = category_scores(probabilities, tax)
    found: list[tuple[float, int]] = []
    for parent in tax.parent_names:
        members = [i for i, p in enumerate(tax.parents) if p == parent]
        children = [i for i in members if not tax.is_parent_only(i) and scores.own[i] >= threshold]
        found.extend((float(scores.own[i]), i) for i in children)
        parent_only = [i for i in members if tax.is_parent_only(i)]
        if not children and parent_only and scores.group[parent] >= threshold:
            found.append((scores.group[parent], parent_only[0]))
    found.sort(key=lambda item: (-item[0], item[1]))
    return tuple(
        Category(tax.names[i], float(np.clip(score, 0.0, 1.0))) for score, i in found[:max_categories]
    )


def attach_landmarks(categories: Sequence[Category], landmarks: Sequence[Landmark]) -> tuple[Category, ...]:
    """``landmarks`` in the ``detail`` of every category under :data:`LANDMARK_PARENTS` (Azure's placement)."""
    if not landmarks:
        return tuple(categories)
    found = tuple(landmarks)
    return tuple(
        replace(c, landmarks=found) if c.name.partition("_")[0] in LANDMARK_PARENTS else c for c in categories
    )


_EMBEDDINGS: weakref.WeakKeyDictionary[ImageTextEmbedder, npt.NDArray[np.float32]] = (
    weakref.WeakKeyDictionary()
)
_LOCK = threading.Lock()


def category_embeddings(model: ImageTextEmbedder) -> npt.NDArray[np.float32]:
    """``(86, D)`` averaged prompt embeddings (memoised per loaded model; the adapter also caches them on disk)."""
    with _LOCK:
        found = _EMBEDDINGS.get(model)
    if found is None:
        found = label_embeddings(model, taxonomy().prompt_set())
        with _LOCK:
            _EMBEDDINGS[model] = found
    return found


def category_probabilities(model: ImageTextEmbedder, embedding: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """One image embedding ``(D,)`` -> its probability over the 86 categories (softmax of the native logits)."""
    return softmax(label_logits(model, embedding, category_embeddings(model)))


class CategoriesFeature:
    """Azure 3.2's ``categories``: taxonomy names with scores in [0, 1], best first, above the threshold."""

    name: ClassVar[str] = "categories"
    field: ClassVar[str] = "categories"
    needs: ClassVar[tuple[Role, ...]] = (Role.IMAGE_TEXT_EMBEDDING,)
    after: ClassVar[tuple[str, ...]] = ("landmarks",)

    def run(self, ctx: FeatureContext) -> tuple[Category, ...]:
        settings: CategorySettings = ctx.hub.settings.categories
        model = ctx.hub.embedder()
        probabilities = category_probabilities(model, image_embedding(ctx))
        categories = select_categories(probabilities, settings.threshold, settings.max_categories)
        landmarks = ctx.result_of("landmarks")
        return attach_landmarks(categories, landmarks or ())
