"""Issue 19: the all-features call, before (fp32, torch's own threads) vs now (int8 + thread budget), full-size random
models; cold start.

    python -m imagelens.testing.full_size_models /tmp/full          # once (about 3 GB)
    IMAGELENS_MODEL_DIR=/tmp/full imagelens models warm              # once: embeds the 4,574 tag prompts
    .venv/bin/python benchmarks/perf_targets.py --model-dir /tmp/full [--runs 5] [--features ...]

Each configuration runs in its own child process (so its peak RSS is its own): load the models (caption, tags,
objects/people, OCR), read the tag-prompt embeddings back from the disk cache (timed: the cold-start figure), one
warm-up call, then ``--runs`` timed calls of ``analyze(caption, denseCaptions, tags, objects, people, read)`` on one
640x480 COCO photo, each with the 1-minute load average beside it (the machine is shared). Then the raw outputs
that int8 may change are compared with fp32's: caption and dense-caption token ids at fixed decoding length (20 and 60
tokens), the Florence-2 image features and SigLIP image embedding (cosine), the top-5 tags by confidence (overlap),
the detector's 20 best boxes at threshold 0 (mean best IoU, same class). The profile is ``perf_profile.py``'s
(py-spy: the Analyzer runs features on worker threads, which pyinstrument does not see).
Results: ``benchmarks/perf_targets.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from imagelens.config import DEFAULT_BF16, DEFAULT_QUANTIZED
from imagelens.models.threads import cores

REPO = Path(__file__).resolve().parents[1]
_PHOTO = Path("data") / "coco_val2017_first128" / "images" / "000000001532.jpg"  # 640x480, street with signs
IMAGE = next(
    (p for p in (REPO / ".." / "shared" / _PHOTO, REPO.parents[1] / "shared" / _PHOTO) if p.is_file()), _PHOTO
)
FEATURES = ("caption", "denseCaptions", "tags", "objects", "people", "read")
QUANTISED = (
    DEFAULT_QUANTIZED  # "int8" is the defaults (until the second 2026-12-03 run it quantised SigLIP too)
)
CAPTION_TOKENS, DENSE_TOKENS = 20, 60
#: openvino: the defaults on a CPU with native bf16 (the image encoder in OpenVINO); int8: the same with the encoder in
#: torch int8 (the defaults elsewhere); fp32: no int8, no bf16; before: fp32 with torch's own thread count
MODES = ("before", "fp32", "int8", "openvino")


def vm(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def child(  # noqa: PLR0915
    mode: str, model_dir: Path, runs: int, out_dir: Path, features: tuple[str, ...]
) -> dict[str, Any]:
    from imagelens.analyzer import Analyzer
    from imagelens.config import HubSettings, Settings
    from imagelens.features.tags import TaggerConfig, build_tag_index
    from imagelens.features.warmup import prompt_sets
    from imagelens.io import load_image
    from imagelens.models.adapters.florence2 import CAPTION_TASK, DENSE_TASK
    from imagelens.models.spec import Role

    quantize = [] if mode in ("fp32", "before") else list(QUANTISED)
    # SigLIP's image tower, where the CPU has bf16
    bf16 = [] if mode in ("fp32", "before") else list(DEFAULT_BF16)
    # Florence-2's image encoder: in OpenVINO for "openvino" (the default on CPUs with native bf16), torch otherwise
    os.environ["IMAGELENS_FLORENCE_ENCODER"] = "openvino" if mode == "openvino" else "torch"
    # the detector: torch fp32 before (and in the fp32 reference), OpenVINO f32 (the default) in the others
    if mode in ("fp32", "before"):
        os.environ["IMAGELENS_DETECTOR_RUNTIME"] = "torch"
    # "before": fp32 with torch's own thread count (every core per operation, whatever runs beside it), the state
    # before int8 and the thread budget became the defaults; the others use the budget (cores // workers)
    torch_threads = cores() if mode == "before" else 0
    analyzer = Analyzer(
        Settings(
            model_dir=model_dir,
            torch_threads=torch_threads,
            hub=HubSettings(offline=True, quantize=quantize, bf16=bf16),
        )
    )
    hub = analyzer.hub
    t0 = time.perf_counter()
    for role in (Role.CAPTIONER, Role.IMAGE_TEXT_EMBEDDING, Role.DETECTOR, Role.OCR):
        hub.for_role(role)
    load_s = time.perf_counter() - t0
    embedder = hub.embedder()
    tags = prompt_sets(hub, ["tags"])[0]
    prompt_read_s, prompt_shape = None, None
    if "tags" in features:
        t0 = time.perf_counter()
        prompts = embedder.prompt_embeddings(tags.labels, tags.templates)  # the disk cache: no model work
        prompt_read_s, prompt_shape = time.perf_counter() - t0, list(prompts.shape)
    rss_loaded = vm("VmRSS")
    analyzer.analyze(IMAGE, features)  # warm-up
    totals, cpus, loads, splits = [], [], [], []
    for _ in range(runs):
        loads.append(os.getloadavg()[0])
        t0, c0 = time.perf_counter(), time.process_time()  # process CPU: every thread of the call
        result = analyzer.analyze(IMAGE, features)
        totals.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
        splits.append({k: v / 1000.0 for k, v in result.timings_ms.items()})
    # raw outputs for the agreement figures
    rgb = load_image(IMAGE).array()
    captioner = hub.captioner()
    encoding = captioner.encode(rgb)
    caption_ids = captioner.generate(encoding, CAPTION_TASK, CAPTION_TOKENS).token_ids
    dense_ids = captioner.generate(encoding, DENSE_TASK, DENSE_TOKENS).token_ids
    feats = encoding.features  # a ModelOutput: the projected image tokens the decoder reads (pooler_output)
    feats = feats if hasattr(feats, "float") else feats.pooler_output
    np.save(out_dir / f"{mode}_florence.npy", feats.float().numpy().ravel())
    image_embedding = embedder.embed_images([rgb])[0]
    np.save(out_dir / f"{mode}_siglip.npy", image_embedding)
    top5: list[str] = []
    if "tags" in features:
        index = build_tag_index(embedder, TaggerConfig.from_options(hub.spec(embedder.spec.id).options))
        confidences = index.confidences(embedder, image_embedding)
        top5 = [index.vocabulary.tags[i] for i in np.argsort(-confidences, kind="stable")[:5]]
    dets = hub.detector().detect(rgb, threshold=0.0)
    best = np.argsort(-dets.scores, kind="stable")[:20]
    return {
        "mode": mode,
        "load_s": load_s,
        "prompt_read_s": prompt_read_s,
        "prompt_shape": prompt_shape,
        "rss_loaded_mb": rss_loaded,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "vm_hwm_mb": vm("VmHWM"),
        "totals": totals,
        "cpus": cpus,
        "loads": loads,
        "splits": splits,
        "caption_ids": list(caption_ids),
        "dense_ids": list(dense_ids),
        "top5": top5,
        "boxes": dets.boxes[best].tolist(),
        "classes": dets.class_ids[best].tolist(),
    }


def run_child(mode: str, args: argparse.Namespace) -> dict[str, Any]:
    cmd = [
        sys.executable,
        __file__,
        "--child",
        mode,
        "--model-dir",
        str(args.model_dir),
        "--runs",
        str(args.runs),
    ]
    cmd += ["--work", str(args.work), "--features", args.features]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    for line in proc.stdout.splitlines():
        if line.startswith("CHILD-RESULT "):
            return dict(json.loads(line.removeprefix("CHILD-RESULT ")))
    raise RuntimeError(f"child {mode} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")


def iou(a: list[float], b: list[float]) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def agreement(ref: dict[str, Any], other: dict[str, Any], work: Path) -> dict[str, float]:
    def same(a: list[int], b: list[int]) -> float:
        return sum(x == y for x, y in zip(a, b, strict=False)) / max(len(a), 1)

    def prefix(a: list[int], b: list[int]) -> int:
        n = 0
        for x, y in zip(a, b, strict=False):
            if x != y:
                break
            n += 1
        return n

    def cos(name: str) -> float:
        x, y = np.load(work / f"{ref['mode']}_{name}.npy"), np.load(work / f"{other['mode']}_{name}.npy")
        return float(x @ y / (np.linalg.norm(x) * np.linalg.norm(y)))

    ious = [max((iou(b, o) for o in other["boxes"]), default=0.0) for b in ref["boxes"]]
    matched = [
        max(range(len(other["boxes"])), key=lambda j, b=b: iou(b, other["boxes"][j])) for b in ref["boxes"]
    ]
    same_class = [ref["classes"][i] == other["classes"][j] for i, j in enumerate(matched)]
    return {
        "caption_tokens_same": same(ref["caption_ids"], other["caption_ids"]),
        "caption_prefix": prefix(ref["caption_ids"], other["caption_ids"]),
        "dense_tokens_same": same(ref["dense_ids"], other["dense_ids"]),
        "dense_prefix": prefix(ref["dense_ids"], other["dense_ids"]),
        "florence_features_cos": cos("florence"),
        "siglip_embedding_cos": cos("siglip"),
        "top5_overlap": len(set(ref["top5"]) & set(other["top5"])) / 5 if ref["top5"] else float("nan"),
        "box_iou_mean": float(np.mean(ious)),
        "box_same_class": float(np.mean(same_class)),
    }


def summary(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} s (min {min(values):.2f}, max {max(values):.2f})"


def render(
    fp32: dict[str, Any], int8: dict[str, Any], agree: dict[str, float], args: argparse.Namespace
) -> str:
    rows = []
    for r in (fp32, int8):
        loads = f"{min(r['loads']):.1f}-{max(r['loads']):.1f}"
        read = "-" if r["prompt_read_s"] is None else f"{r['prompt_read_s'] * 1000:.0f} ms"
        rows.append(
            f"| {r['mode']} | {summary(r['totals'])} | {summary(r['cpus'])} | {r['peak_rss_mb']:.0f} MB | "
            f"{r['load_s']:.1f} s | {read} | {loads} |"
        )
    speed = statistics.median(fp32["totals"]) / statistics.median(int8["totals"])
    cpu_speed = statistics.median(fp32["cpus"]) / statistics.median(int8["cpus"])
    parts = sorted({k for s in fp32["splits"] for k in s})
    split_rows = [
        f"| {k} | {statistics.median(s.get(k, 0.0) for s in fp32['splits']):.2f} | "
        f"{statistics.median(s.get(k, 0.0) for s in int8['splits']):.2f} |"
        for k in parts
    ]
    a = agree
    return "\n".join(
        [
            f"| config | {args.features}: median of "
            f"{args.runs} (min, max) | process CPU s per call | peak RSS | load models | read tag-prompt cache | "
            "load avg (1 min) |",
            "|---|---|---|---|---|---|---|",
            *rows,
            "",
            f"{int8['mode']} vs {fp32['mode']} speed-up (medians): wall {speed:.2f}x (load-dependent), "
            f"**CPU {cpu_speed:.2f}x**",
            "",
            f"| part (Analyzer timings, overlapping) | {fp32['mode']} s | {int8['mode']} s |",
            "|---|---|---|",
            *split_rows,
            "",
            f"Output agreement {int8['mode']} vs {fp32['mode']} (random weights of the models in --model-dir):",
            "",
            "| output | agreement |",
            "|---|---|",
            f"| caption, {CAPTION_TOKENS} tokens greedy | {a['caption_tokens_same']:.0%} same position-wise; first "
            f"{a['caption_prefix']} identical |",
            f"| dense captions, {DENSE_TOKENS} tokens greedy | {a['dense_tokens_same']:.0%} same; first "
            f"{a['dense_prefix']} identical |",
            f"| Florence-2 image features | cosine {a['florence_features_cos']:.4f} |",
            f"| SigLIP image embedding | cosine {a['siglip_embedding_cos']:.4f} |",
            f"| tags top-5 (4,574 RAM tags) | overlap {a['top5_overlap']:.0%} |",
            f"| detector, 20 best boxes at threshold 0 | mean best IoU {a['box_iou_mean']:.3f}, same class "
            f"{a['box_same_class']:.0%} |",
        ]
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model-dir", type=Path, required=True)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--work", type=Path, default=Path("/tmp/imagelens-perf-targets"))
    parser.add_argument("--features", default=",".join(FEATURES), help="comma-separated (default: all six)")
    parser.add_argument("--child", choices=MODES, default=None, help=argparse.SUPPRESS)
    parser.add_argument(
        "--modes",
        default="before,int8",
        help="two of: before (fp32, torch's own threads), fp32, int8 (the defaults now), openvino (the defaults with "
        "Florence-2's image encoder in OpenVINO); the first is the reference",
    )
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "perf_targets_run.md")
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    if args.child:
        import torch

        torch.manual_seed(0)
        wanted = tuple(args.features.split(","))
        result = child(args.child, args.model_dir, args.runs, args.work, wanted)
        print("CHILD-RESULT " + json.dumps(result), flush=True)
        return
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    ref_mode, other_mode = args.modes.split(",")
    fp32 = run_child(ref_mode, args)
    print(json.dumps({k: v for k, v in fp32.items() if k not in ("splits", "boxes")}), flush=True)
    int8 = run_child(other_mode, args)
    print(json.dumps({k: v for k, v in int8.items() if k not in ("splits", "boxes")}), flush=True)
    text = f"Run {started}, `{' '.join(sys.argv)}`, {os.cpu_count()} cores\n\n" + render(
        fp32, int8, agreement(fp32, int8, args.work), args
    )
    args.out.write_text(text + "\n", encoding="utf-8")
    (args.work / "results.json").write_text(json.dumps({ref_mode: fp32, other_mode: int8}), encoding="utf-8")
    print(text)


if __name__ == "__main__":
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TQDM_DISABLE", "1")
    main()
