"""The model catalog: data only. Weights and their preprocessing stay together in one spec.

Default model per role is the first spec listing that role in ``DEFAULT_FOR_ROLE``; settings
(``IMAGELENS_MODELS__<role>=<id>``) override it.
"""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType

from imagelens.models.spec import HubSource, ModelSpec, PackageSource, Role, UrlSource, WheelSource

_PPOCR = "imagelens.models.adapters.ppocr:PPOCRAdapter"

CATALOG_SPECS: tuple[ModelSpec, ...] = (
    # --- OCR ---
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
    # --- captioner (Florence-2) ---
    # transformers-native ports of microsoft/Florence-2-* (same weights, no remote code). Sizes: the safetensors
    # weights as published in fp16 by Microsoft (the ports' tensors were reported byte-identical); approximate.
    ModelSpec(
        id="florence-2-base",
        roles=(Role.CAPTIONER,),
        adapter="imagelens.models.adapters.florence2:Florence2Adapter",
        source=HubSource(
            repo_id="florence-community/Florence-2-base",
            revision="00921df66db728a9ceb750f5eca43e5c203a2051",
            allow_patterns=("*.json", "*.safetensors", "*.txt"),
            size_bytes=465_000_000,
        ),
        license="MIT",
        description="Florence-2 base (0.23B): captions and dense region captions; confidences from the decoder's "
        "token probabilities.",
        options={"caption_max_new_tokens": 40, "dense_max_new_tokens": 256, "dense_stop_after_boxes": 16},
    ),
    ModelSpec(
        id="florence-2-large",
        roles=(Role.CAPTIONER,),
        adapter="imagelens.models.adapters.florence2:Florence2Adapter",
        source=HubSource(
            repo_id="florence-community/Florence-2-large",
            revision="4271c66b88cdbc05735372ec13b2360108de5317",
            allow_patterns=("*.json", "*.safetensors", "*.txt"),
            size_bytes=1_550_000_000,
        ),
        license="MIT",
        description="Florence-2 large (0.77B): better captions than base at about 3x the CPU time.",
        options={"caption_max_new_tokens": 40, "dense_max_new_tokens": 256, "dense_stop_after_boxes": 16},
    ),
    # --- image-text embedding (SigLIP 2 / CLIP) ---
    ModelSpec(
        id="siglip2-base-patch16-224",
        roles=(Role.IMAGE_TEXT_EMBEDDING, Role.IMAGE_EMBEDDING),
        adapter="imagelens.models.adapters.siglip:SiglipAdapter",
        source=HubSource(
            repo_id="google/siglip2-base-patch16-224",
            revision="75de2d55ec2d0b4efc50b3e9ad70dba96a7b2fa2",
            allow_patterns=(
                "config.json",
                "model.safetensors",
                "preprocessor_config.json",
                "special_tokens_map.json",
                "tokenizer.json",
                "tokenizer.model",
                "tokenizer_config.json",
            ),
            size_bytes=1_540_000_000,  # model.safetensors is 1,500,800,904 bytes; tokenizer files ~40 MB
        ),
        license="Apache-2.0",
        description="SigLIP 2 ViT-B/16 at 224 px (fixed resolution, a SiglipModel with a Gemma tokenizer): image and "
        "text embeddings; sigmoid(scale * cos + bias) is its native multi-label score. Feeds tags and retrieval.",
        options={
            "family": "siglip",  # what the tiny test writer builds; load reads config.json's model_type
            "lowercase_text": True,  # SigLIP 2 was trained on lower-cased text
            "vocabulary": "ram",
            "templates": ["a photo of a {}."],
            "threshold": 0.5,  # on the calibrated probability
            "max_tags": 50,
            "calibration": {"a": 1.0, "b": 0.0},  # identity: NOT fitted, see benchmarks/tags_calibration.md
        },
    ),
    # --- detector (RT-DETRv2 / D-FINE) ---
    # Both output sigmoid (focal-loss) class scores; thresholds: objects 0.5, people 0.3 (one forward pass serves both).
    ModelSpec(
        id="rtdetr-v2-r18",
        roles=(Role.DETECTOR,),
        adapter="imagelens.models.adapters.rtdetr:RTDetrAdapter",
        source=HubSource(
            repo_id="PekingU/rtdetr_v2_r18vd",
            revision="5650961749fa93567c0d46fc7f43ea4f9e914107",
            allow_patterns=("config.json", "preprocessor_config.json", "model.safetensors"),
            size_bytes=80_904_640,  # model.safetensors; the two configs add a few kB
        ),
        license="Apache-2.0",
        description="RT-DETRv2-S (ResNet-18, 20M parameters, 48.1 COCO AP as published): COCO objects and people.",
        options={
            "architecture": "rt_detr_v2",
            "score_threshold": 0.5,
            "person_threshold": 0.3,
            "max_detections": 100,
            "nms_iou": None,
        },
    ),
    ModelSpec(
        id="dfine-s",
        roles=(Role.DETECTOR,),
        adapter="imagelens.models.adapters.rtdetr:RTDetrAdapter",
        source=HubSource(
            repo_id="ustc-community/dfine-small-coco",
            revision="f79e65b5fbb33ceb9d3ebba042955d7410c608f8",
            allow_patterns=("config.json", "preprocessor_config.json", "model.safetensors"),
            size_bytes=41_600_000,  # approximate: 10.4M fp32 parameters
        ),
        license="Apache-2.0",
        description="D-FINE-S (HGNetV2, 10M parameters, 48.5 COCO AP as published): COCO objects and people.",
        options={
            "architecture": "d_fine",
            "score_threshold": 0.5,
            "person_threshold": 0.3,
            "max_detections": 100,
            "nms_iou": None,
        },
    ),
    # --- open-vocabulary detector (OWLv2) ---
    ModelSpec(
        id="owlv2-base-patch16-ensemble",
        roles=(Role.OPEN_VOCAB_DETECTOR,),
        adapter="imagelens.models.adapters.owlv2:Owlv2Adapter",
        source=HubSource(
            repo_id="google/owlv2-base-patch16-ensemble",
            revision="cfd3195ba4ea9592eec887ded089f4c08eff231d",
            allow_patterns=(
                "config.json",
                "model.safetensors",
                "preprocessor_config.json",
                "special_tokens_map.json",
                "tokenizer_config.json",
                "tokenizer.json",
                "vocab.json",
                "merges.txt",
            ),
            size_bytes=622_000_000,  # model.safetensors ~619.9 MB (155M fp32 parameters); tokenizer files ~2 MB
        ),
        license="Apache-2.0",
        description="OWLv2 base/16 ensemble (960 px, text-queried open-vocabulary boxes): the generic product "
        "detector behind product recognition (prompts below; label = the best prompt's key).",
        options={
            "prompts": {
                "product": "a product on a shelf",
                "bottle": "a bottle",
                "box": "a box",
                "can": "a can",
                "package": "a package",
            },
            "score_threshold": 0.1,  # OWL-ViT's demos use 0.1 for text queries (not tuned here: no shelf labels)
            "nms_iou": 0.5,  # class-agnostic: one box per facing whichever prompt won
            "max_detections": 300,
        },
    ),
    # --- face detector (YuNet) ---
    ModelSpec(
        id="yunet-2023mar",
        roles=(Role.FACE_DETECTOR,),
        adapter="imagelens.models.adapters.yunet:YuNetAdapter",
        source=HubSource(
            repo_id="opencv/face_detection_yunet",
            revision="3cc26e7f1014a5ee5d74a42acee58bafc9d0a310",
            allow_patterns=("face_detection_yunet_2023mar.onnx",),
            size_bytes=232_589,
        ),
        license="MIT",
        description="YuNet 2023mar (OpenCV Zoo, 75k parameters): face boxes only, never identity, age or gender.",
        options={
            "file": "face_detection_yunet_2023mar.onnx",
            "score_threshold": 0.7,  # OpenCV's demo uses 0.9; lower keeps smaller and turned faces (not tuned here)
            "nms_iou": 0.3,
            "max_faces": 100,
            "max_side": 640,
        },
    ),
    # --- matting / background removal (TFLite, run by the PyPI wheel ai-edge-litert: the `segment` extra) ---
    ModelSpec(
        id="mediapipe-selfie-seg",
        roles=(Role.MATTING,),
        adapter="imagelens.models.adapters.selfie_seg:SelfieSegmentationAdapter",
        # The wheel is only downloaded (never installed: it pins numpy<2, jax, protobuf<5); the member's sha256 equals
        # MediaPipe's own pin of this file (third_party/external_files.bzl, generation 1683332563830600).
        source=WheelSource(
            package="mediapipe",
            version="0.10.21",
            member="mediapipe/modules/selfie_segmentation/selfie_segmentation.tflite",
            sha256="9ee168ec7c8f2a16c56fe8e1cfbc514974cbbb7e434051b455635f1bd1462f5c",
            size_bytes=249_505,
            python_version="3.11",
            platform="manylinux_2_28_x86_64",
            url="https://storage.googleapis.com/mediapipe-assets/selfie_segmentation.tflite?generation=1683332563830600",
        ),
        license="Apache-2.0",
        description="MediaPipe Selfie Segmentation (general, 256x256, 0.25 MB): person vs background, for people "
        "near the camera; weak on small, distant people. Licence: the mediapipe wheel's (Apache 2.0).",
        options={"file": "selfie_segmentation.tflite", "input_range": "0,1", "threads": None},
    ),
    ModelSpec(
        id="deeplabv3-pascal",
        roles=(Role.MATTING,),
        adapter="imagelens.models.adapters.deeplab_tflite:DeepLabForegroundAdapter",
        source=UrlSource(
            url="https://raw.githubusercontent.com/google-coral/test_data/"
            "104342d2d3480b3e66203073dac24f4e2dbb4c41/deeplabv3_mnv2_pascal_quant.tflite",
            sha256="350af47fd346ea6d74b58833a351f583ba860e9806ec5bd292ff8d8f1f249398",
            filename="deeplabv3_mnv2_pascal_quant.tflite",
            size_bytes=2_193_224,
        ),
        license="Apache-2.0",
        description="DeepLab v3 + MobileNet V2 on PASCAL VOC (uint8, 513x513, 2.2 MB, google-coral/test_data): the "
        "20 VOC classes (people, animals, vehicles, furniture) as foreground; hard edges, refined by matting.",
        options={"file": "deeplabv3_mnv2_pascal_quant.tflite", "threads": None, "foreground": None},
    ),
    # Any subject (salient object), not only people: chosen for background removal when present (segment/select.py).
    # onnx-community's fp32 export at Hub commit de15b22ba131738a16dff04aab8bdf8dc32e3ac1 (the revision whose onnx/
    # folder is unchanged since upload); the sha256 and size are the LFS object's, as several public projects pin it.
    ModelSpec(
        id="birefnet-lite",
        roles=(Role.MATTING,),
        adapter="imagelens.models.adapters.birefnet:BiRefNetAdapter",
        source=UrlSource(
            url="https://huggingface.co/onnx-community/BiRefNet_lite-ONNX/resolve/"
            "de15b22ba131738a16dff04aab8bdf8dc32e3ac1/onnx/model.onnx",
            sha256="5600024376f572a557870a5eb0afb1e5961636bef4e1e22132025467d0f03333",
            filename="model.onnx",
            size_bytes=224_005_088,
        ),
        license="MIT",
        description="BiRefNet_lite (Swin-T, 1024x1024, ONNX fp32, 224 MB): the salient object of any kind (products, "
        "animals, objects, people) as foreground; the default for background removal when present.",
        options={"file": "model.onnx", "input_size": 1024, "output": "output_image", "threads": None},
    ),
    # --- small CPU models (real weights measured in benchmarks/eval_*.md; IMAGELENS_MODEL_DIR=<folder of ids>) ---
    ModelSpec(
        id="yunet-2026may",
        roles=(Role.FACE_DETECTOR,),
        adapter="imagelens.models.adapters.yunet:YuNetAdapter",
        # OpenCV Zoo's models/face_detection_yunet/face_detection_yunet_2026may.onnx (Git LFS); this pinned copy is
        # the one checked here (RuDr8A/RealTime-PPE-Compliance, blob a9399977...), same sha256 expected upstream.
        source=UrlSource(
            url="https://raw.githubusercontent.com/RuDr8A/RealTime-PPE-Compliance/"
            "d876a822bbb20180b9ed7850c1d3229d72883067/face_detection_yunet_2026may.onnx",
            sha256="ebafce4e3c118d6554634be5c27ab333b4c047a9a8c3faf1d7cf93101c22f0f0",
            filename="face_detection_yunet_2026may.onnx",
            size_bytes=229_738,
        ),
        license="MIT",
        description="YuNet 2026may (OpenCV Zoo, MIT, 0.23 MB): the YuNet file published today; face boxes and five "
        "landmarks, never identity, age or gender.",
        options={
            "file": "face_detection_yunet_2026may.onnx",
            "score_threshold": 0.7,
            "nms_iou": 0.3,
            "max_faces": 100,
            "max_side": 640,
        },
    ),
    ModelSpec(
        id="yolox-nano",
        roles=(Role.DETECTOR,),
        adapter="imagelens.models.adapters.onnx_detector:OnnxGridDetector",
        # Upstream: Megvii-BaseDetection/YOLOX release 0.1.1rc0 (yolox_nano). This pinned copy is the file measured
        # here; its 80-class COCO head scores like Megvii's weights but could not be matched byte for byte.
        source=UrlSource(
            url="https://raw.githubusercontent.com/Bigisland1729/object-detection-models/"
            "7f3f2fa34b351e3d2af150893458106ad3f3a84f/yolox_nano.onnx",
            sha256="e8af074932d4ed7e232278e3055cefcdea3edf178874a3694ae292649fb464dd",
            filename="yolox_nano.onnx",
            size_bytes=3_678_356,
        ),
        license="Apache-2.0",
        description="YOLOX-Nano (0.9M parameters, 416 px, ONNX, 3.7 MB): COCO objects and people on a small CPU.",
        options={
            "file": "yolox_nano.onnx",
            "head": "yolox",
            "input_size": 416,
            "letterbox": "top-left",
            "pad_value": 114.0,
            "resize": "linear",
            "score_threshold": 0.5,
            "person_threshold": 0.3,
            "max_detections": 100,
            "nms_iou": 0.65,
        },
    ),
    ModelSpec(
        id="nanodet-m-416",
        roles=(Role.DETECTOR,),
        adapter="imagelens.models.adapters.onnx_detector:OnnxGridDetector",
        # Same bytes as OpenCV Zoo's models/object_detection_nanodet/object_detection_nanodet_2022nov.onnx (Git LFS,
        # sha256 below); weights from RangiLyu/nanodet (Apache-2.0). Pinned here at a commit that holds the file.
        source=UrlSource(
            url="https://raw.githubusercontent.com/hpc203/nanodet-opncv-dnn-cpp-python/"
            "15dd99c651d53c824f51d1eb5faddbd4f3d69bbc/nanodet_m.onnx",
            sha256="4b82da9944b88577175ee23a459dce2e26e6e4be573def65b1055dc2d9720186",
            filename="nanodet_m.onnx",
            size_bytes=3_800_954,
        ),
        license="Apache-2.0",
        description="NanoDet-m (0.95M parameters, 416 px, ONNX, 3.8 MB, GFL head): COCO objects and people on a "
        "small CPU.",
        options={
            "file": "nanodet_m.onnx",
            "head": "nanodet",
            "input_size": 416,
            "letterbox": "center",
            "pad_value": 0.0,
            "resize": "area",
            "mean": [103.53, 116.28, 123.675],
            "std": [57.375, 57.12, 58.395],
            "reg_max": 7,
            "score_threshold": 0.5,
            "person_threshold": 0.3,
            "max_detections": 100,
            "nms_iou": 0.6,
        },
    ),
    ModelSpec(
        id="coral-mobilenet-v1-embedding",
        roles=(Role.IMAGE_EMBEDDING,),
        adapter="imagelens.models.adapters.tflite_embedder:TFLiteImageEmbedder",
        source=UrlSource(
            url="https://raw.githubusercontent.com/google-coral/test_data/"
            "104342d2d3480b3e66203073dac24f4e2dbb4c41/mobilenet_v1_1.0_224_quant_embedding_extractor.tflite",
            sha256="f409ef4f73fcbb9667841965623c5c8524aac33d41b9bf5f3667161fb4a76319",
            filename="mobilenet_v1_1.0_224_quant_embedding_extractor.tflite",
            size_bytes=3_251_736,
        ),
        license="Apache-2.0",
        description="MobileNet V1 1.0/224 embedding extractor (ImageNet, uint8, 1024-d, 3.3 MB, google-coral/test_data): "
        "a small image-only backbone for few-shot custom classifiers (no text: no tags or text search).",
        options={"file": "mobilenet_v1_1.0_224_quant_embedding_extractor.tflite", "threads": None},
    ),
)


def _alias(model_id: str, new_id: str) -> ModelSpec:
    spec = next(s for s in CATALOG_SPECS if s.id == model_id)
    return replace(spec, id=new_id, description=f"{spec.description} (The same file as '{model_id}'.)")


# The folder names of a shared evaluation folder (IMAGELENS_MODEL_DIR) for models catalogued under another id.
CATALOG_SPECS += (_alias("deeplabv3-pascal", "coral-deeplabv3-pascal"),)

# --- translators: English -> one language (tag names, captions) --------------------------------------------------
# Helsinki-NLP OPUS-MT (MarianMT). Revisions are commits published on each repository's history page. ``prefix`` is
# the target-language token that multi-target models need at the start of every input.
_MARIAN = "imagelens.models.adapters.marian:MarianAdapter"
_MARIAN_FILES = (
    "config.json", "generation_config.json", "pytorch_model.bin", "source.spm", "target.spm", "vocab.json",
    "tokenizer_config.json", "special_tokens_map.json",
)  # fmt: skip
#: target language -> (repository, revision, licence, prefix)
TRANSLATORS: MappingProxyType[str, tuple[str, str, str, str]] = MappingProxyType(
    {
        "es": ("Helsinki-NLP/opus-mt-en-es", "0e9686e0e0893ab6747359e265992ca93d801afa", "Apache-2.0", ""),
        "de": ("Helsinki-NLP/opus-mt-en-de", "8a2ae59a7f1a75571bfa6cc48eeba3515213d197", "CC-BY-4.0", ""),
        "fr": ("Helsinki-NLP/opus-mt-en-fr", "bdd0600d83247c5842d4dcbd4a38ce3911599f1c", "Apache-2.0", ""),
        "it": ("Helsinki-NLP/opus-mt-en-it", "f1a2b901c1155fbc059afc1471a6ae11cc8315b3", "Apache-2.0", ""),
        "ja": (
            "Helsinki-NLP/opus-tatoeba-en-ja",
            "00ab68db67d8add0109783fda8845e7e24d4754f",
            "Apache-2.0",
            "",
        ),
        "pt": (
            "Helsinki-NLP/opus-mt-tc-big-en-pt",
            "9f2863d807ecf91a374bdbecb8d01e402e90622e",
            "CC-BY-4.0",
            ">>por<<",
        ),
        "zh": (
            "Helsinki-NLP/opus-mt-en-zh",
            "137ef1a50f7a0eaf22a7d5685d07b66bb670ddd1",
            "Apache-2.0",
            ">>cmn_Hans<<",
        ),
    }
)


def translator_id(language: str) -> str:
    """The catalog id of the English -> ``language`` translator (``opus-mt-en-<language>``)."""
    return f"opus-mt-en-{language}"


CATALOG_SPECS += tuple(
    ModelSpec(
        id=translator_id(lang),
        roles=(Role.TRANSLATOR,),
        adapter=_MARIAN,
        source=HubSource(repo_id=repo, revision=revision, allow_patterns=_MARIAN_FILES),
        license=licence,
        description=f"OPUS-MT English -> {lang} (MarianMT): translated tag names and captions.",
        options={"source": "en", "target": lang, "prefix": prefix, "num_beams": 1, "batch_size": 32},
    )
    for lang, (repo, revision, licence, prefix) in TRANSLATORS.items()
)

# --- speech recognition (the video index's ``speech`` feature) ---------------------------------------------------
# openai/whisper-base: the revision is the repository's head commit as a saved Hub API answer and several public
# pinning files give it (lastModified 2024-02-29); the Hub was unreachable here, so it is not checked against it.
CATALOG_SPECS += (
    ModelSpec(
        id="whisper-base",
        roles=(Role.SPEECH_RECOGNITION,),
        adapter="imagelens.models.adapters.whisper:WhisperAdapter",
        source=HubSource(
            repo_id="openai/whisper-base",
            revision="e37978b90ca9030d5170a5c07aadb050351a65bb",
            allow_patterns=(
                "config.json", "generation_config.json", "model.safetensors", "preprocessor_config.json",
                "tokenizer_config.json", "vocab.json", "merges.txt", "normalizer.json", "added_tokens.json",
                "special_tokens_map.json",
            ),
            size_bytes=290_000_000,
        ),
        license="Apache-2.0",
        description="Whisper base (74 M parameters, multilingual): the audio track of videos into timed text.",
        options={"language": None, "task": "transcribe", "max_new_tokens": 440, "num_beams": 1},
    ),
)  # fmt: skip

CATALOG: MappingProxyType[str, ModelSpec] = MappingProxyType({spec.id: spec for spec in CATALOG_SPECS})

DEFAULT_FOR_ROLE: MappingProxyType[Role, str] = MappingProxyType(
    {
        Role.OCR: "ppocr-v6-small",
        # --- defaults for the other roles ---
        Role.IMAGE_TEXT_EMBEDDING: "siglip2-base-patch16-224",
        # the few-shot classifier's backbone (IMAGELENS_MODELS__image-embedding=coral-mobilenet-v1-embedding: small)
        Role.IMAGE_EMBEDDING: "siglip2-base-patch16-224",
        Role.DETECTOR: "rtdetr-v2-r18",
        Role.FACE_DETECTOR: "yunet-2023mar",
        Role.OPEN_VOCAB_DETECTOR: "owlv2-base-patch16-ensemble",
        Role.CAPTIONER: "florence-2-base",
        Role.MATTING: "mediapipe-selfie-seg",
    }
)
