"""Torch models exported once to OpenVINO IR and cached by content, for the adapters that run a part in OpenVINO
(Florence-2's image encoder, the DETR detectors).

An export runs ``torch.onnx.export`` in a child Python process (it holds a second fp32 copy of the model while it
works: the serving process never does), then stores the IR under a cache folder in an entry named by a fingerprint
of what the export depends on: the model folder's weight and config files (their sha256), the input size, the
OpenVINO version and the caller's recipe name (bumped when an export changes, so old entries are never read). The
entry is written in a work folder and renamed into place, so a reader never sees half an export; two processes
exporting the same entry at once keep the first one stored. The weight files' digests are remembered beside the
entries (``digests.json``, keyed by path, size and mtime), so a load does not hash a gigabyte of weights again.

The child runs ``python -m imagelens.models.adapters.openvino_export MODULE:FUNCTION FOLDER OUT SIZE``; the function
writes the IR into ``OUT``. A fresh interpreter, not multiprocessing, which would re-run the caller's main script.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

EXPORT_TIMEOUT_S = 1800.0
DIGESTS_FILE = "digests.json"
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".json")

log = logging.getLogger(__name__)


def fingerprint(folder: Path, recipe: str, size: int | str, cache_dir: Path) -> str:
    """What an export depends on: the model folder's weight and config files (contents), the input size, the
    OpenVINO version and the ``recipe``."""
    import openvino as ov

    digests = _Digests(cache_dir / DIGESTS_FILE)
    digest = hashlib.sha256(f"{recipe}|{size}|{ov.get_version()}".encode())
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


def exported_ir(
    exporter: str, folder: Path, size: int | str, *, root: Path, recipe: str, file_name: str
) -> Path:
    """``root/<fingerprint>/<file_name>``: the IR ``exporter`` (``"module:function"``) writes for the model in
    ``folder`` at input ``size`` (the exporter reads it from a string: ``768``, ``640x640``); cached, or exported
    now in a child process and stored atomically."""
    target = root / fingerprint(folder, recipe, size, root)
    xml = target / file_name
    if xml.is_file():
        return xml
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".export-", dir=root))
    try:
        command = [sys.executable, "-m", __name__, exporter, str(folder), str(work), str(size)]
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=EXPORT_TIMEOUT_S, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise TimeoutError(f"the OpenVINO export took over {EXPORT_TIMEOUT_S:.0f} s") from exc
        if done.returncode != 0 or not (work / file_name).is_file():
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


def run_exporter(exporter: str, folder: str, out: str, size: str) -> None:
    """(In the child process.) Call ``exporter`` (``"module:function"``) with ``(folder, out, size)``."""
    module, _, function = exporter.partition(":")
    getattr(importlib.import_module(module), function)(folder, out, size)


def onnx_to_ir(onnx_path: Path, xml_path: Path, *, compress_to_fp16: bool) -> None:
    """(In the child process.) Store an ONNX file as OpenVINO IR and delete the ONNX file (and any external data
    torch wrote beside it)."""
    import openvino as ov

    ov.save_model(ov.Core().read_model(str(onnx_path)), str(xml_path), compress_to_fp16=compress_to_fp16)
    onnx_path.unlink()
    for extra in onnx_path.parent.glob("*.data"):
        extra.unlink()


if __name__ == "__main__":  # the export child: MODULE:FUNCTION FOLDER OUT SIZE
    run_exporter(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4])
