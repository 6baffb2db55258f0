"""OCR accuracy and speed on the SROIE receipts in ../shared/data/sroie_receipts_ocr.

Systems: (a) stock rapidocr with its defaults, (b) imagelens ``read`` (PPOCRAdapter on the same PP-OCRv6 small weights),
(c) tesseract 5 (the ``tesseract`` binary, TSV output) when it is installed; optionally (d) ablations of (b).

Metrics, per system:

- **word F1**: for each receipt, the multiset of lower-cased whitespace-split tokens of all ground-truth lines versus
  that of all predicted lines; true positives = size of the multiset intersection. Counts are summed over receipts
  (micro-average) before computing precision, recall and F1.
- **CER**: character error rate of the full page text: lines in reading order (ground truth: file order; predictions:
  each system's order), lower-cased, joined by one space, whitespace runs collapsed to one space; Levenshtein
  distance divided by the ground-truth length, summed over receipts (micro-average).
- **s/image**: wall time of the OCR call per image (image already decoded; first call of each system excluded as
  warm-up), median over images, on whatever cores the process may use (pin it with ``taskset -c 0,1`` for 2 cores).
- **CPU s/image**: CPU seconds (user + system, all threads, ``resource.getrusage``) of the process during that call,
  median over images: on a shared machine it says what a call costs better than the wall time. The load average is
  printed before and after the run.

Run: ``.venv/bin/python benchmarks/ocr_sroie.py [--n 25] [--ablations] [--spinning] [--speed] [--runtimes]
[--warm] [--only imagelens]``
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
# ../shared/data next to the checkout; SROIE_DIR=... for a checkout elsewhere (a git worktree)
DATA = Path(os.environ.get("SROIE_DIR") or REPO / ".." / "shared" / "data" / "sroie_receipts_ocr").resolve()

Reader = Callable[[np.ndarray, Path], list[str]]  # (rgb, image path) -> predicted lines in reading order


def gt_lines(receipt: str) -> list[str]:
    """Transcripts of ``box/NNN.csv`` rows ``x1,y1,...,y4,transcript`` (split with maxsplit=8)."""
    text = (DATA / "box" / f"{receipt}.csv").read_text(encoding="utf-8", errors="replace")
    out = []
    for row in text.splitlines():
        parts = row.split(",", 8)
        if len(parts) == 9 and parts[8].strip():
            out.append(parts[8])
    return out


def tokens(lines: Sequence[str]) -> Counter[str]:
    return Counter(tok for line in lines for tok in line.lower().split())


def page_text(lines: Sequence[str]) -> str:
    return " ".join(" ".join(lines).lower().split())


def levenshtein(a: str, b: str) -> int:
    """Edit distance, one numpy row at a time (insertions resolved with a running minimum)."""
    if not a:
        return len(b)
    if not b:
        return len(a)
    aa = np.frombuffer(a.encode("utf-32-le"), dtype=np.uint32)
    bb = np.frombuffer(b.encode("utf-32-le"), dtype=np.uint32)
    cols = np.arange(len(b) + 1, dtype=np.int64)
    prev = cols.copy()
    for i, code in enumerate(aa.tolist(), start=1):
        x = np.empty(len(b) + 1, dtype=np.int64)
        x[0] = i
        x[1:] = np.minimum(prev[:-1] + (bb != code), prev[1:] + 1)  # substitution / match, deletion
        prev = np.minimum.accumulate(x - cols) + cols  # d[j] = min_k<=j x[k] + (j - k): insertions
    return int(prev[-1])


@dataclass
class Score:
    tp: int = 0
    n_pred: int = 0
    n_gt: int = 0
    edits: int = 0
    gt_chars: int = 0
    seconds: list[float] = field(default_factory=list)
    cpu_seconds: list[float] = field(default_factory=list)

    def add(self, gt: list[str], pred: list[str], seconds: float | None, cpu: float | None = None) -> None:
        g, p = tokens(gt), tokens(pred)
        self.tp += sum((g & p).values())
        self.n_pred += sum(p.values())
        self.n_gt += sum(g.values())
        gt_text, pred_text = page_text(gt), page_text(pred)
        self.edits += levenshtein(pred_text, gt_text)
        self.gt_chars += len(gt_text)
        if seconds is not None:
            self.seconds.append(seconds)
        if cpu is not None:
            self.cpu_seconds.append(cpu)

    @property
    def precision(self) -> float:
        return self.tp / self.n_pred if self.n_pred else 0.0

    @property
    def recall(self) -> float:
        return self.tp / self.n_gt if self.n_gt else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def cer(self) -> float:
        return self.edits / self.gt_chars if self.gt_chars else 0.0

    @property
    def s_per_image(self) -> float:
        return statistics.median(self.seconds) if self.seconds else float("nan")

    @property
    def cpu_per_image(self) -> float:
        return statistics.median(self.cpu_seconds) if self.cpu_seconds else float("nan")


def cpu_now() -> float:
    """CPU seconds (user + system) of this process so far, all threads; tesseract's child process included."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


# --- systems -----------------------------------------------------------------------------------------------------


def stock_rapidocr() -> Reader:
    from rapidocr import RapidOCR

    engine = RapidOCR(params={"Global.log_level": "error"})

    def read(rgb: np.ndarray, path: Path) -> list[str]:
        result = engine(np.ascontiguousarray(rgb[:, :, ::-1]))  # rapidocr takes arrays as BGR
        return list(result.txts or [])  # its own order (top-to-bottom, left-to-right)

    return read


def imagelens_read(
    *,
    spinning: bool = False,
    int8: str = "none",
    runtime: str = "auto",
    precision: str = "auto",
    **changes: object,
) -> Reader:
    """imagelens ``read``, by default as shipped (OpenVINO when installed, bf16 where the CPU has it; fp32 files).
    ``spinning=True``: onnxruntime sessions with spinning thread pools, as before the sessions were tuned (same
    results); ``int8``: ``IMAGELENS_PPOCR_INT8`` ("none", the default; "det"; "all", as ``IMAGELENS_HUB__QUANTIZE``);
    ``runtime`` / ``precision``: ``IMAGELENS_PPOCR_RUNTIME`` / ``IMAGELENS_PPOCR_PRECISION``."""
    from imagelens.models.adapters.ppocr import PPOCRAdapter
    from imagelens.models.adapters.ppocr import runtime as runtimes
    from imagelens.models.catalog import CATALOG

    envs = {"IMAGELENS_PPOCR_INT8": int8, runtimes.RUNTIME_ENV: runtime, runtimes.PRECISION_ENV: precision}
    saved = {name: os.environ.get(name) for name in envs}
    os.environ.update(envs)
    tuned = runtimes.SESSION_CONFIG
    runtimes.SESSION_CONFIG = {} if spinning else tuned
    try:
        adapter = PPOCRAdapter.load(None, CATALOG["ppocr-v6-small"])
    finally:
        runtimes.SESSION_CONFIG = tuned
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name)
            else:
                os.environ[name] = value
    if changes:
        adapter = adapter.with_params(**changes)

    def read(rgb: np.ndarray, path: Path) -> list[str]:
        return [line.text for line in adapter.read(rgb).lines]

    return read


def tesseract() -> Reader:
    def read(rgb: np.ndarray, path: Path) -> list[str]:
        out = subprocess.run(
            ["tesseract", str(path), "stdout", "-l", "eng", "--psm", "3", "tsv"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        lines: dict[tuple[str, str, str, str], list[str]] = {}
        for row in csv.DictReader(io.StringIO(out), delimiter="\t", quoting=csv.QUOTE_NONE):
            text = (row.get("text") or "").strip()
            if row.get("level") == "5" and text:
                key = (row["page_num"], row["block_num"], row["par_num"], row["line_num"])
                lines.setdefault(key, []).append(text)
        return [" ".join(words) for words in lines.values()]

    return read


def tesseract_version() -> str | None:
    if shutil.which("tesseract") is None:
        return None
    out = subprocess.run(["tesseract", "--version"], capture_output=True, text=True).stdout
    return out.splitlines()[0] if out else "tesseract"


ABLATIONS: dict[str, dict[str, object]] = {
    "imagelens, turned crops not re-checked": {"verify_turns": False},
    "imagelens, no charset restriction": {"charset": "any"},
    "imagelens, no ink-gap word splitting": {"min_gap": None},
    "imagelens, no letter/digit fixes": {"fix_confusions": False},
    "imagelens, all four off": {
        "verify_turns": False,
        "charset": "any",
        "min_gap": None,
        "fix_confusions": False,
    },
}


# the speed levers of issue 19 (target 5), each against the default in one interleaved run: see ocr_sroie.md
SPEED: dict[str, dict[str, object]] = {
    "imagelens, int8 detector (opt-in: IMAGELENS_PPOCR_INT8=det)": {"int8": "det"},
    "imagelens, int8 detector + recogniser (opt-in: =all)": {"int8": "all"},
    "imagelens, int8 detector, input short side 640 (opt-in)": {"int8": "det", "det_limit_side_len": 640},
}
# where the models run (round 5): the default is OpenVINO with its own precision choice (bf16 on AVX512_BF16 / AMX)
RUNTIMES: dict[str, dict[str, object]] = {
    "imagelens, onnxruntime fp32 (IMAGELENS_PPOCR_RUNTIME=onnxruntime: before)": {"runtime": "onnxruntime"},
    "imagelens, OpenVINO f32 (IMAGELENS_PPOCR_PRECISION=f32)": {"runtime": "openvino", "precision": "f32"},
}


def evaluate(
    systems: dict[str, Reader], receipts: list[str], split: int, *, warm: bool = False
) -> dict[str, tuple[Score, Score, Score]]:
    """Scores per system: (all receipts, first ``split`` receipts, the rest). ``warm``: every system reads every
    receipt once, untimed, before the timed pass (a server's steady state: OpenVINO prepares its kernels for each
    new input shape, so a first pass over unseen line widths costs more)."""
    from PIL import Image

    scores = {name: (Score(), Score(), Score()) for name in systems}
    if warm:
        for receipt in receipts:
            path = DATA / "img" / f"{receipt}.jpg"
            rgb = np.asarray(Image.open(path).convert("RGB"))
            for reader in systems.values():
                reader(rgb, path)
    for k, receipt in enumerate(receipts):
        path = DATA / "img" / f"{receipt}.jpg"
        rgb = np.asarray(Image.open(path).convert("RGB"))
        gt = gt_lines(receipt)
        for name, reader in systems.items():
            if k == 0 and not warm:
                reader(rgb, path)  # warm-up
            c0, t0 = cpu_now(), time.perf_counter()
            pred = reader(rgb, path)
            dt, dc = time.perf_counter() - t0, cpu_now() - c0
            all_, dev, rest = scores[name]
            all_.add(gt, pred, dt, dc)
            (dev if k < split else rest).add(gt, pred, dt, dc)
        print(f"  {receipt} done", file=sys.stderr, flush=True)
    return scores


def table(scores: dict[str, tuple[Score, Score, Score]], split: int, n: int) -> str:
    head = (
        f"| system | word F1 (all {n}) | P | R | CER | word F1 (first {split}) | word F1 (other {n - split}) "
        "| s/image | CPU s/image |\n|---|---|---|---|---|---|---|---|---|"
    )
    rows = [head]
    for name, (all_, dev, rest) in scores.items():
        rows.append(
            f"| {name} | {all_.f1:.3f} | {all_.precision:.3f} | {all_.recall:.3f} | {all_.cer:.3f} | {dev.f1:.3f} "
            f"| {rest.f1:.3f} | {all_.s_per_image:.2f} | {all_.cpu_per_image:.2f} |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=25, help="how many receipts, in file-name order")
    parser.add_argument(
        "--split", type=int, default=8, help="report the first SPLIT receipts (the dev set) apart"
    )
    parser.add_argument(
        "--ablations", action="store_true", help="also run imagelens with each improvement off"
    )
    parser.add_argument(
        "--spinning",
        action="store_true",
        help="also run imagelens with onnxruntime's spinning thread pools (the 'before'), interleaved image by image",
    )
    parser.add_argument(
        "--speed", action="store_true", help="also run the speed levers (int8, smaller detector input)"
    )
    parser.add_argument(
        "--runtimes",
        action="store_true",
        help="also run onnxruntime fp32 and OpenVINO f32 (the default: OpenVINO auto)",
    )
    parser.add_argument(
        "--warm",
        action="store_true",
        help="read every receipt once, untimed, before the timed pass (steady state)",
    )
    parser.add_argument("--only", default="", help="comma-separated subset of: stock,imagelens,tesseract")
    args = parser.parse_args(argv)
    if not DATA.is_dir():
        print(f"data not found: {DATA}", file=sys.stderr)
        return 2
    receipts = sorted(p.stem for p in (DATA / "img").glob("*.jpg"))[: args.n]
    only = set(filter(None, args.only.split(","))) or {"stock", "imagelens", "tesseract"}
    systems: dict[str, Reader] = {}
    if "stock" in only:
        systems["rapidocr 3.10 defaults"] = stock_rapidocr()
    if "imagelens" in only:
        systems["imagelens read (ppocr-v6-small)"] = imagelens_read()
        if args.spinning:
            systems["imagelens, spinning sessions (before)"] = imagelens_read(
                spinning=True, runtime="onnxruntime"
            )
    version = tesseract_version()
    if "tesseract" in only:
        if version is None:
            print("tesseract is not installed: skipped (apt-get install -y tesseract-ocr)", file=sys.stderr)
        else:
            systems[f"{version} (eng, psm 3)"] = tesseract()
    if args.speed:
        systems.update({name: imagelens_read(**changes) for name, changes in SPEED.items()})  # type: ignore[arg-type]
    if args.runtimes:
        systems.update({name: imagelens_read(**changes) for name, changes in RUNTIMES.items()})  # type: ignore[arg-type]
    if args.ablations:
        systems.update({name: imagelens_read(**changes) for name, changes in ABLATIONS.items()})
    load_before = os.getloadavg()
    scores = evaluate(systems, receipts, min(args.split, len(receipts)), warm=args.warm)
    load_after = os.getloadavg()
    print(table(scores, min(args.split, len(receipts)), len(receipts)))
    print(f"\n{os.cpu_count()} CPUs; load average (1, 5, 15 min) before {load_before}, after {load_after}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
