"""Microsoft's sample client for the 4.0 customization and retail-shelf previews
(``cognitive-service-vision-model-customization-python-samples``) against ``imagelens serve``, as its README calls
it: a multi-service endpoint and a key. It builds several paths with ``//`` (``.../computervision//models/...``)."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
import requests
from PIL import Image

from ..api.test_shelf_routes import DETECTED, PLANOGRAM
from ..conftest import SAMPLE_IMAGE
from ..customize.test_training_data import write_classification
from ..shelf.conftest import cut_tiles, synthetic_texture
from .conftest import Server

pytest.importorskip("cognitive_service_vision_model_customization_python_samples")

from cognitive_service_vision_model_customization_python_samples import (  # noqa: E402
    DatasetClient,
    EvaluationClient,
    ImageCompositionClient,
    PlanogramComplianceClient,
    PredictionClient,
    ProductRecognitionClient,
    ResourceType,
    TrainingClient,
)
from cognitive_service_vision_model_customization_python_samples.models import (  # noqa: E402
    AnnotationKind,
    Dataset,
    Evaluation,
    EvaluationStatus,
    ImageRectificationControlPoints,
    ImageRectificationRequest,
    ImageStitchingRequest,
    Model,
    ModelKind,
    ModelStatus,
    NormalizedCoordinate,
    PlanogramMatchingRequest,
    ProductRecognition,
    ProductRecognitionStatus,
    TrainingParameters,
)


def _client(cls: type, server: Server) -> Any:
    return cls(ResourceType.MULTI_SERVICE_RESOURCE, None, server.url, server.key)


def _png(pixels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


def test_datasets_training_prediction_and_evaluation(server: Server) -> None:
    coco = write_classification(server.data_dir / "colours", per_class=2)
    datasets = _client(DatasetClient, server)
    dataset = Dataset("colours", AnnotationKind.MULTICLASS_CLASSIFICATION, [coco.as_uri()])
    assert datasets.register_dataset(dataset).name == "colours"
    assert datasets.query_dataset("colours").annotation_file_uris == [coco.as_uri()]
    assert datasets.update_dataset(dataset).name == "colours"

    training = _client(TrainingClient, server)
    params = TrainingParameters("colours", 1, ModelKind.GENERIC_IC)
    assert training.train_model(Model("clf", params)).status in (
        ModelStatus.NOT_STARTED,
        ModelStatus.TRAINING,
    )
    model = training.wait_for_training_completion("clf", check_wait_in_secs=0.2)
    assert model.status == ModelStatus.SUCCEEDED, model.error
    assert model.model_performance is not None

    prediction = _client(PredictionClient, server).predict(
        "clf", SAMPLE_IMAGE.read_bytes(), content_type="image/png"
    )
    assert {"customModelResult", "metadata", "modelVersion"} <= set(prediction)

    training.evaluate_model(Evaluation("eval1", "clf", "colours"))
    evaluation = training.wait_for_evaluation_completion("clf", "eval1", check_wait_in_secs=0.2)
    assert evaluation.status == EvaluationStatus.SUCCEEDED
    evaluations = _client(
        EvaluationClient, server
    )  # its paths start with "/": the client sends "//models/..."
    assert evaluations.evaluate(Evaluation("eval2", "clf", "colours")).name == "eval2"
    assert evaluations.query_run("eval2", "clf").model_name == "clf"
    evaluations.wait_for_completion("eval2", "clf", check_wait_in_secs=0.2)
    training.delete_model_evaluation("clf", "eval1")

    training.train_model(Model("clf2", params))
    training.cancel_model_training("clf2")
    assert training.wait_for_training_completion("clf2", check_wait_in_secs=0.2).status in (
        ModelStatus.CANCELLED,
        ModelStatus.SUCCEEDED,  # a tiny model may finish before the cancel lands
    )
    training.delete_model("clf2")
    training.delete_model("clf")
    datasets.delete_dataset("colours")
    with pytest.raises(requests.HTTPError):
        datasets.query_dataset("colours")


def test_product_recognition_and_planogram(server: Server) -> None:
    runs = _client(ProductRecognitionClient, server)
    model = "ms-pretrained-product-detection"
    image = _png(synthetic_texture(200, 400, seed=5))
    created = runs.create_run(ProductRecognition("run1", model), image, content_type="image/png")
    assert created.name == "run1" and created.model_name == model
    done = runs.wait_for_completion("run1", model, check_wait_in_secs=0.2)
    assert done.status == ProductRecognitionStatus.SUCCEEDED, done.error
    assert {"products", "gaps", "imageMetadata"} <= set(done.result)
    runs.delete_run("run1", model)

    matching = _client(PlanogramComplianceClient, server).match_planogram(
        PlanogramMatchingRequest(DETECTED, PLANOGRAM)
    )
    assert [p["state"] for p in matching.matching_result] == ["matched", "misplaced", "gap"]


def test_stitch_and_rectify(server: Server) -> None:
    tiles, _, _ = cut_tiles(synthetic_texture(240, 520, seed=11), cols=2, rows=1, overlap=0.5)
    for k, tile in enumerate(tiles):
        (server.files_dir / f"tile{k}.png").write_bytes(_png(tile))
    composition = _client(ImageCompositionClient, server)
    urls = [f"{server.files_url}/tile{k}.png" for k in range(len(tiles))]
    assert composition.stitch_images(ImageStitchingRequest(urls))[:2] == b"\xff\xd8"
    points = ImageRectificationControlPoints(NormalizedCoordinate(0.2, 0.1), NormalizedCoordinate(0.8, 0.1),
                                             NormalizedCoordinate(0.2, 0.9), NormalizedCoordinate(0.8, 0.9))  # fmt: skip
    rectified = composition.rectify_image(ImageRectificationRequest(f"{server.files_url}/tile0.png", points))
    assert rectified[:2] == b"\xff\xd8"
