"""``imagelens eval categories|landmarks``: precision and recall at the configured threshold, a threshold sweep and
PR curves, on a labelled set.

A labelled set is a CSV (``labels.csv``) with a header:

- categories: ``image,positives,ignore``: ``positives`` are the Azure names (``animal_dog``) or parents
  (``animal``, also written ``animal_``) the image should get, ``|``-separated; ``ignore`` names are not scored on
  that image (present, but too small to call the picture's category). Every name that is positive somewhere is
  scored on every image: an image is a negative for each such name it neither has nor ignores.
- landmarks: ``image,landmark``: the landmark in the picture, empty for none.

``image`` is a path, relative to the CSV's folder or absolute. A COCO folder (``images/`` +
``annotations/instances*.json``) is also accepted: :func:`coco_category_labels` derives the category labels with
:data:`COCO_TO_AZURE` (documented in docs/categories.md) and :func:`coco_landmark_labels` makes every image a
negative (COCO shows everyday scenes, not famous landmarks).

Scores: a child name's own softmax score, a parent's group score (:mod:`imagelens.features.categories`), so
"reported at threshold t" is "score >= t" (up to the ``max_categories`` cap); a landmark image's score is its best
landmark's confidence, right when that landmark is the labelled one.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from imagelens.errors import InvalidArgumentError
from imagelens.evaluation.coco import load_coco
from imagelens.evaluation.report import EvalReport
from imagelens.evaluation.thresholds import PRCurve, pr_curve, threshold_for_precision

__all__ = [
    "COCO_TO_AZURE",
    "SWEEP",
    "CategoryExample",
    "LandmarkExample",
    "coco_category_labels",
    "coco_landmark_labels",
    "evaluate_categories",
    "evaluate_landmarks",
    "read_category_labels",
    "read_landmark_labels",
    "write_category_labels",
]

#: COCO object -> the Azure category it implies when it fills the picture (a child name implies its parent).
#: Objects with no clear Azure category (sports gear, furniture, kitchenware ...) are not mapped.
COCO_TO_AZURE: Mapping[str, str] = {
    "person": "people",
    "dog": "animal_dog", "cat": "animal_cat", "horse": "animal_horse", "bird": "animal_bird",
    "sheep": "animal", "cow": "animal", "elephant": "animal", "bear": "animal", "zebra": "animal",
    "giraffe": "animal",
    "pizza": "food_pizza", "hot dog": "food_fastfood",
    "sandwich": "food", "banana": "food", "apple": "food", "orange": "food", "broccoli": "food",
    "carrot": "food", "donut": "food", "cake": "food",
    "car": "trans_car", "bus": "trans_bus", "bicycle": "trans_bicycle",
    "train": "trans", "motorcycle": "trans", "truck": "trans",
    "tv": "object_screen", "laptop": "object_screen",
    "potted plant": "plant",
}  # fmt: skip
#: Thresholds of the sweep table.
SWEEP = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def _norm(name: str) -> str:
    """``animal_`` and ``animal`` are the same (parent) label."""
    name = name.strip()
    return name[:-1] if name.endswith("_") else name


def _known_names() -> set[str]:
    """Azure's child names and its parents (``people``, ``trans``), as labels are written after :func:`_norm`."""
    from imagelens.features.categories import taxonomy

    names = taxonomy().names
    return {_norm(n) for n in names} | {n.partition("_")[0] for n in names}


def _is_parent(name: str) -> bool:
    return "_" not in name


@dataclass(frozen=True, slots=True)
class CategoryExample:
    image: Path
    positives: frozenset[str]
    ignore: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class LandmarkExample:
    image: Path
    landmark: str  # "" for none


def _split(cell: str | None) -> frozenset[str]:
    return frozenset(_norm(p) for p in (cell or "").split("|") if p.strip())


def _rows(path: Path, columns: tuple[str, ...]) -> list[dict[str, str]]:
    if not path.is_file():
        raise InvalidArgumentError(f"the labels file {path} does not exist")
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or not set(columns) <= set(reader.fieldnames):
            raise InvalidArgumentError(f"{path} needs the columns {', '.join(columns)}")
        rows = list(reader)
    if not rows:
        raise InvalidArgumentError(f"{path} has no rows")
    return rows


def _image(base: Path, cell: str) -> Path:
    path = Path(cell)
    return path if path.is_absolute() else base / path


def read_category_labels(path: Path) -> list[CategoryExample]:
    rows = _rows(path, ("image", "positives"))
    return [
        CategoryExample(_image(path.parent, r["image"]), _split(r["positives"]), _split(r.get("ignore")))
        for r in rows
    ]


def write_category_labels(examples: Sequence[CategoryExample], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["image", "positives", "ignore"])
        for ex in examples:
            writer.writerow([str(ex.image), "|".join(sorted(ex.positives)), "|".join(sorted(ex.ignore))])
    return path


def read_landmark_labels(path: Path) -> list[LandmarkExample]:
    rows = _rows(path, ("image", "landmark"))
    return [LandmarkExample(_image(path.parent, r["image"]), (r["landmark"] or "").strip()) for r in rows]


def coco_category_labels(root: Path, min_fraction: float = 0.1) -> list[CategoryExample]:
    """Labels from COCO boxes: a mapped object whose largest instance covers at least ``min_fraction`` of the
    picture makes its Azure category (and that category's parent) positive; a smaller one puts them in ``ignore``
    (present, but not what the picture is of). Crowd boxes count as instances."""
    coco = load_coco(root)
    names = coco.categories
    by_image = coco.annotations_by_image()
    out = []
    for image in coco.images:
        area = float(image["width"]) * float(image["height"])
        largest: dict[str, float] = {}
        for ann in by_image.get(int(image["id"]), []):
            label = COCO_TO_AZURE.get(names.get(int(ann["category_id"]), ""))
            if label is not None:
                w, h = ann["bbox"][2], ann["bbox"][3]
                largest[label] = max(largest.get(label, 0.0), float(w) * float(h) / area)
        positives = {n for n, f in largest.items() if f >= min_fraction}
        positives |= {n.partition("_")[0] for n in positives}
        ignore = {n for n, f in largest.items() if f < min_fraction}
        ignore |= {n.partition("_")[0] for n in ignore}
        out.append(
            CategoryExample(coco.image_path(image), frozenset(positives), frozenset(ignore - positives))
        )
    return out


def coco_landmark_labels(root: Path) -> list[LandmarkExample]:
    """Every COCO image as a negative (everyday scenes; not checked one by one for a famous place)."""
    coco = load_coco(root)
    return [LandmarkExample(coco.image_path(image), "") for image in coco.images]


#: One image -> its score for each name (children: own score; parents: group score).
CategoryScorer = Callable[[Path], Callable[[str], float]]
#: One image -> its landmarks, best first, as (name, confidence).
LandmarkScorer = Callable[[Path], Sequence[tuple[str, float]]]


def _counts(scores: np.ndarray, truth: np.ndarray, threshold: float) -> tuple[float | None, float | None]:
    predicted = scores >= threshold
    tp = float((predicted & truth).sum())
    precision = tp / float(predicted.sum()) if predicted.any() else None
    recall = tp / float(truth.sum()) if truth.any() else None
    return precision, recall


def _sweep(scores: np.ndarray, truth: np.ndarray) -> list[dict[str, float | None]]:
    rows = []
    for t in SWEEP:
        p, r = _counts(scores, truth, t)
        rows.append({"threshold": t, "precision": p, "recall": r})
    return rows


def evaluate_categories(
    examples: Sequence[CategoryExample],
    scorer: CategoryScorer,
    *,
    model_id: str,
    data: str,
    threshold: float,
    target_precision: float = 0.9,
) -> tuple[EvalReport, dict[str, PRCurve]]:
    """Micro precision and recall at ``threshold`` over (image, name) pairs, parents and children apart, the sweep,
    a PR curve for each, and the threshold that reaches ``target_precision`` over all pairs."""
    if not examples:
        raise InvalidArgumentError("no labelled images")
    scored = sorted(set().union(*(ex.positives for ex in examples)))
    if not scored:
        raise InvalidArgumentError("the labelled set has no positive label to score")
    known = _known_names()
    unknown = sorted(set().union(*(ex.positives | ex.ignore for ex in examples)) - known)
    if unknown:
        raise InvalidArgumentError(
            f"not Azure 3.2 category names: {', '.join(unknown[:10])} (use e.g. people, animal_dog)"
        )
    rows: list[tuple[str, float, bool]] = []
    for ex in examples:
        score = scorer(ex.image)
        rows.extend(
            (name, float(score(name)), name in ex.positives) for name in scored if name not in ex.ignore
        )
    curves: dict[str, PRCurve] = {}
    metrics: dict[str, float | int | None] = {}
    sweeps: dict[str, list[dict[str, float | None]]] = {}
    for level, keep in (
        ("all", lambda n: True),
        ("parents", _is_parent),
        ("children", lambda n: not _is_parent(n)),
    ):
        sel = [(s, y) for name, s, y in rows if keep(name)]
        if not sel:
            continue
        s = np.array([x[0] for x in sel], np.float64)
        y = np.array([x[1] for x in sel], bool)
        p, r = _counts(s, y, threshold)
        metrics[f"precision_{level}"], metrics[f"recall_{level}"] = p, r
        metrics[f"positives_{level}"] = int(y.sum())
        curves[level] = pr_curve(s, y, int(y.sum()))
        metrics[f"AP_{level}"] = curves[level].average_precision()
        sweeps[level] = _sweep(s, y)
    choice = threshold_for_precision(curves["all"], target_precision)
    report = EvalReport(
        "categories", model_id, data, len(examples), metrics, choice.to_dict(),
        details={"threshold": threshold, "scored_names": scored, "sweep": sweeps},
    )  # fmt: skip
    return report, {k: v for k, v in curves.items() if k != "all"} or curves


def evaluate_landmarks(
    examples: Sequence[LandmarkExample],
    scorer: LandmarkScorer,
    *,
    model_id: str,
    data: str,
    threshold: float,
    target_precision: float = 0.9,
) -> tuple[EvalReport, dict[str, PRCurve]]:
    """Per image: the best landmark's confidence, right when it is the labelled one. Precision and recall at
    ``threshold`` (recall needs images with a landmark), the false-positive rate on images with none, the sweep."""
    if not examples:
        raise InvalidArgumentError("no labelled images")
    scores, right, negative = [], [], []
    for ex in examples:
        found = list(scorer(ex.image))
        best_name, best = found[0] if found else ("", 0.0)
        scores.append(float(best))
        right.append(bool(ex.landmark) and best_name.casefold() == ex.landmark.casefold())
        negative.append(not ex.landmark)
    s, y, neg = np.array(scores), np.array(right, bool), np.array(negative, bool)
    positives = int((~neg).sum())
    predicted = s >= threshold
    tp = int((predicted & y).sum())
    metrics: dict[str, float | int | None] = {
        "precision": tp / int(predicted.sum()) if predicted.any() else None,
        "recall": tp / positives if positives else None,
        "false_positive_rate": float((predicted & neg).sum() / neg.sum()) if neg.any() else None,
        "images_with_landmark": positives,
        "images_without": int(neg.sum()),
    }
    sweep = [
        {
            "threshold": t,
            "precision": _counts(s, y, t)[0],
            "recall": float(((s >= t) & y).sum() / positives) if positives else None,
            "false_positive_rate": float(((s >= t) & neg).sum() / neg.sum()) if neg.any() else None,
        }
        for t in SWEEP
    ]
    curve = pr_curve(s, y, positives)
    metrics["AP"] = curve.average_precision()
    choice = threshold_for_precision(curve, target_precision) if positives else None
    report = EvalReport(
        "landmarks", model_id, data, len(examples), metrics, choice.to_dict() if choice else {},
        details={"threshold": threshold, "sweep": {"all": sweep}},
    )  # fmt: skip
    return report, ({"landmarks": curve} if positives else {})


def sweep_table(report: EvalReport) -> str:
    """The sweep as text: one row per threshold and level."""
    sweeps: Mapping[str, Iterable[Mapping[str, float | None]]] = report.details.get("sweep", {})
    lines = []
    header = ["threshold", "precision", "recall"] + (["fp-rate"] if report.feature == "landmarks" else [])
    for level, rows in sweeps.items():
        lines.append(f"  sweep ({level}):")
        lines.append("    " + "  ".join(h.rjust(9) for h in header))
        for row in rows:
            cells = [_f(row.get("threshold")), _f(row.get("precision")), _f(row.get("recall"))]
            if "false_positive_rate" in row:
                cells.append(_f(row.get("false_positive_rate")))
            lines.append("    " + "  ".join(c.rjust(9) for c in cells))
    return "\n".join(lines)


def _f(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
