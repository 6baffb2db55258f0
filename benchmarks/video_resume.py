"""Issue 16 (resumable ingestion): what checkpoints cost, and what a resume saves.

    PYTHONPATH=src .venv/bin/python benchmarks/video_resume.py [--shots 10] [--cores 2] [--checkpoint-s 5]

The video and the embedder are those of ``benchmarks/video_ingest.py`` (COCO stills held 1.3-7.5 s, 640x360 at
25 fps, MPEG-4 Part 2; the full-size SigLIP 2 base/16-224 image tower with seeded random weights), default sampling
(1 s + the cut detector). Three ingestions into the SQLite store, each into a fresh video index:

1. one checkpoint only (``checkpoint_s`` larger than the video: the final one, which every ingestion writes);
2. a checkpoint every ``--checkpoint-s`` seconds of video;
3. the same, interrupted (an exception from the ``after_checkpoint`` hook) at the checkpoint nearest the video's
   middle, then resumed; the resumed run's wall time, and the segments compared with run 2's (must be identical).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO))


class Stop(BaseException):
    pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shots", type=int, default=10)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--checkpoint-s", type=float, default=5.0)
    args = parser.parse_args()
    os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[: args.cores]))
    import torch

    torch.set_num_threads(args.cores)
    from video_ingest import FPS, SIGLIP_ID, SIZE, stills

    from imagelens.analyzer import Analyzer
    from imagelens.config import HubSettings, Settings
    from imagelens.retrieval.vectorize import model_of
    from imagelens.testing.full_size_models import write_siglip
    from imagelens.video.ingest import ingest_video
    from imagelens.video.settings import VideoSettings
    from imagelens.video.store import create_video_index
    from imagelens.video.write import write_slideshow

    tmp = Path(tempfile.mkdtemp(prefix="video-resume-"))
    write_siglip(tmp / "models" / SIGLIP_ID, seed=1, vocab_size=1024)
    settings = Settings(model_dir=tmp / "models", hub=HubSettings(offline=True), store_dir=tmp / "store")
    analyzer = Analyzer(settings)
    images, source = stills(args.shots)
    rng = np.random.default_rng(16)
    durations = [float(d) for d in rng.choice([1.3, 2.7, 3.4, 4.6, 5.2, 7.5], size=len(images))]
    video = tmp / "shots.mp4"
    write_slideshow(video, list(zip(images, durations, strict=True)), fps=FPS, size=SIZE, motion=1)
    length = sum(durations)
    model = model_of(analyzer.hub.embedder())
    analyzer.vectorize_image(images[0])

    def run(name: str, vs: VideoSettings, hook: Any = None) -> tuple[float, Any]:
        index = create_video_index(settings, name, model, exist_ok=True)
        t0 = time.perf_counter()
        report = ingest_video(analyzer, index, video, "v", settings=vs, job="bench", after_checkpoint=hook)
        return time.perf_counter() - t0, index

    one_s, _ = run("one", VideoSettings(checkpoint_s=1e9))
    vs = VideoSettings(checkpoint_s=args.checkpoint_s)
    seen: list[dict[str, Any]] = []
    many_s, many = run("many", vs, lambda st: seen.append(st))
    checkpoints = len(seen)
    middle = min(range(len(seen)), key=lambda i: abs(seen[i]["time_s"] - length / 2)) + 1
    count = [0]

    def stop(state: dict[str, Any]) -> None:
        count[0] += 1
        if count[0] == middle:
            raise Stop

    t0 = time.perf_counter()
    try:
        run("cut", vs, stop)
    except Stop:
        pass
    first_s = time.perf_counter() - t0
    at = seen[middle - 1]["time_s"]
    rest_s, cut = run("cut", vs)
    n = many.video("v").segments
    equal = n == cut.video("v").segments and all(
        many.segments.get(f"v#{k}").fields == cut.segments.get(f"v#{k}").fields
        and np.allclose(many.segments.get(f"v#{k}").vector, cut.segments.get(f"v#{k}").vector, atol=1e-6)
        for k in range(n)
    )
    print(f"video {length:.1f} s ({source}), {n} segments")
    print(f"| final checkpoint only | {one_s:.1f} s | {length / one_s:.2f} |")
    print(f"| every {args.checkpoint_s:g} s ({checkpoints} checkpoints) | {many_s:.1f} s | {length / many_s:.2f} |")
    print(f"| interrupted at {at:.1f} s: first part | {first_s:.1f} s | |")
    print(f"| resumed from {at:.1f} s | {rest_s:.1f} s | {(length - at) / rest_s:.2f} |")
    print(f"segments identical to the uninterrupted run: {equal}")


if __name__ == "__main__":
    main()
