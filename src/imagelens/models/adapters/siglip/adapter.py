"""The image-text embedding adapter: L2-normalised image and text embeddings, native logits, cached prompts."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import numpy as np
import numpy.typing as npt

from imagelens import deadline as deadlines
from imagelens.errors import InvalidArgumentError, ModelUnavailableError
from imagelens.models.adapters.deadline_hooks import check_in_layers
from imagelens.models.adapters.quantize import maybe_bf16, maybe_quantize
from imagelens.models.adapters.siglip.cache import default_cache_dir, read_npy, weights_fingerprint, write_npy
from imagelens.models.adapters.siglip.preprocess import (
    FAMILIES,
    PREPROCESSOR_FILE,
    Family,
    ImagePrep,
    TextPrep,
    UInt8Image,
    check_images,
)
from imagelens.models.memory import release_clean_file_pages
from imagelens.models.spec import HubSource, ModelSpec
from imagelens.numeric import l2_normalise

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float32]


def _unit_rows(x: npt.ArrayLike) -> FloatArray:
    """Rows scaled to unit length, as float32."""
    out: FloatArray = l2_normalise(np.asarray(x, np.float32)).astype(np.float32, copy=False)
    return out


class SiglipAdapter:
    """A loaded image-text embedding model. Thread-safe: torch modules are read-only after loading; the tokenizer
    (whose padding settings are mutable state) and the prompt cache are guarded by locks."""

    spec: ModelSpec
    family: Family
    image_prep: ImagePrep
    text_prep: TextPrep
    #: The folder the weights were loaded from (a fitted tag calibration may sit beside them).
    path: Path | None
    #: Where prompt embeddings are cached as ``.npy`` (``None``: memory only).
    cache_dir: Path | None
    #: Identifies the weights (config and weight files' sizes, heads and tails).
    fingerprint: str
    #: ``exp(logit_scale)`` and the bias: ``scale * cos + bias`` is the model's native image-text logit.
    logit_scale: float
    logit_bias: float

    def __init__(
        self,
        spec: ModelSpec,
        model: Any,
        tokenizer: Any,
        family: Family,
        image_prep: ImagePrep,
        text_prep: TextPrep,
        *,
        path: Path | None = None,
        cache_dir: Path | None = None,
        fingerprint: str = "",
        image_dtype: Any = None,
    ) -> None:
        import torch

        self.spec = spec
        self.family = family
        self.image_prep = image_prep
        self.text_prep = text_prep
        self.path = path
        self.cache_dir = cache_dir
        self.fingerprint = fingerprint
        self._model = model
        self._tokenizer = tokenizer
        self._torch = torch
        #: the image tower's dtype (torch.bfloat16 when cast at load, else float32): its float inputs are cast to it
        self.image_dtype = image_dtype or torch.float32
        self.image_batch_size = int(spec.options.get("image_batch_size", 8))
        self.text_batch_size = int(spec.options.get("text_batch_size", 128))
        self._tok_lock = threading.Lock()
        self._prompt_lock = threading.Lock()
        self._prompt_cache: dict[str, FloatArray] = {}
        with torch.inference_mode():
            self.logit_scale = float(model.logit_scale.exp().item())
            bias = getattr(model, "logit_bias", None)
            self.logit_bias = float(bias.item()) if bias is not None else 0.0

    # --- loading --------------------------------------------------------------------------------------------------

    @classmethod
    def load(cls, path: Path | None, spec: ModelSpec) -> Self:
        if path is None:
            raise ModelUnavailableError(spec.id, "an image-text embedding model needs a folder of weights")
        root = Path(path)
        try:
            config = json.loads((root / "config.json").read_text(encoding="utf-8"))
            prep_cfg = json.loads((root / PREPROCESSOR_FILE).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ModelUnavailableError(
                spec.id, f"config.json or {PREPROCESSOR_FILE} is missing or invalid ({exc})"
            ) from exc
        family = config.get("model_type")
        if family not in FAMILIES:
            raise ModelUnavailableError(
                spec.id, f"model_type must be one of {', '.join(FAMILIES)}, got {family!r}"
            )

        import torch
        from transformers import AutoModel, AutoTokenizer

        model = AutoModel.from_pretrained(root, dtype=torch.float32).eval()
        model.requires_grad_(False)
        # opt-in int8: the vision tower's transformer layers only, so cached prompt (text) embeddings stay exact and
        # the patch embedding (a Linear in SigLIP 2 NaFlex, read as ``.weight`` by transformers) stays a Linear
        model.vision_model.encoder = maybe_quantize(model.vision_model.encoder, spec)
        # IMAGELENS_HUB__BF16 (by default, on CPUs with native bf16): the image tower computes in bf16, 2.1x faster
        tower = [
            model.vision_model,
            *([model.visual_projection] if hasattr(model, "visual_projection") else []),
        ]
        image_dtype = torch.bfloat16 if maybe_bf16(tower, spec) else torch.float32
        if image_dtype == torch.bfloat16:
            # the fp32 tower's file pages, read by the cast, are not needed again
            release_clean_file_pages(root)
        check_in_layers(model)  # a forward pass stops at the request's deadline
        tokenizer = AutoTokenizer.from_pretrained(root)
        text_cfg = config.get("text_config") or {}
        max_length = int(spec.options.get("text_max_length") or text_cfg.get("max_position_embeddings") or 64)
        siglip_like = family != "clip"
        text_prep = TextPrep(
            max_length=max_length,
            pad_to_max=siglip_like,
            lowercase=bool(spec.options.get("lowercase_text", siglip_like)),
            use_attention_mask=not siglip_like,
        )
        cache = spec.options.get("text_cache_dir")
        cache_dir = Path(cache).expanduser() if cache else default_cache_dir(root, spec)
        return cls(
            spec,
            model,
            tokenizer,
            family,
            ImagePrep.from_config(prep_cfg, family),
            text_prep,
            path=root,
            cache_dir=cache_dir,
            fingerprint=weights_fingerprint(root),
            image_dtype=image_dtype,
        )

    def close(self) -> None:
        self._prompt_cache.clear()

    @property
    def dim(self) -> int:
        cfg = self._model.config
        return int(
            getattr(cfg, "projection_dim", 0)
            or cfg.text_config.projection_size
            or cfg.text_config.hidden_size
        )

    # --- images ---------------------------------------------------------------------------------------------------

    def preprocess_images(self, images: Sequence[UInt8Image]) -> list[dict[str, np.ndarray]]:
        return [self.image_prep(img) for img in check_images(images)]

    def forward_images(self, inputs: Sequence[Mapping[str, np.ndarray]]) -> FloatArray:
        """Stacked inputs -> raw (unnormalised) image features, in batches."""
        torch = self._torch
        chunks = []
        with torch.inference_mode():
            for start in range(0, len(inputs), self.image_batch_size):
                deadlines.check()
                batch = inputs[start : start + self.image_batch_size]
                tensors = {k: torch.from_numpy(np.stack([b[k] for b in batch])) for k in batch[0]}
                tensors = {
                    k: t.to(self.image_dtype) if t.is_floating_point() else t for k, t in tensors.items()
                }
                out = self._model.get_image_features(**tensors)
                feats = out.pooler_output if hasattr(out, "pooler_output") else out
                chunks.append(feats.float().numpy())
        return np.concatenate(chunks, axis=0)

    def embed_images(self, images: Sequence[UInt8Image]) -> FloatArray:
        """``(N, D)`` L2-normalised float32 embeddings of uint8 RGB ``(H, W, 3)`` images (upright, original pixels)."""
        if len(images) == 0:
            return np.zeros((0, self.dim), np.float32)
        return _unit_rows(self.forward_images(self.preprocess_images(images)))

    # --- texts ----------------------------------------------------------------------------------------------------

    def tokenize(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        prep = self.text_prep
        batch = [t.lower() for t in texts] if prep.lowercase else list(texts)
        with self._tok_lock:  # fast tokenizers keep padding/truncation settings as mutable state
            enc = self._tokenizer(
                batch,
                padding="max_length" if prep.pad_to_max else "longest",
                max_length=prep.max_length,
                truncation=True,
                return_tensors="np",
            )
        out = {"input_ids": np.asarray(enc["input_ids"], np.int64)}
        if prep.use_attention_mask:
            out["attention_mask"] = np.asarray(enc["attention_mask"], np.int64)
        return out

    def embed_texts(self, texts: Sequence[str]) -> FloatArray:
        """``(M, D)`` L2-normalised float32 embeddings of ``texts``."""
        if isinstance(texts, str):
            raise InvalidArgumentError("embed_texts takes a sequence of strings, got a single string")
        if len(texts) == 0:
            return np.zeros((0, self.dim), np.float32)
        torch = self._torch
        chunks = []
        with torch.inference_mode():
            for start in range(0, len(texts), self.text_batch_size):
                deadlines.check()
                enc = self.tokenize(texts[start : start + self.text_batch_size])
                out = self._model.get_text_features(**{k: torch.from_numpy(v) for k, v in enc.items()})
                feats = out.pooler_output if hasattr(out, "pooler_output") else out
                chunks.append(feats.float().numpy())
        return _unit_rows(np.concatenate(chunks, axis=0))

    # --- scores ---------------------------------------------------------------------------------------------------

    def logits(
        self, image_embeddings: npt.ArrayLike, text_embeddings: npt.ArrayLike
    ) -> npt.NDArray[np.float64]:
        """The model's native logits ``scale * cos + bias``: ``(N, D) x (M, D) -> (N, M)`` (or ``(D,)`` -> ``(M,)``)."""
        img = np.asarray(image_embeddings, np.float64)
        txt = np.asarray(text_embeddings, np.float64)
        return self.logit_scale * (img @ txt.T) + self.logit_bias

    # --- cached prompt embeddings -----------------------------------------------------------------------------------

    def prompt_key(self, labels: Sequence[str], templates: Sequence[str]) -> str:
        """What a set of prompt embeddings depends on: the weights, the revision, the texts and how they are tokenised."""
        revision = self.spec.source.revision if isinstance(self.spec.source, HubSource) else ""
        payload = {
            "weights": self.fingerprint,
            "revision": revision,
            "text": self.text_prep.key(),
            "templates": list(templates),
            "labels": hashlib.sha256("\n".join(labels).encode("utf-8")).hexdigest(),
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode("utf-8")).hexdigest()[:40]

    def prompt_embeddings(
        self,
        labels: Sequence[str],
        templates: Sequence[str] = ("a photo of a {}.",),
        *,
        embed_texts: Callable[[Sequence[str]], FloatArray] | None = None,
    ) -> FloatArray:
        """``(len(labels), D)``: each label's prompt embeddings averaged over ``templates`` and re-normalised.

        Cached in memory and in ``cache_dir/<key>.npy``; ``embed_texts`` (default :meth:`embed_texts`) is only called
        on a miss of both, which lets tests count the calls.
        """
        if not labels:
            raise InvalidArgumentError("prompt_embeddings needs at least one label")
        if not templates or any("{}" not in t for t in templates):
            raise InvalidArgumentError(f"each template needs one '{{}}' placeholder, got {list(templates)!r}")
        key = self.prompt_key(labels, templates)
        with self._prompt_lock:  # one computation per key, however many requests arrive during it
            cached = self._prompt_cache.get(key)
            if cached is not None:
                return cached
            expected = (len(labels), self.dim)
            file = self.cache_dir / f"{key}.npy" if self.cache_dir is not None else None
            array = read_npy(file, expected) if file is not None else None
            if array is None:
                embed = embed_texts or self.embed_texts
                log.info(
                    "embedding %d labels x %d templates with %s", len(labels), len(templates), self.spec.id
                )
                total = np.zeros(expected, np.float32)
                for template in templates:
                    total += embed([template.format(label) for label in labels])
                array = _unit_rows(total)
                if file is not None:
                    write_npy(file, array)
            array.setflags(write=False)
            self._prompt_cache[key] = array
            return array


if TYPE_CHECKING:  # mypy checks the adapter against its role's Protocol
    from imagelens.models.roles import ImageTextEmbedder

    _conforms: type[ImageTextEmbedder] = SiglipAdapter
