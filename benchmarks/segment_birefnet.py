"""Adapter overhead of BiRefNet (resize + ImageNet normalisation + sigmoid + resize back), with the tiny 64x64
network standing in for the real one (the network itself is NOT measured: its weights are not on this machine, and
BiRefNet's PyTorch code needs timm/torchvision, so the full-size architecture cannot be built here with random weights).

    OMP_NUM_THREADS=2 taskset -c 0,1 python benchmarks/segment_birefnet.py
"""

import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from imagelens.models.adapters.birefnet import BiRefNetAdapter
from imagelens.models.catalog import CATALOG
from imagelens.numeric import sigmoid
from imagelens.testing.tiny import write_tiny

spec = CATALOG["birefnet-lite"]
root = Path(tempfile.mkdtemp())
write_tiny(spec, root)
m = BiRefNetAdapter.load(root, spec)
m.input_hw = (1024, 1024)  # pre-processing at the real input size (the tiny graph is not run at this size)
rng = np.random.default_rng(0)
for w, h in ((640, 480), (4000, 3000)):
    rgb = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    pre: list[float] = []
    post: list[float] = []
    for _ in range(5):
        t = time.perf_counter()
        m.preprocess(rgb)
        pre.append(time.perf_counter() - t)
        logits = rng.normal(size=(1024, 1024)).astype(np.float32)
        t = time.perf_counter()
        p = sigmoid(logits).astype(np.float32)
        cv2.resize(p, (w, h), interpolation=cv2.INTER_LINEAR)
        post.append(time.perf_counter() - t)
    print(
        f"{w}x{h}: preprocess {statistics.median(pre) * 1000:.1f} ms, postprocess {statistics.median(post) * 1000:.1f} ms"
    )
