"""Florence-2's image encoder (DaViT vision tower + projector) in OpenVINO: by default on CPUs with native bf16.

``IMAGELENS_FLORENCE_ENCODER``: ``auto`` (the default: OpenVINO where it computes bf16 natively, AVX512_BF16 or AMX,
and the export works; torch int8 elsewhere, where OpenVINO's f32 would be slower than torch's int8, or when the
export fails, with a warning), ``openvino`` (required: an error when it cannot run) or ``torch`` (the vision tower in
torch, int8 with the rest of the model). ``IMAGELENS_FLORENCE_PRECISION`` (OpenVINO only): ``auto`` (OpenVINO's
choice: bf16 on AVX512_BF16 / AMX CPUs, f32 elsewhere) or ``f32`` (then ``auto`` keeps torch). The language model
(BART encoder and decoder) stays in torch either way.

The encoder is exported once per model (its files' sha256, the input size, the OpenVINO version and the recipe name
the cache entry) to ONNX by ``torch.onnx.export`` in a child Python process (it holds a second fp32 copy of the
model for ~20 s: the serving process never does), then stored as OpenVINO IR with fp16 weights under
``$XDG_CACHE_HOME/imagelens/florence-openvino`` (``IMAGELENS_FLORENCE_OPENVINO_DIR``). Later loads read the IR in
about a second; the weight files' digests are kept beside it (``digests.json``, keyed by path, size and mtime), so
they are not hashed again at each load.

Measured (``benchmarks/perf_targets.md``, full-size random Florence-2-base at 768 px, 2 cores, 2026-12-03): the
six-feature call 4.38 s against 5.82 s with the torch int8 encoder; features cosine 0.9999 to fp32 torch (int8:
0.9991). It was opt-in until the process peak fit the 2.5 GB target: 2,275-2,763 MB in 8 runs then; 2,103 MB once
the int8 load freed the fp32 layers it replaced and SigLIP's image tower went bf16 (``benchmarks/perf_targets.md``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any, Literal

from imagelens.errors import InvalidArgumentError
from imagelens.models.adapters import openvino_runtime, quantize
from imagelens.models.adapters.openvino_runtime import Precision

ENCODER_ENV = "IMAGELENS_FLORENCE_ENCODER"
PRECISION_ENV = "IMAGELENS_FLORENCE_PRECISION"
CACHE_ENV = "IMAGELENS_FLORENCE_OPENVINO_DIR"
RECIPE = "onnx17-fp16ir-v1"  # bump when the export changes: old cache entries are then never read
EXPORT_TIMEOUT_S = 1800.0
_ENCODERS = ("auto", "torch", "openvino")
DIGESTS_FILE = "digests.json"
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".json")

log = logging.getLogger(__name__)


def asked_encoder() -> Literal["auto", "openvino", "torch"]:
    """What ``IMAGELENS_FLORENCE_ENCODER`` asks for (unset: ``auto``); anything else is refused."""
    asked = os.environ.get(ENCODER_ENV, "").strip().lower() or "auto"
    if asked not in _ENCODERS:
        raise InvalidArgumentError(f"{ENCODER_ENV} must be one of {', '.join(_ENCODERS)}, got {asked!r}")
    return "openvino" if asked == "openvino" else "torch" if asked == "torch" else "auto"


def chosen_encoder(model_id: str) -> Literal["openvino", "torch"]:
    """Where the image encoder runs: ``auto`` is OpenVINO when it is installed and computes bf16 natively here."""
    asked = asked_encoder()
    if asked == "openvino" and not openvino_runtime.openvino_available():
        raise openvino_runtime.missing(model_id, ENCODER_ENV, "torch")
    if asked == "auto":
        usable = chosen_precision() == "auto" and openvino_runtime.openvino_available()
        return "openvino" if usable and quantize.native_bf16() else "torch"
    return asked


def chosen_precision() -> Precision:
    return openvino_runtime.precision_from_env(PRECISION_ENV)


def cache_root() -> Path:
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "imagelens" / "florence-openvino"


def fingerprint(folder: Path, size: int, cache_dir: Path | None = None) -> str:
    """What the exported encoder depends on: the model folder's weight and config files (contents), the input size,
    the OpenVINO version and the recipe."""
    import openvino as ov

    digests = _Digests((cache_dir or cache_root()) / DIGESTS_FILE)
    digest = hashlib.sha256(f"{RECIPE}|{size}|{ov.get_version()}".encode())
    for file in sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in _WEIGHT_SUFFIXES):
        digest.update(file.name.encode())
        digest.update(digests.of(file))
    digests.save()
    return digest.hexdigest()[:32]


class _Digests:
    """sha256 of files, remembered by (resolved path, size, mtime): a changed file is hashed again."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            known = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            known = {}
        self._known: dict[str, list[Any]] = known if isinstance(known, dict) else {}
        self._changed = False

    def of(self, file: Path) -> bytes:
        stat = file.stat()
        key, stamp = str(file.resolve()), [stat.st_size, stat.st_mtime_ns]
        entry = self._known.get(key)
        if isinstance(entry, list) and len(entry) == 3 and entry[:2] == stamp:
            try:
                return bytes.fromhex(str(entry[2]))
            except ValueError:
                pass
        with file.open("rb") as handle:
            value = hashlib.file_digest(handle, "sha256").digest()
        self._known[key] = [*stamp, value.hex()]
        self._changed = True
        return value

    def save(self) -> None:
        if not self._changed:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.{threading.get_ident()}")
            temporary.write_text(json.dumps(self._known), encoding="utf-8")
            temporary.replace(self.path)  # atomic: a concurrent reader sees the old or the new file
        except OSError as exc:  # a read-only cache: hashed again next time
            log.debug("could not store the weight digests in %s: %s", self.path, exc)


def encoder_ir(folder: Path, size: int, cache_dir: Path | None = None) -> Path:
    """The OpenVINO IR (``encoder.xml``) of the Florence-2 model in ``folder`` at ``size`` px: cached, or exported
    now in a child process and stored atomically."""
    root = cache_dir or cache_root()
    target = root / fingerprint(folder, size, root)
    xml = target / "encoder.xml"
    if xml.is_file():
        return xml
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".export-", dir=root))
    try:
        # a fresh interpreter (not multiprocessing: it would re-run the caller's main script in the child)
        command = [sys.executable, "-m", __name__, str(folder), str(work), str(size)]
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=EXPORT_TIMEOUT_S, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise TimeoutError(f"exporting the encoder took over {EXPORT_TIMEOUT_S:.0f} s") from exc
        if done.returncode != 0 or not (work / "encoder.xml").is_file():
            tail = done.stderr.strip().splitlines()[-1:] or ["no output"]
            raise RuntimeError(f"the export process failed (exit code {done.returncode}): {tail[0]}")
        try:
            work.rename(target)
        except OSError:  # another process stored the same entry first: keep theirs
            if not xml.is_file():
                raise
        return xml
    finally:
        shutil.rmtree(work, ignore_errors=True)


def export_encoder(folder: str, out: str, size: int) -> None:
    """(In the child process.) Load the fp32 model, export its image encoder to ONNX, store it as IR with fp16
    weights in ``out``."""
    import openvino as ov
    import torch
    from transformers import Florence2ForConditionalGeneration

    class ImageEncoder(torch.nn.Module):
        """pixel_values (1, 3, S, S) -> the projected image tokens the language model reads (``pooler_output``)."""

        def __init__(self, florence: Any) -> None:
            super().__init__()
            self.florence = florence

        def forward(self, pixel_values: Any) -> Any:
            return self.florence.get_image_features(pixel_values=pixel_values).pooler_output

    model = Florence2ForConditionalGeneration.from_pretrained(
        folder, local_files_only=True, dtype=torch.float32
    )
    model.eval()
    encoder = ImageEncoder(model.model).eval()
    onnx_path = Path(out) / "encoder.onnx"
    example = torch.zeros(1, 3, size, size)
    with torch.no_grad():
        torch.onnx.export(
            encoder,
            (example,),
            str(onnx_path),
            dynamo=False,
            opset_version=17,
            input_names=["pixel_values"],
            output_names=["image_features"],
        )
    del model, encoder
    ov.save_model(ov.Core().read_model(str(onnx_path)), str(Path(out) / "encoder.xml"), compress_to_fp16=True)
    onnx_path.unlink()
    for extra in Path(out).glob("*.data"):  # external ONNX tensors, if torch wrote any
        extra.unlink()


class OpenVinoEncoder:
    """The compiled encoder: ``encoder(pixel_values)`` -> image features (a torch tensor), from any thread. Its
    intermediate buffers (activations at 768 px) are handed back after each image when no other image is encoding."""

    def __init__(self, ir: Path, precision: Precision, size: int) -> None:
        import numpy as np

        self.ir = ir
        self._model = openvino_runtime.CompiledModel(ir, precision)
        #: the arithmetic OpenVINO chose: "bf16", "f16" or "f32"
        self.precision = self._model.kind
        # The first inference repacks the weights (a transient of ~0.5 GB): pay it now, at load, not in a request
        # where every other model is already resident.
        self._model(np.zeros((1, 3, size, size), np.float32))
        self._model.release_idle()

    def __call__(self, pixel_values: Any) -> Any:
        import torch

        try:
            return torch.from_numpy(self._model(pixel_values.numpy()))
        finally:
            self._model.release_idle()


if __name__ == "__main__":  # the export child: FOLDER OUT SIZE
    export_encoder(sys.argv[1], sys.argv[2], int(sys.argv[3]))
