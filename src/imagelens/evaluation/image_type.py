"""``imageType``: a labelled set made at run time, and precision/recall of clip art and line drawing on any labelled
folder.

The set (:func:`build_set`): real photos (COCO val2017 and the grocery-store images under ``../shared/data``; a
quarter of them also converted to greyscale, as hard negatives) labelled clipArt 0 / lineDrawing 0, and drawings
rendered here with PIL from a seed: flat-colour clip art (shapes and icons with a few fill colours, outlines
sometimes, a gradient background sometimes), black line drawings on white (strokes, outlines, scribbles), and line
drawings of real photos (edges found by ``ImageFilter.FIND_EDGES``: binary ink, or a grey "pencil" version). Each
drawing is drawn at 3x and downsampled (anti-aliased edges) and half of them are saved as JPEG (quality 80).

Layout of a labelled folder: one sub-folder per label, ``photo/``, ``clip_art/``, ``line_drawing/``; or a CSV with
``path,clip_art,line_drawing`` (0/1 each; paths relative to the CSV). Clip art is scored on photos vs clip art
(line drawings are left out of it: a line drawing may or may not be clip art); line drawing on everything.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFilter, ImageOps

from imagelens.errors import InvalidArgumentError
from imagelens.evaluation.report import EvalReport
from imagelens.evaluation.thresholds import PRCurve, pr_curve, threshold_for_precision

RGB = npt.NDArray[np.uint8]
LABELS = ("photo", "clip_art", "line_drawing")
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff"}
_SCALE = 3


# --- rendering ---------------------------------------------------------------------------------------------------


def _canvas(rng: np.random.Generator) -> tuple[int, int]:
    return int(rng.integers(240, 480)), int(rng.integers(200, 400))


def _colour(rng: np.random.Generator) -> tuple[int, int, int]:
    return (int(rng.integers(0, 256)), int(rng.integers(0, 256)), int(rng.integers(0, 256)))


def _box(rng: np.random.Generator, w: int, h: int) -> tuple[int, int, int, int]:
    x0, y0 = int(rng.integers(0, w * 3 // 4)), int(rng.integers(0, h * 3 // 4))
    return x0, y0, int(rng.integers(x0 + w // 10, w)), int(rng.integers(y0 + h // 10, h))


def render_clip_art(rng: np.random.Generator) -> Image.Image:
    """Flat-colour clip art: 3-9 shapes (ellipses, rectangles, polygons, stars) in a palette of 3-6 colours."""
    w, h = _canvas(rng)
    W, H = w * _SCALE, h * _SCALE
    palette = [_colour(rng) for _ in range(int(rng.integers(3, 7)))]
    background = (255, 255, 255) if rng.random() < 0.5 else palette[0]
    im = Image.new("RGB", (W, H), background)
    if rng.random() < 0.25:  # a two-stop vertical gradient background
        top, bottom = np.array(_colour(rng), float), np.array(_colour(rng), float)
        t = np.linspace(0.0, 1.0, H)[:, None, None]
        im = Image.fromarray((top * (1 - t) + bottom * t).repeat(W, axis=1).astype(np.uint8))
    draw = ImageDraw.Draw(im)
    outline = (0, 0, 0) if rng.random() < 0.5 else None
    width = int(rng.integers(2, 5)) * _SCALE
    for _ in range(int(rng.integers(3, 10))):
        fill = palette[int(rng.integers(0, len(palette)))]
        box = _box(rng, W, H)
        kind = int(rng.integers(0, 4))
        if kind == 0:
            draw.ellipse(box, fill=fill, outline=outline, width=width)
        elif kind == 1:
            draw.rounded_rectangle(
                box, radius=int(rng.integers(0, 30)) * _SCALE, fill=fill, outline=outline, width=width
            )
        elif kind == 2:
            points = [
                (int(rng.integers(0, W)), int(rng.integers(0, H))) for _ in range(int(rng.integers(3, 7)))
            ]
            draw.polygon(points, fill=fill, outline=outline, width=width)
        else:
            cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
            r = min(box[2] - box[0], box[3] - box[1]) / 2
            n = int(rng.integers(5, 9))
            pts = [
                (
                    cx + (r if i % 2 == 0 else r / 2.2) * np.cos(np.pi * i / n),
                    cy + (r if i % 2 == 0 else r / 2.2) * np.sin(np.pi * i / n),
                )
                for i in range(2 * n)
            ]
            draw.polygon(pts, fill=fill, outline=outline, width=width)
    return im.resize((w, h), Image.Resampling.LANCZOS)


def render_line_drawing(rng: np.random.Generator) -> Image.Image:
    """Black (or dark grey) strokes on white: lines, outlined ellipses and rectangles, arcs and scribbles."""
    w, h = _canvas(rng)
    W, H = w * _SCALE, h * _SCALE
    im = Image.new("RGB", (W, H), (255, 255, 255) if rng.random() < 0.7 else (245, 242, 235))
    draw = ImageDraw.Draw(im)
    ink = (0, 0, 0) if rng.random() < 0.7 else (60, 60, 60)
    for _ in range(int(rng.integers(4, 16))):
        width = int(rng.integers(1, 4)) * _SCALE
        box = _box(rng, W, H)
        kind = int(rng.integers(0, 5))
        if kind == 0:
            draw.line(box, fill=ink, width=width)
        elif kind == 1:
            draw.ellipse(box, outline=ink, width=width)
        elif kind == 2:
            draw.rectangle(box, outline=ink, width=width)
        elif kind == 3:
            draw.arc(box, int(rng.integers(0, 360)), int(rng.integers(0, 360)), fill=ink, width=width)
        else:
            steps = rng.normal(0, 12 * _SCALE, (int(rng.integers(10, 40)), 2)).cumsum(axis=0)
            start = np.array([rng.integers(0, W), rng.integers(0, H)])
            draw.line(
                [tuple(p) for p in (start + steps).astype(int).tolist()], fill=ink, width=width, joint="curve"
            )
    return im.resize((w, h), Image.Resampling.LANCZOS)


def edge_drawing(photo: Image.Image, *, pencil: bool) -> Image.Image:
    """A line drawing of a photo: its edges (``FIND_EDGES`` on a lightly blurred grey copy) dark on white; binary
    ink, or a grey pencil version proportional to the edge strength."""
    grey = photo.convert("L").filter(ImageFilter.GaussianBlur(1.2))
    edges = np.asarray(grey.filter(ImageFilter.FIND_EDGES), np.float32)
    out = 255.0 - np.clip(edges * 6.0, 0, 255) if pencil else np.where(edges > 10, 0.0, 255.0)
    return Image.fromarray(out.astype(np.uint8)).convert("RGB")


# --- the labelled set --------------------------------------------------------------------------------------------


def _save(im: Image.Image, folder: Path, name: str, jpeg: bool) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    if jpeg:
        im.save(folder / f"{name}.jpg", quality=80)
    else:
        im.save(folder / f"{name}.png")


def build_set(out: Path, photos: Sequence[Path], *, drawings: int, seed: int) -> dict[str, int]:
    """Write a folder-per-label set under ``out``: the photos (a quarter also as greyscale), ``drawings`` clip-art
    and ``drawings`` line drawings rendered from ``seed`` (two thirds synthetic, one third edges of the photos)."""
    rng = np.random.default_rng(seed)
    counts = dict.fromkeys(LABELS, 0)
    for i, path in enumerate(photos):
        with Image.open(path) as im:
            photo = ImageOps.exif_transpose(im).convert("RGB")
        _save(photo, out / "photo", f"{path.stem}", jpeg=True)
        counts["photo"] += 1
        if i % 4 == 0:
            _save(photo.convert("L").convert("RGB"), out / "photo", f"{path.stem}-grey", jpeg=True)
            counts["photo"] += 1
    for i in range(drawings):
        _save(render_clip_art(rng), out / "clip_art", f"clipart-{seed}-{i:03d}", jpeg=i % 2 == 1)
        counts["clip_art"] += 1
        if i % 3 == 2 and photos:
            with Image.open(photos[int(rng.integers(0, len(photos)))]) as im:
                drawing = edge_drawing(im.convert("RGB"), pencil=i % 2 == 0)
        else:
            drawing = render_line_drawing(rng)
        _save(drawing, out / "line_drawing", f"line-{seed}-{i:03d}", jpeg=i % 2 == 1)
        counts["line_drawing"] += 1
    return counts


@dataclass(frozen=True, slots=True)
class Labelled:
    path: Path
    clip_art: bool
    line_drawing: bool


def load_labelled(data: Path) -> list[Labelled]:
    """A folder with ``photo/``, ``clip_art/``, ``line_drawing/`` sub-folders, or a CSV
    (``path,clip_art,line_drawing``)."""
    if data.is_file() and data.suffix.lower() == ".csv":
        rows: list[Labelled] = []
        with data.open(encoding="utf-8", newline="") as fh:
            for row in csv.DictReader(fh):
                try:
                    rows.append(
                        Labelled(
                            data.parent / row["path"],
                            row["clip_art"].strip() == "1",
                            row["line_drawing"].strip() == "1",
                        )
                    )
                except KeyError as exc:
                    raise InvalidArgumentError(
                        f"{data}: the CSV needs columns path, clip_art, line_drawing"
                    ) from exc
        return rows
    if not data.is_dir():
        raise InvalidArgumentError(f"no labelled folder or CSV at {data}")
    rows = [
        Labelled(p, label == "clip_art", label == "line_drawing")
        for label in LABELS
        for p in sorted((data / label).glob("*"))
        if p.suffix.lower() in IMAGE_SUFFIXES
    ]
    if not rows:
        raise InvalidArgumentError(f"{data}: no images under {', '.join(f'{x}/' for x in LABELS)}")
    return rows


# --- scoring -----------------------------------------------------------------------------------------------------

Scorer = Callable[
    [RGB], tuple[float, float, int, int]
]  # clip-art score, line score, clipArtType, lineDrawingType


def _class_metrics(
    scores: Iterable[float], predicted: Iterable[bool], truth: Iterable[bool]
) -> tuple[PRCurve, dict[str, float | int | None]]:
    s, p, y = np.array(list(scores), float), np.array(list(predicted), bool), np.array(list(truth), bool)
    tp, fp, fn = int((p & y).sum()), int((p & ~y).sum()), int((~p & y).sum())
    curve = pr_curve(s[np.argsort(-s)], y[np.argsort(-s)], int(y.sum()))
    return curve, {
        "precision": tp / (tp + fp) if tp + fp else None,
        "recall": tp / (tp + fn) if tp + fn else None,
        "positives": int(y.sum()),
        "negatives": int((~y).sum()),
        "ap": curve.average_precision(),
    }


def evaluate_image_type(
    score: Scorer, rows: Sequence[Labelled], load: Callable[[str], RGB], *, method: str, data: str,
    target_precision: float = 0.9,
) -> tuple[EvalReport, dict[str, PRCurve]]:  # fmt: skip
    """Precision/recall of clip art (``clipArtType >= 2``) and line drawing (``lineDrawingType == 1``) at the
    feature's own decisions, AP over the score sweep, and the clip-art type histogram per true label."""
    out = [(row, score(load(str(row.path)))) for row in rows]
    art = [(r, s) for r, s in out if not r.line_drawing]
    clip_curve, clip = _class_metrics(
        [s[0] for _, s in art], [s[2] >= 2 for _, s in art], [r.clip_art for r, _ in art]
    )
    line_curve, line = _class_metrics(
        [s[1] for _, s in out], [s[3] == 1 for _, s in out], [r.line_drawing for r, _ in out]
    )
    metrics: dict[str, float | int | None] = {f"clip_art_{k}": v for k, v in clip.items()}
    metrics.update({f"line_drawing_{k}": v for k, v in line.items()})
    histogram = {
        label: [sum(1 for r, s in out if _label(r) == label and s[2] == t) for t in range(4)]
        for label in LABELS
    }
    choice = threshold_for_precision(clip_curve, target_precision)
    report = EvalReport(
        "imageType", method, data, len(rows), metrics, choice.to_dict(),
        {"clip_art_type_histogram": histogram, "line_threshold": threshold_for_precision(line_curve, target_precision).to_dict()},
    )  # fmt: skip
    return report, {"clip art": clip_curve, "line drawing": line_curve}


def _label(row: Labelled) -> str:
    return "line_drawing" if row.line_drawing else "clip_art" if row.clip_art else "photo"
