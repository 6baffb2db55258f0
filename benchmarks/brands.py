"""Build the labelled brand set of benchmarks/brands.md and run ``imagelens eval brands`` on it.

    python benchmarks/brands.py [--shared ../shared/data] [--out /tmp/brands-bench]

Writes ``<out>/brands.json`` (labels; image paths absolute under ``--shared``), sets up a store dir with the user
addition ``Arla`` and runs ``imagelens eval brands`` with ``IMAGELENS_BRANDS__FILE`` = brands_merged.csv. The labels
are the hand labels below (how they were made: benchmarks/brands.md); nothing here is learned from the images.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

#: SROIE receipts (all 25 of the shared subset): the brand names of brands_merged printed on each receipt, found in
#: the ground-truth transcripts (box/NNN.csv) and checked by hand (see benchmarks/brands.md). Receipts not listed
#: have none.
SROIE_BRANDS: dict[str, list[str]] = {
    "009": ["McDonald's", "Coke", "Google"],
    "060": ["Facebook"],
    "273": ["Visa"],
}
#: Grocery Store images: every Arla-Standard-Milk image (train and test) shows the Arla logo word (checked by eye on
#: contact sheets); the test images of Banana and Carrots show no legible brand name (negatives).
GROCERY_POSITIVE = {"Arla-Standard-Milk": "Arla"}
GROCERY_NEGATIVE = ("Banana", "Carrots")


def build_labels(shared: Path) -> dict[str, list[dict[str, object]]]:
    images: list[dict[str, object]] = []
    for img in sorted((shared / "sroie_receipts_ocr" / "img").glob("*.jpg")):
        names = SROIE_BRANDS.get(img.stem, [])
        images.append({"image": str(img), "brands": [{"name": n} for n in names]})
    grocery = shared / "grocery_store_fewshot"
    with (grocery / "labels.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            label = row["fine_label"]
            if label in GROCERY_POSITIVE:
                images.append(
                    {"image": str(grocery / row["path"]), "brands": [{"name": GROCERY_POSITIVE[label]}]}
                )
            elif label in GROCERY_NEGATIVE and row["split"] == "test":
                images.append({"image": str(grocery / row["path"]), "brands": []})
    return {"images": images}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data"
    )
    parser.add_argument("--out", type=Path, default=Path("/tmp/brands-bench"))
    parser.add_argument("--threshold", type=float, default=None)
    args = parser.parse_args()
    shared = args.shared.resolve()
    args.out.mkdir(parents=True, exist_ok=True)
    labels = args.out / "brands.json"
    labels.write_text(json.dumps(build_labels(shared), indent=1), encoding="utf-8")
    env = dict(os.environ)
    env["IMAGELENS_BRANDS__FILE"] = str(shared / "vocab" / "brands_merged" / "brands_merged.csv")
    env["IMAGELENS_STORE_DIR"] = str(args.out / "store")
    cli = [sys.executable, "-m", "imagelens.cli"]
    subprocess.run([*cli, "brands", "add", "Arla"], env=env, check=True)
    command = [*cli, "eval", "brands", "--data", str(shared), "--labels", str(labels),
               "--pr-curve", str(args.out / "brands-pr.png"), "--json", "--details"]  # fmt: skip
    if args.threshold is not None:
        command += ["--threshold", str(args.threshold)]
    run = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
    (args.out / "report.json").write_text(run.stdout, encoding="utf-8")
    report = json.loads(run.stdout)
    print(json.dumps({k: report[k] for k in ("model", "n", "metrics", "threshold")}, indent=1))
    for row in report["details"]["sweep"]:
        print(row)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
