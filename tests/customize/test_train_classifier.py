"""Generic-Classifier: a head on the tiny random SigLIP, trained on synthetic colour classes (see test_training_data)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from imagelens.config import Settings
from imagelens.customize.dataset import import_dataset
from imagelens.customize.sources import load_rgb
from imagelens.customize.train_classifier import (
    ClassifierConfig,
    embed_dataset,
    fit_temperature,
    prototypes,
    train_classifier,
)
from imagelens.errors import InvalidArgumentError
from imagelens.models.adapters.custom_classifier import ClassifierHead, CustomClassifierAdapter
from imagelens.models.hub import ModelHub
from imagelens.models.spec import ModelSpec, PackageSource, Role
from imagelens.numeric import softmax
from imagelens.testing.tiny import write_tiny

from .test_training_data import COLOURS, colour_image, write_classification, write_detection

BACKBONE = "siglip2-base-patch16-224"


@pytest.fixture()
def hub(tiny_settings: Settings) -> ModelHub:
    return ModelHub(tiny_settings)


def _train(hub: ModelHub, coco: Path, settings: Settings, **config: object) -> object:
    dataset, _ = import_dataset(coco, min_images_per_class=1)
    backbone = hub.get(BACKBONE)
    return train_classifier(
        dataset, backbone, lambda im: load_rgb(im, settings), backbone=BACKBONE,
        backbone_fingerprint=backbone.fingerprint, config=ClassifierConfig(**config),  # type: ignore[arg-type]
    )  # fmt: skip


def test_classifier_separates_colours_on_held_out_images(
    hub: ModelHub, tiny_settings: Settings, tmp_path: Path
) -> None:
    result = _train(hub, write_classification(tmp_path, per_class=5), tiny_settings)
    head = result.head  # type: ignore[attr-defined]
    assert head.class_names == tuple(COLOURS)
    assert result.num_validation == len(COLOURS)  # type: ignore[attr-defined]  # 1 of 5 per class held out
    assert result.validation is not None  # type: ignore[attr-defined]
    rng = np.random.default_rng(123)  # images never seen in training
    test = [(i, colour_image(c, rng)) for i, c in enumerate(COLOURS.values()) for _ in range(8)]
    embeddings = hub.get(BACKBONE).embed_images([img for _, img in test])
    probs = head.probabilities(embeddings)
    accuracy = float(np.mean(np.argmax(probs, axis=1) == [i for i, _ in test]))
    assert accuracy >= 0.9, accuracy
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-9)
    assert 0.05 <= head.temperature <= 20.0


def test_one_image_per_class_gives_the_prototype_classifier(
    hub: ModelHub, tiny_settings: Settings, tmp_path: Path
) -> None:
    result = _train(
        hub, write_classification(tmp_path, per_class=1, seed=3), tiny_settings, prior_strength=10.0
    )
    head = result.head  # type: ignore[attr-defined]
    assert result.validation is None and result.num_validation == 0  # type: ignore[attr-defined]
    assert head.temperature == 1.0  # nothing held out to calibrate on
    dataset, _ = import_dataset(tmp_path / "train.json", min_images_per_class=1)
    backbone = hub.get(BACKBONE)
    support = backbone.embed_images([load_rgb(im, tiny_settings) for im in dataset.images])
    flipped = backbone.embed_images([load_rgb(im, tiny_settings)[:, ::-1].copy() for im in dataset.images])
    protos = prototypes(np.vstack([support, flipped]), np.tile(np.arange(len(COLOURS)), 2), len(COLOURS))
    rng = np.random.default_rng(9)
    queries = backbone.embed_images([colour_image(c, rng) for c in COLOURS.values() for _ in range(4)])
    nearest = np.argmax(queries @ protos.T, axis=1)
    assert np.array_equal(np.argmax(head.logits(queries), axis=1), nearest)


def test_a_classifier_refuses_a_detection_dataset(
    hub: ModelHub, tiny_settings: Settings, tmp_path: Path
) -> None:
    dataset, _ = import_dataset(write_detection(tmp_path, count=4))
    with pytest.raises(InvalidArgumentError, match="classification dataset"):
        train_classifier(
            dataset, hub.get(BACKBONE), lambda im: load_rgb(im, tiny_settings), backbone=BACKBONE
        )


class _CountingEmbedder:
    def __init__(self) -> None:
        self.calls = 0

    def embed_images(self, images: list[np.ndarray]) -> np.ndarray:
        self.calls += len(images)
        return np.stack([img.mean(axis=(0, 1)) for img in images]).astype(np.float32)


def test_embedding_cache_resumes_where_it_stopped(tiny_settings: Settings, tmp_path: Path) -> None:
    dataset, _ = import_dataset(write_classification(tmp_path, per_class=2))
    images = list(dataset.images)
    cache = tmp_path / "work" / "embeddings.npz"

    def load(im: object) -> np.ndarray:
        return load_rgb(im, tiny_settings)  # type: ignore[arg-type]

    first = _CountingEmbedder()
    embed_dataset(images[:4], first, load, flip=True, batch=2, cache=cache, fingerprint="b1")
    assert first.calls == 8  # 4 images and their mirrors
    again = _CountingEmbedder()
    vectors = embed_dataset(images, again, load, flip=True, batch=2, cache=cache, fingerprint="b1")
    assert again.calls == 2 * (len(images) - 4)  # only what the cache lacked
    assert len(vectors) == 2 * len(images)
    other = _CountingEmbedder()
    embed_dataset(images, other, load, flip=False, batch=4, cache=cache, fingerprint="b2")  # another backbone
    assert other.calls == len(images)


@pytest.mark.parametrize("true_t", [0.3, 1.0, 4.0])
def test_fit_temperature_recovers_the_generating_temperature(true_t: float) -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(0.0, 3.0, (4000, 5))
    p = softmax(logits / true_t)
    labels = np.array([rng.choice(5, p=row) for row in p])
    assert fit_temperature(logits, labels) == pytest.approx(true_t, rel=0.1)


def test_head_round_trips_and_the_adapter_ranks_classes(tmp_path: Path) -> None:
    spec = ModelSpec(
        id="custom:x",
        roles=(Role.IMAGE_TEXT_EMBEDDING,),
        adapter="imagelens.models.adapters.custom_classifier:CustomClassifierAdapter",
        source=PackageSource("imagelens"),
        license="-",
        options={"dir": str(tmp_path / "head"), "classes": ["a", "b", "c", "d"], "dim": 8},
    )
    write_tiny(spec, tmp_path / "head", seed=1)
    adapter = CustomClassifierAdapter.load(None, spec)  # the folder comes from the spec, as for the hub
    again = ClassifierHead.load(tmp_path / "head")
    np.testing.assert_array_equal(adapter.head.weights, again.weights)
    x = np.random.default_rng(2).normal(size=(3, 8))
    probs = adapter.predict_proba(x)
    ranked = adapter.ranked(probs[0])
    assert [n for n, _ in ranked] == [adapter.class_names[i] for i in np.argsort(-probs[0], kind="stable")]
    assert all(0.0 <= p <= 1.0 for _, p in ranked)
    with pytest.raises(InvalidArgumentError, match=r"\(N, 8\)"):
        adapter.predict_proba(np.zeros((1, 5)))
