"""The model catalog: data only. Weights and their preprocessing stay together in one spec.

Default model per role is the first spec listing that role in ``DEFAULT_FOR_ROLE``; settings
(``IMAGELENS_MODELS__<role>=<id>``) override it.
"""

from __future__ import annotations

from types import MappingProxyType

from imagelens.models.spec import HubSource, ModelSpec, PackageSource, Role

_PPOCR = "imagelens.models.adapters.ppocr:PPOCRAdapter"

CATALOG_SPECS: tuple[ModelSpec, ...] = (
    ModelSpec(
        id="ppocr-v6-small",
        roles=(Role.OCR,),
        adapter=_PPOCR,
        source=PackageSource(package="rapidocr", size_bytes=31_749_509),
        license="Apache-2.0",
        description="PP-OCRv6 small detector + recogniser and PP-OCR direction classifier, shipped inside rapidocr 3.x "
        "(works offline out of the box).",
        options={
            "det": "PP-OCRv6_det_small.onnx",
            "rec": "PP-OCRv6_rec_small.onnx",
            "cls": "ch_ppocr_mobile_v2.0_cls_mobile.onnx",
            "keys": None,  # the recogniser carries its character list in the ONNX metadata
            "ocr_version": "PP-OCRv6",
        },
    ),
    ModelSpec(
        id="ppocr-v5-server-en",
        roles=(Role.OCR,),
        adapter=_PPOCR,
        source=HubSource(
            repo_id="monkt/paddleocr-onnx",
            revision="7b02d0a30a07ba2b92ad1ff5a8941ae2c633de65",
            allow_patterns=("detection/v5/*", "languages/english/*"),
            size_bytes=96_000_000,
        ),
        license="Apache-2.0",
        description="PP-OCRv5 server detector with the English PP-OCR recogniser (ONNX exports on the Hugging Face Hub).",
        options={
            "det": "detection/v5/det.onnx",
            "rec": "languages/english/rec.onnx",
            "cls": None,
            "keys": "languages/english/dict.txt",
            "ocr_version": "PP-OCRv5",
        },
    ),
)

CATALOG: MappingProxyType[str, ModelSpec] = MappingProxyType({spec.id: spec for spec in CATALOG_SPECS})

DEFAULT_FOR_ROLE: MappingProxyType[Role, str] = MappingProxyType({Role.OCR: "ppocr-v6-small"})
