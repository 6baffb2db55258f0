"""Every catalog entry's adapter implements the Protocol of each role it declares: statically (its class declares
every member, with compatible signatures) and at run time (a tiny loaded instance, obtained through the hub's typed
accessor for that role). A model whose adapter cannot serve a role is refused by the hub with a clear error."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from imagelens.config import HubSettings, Settings
from imagelens.customize.predict import custom_spec
from imagelens.detections import Detections
from imagelens.errors import InvalidArgumentError, ModelUnavailableError
from imagelens.models.catalog import CATALOG, DEFAULT_FOR_ROLE
from imagelens.models.hub import ModelHub, import_adapter
from imagelens.models.roles import (
    ROLE_PROTOCOLS,
    Detector,
    EmbeddingClassifier,
    FaceDetector,
    Model,
    OpenVocabDetector,
    TextReader,
    missing_members,
)
from imagelens.models.spec import ModelSpec, Role
from imagelens.store.base import ModelRecord
from imagelens.store.sqlite import SQLiteStore
from imagelens.testing.tiny import ships_in_package, tiny_variant, write_tiny

PAIRS = [(spec.id, role) for spec in CATALOG.values() for role in spec.roles]

#: The hub's typed accessor per role (a role without one goes through ``hub.model``).
ACCESSORS: dict[Role, Callable[[ModelHub, str], Model]] = {
    Role.OCR: ModelHub.reader,
    Role.IMAGE_TEXT_EMBEDDING: ModelHub.embedder,
    Role.CAPTIONER: ModelHub.captioner,
    Role.DETECTOR: ModelHub.detector,
    Role.OPEN_VOCAB_DETECTOR: ModelHub.open_vocab_detector,
    Role.FACE_DETECTOR: ModelHub.face_detector,
    Role.MATTING: ModelHub.matting,
    Role.TRANSLATOR: ModelHub.translator,
}


def test_every_role_has_a_protocol_and_every_catalog_role_is_covered() -> None:
    assert set(ROLE_PROTOCOLS) == set(Role)
    assert {role for _, role in PAIRS} >= set(DEFAULT_FOR_ROLE)
    assert len(PAIRS) >= len(CATALOG)


@pytest.mark.parametrize(("model_id", "role"), PAIRS, ids=[f"{m}-{r.value}" for m, r in PAIRS])
def test_catalog_adapter_class_satisfies_its_role_protocol(model_id: str, role: Role) -> None:
    cls = import_adapter(CATALOG[model_id])
    assert missing_members(cls, ROLE_PROTOCOLS[role]) == []
    assert not hasattr(cls, "write_tiny"), "tiny test models are written by imagelens.testing.tiny"


@pytest.fixture(scope="module")
def roles_hub(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> ModelHub:
    """The tiny models of the catalog; for a model shipped in a package, its test-only tiny variant."""
    root = tmp_path_factory.mktemp("roles-models")
    hub = ModelHub(Settings(model_dir=root, hub=HubSettings(offline=True)))
    for spec in CATALOG.values():
        if ships_in_package(spec):
            variant = tiny_variant(spec)
            write_tiny(variant, root / variant.id, seed=0)
            hub.register(variant)
        else:
            (root / spec.id).symlink_to(tiny_model_dir / spec.id, target_is_directory=True)
    return hub


def loaded_id(model_id: str) -> str:
    spec = CATALOG[model_id]
    return tiny_variant(spec).id if ships_in_package(spec) else model_id


@pytest.mark.parametrize(("model_id", "role"), PAIRS, ids=[f"{m}-{r.value}" for m, r in PAIRS])
def test_tiny_instance_passes_the_typed_accessor(roles_hub: ModelHub, model_id: str, role: Role) -> None:
    target = loaded_id(model_id)
    protocol = ROLE_PROTOCOLS[role]
    accessor = ACCESSORS.get(role)
    model = accessor(roles_hub, target) if accessor else roles_hub.model(role, protocol, target)
    assert isinstance(model, protocol)
    assert roles_hub.for_role(role, target) is model
    assert model.spec.id == target


def test_detectors_return_the_shared_detections(roles_hub: ModelHub) -> None:
    import numpy as np

    rgb = np.random.default_rng(0).integers(0, 256, (90, 170, 3), dtype=np.uint8)
    detector: Detector = roles_hub.detector(loaded_id("rtdetr-v2-r18"))
    found = detector.detect(rgb)
    assert isinstance(found, Detections) and "query" in found.data
    assert found.class_names == detector.class_names
    owl: OpenVocabDetector = roles_hub.open_vocab_detector(loaded_id("owlv2-base-patch16-ensemble"))
    boxes = owl.detect(rgb, ["a bottle", "can=a can"])
    assert isinstance(boxes, Detections) and "patch" in boxes.data
    assert boxes.class_names == ("bottle", "can")
    faces: FaceDetector = roles_hub.face_detector(loaded_id("yunet-2023mar"))
    assert isinstance(faces.detect(rgb), Detections)


class NotAReader:
    """Loads, but reads nothing: it cannot serve the OCR role it is (wrongly) catalogued for."""

    spec: ModelSpec

    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec

    @classmethod
    def load(cls, path: Path | None, spec: ModelSpec) -> NotAReader:
        return cls(spec)

    def close(self) -> None:
        return None


def test_an_adapter_without_the_role_is_refused_clearly(tmp_path: Path) -> None:
    from imagelens.models.spec import PackageSource

    spec = ModelSpec(
        id="not-a-reader",
        roles=(Role.OCR,),
        adapter=f"{__name__}:NotAReader",
        source=PackageSource("json"),
        license="MIT",
    )
    assert missing_members(NotAReader, TextReader) == ["read: missing"]
    hub = ModelHub(Settings(model_dir=tmp_path, hub=HubSettings(offline=True)), catalog={spec.id: spec})
    with pytest.raises(ModelUnavailableError, match="NotAReader does not implement TextReader"):
        hub.model(Role.OCR, TextReader, "not-a-reader")
    with pytest.raises(ModelUnavailableError, match="NotAReader does not implement TextReader"):
        hub.reader("not-a-reader")
    with pytest.raises(InvalidArgumentError, match="cannot serve as detector: its roles are ocr"):
        hub.detector("not-a-reader")


def test_a_catalog_model_is_refused_for_a_role_it_does_not_declare(tiny_model_dir: Path) -> None:
    hub = ModelHub(Settings(model_dir=tiny_model_dir, hub=HubSettings(offline=True)))
    with pytest.raises(InvalidArgumentError, match="'yunet-2023mar' cannot serve as detector"):
        hub.detector("yunet-2023mar")
    assert hub.loaded_ids() == [], "refused before anything is loaded"


@pytest.mark.parametrize(
    ("kind", "protocol"), [("Generic-Detector", Detector), ("Generic-Classifier", EmbeddingClassifier)]
)
def test_custom_model_adapters_satisfy_their_roles(tmp_path: Path, kind: str, protocol: type) -> None:
    record = ModelRecord(
        name="mine",
        kind=kind,
        dataset_name="d",
        time_budget_hours=1.0,
        created="1",
        updated="1",  # type: ignore[arg-type]
    )
    spec = custom_spec(record, SQLiteStore(tmp_path))
    (role,) = spec.roles
    assert ROLE_PROTOCOLS[role] is protocol
    assert missing_members(import_adapter(spec), protocol) == []
