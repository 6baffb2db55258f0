"""imageType by image statistics, measured on real photos and drawings rendered at run time.

    python benchmarks/image_type.py [--shared ../shared/data] [--keep DIR] [--pr-curve image_type_pr.png]

Two disjoint labelled sets are written (imagelens.evaluation.image_type.build_set, folder-per-label layout):
- dev (where the statistics' forms and constants were chosen): the 128 photos of coco_val2017_first128 (+ 32
  greyscale copies), 100 clip-art and 100 line drawings rendered from seed 1;
- test (reported, never tuned on): the 76 photos of coco_val2017_mini79 not in first128 and the first 60
  grocery_store_fewshot/test photos (+ 34 greyscale copies), 100 clip-art and 100 line drawings from seed 2.
Each set is scored with the statistics method (no model) through the evaluation harness (the same code as
``imagelens eval imageType``). With ``--keep DIR`` the sets stay in DIR/dev and DIR/test, so
``imagelens eval imageType --data DIR/test --method zero_shot`` measures zero-shot with real image-text weights.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from imagelens.evaluation.image_type import build_set, evaluate_image_type, load_labelled
from imagelens.evaluation.run import load_rgb, write_pr_png
from imagelens.features.image_type import image_type_from_scores, statistics_scores

REPO = Path(__file__).resolve().parents[1]


def _shared() -> Path:
    for candidate in (REPO / ".." / "shared" / "data", REPO / ".." / ".." / "shared" / "data"):
        if candidate.is_dir():
            return candidate.resolve()
    return (REPO / ".." / "shared" / "data").resolve()


def score(rgb: object) -> tuple[float, float, int, int]:
    clip, line = statistics_scores(rgb)  # type: ignore[arg-type]
    kind = image_type_from_scores(clip, line)
    return clip, line, kind.clip_art_type, kind.line_drawing_type


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shared", type=Path, default=_shared())
    parser.add_argument(
        "--keep", type=Path, default=None, help="write the sets here (default: a temp folder)"
    )
    parser.add_argument("--drawings", type=int, default=100)
    parser.add_argument("--pr-curve", type=Path, default=None, help="the test set's PR curve PNG")
    args = parser.parse_args()
    first = sorted((args.shared / "coco_val2017_first128" / "images").glob("*.jpg"))
    first_names = {p.name for p in first}
    test_photos = [
        p
        for p in sorted((args.shared / "coco_val2017_mini79" / "images").glob("*.jpg"))
        if p.name not in first_names
    ]
    test_photos += sorted((args.shared / "grocery_store_fewshot" / "test").rglob("*.jpg"))[:60]
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        for split, photos, seed in (("dev", first, 1), ("test", test_photos, 2)):
            out = root / split
            if not out.exists():
                build_set(out, photos, drawings=args.drawings, seed=seed)
            rows = load_labelled(out)
            t0 = time.perf_counter()
            report, curves = evaluate_image_type(score, rows, load_rgb, method="statistics", data=split)
            per_image_ms = (time.perf_counter() - t0) * 1000.0 / len(rows)
            print(
                json.dumps({**report.to_dict(details=True), "ms_per_image": round(per_image_ms, 2)}, indent=1)
            )
            if split == "test" and args.pr_curve is not None:
                print("PR curve:", write_pr_png(report, curves, args.pr_curve))


if __name__ == "__main__":
    main()
