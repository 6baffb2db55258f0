"""Run one feature's evaluation with catalog models (the hub resolves ``IMAGELENS_MODEL_DIR`` as everywhere)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from imagelens.errors import InvalidArgumentError
from imagelens.evaluation.coco import load_coco
from imagelens.evaluation.report import EvalReport
from imagelens.evaluation.thresholds import PRCurve, plot_pr
from imagelens.models.hub import ModelHub, import_adapter
from imagelens.models.roles import FaceDetector
from imagelens.models.spec import Role

#: What ``imagelens eval`` can score, and what it cannot yet (with why).
HUB_FEATURES = ("faces", "objects", "people", "read")
NOT_SUPPORTED = {
    "caption": "captions need the Florence-2 weights and a CIDEr/BLEU scorer, neither is available here",
}
#: The face detector runs this low so that the PR curve reaches recall it can.
FACE_MIN_SCORE = 0.1
FACE_MAX = 300


def load_rgb(path: str) -> npt.NDArray[np.uint8]:
    """The stored pixels, RGB (no EXIF rotation: COCO's boxes are in the stored orientation)."""
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def evaluate_with_hub(
    hub: ModelHub,
    feature: str,
    data: Path,
    *,
    model_id: str | None = None,
    target_precision: float = 0.9,
    check_pycocotools: bool = False,
    visible_only: bool = False,
) -> tuple[EvalReport, dict[str, PRCurve]]:
    """``faces``, ``objects``, ``people`` (COCO folders) or ``read`` (SROIE layout) with the role's model."""
    if feature in NOT_SUPPORTED:
        raise InvalidArgumentError(f"'eval {feature}' is not supported: {NOT_SUPPORTED[feature]}.")
    if feature == "faces":
        from imagelens.evaluation.faces import evaluate_faces

        target = model_id or hub.model_for_role(Role.FACE_DETECTOR)
        spec = hub.spec(target)
        if Role.FACE_DETECTOR not in spec.roles:
            raise InvalidArgumentError(f"The model '{target}' is not a face detector.")
        operating = float(spec.options.get("score_threshold", 0.7))
        # its own instance, scoring down to FACE_MIN_SCORE (the hub's shared one keeps its operating threshold)
        low = replace(
            spec, options={**spec.options, "score_threshold": FACE_MIN_SCORE, "max_faces": FACE_MAX}
        )
        face = cast(FaceDetector, import_adapter(low).load(hub.locate(target)[0], low))
        coco = load_coco(data, ("person_keypoints",))
        try:
            return evaluate_faces(
                face.detect, coco, load_rgb, model_id=target, operating_threshold=operating,
                visible_only=visible_only, target_precision=target_precision,
            )  # fmt: skip
        finally:
            face.close()
    if feature in ("objects", "people"):
        from imagelens.evaluation.detection import MIN_SCORE, evaluate_detector

        detector = hub.detector(model_id)
        params = detector.params
        operating = params.score_threshold if feature == "objects" else params.person_threshold
        return evaluate_detector(
            lambda rgb: detector.detect(rgb, MIN_SCORE), load_coco(data), load_rgb, feature=feature,
            model_id=detector.spec.id, operating_threshold=operating, person_label=params.person_label,
            target_precision=target_precision, check_pycocotools=check_pycocotools,
        )  # fmt: skip
    if feature == "read":
        from imagelens.evaluation.features import evaluate_read

        reader = hub.reader(model_id)

        def words(rgb: npt.NDArray[np.uint8]) -> list[tuple[str, float]]:
            return [(w.text, w.confidence) for line in reader.read(rgb).lines for w in line.words]

        return evaluate_read(
            words, data, load_rgb, model_id=reader.spec.id, target_precision=target_precision
        )
    raise InvalidArgumentError(f"unknown feature {feature!r}; expected one of {', '.join(HUB_FEATURES)}")


def write_pr_png(report: EvalReport, curves: dict[str, PRCurve], path: Path) -> Path:
    from imagelens.evaluation.thresholds import ThresholdChoice

    t = report.threshold
    choice = ThresholdChoice(**t) if t else None  # type: ignore[arg-type]
    return plot_pr(curves, path, title=f"{report.feature}: {report.model}", choice=choice)


def describe(report: EvalReport) -> dict[str, Any]:
    return report.to_dict()
