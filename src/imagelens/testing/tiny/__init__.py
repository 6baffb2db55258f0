"""Tiny RANDOM-weight models for tests, in exactly the layout each adapter's ``load`` reads.

One module per adapter family writes them (:mod:`.rtdetr`, :mod:`.owlv2`, :mod:`.yunet`, :mod:`.florence2`,
:mod:`.siglip`, :mod:`.ppocr`, :mod:`.custom_classifier`, :mod:`.tflite`,
:mod:`.onnx_detector`, :mod:`.tflite_embedder`, :mod:`.marian`, :mod:`.birefnet`, :mod:`.whisper`), and :data:`WRITERS` maps a spec's ``adapter`` path to its
writer, so the adapters carry no test code. Every writer leaves
:data:`~imagelens.models.adapters.base.TINY_MARKER` in the folder.

Weights that ship inside an installed package (a :class:`~imagelens.models.spec.PackageSource`, e.g. the default
OCR inside rapidocr) are never replaced by tiny ones: :func:`imagelens.testing.tiny_models.write_tiny_models` skips
them and the hub ignores a tiny folder in ``IMAGELENS_MODEL_DIR`` for them. A test that needs a tiny stand-in for
such a model registers :func:`tiny_variant` (another id, never shipped) or loads the adapter from a folder itself.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType

from imagelens.errors import InvalidArgumentError
from imagelens.models.hub import import_adapter
from imagelens.models.spec import HubSource, ModelSpec, PackageSource

Writer = Callable[[Path, ModelSpec, int], None]

_ADAPTERS = "imagelens.models.adapters"
_TINY = "imagelens.testing.tiny"

#: adapter path (as in ``ModelSpec.adapter``) -> ``module:function`` that writes a tiny model for it.
WRITERS: Mapping[str, str] = MappingProxyType(
    {
        f"{_ADAPTERS}.rtdetr:RTDetrAdapter": f"{_TINY}.rtdetr:write",
        f"{_ADAPTERS}.custom_detector:CustomDetectorAdapter": f"{_TINY}.rtdetr:write_custom",
        f"{_ADAPTERS}.owlv2:Owlv2Adapter": f"{_TINY}.owlv2:write",
        f"{_ADAPTERS}.yunet:YuNetAdapter": f"{_TINY}.yunet:write",
        f"{_ADAPTERS}.florence2:Florence2Adapter": f"{_TINY}.florence2:write",
        f"{_ADAPTERS}.siglip:SiglipAdapter": f"{_TINY}.siglip:write",
        f"{_ADAPTERS}.ppocr:PPOCRAdapter": f"{_TINY}.ppocr:write",
        f"{_ADAPTERS}.custom_classifier:CustomClassifierAdapter": f"{_TINY}.custom_classifier:write",
        f"{_ADAPTERS}.selfie_seg:SelfieSegmentationAdapter": f"{_TINY}.tflite:write_tiny_segmenter",
        f"{_ADAPTERS}.deeplab_tflite:DeepLabForegroundAdapter": f"{_TINY}.tflite:write_tiny_segmenter",
        f"{_ADAPTERS}.onnx_detector:OnnxGridDetector": f"{_TINY}.onnx_detector:write",
        f"{_ADAPTERS}.tflite_embedder:TFLiteImageEmbedder": f"{_TINY}.tflite_embedder:write",
        f"{_ADAPTERS}.marian:MarianAdapter": f"{_TINY}.marian:write",
        f"{_ADAPTERS}.birefnet:BiRefNetAdapter": f"{_TINY}.birefnet:write",
        f"{_ADAPTERS}.whisper:WhisperAdapter": f"{_TINY}.whisper:write",
    }
)


def _import(path: str) -> object:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def writer_for(spec: ModelSpec) -> Writer:
    """The tiny writer for ``spec``'s adapter: by its path, else by the nearest base class that has one (so a
    subclass of a catalog adapter, e.g. one that counts calls in a test, gets its base's layout)."""
    target = WRITERS.get(spec.adapter)
    if target is None:
        by_class = {_import(adapter): writer for adapter, writer in WRITERS.items()}
        target = next((by_class[k] for k in import_adapter(spec).__mro__ if k in by_class), None)
    if target is None:
        raise InvalidArgumentError(f"no tiny model writer for the adapter {spec.adapter} (model {spec.id!r})")
    writer: Writer = _import(target)  # type: ignore[assignment]
    return writer


def write_tiny(spec: ModelSpec, path: Path, seed: int = 0) -> Path:
    """Write a tiny random model for ``spec`` into ``path`` (any folder: this does not check where it goes)."""
    target = Path(path)
    target.mkdir(parents=True, exist_ok=True)
    writer_for(spec)(target, spec, seed)
    return target


def ships_in_package(spec: ModelSpec) -> bool:
    """Whether the real weights come inside an installed package (so a tiny model must never stand in for them)."""
    return isinstance(spec.source, PackageSource)


def tiny_variant(spec: ModelSpec) -> ModelSpec:
    """A test-only copy of ``spec`` under the id ``<id>-tiny``, whose weights can only come from
    ``IMAGELENS_MODEL_DIR`` (its Hub repository does not exist): register it with ``hub.register`` and write it
    with :func:`write_tiny` to ``<model dir>/<id>-tiny``."""
    tiny_id = f"{spec.id}-tiny"
    return replace(
        spec,
        id=tiny_id,
        source=HubSource(repo_id=f"imagelens-tests/{tiny_id}", revision="0" * 40),
        description=f"TEST ONLY: a tiny random stand-in for {spec.id}",
    )
