"""``Generic-Classifier``: few-shot classification on frozen image embeddings.

Why this recipe: with 1 to 5 images per class, fine-tuning a backbone overfits; a linear probe on a strong frozen
embedding (SigLIP 2) is the standard few-shot baseline and trains in a second. Three choices make it work from one
image per class:

1. **Prototype prior.** The weights start at the class prototypes (the normalised mean embedding of each class, a
   nearest-centroid classifier) and an L2 penalty pulls them back there: with one image per class the head *is*
   the prototype classifier; with more, cross-entropy moves it where the data says.
2. **Flip augmentation** doubles the support set at the cost of one more embedding per image.
3. **Temperature scaling** (Guo et al., 2017) fitted on the held-out split makes the softmax confidences
   calibrated; the head is then refitted on every image, keeping that temperature. With a handful of held-out images
   the fit is a posterior mode with a prior centred on ``T = 1`` (plain likelihood would declare certainty as soon
   as every held-out image is right). Without a held-out image (one image per class) the temperature stays 1 and
   no performance is reported.

Embeddings are the expensive part; they are written to a cache file as they are computed, so a job interrupted by a
restart resumes where it stopped instead of embedding everything again.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from imagelens.customize.control import Deadline, NoControl, TimeBudgetExceeded, TrainingControl
from imagelens.customize.metrics import ClassificationMetrics, evaluate_classification
from imagelens.customize.records import Dataset, ImageRecord
from imagelens.customize.splitting import split_dataset
from imagelens.errors import InvalidArgumentError
from imagelens.models.adapters.custom_classifier import ClassifierHead
from imagelens.numeric import softmax

FloatArray = npt.NDArray[np.float32]
EMBEDDINGS_CACHE = "embeddings.npz"


class ImageEmbedder(Protocol):
    """What the trainer needs from a backbone (the SigLIP adapter has it)."""

    def embed_images(self, images: Sequence[npt.NDArray[np.uint8]]) -> FloatArray: ...


@dataclass(frozen=True, slots=True)
class ClassifierConfig:
    """``prior_strength``: weight of the pull towards the prototypes (per class, so it does not grow with the number
    of classes); ``init_scale``: the prototypes' logit scale at the start (cosines are small numbers)."""

    validation_fraction: float = 0.2
    flip_augment: bool = True
    prior_strength: float = 0.05
    init_scale: float = 10.0
    max_iter: int = 200
    embed_batch: int = 16
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 < self.validation_fraction < 1.0:
            raise InvalidArgumentError(
                f"validation_fraction must be in (0, 1), got {self.validation_fraction}"
            )
        if self.prior_strength < 0 or self.init_scale <= 0 or self.max_iter < 1 or self.embed_batch < 1:
            raise InvalidArgumentError(
                "prior_strength must be >= 0, init_scale > 0, max_iter and embed_batch >= 1; got "
                f"{self.prior_strength}, {self.init_scale}, {self.max_iter}, {self.embed_batch}"
            )


@dataclass(frozen=True, slots=True, eq=False)
class ClassifierTrainingResult:
    head: ClassifierHead
    validation: ClassificationMetrics | None  # of the head trained without the validation images
    num_train: int
    num_validation: int
    embed_seconds: float
    fit_seconds: float


# --- embeddings, cached ------------------------------------------------------------------------------------------


def _save_npz(path: Path, **arrays: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)  # type: ignore[arg-type]
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _load_cache(path: Path | None, fingerprint: str) -> dict[tuple[int, bool], np.ndarray]:
    if path is None or not path.is_file():
        return {}
    try:
        with np.load(path, allow_pickle=False) as data:
            if str(data["fingerprint"]) != fingerprint:
                return {}
            ids, flipped, vecs = data["ids"], data["flipped"], data["vectors"]
            return {(int(i), bool(f)): np.asarray(v) for i, f, v in zip(ids, flipped, vecs, strict=True)}
    except (OSError, KeyError, ValueError):
        return {}  # a damaged cache costs a re-embedding, nothing else


def embed_dataset(
    images: Sequence[ImageRecord],
    embedder: ImageEmbedder,
    load: Callable[[ImageRecord], npt.NDArray[np.uint8]],
    *,
    flip: bool,
    batch: int = 16,
    cache: Path | None = None,
    fingerprint: str = "",
    control: TrainingControl | None = None,
    deadline: Deadline | None = None,
) -> dict[tuple[int, bool], np.ndarray]:
    """``{(image id, flipped): embedding}`` for every image (and its mirror when ``flip``), resuming from and
    appending to ``cache`` (keyed by the backbone ``fingerprint``) after every batch."""
    control = control or NoControl()
    done = _load_cache(cache, fingerprint)
    todo = [im for im in images if (im.id, False) not in done or (flip and (im.id, True) not in done)]
    for start in range(0, len(todo), batch):
        control.check()
        if deadline is not None and deadline.expired:
            raise TimeBudgetExceeded(
                f"the time budget ran out while embedding images ({len(done)} of "
                f"{len(images) * (2 if flip else 1)} embeddings done)"
            )
        chunk = todo[start : start + batch]
        pixels = [load(im) for im in chunk]
        keys = [(im.id, False) for im in chunk]
        if flip:
            pixels += [np.ascontiguousarray(p[:, ::-1]) for p in pixels]
            keys += [(im.id, True) for im in chunk]
        vectors = np.asarray(embedder.embed_images(pixels), dtype=np.float32)
        done.update(zip(keys, vectors, strict=True))
        control.report(stage="embedding", done=min(start + batch, len(todo)), total=len(todo))
        if cache is not None:
            items = sorted(done.items())
            _save_npz(
                cache,
                ids=np.asarray([k[0] for k, _ in items], np.int64),
                flipped=np.asarray([k[1] for k, _ in items], bool),
                vectors=np.stack([v for _, v in items]).astype(np.float32),
                fingerprint=np.asarray(fingerprint),
            )
    return done


# --- the head --------------------------------------------------------------------------------------------------


def prototypes(x: np.ndarray, y: np.ndarray, n_classes: int) -> np.ndarray:
    """``(C, D)``: each class's normalised mean embedding (zeros for a class without examples)."""
    out = np.zeros((n_classes, x.shape[1]), np.float64)
    for c in range(n_classes):
        members = x[y == c]
        if len(members):
            mean = members.mean(axis=0)
            out[c] = mean / max(np.linalg.norm(mean), 1e-12)
    return out


def fit_linear_head(
    x: npt.ArrayLike, y: npt.ArrayLike, n_classes: int, config: ClassifierConfig
) -> tuple[np.ndarray, np.ndarray]:
    """``(W, b)`` minimising mean cross-entropy + ``prior_strength * ||W - W0||^2 / C`` from ``W0 = init_scale *
    prototypes`` (L-BFGS, float64: small, deterministic)."""
    import torch

    xs = np.asarray(x, np.float64)
    ys = np.asarray(y, np.int64)
    w0 = torch.from_numpy(config.init_scale * prototypes(xs, ys, n_classes))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        weights = w0.clone().requires_grad_(True)
        bias = torch.zeros(n_classes, dtype=torch.float64, requires_grad=True)
        xt, yt = torch.from_numpy(xs), torch.from_numpy(ys)
        optimizer = torch.optim.LBFGS(
            [weights, bias], lr=1.0, max_iter=config.max_iter, line_search_fn="strong_wolfe"
        )

        def closure() -> Any:
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(xt @ weights.T + bias, yt)
            loss = loss + config.prior_strength * ((weights - w0) ** 2).sum() / n_classes
            loss.backward()
            return loss

        optimizer.step(closure)
    return weights.detach().numpy(), bias.detach().numpy()


def fit_temperature(logits: npt.ArrayLike, labels: npt.ArrayLike, prior_sigma: float = 1.0) -> float:
    """The temperature maximising the posterior of ``labels``: the summed log-likelihood plus a normal prior on
    ``log T`` centred on 0 (``T = 1``) with ``prior_sigma``. The prior matters with few held-out images: when all of
    them are right the likelihood alone sends ``T`` to 0 (certainty); the prior stops that, and with many images the
    likelihood dominates. A log grid over [0.05, 20], then a finer one around the best point."""
    z = np.asarray(logits, np.float64)
    y = np.asarray(labels, np.int64)

    def loss(t: float) -> float:
        p = softmax(z / t)
        nll = -np.sum(np.log(np.maximum(p[np.arange(len(y)), y], 1e-300)))
        return float(nll + np.log(t) ** 2 / (2.0 * prior_sigma**2))

    grid = np.exp(np.linspace(np.log(0.05), np.log(20.0), 61))
    best = float(grid[int(np.argmin([loss(t) for t in grid]))])
    fine = np.exp(np.linspace(np.log(best) - 0.12, np.log(best) + 0.12, 25))
    return float(fine[int(np.argmin([loss(t) for t in fine]))])


# --- the whole recipe ------------------------------------------------------------------------------------------


def train_classifier(
    dataset: Dataset,
    embedder: ImageEmbedder,
    load: Callable[[ImageRecord], npt.NDArray[np.uint8]],
    *,
    backbone: str,
    backbone_fingerprint: str = "",
    config: ClassifierConfig | None = None,
    control: TrainingControl | None = None,
    work_dir: Path | None = None,
    time_budget_s: float | None = None,
) -> ClassifierTrainingResult:
    """Train a head on ``dataset`` (classification, validated) with embeddings from ``embedder``.

    ``load`` turns an image record into RGB pixels. ``work_dir`` keeps the embedding cache (resume).
    """
    config = config or ClassifierConfig()
    control = control or NoControl()
    if dataset.kind != "classification":
        raise InvalidArgumentError(
            f"a Generic-Classifier trains on a classification dataset, got {dataset.kind!r}"
        )
    deadline = Deadline(time_budget_s)
    labels_by_image = dataset.image_labels()
    class_ids = [c.id for c in dataset.categories]
    index = {cid: i for i, cid in enumerate(class_ids)}
    images = [im for im in dataset.images if im.id in labels_by_image]
    if len({labels_by_image[im.id] for im in images}) < 2:
        raise InvalidArgumentError("a classifier needs labelled images of at least 2 classes")

    t0 = time.perf_counter()
    cache = work_dir / EMBEDDINGS_CACHE if work_dir is not None else None
    vectors = embed_dataset(
        images, embedder, load, flip=config.flip_augment, batch=config.embed_batch, cache=cache,
        fingerprint=f"{backbone}:{backbone_fingerprint}", control=control, deadline=deadline,
    )  # fmt: skip
    embed_seconds = time.perf_counter() - t0
    control.check()
    control.report(stage="fitting")

    def matrix(records: Sequence[ImageRecord], with_flips: bool) -> tuple[np.ndarray, np.ndarray]:
        keys = [(im.id, False) for im in records]
        if with_flips and config.flip_augment:
            keys += [(im.id, True) for im in records]
        x = np.stack([vectors[k] for k in keys]).astype(np.float64)
        y = np.asarray([index[labels_by_image[k[0]]] for k in keys], np.int64)
        return x, y

    t1 = time.perf_counter()
    train_set, val_set = split_dataset(
        dataset, validation_fraction=config.validation_fraction, seed=config.seed
    )
    train_images = [im for im in train_set.images if im.id in labels_by_image]
    val_images = [im for im in val_set.images if im.id in labels_by_image]
    metrics: ClassificationMetrics | None = None
    temperature = 1.0
    names = [c.name for c in dataset.categories]
    if val_images:
        x_train, y_train = matrix(train_images, with_flips=True)
        w, b = fit_linear_head(x_train, y_train, len(class_ids), config)
        x_val, y_val = matrix(val_images, with_flips=False)
        val_logits = x_val @ w.T + b
        temperature = fit_temperature(val_logits, y_val)
        metrics = evaluate_classification(
            y_val, softmax(val_logits / temperature), class_names=names, category_ids=class_ids
        )
    x_all, y_all = matrix(images, with_flips=True)
    w, b = fit_linear_head(x_all, y_all, len(class_ids), config)
    head = ClassifierHead(
        class_names=tuple(names),
        category_ids=tuple(class_ids),
        weights=w.astype(np.float32),
        bias=b.astype(np.float32),
        temperature=temperature,
        backbone=backbone,
        backbone_fingerprint=backbone_fingerprint,
    )
    return ClassifierTrainingResult(
        head=head,
        validation=metrics,
        num_train=len(train_images) if val_images else len(images),
        num_validation=len(val_images),
        embed_seconds=embed_seconds,
        fit_seconds=time.perf_counter() - t1,
    )
