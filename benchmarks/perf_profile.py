"""A py-spy profile of one all-features ``analyze`` call (every thread), summarised to a small text file.

    python benchmarks/perf_profile.py --model-dir /tmp/full [--out benchmarks/perf_profile.txt]

Starts a child that loads the models (the defaults: int8 Florence-2 in torch, SigLIP fp32, PP-OCR in OpenVINO,
torch on every core), reads the tag-prompt cache (timed: the cold-start figure), makes one
warm-up call, then one call that ``py-spy record --threads --format raw`` samples (all threads: the Analyzer runs
features on worker threads, which pyinstrument does not see). The summary counts, for each frame of interest, the
samples whose stack contains it (inclusive), as a share of the samples of working threads.
"""

from __future__ import annotations

import argparse
import collections
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from perf_targets import FEATURES, IMAGE  # noqa: E402

#: label -> (function name or "", path fragment) of a frame that marks the stage
STAGES = {
    "Florence-2 vision encoder (encode)": ("Florence2Adapter.encode", "florence2/adapter.py"),
    "Florence-2 decoding (generate: BART + output layer)": (
        "Florence2Adapter.generate",
        "florence2/adapter.py",
    ),
    "SigLIP image tower": ("SiglipAdapter.embed_images", "siglip/adapter.py"),
    "RT-DETR detector": ("RTDetrAdapter.detect", "adapters/rtdetr.py"),
    "PP-OCR read (OpenVINO + pipeline)": ("", "adapters/ppocr/"),
    "image decode (imagelens.io)": ("", "imagelens/io/"),
    "all torch Linear layers (fp32)": ("Linear.forward", "torch/nn/modules/linear.py"),
    "all int8 dynamic Linear layers": ("", "quantized/dynamic/modules/linear.py"),
    "all torch Conv2d layers": ("Conv2d.forward", "torch/nn/modules/conv.py"),
    "attention (sdpa)": ("", "sdpa_attention"),
}


def _matches(frame: str, func: str, path: str) -> bool:
    return path in frame and (not func or frame.startswith(func + " ("))


def child(model_dir: Path, ready: Path) -> None:
    from imagelens.analyzer import Analyzer
    from imagelens.config import HubSettings, Settings
    from imagelens.features.warmup import prompt_sets

    analyzer = Analyzer(Settings(model_dir=model_dir, hub=HubSettings(offline=True)))
    embedder = analyzer.hub.embedder()
    tags = prompt_sets(analyzer.hub, ["tags"])[0]
    t0 = time.perf_counter()
    array = embedder.prompt_embeddings(tags.labels, tags.templates)
    print(f"tag-prompt cache read: {time.perf_counter() - t0:.3f} s for {array.shape}", flush=True)
    analyzer.analyze(IMAGE, FEATURES)
    ready.write_text("ready")
    time.sleep(2.0)  # py-spy attaches
    t0 = time.perf_counter()
    analyzer.analyze(IMAGE, FEATURES)
    print(f"profiled call: {time.perf_counter() - t0:.2f} s, load {os.getloadavg()[0]:.1f}", flush=True)


def summarise(raw: Path) -> str:
    total = 0
    hits: collections.Counter[str] = collections.Counter()
    for line in raw.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit() or "lock.acquire" in stack.rsplit(";", 1)[-1] or "wait (threading" in stack:
            continue  # idle threads: waiting on a lock or condition
        n = int(count)
        total += n
        frames = stack.split(";")
        for label, (func, path) in STAGES.items():
            if any(_matches(f, func, path) for f in frames):
                hits[label] += n
    rows = [f"{label:40s} {hits[label] / max(total, 1):6.1%}  ({hits[label]} samples)" for label in STAGES]
    return f"working-thread samples: {total}\n" + "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model-dir", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=HERE / "perf_profile.txt")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--summarise", type=Path, default=None, help="only summarise this py-spy raw file")
    parser.add_argument("--ready", type=Path, default=Path("/tmp/imagelens-profile-ready"))
    args = parser.parse_args()
    if args.child:
        child(args.model_dir, args.ready)
        return
    if args.summarise:
        print(summarise(args.summarise))
        return
    args.ready.unlink(missing_ok=True)
    raw = Path("/tmp/imagelens-profile.raw")  # py-spy's collapsed stacks (~0.4 MB): kept out of the repo
    cmd = [
        sys.executable,
        __file__,
        "--child",
        "--model-dir",
        str(args.model_dir),
        "--ready",
        str(args.ready),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    while not args.ready.exists():
        if proc.poll() is not None:
            raise SystemExit("the child failed")
        time.sleep(0.5)
    spy = Path(sys.executable).with_name("py-spy")
    subprocess.run(
        [str(spy), "record", "--pid", str(proc.pid), "--threads", "--format", "raw", "--rate", "50",
         "--nonblocking", "-o", str(raw)],
        check=False, capture_output=True,
    )  # fmt: skip
    out, _ = proc.communicate()
    text = out + summarise(raw)
    args.out.write_text(text + "\n", encoding="utf-8")
    print(text)


if __name__ == "__main__":
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    main()
