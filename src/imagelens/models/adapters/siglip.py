"""Image-text embedding models (SigLIP 2 by default; SigLIP and CLIP too) through transformers.

One adapter serves three checkpoint families, told apart by ``config.json``'s ``model_type``:

- ``siglip``: SigLIP and the fixed-resolution SigLIP 2 checkpoints (``google/siglip2-base-patch16-224`` is a
  ``SiglipModel`` with a Gemma tokenizer). Images are squashed to the configured square (no crop).
- ``siglip2``: SigLIP 2 NaFlex (``Siglip2Model``): the image keeps its aspect ratio, cut into at most
  ``max_num_patches`` patches, padded and masked.
- ``clip``: CLIP (shortest edge resized, centre crop). CLIP has no logit bias and was trained with a softmax, so its
  ``sigmoid(scale * cos)`` is not a probability until calibrated.

Text follows how SigLIP was trained (big_vision): lower-cased (SigLIP 2), tokenised with the checkpoint's
tokenizer (which appends EOS), padded to the text model's full length (64) and run **without** an attention mask,
the model pooling the last position. CLIP pads to the longest text and uses its mask.

Image preprocessing is a few lines of Pillow/numpy reading ``preprocessor_config.json`` (a test checks it against
transformers' ``*ImageProcessorPil`` classes), so no torchvision. ``embed_images`` / ``embed_texts`` return
L2-normalised float32 rows; ``logit_scale`` (already exponentiated) and ``logit_bias`` turn a cosine into the model's
native multi-label logit ``scale * cos + bias``.

Prompt embeddings for a tag vocabulary (thousands of texts: minutes of CPU for a base model) are computed once per
(weights, labels, templates, text settings) and cached in memory and on disk as ``.npy`` next to the model
(:meth:`SiglipAdapter.prompt_embeddings`), so a restart reads them back in milliseconds.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Self

import numpy as np
import numpy.typing as npt

from imagelens.errors import InvalidArgumentError, ModelUnavailableError
from imagelens.models.adapters.base import mark_tiny
from imagelens.models.adapters.tiny_tokenizers import byte_level_clip_tokenizer
from imagelens.models.spec import HubSource, ModelSpec

log = logging.getLogger(__name__)

Family = Literal["siglip", "siglip2", "clip"]
FAMILIES: tuple[Family, ...] = ("siglip", "siglip2", "clip")
FloatArray = npt.NDArray[np.float32]
UInt8Image = npt.NDArray[np.uint8]

PREPROCESSOR_FILE = "preprocessor_config.json"
WEIGHT_SUFFIXES = (".safetensors", ".bin")
TEXT_CACHE_FOLDER = "text_embeddings"


# --- preprocessing ----------------------------------------------------------------------------------------------


def naflex_size(height: int, width: int, patch_size: int, max_num_patches: int) -> tuple[int, int]:
    """The largest ``(height, width)``, multiples of ``patch_size``, near the image's aspect ratio, with at most
    ``max_num_patches`` patches: the size SigLIP 2 NaFlex resizes to (transformers' own search, imported so the two
    can never disagree)."""
    from transformers.models.siglip2.image_processing_pil_siglip2 import get_image_size_for_max_num_patches

    h, w = get_image_size_for_max_num_patches(height, width, patch_size, max_num_patches)
    return int(h), int(w)


@dataclass(frozen=True, slots=True)
class ImagePrep:
    """What ``preprocessor_config.json`` says, for the three families."""

    family: Family
    size: tuple[int, int] | None = None  # (height, width) squash resize (siglip)
    shortest_edge: int | None = None  # (clip)
    crop: tuple[int, int] | None = None  # (height, width) centre crop (clip)
    resample: int = 2  # PIL code: 2 bilinear, 3 bicubic
    rescale: float = 1.0 / 255.0
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    patch_size: int | None = None  # (siglip2)
    max_num_patches: int | None = None  # (siglip2)

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], family: Family) -> ImagePrep:
        def triple(key: str, default: tuple[float, float, float]) -> tuple[float, float, float]:
            value = cfg.get(key, default)
            if isinstance(value, (int, float)):
                value = [value] * 3
            if len(value) != 3:
                raise ValueError(f"{key} must have 3 values, got {value!r}")
            return (float(value[0]), float(value[1]), float(value[2]))

        common: dict[str, Any] = {
            "resample": int(cfg.get("resample", 2)),
            "rescale": float(cfg.get("rescale_factor", 1.0 / 255.0)) if cfg.get("do_rescale", True) else 1.0,
            "mean": triple("image_mean", (0.5, 0.5, 0.5))
            if cfg.get("do_normalize", True)
            else (0.0, 0.0, 0.0),
            "std": triple("image_std", (0.5, 0.5, 0.5)) if cfg.get("do_normalize", True) else (1.0, 1.0, 1.0),
        }
        size = cfg.get("size") or {}
        if family == "siglip2":
            return cls(
                family,
                patch_size=int(cfg.get("patch_size", 16)),
                max_num_patches=int(cfg.get("max_num_patches", 256)),
                **common,
            )
        if family == "clip":
            crop = cfg.get("crop_size") or {}
            edge = size.get("shortest_edge") if isinstance(size, Mapping) else int(size)
            return cls(
                family,
                shortest_edge=int(edge) if edge else None,
                size=(int(size["height"]), int(size["width"])) if "height" in size else None,
                crop=(int(crop["height"]), int(crop["width"]))
                if cfg.get("do_center_crop", True) and crop
                else None,
                **common,
            )
        if "height" not in size:
            raise ValueError(f"a SigLIP preprocessor needs size.height/width, got {size!r}")
        return cls(family, size=(int(size["height"]), int(size["width"])), **common)

    def _normalise(self, pixels: UInt8Image) -> FloatArray:
        """``(H, W, 3)`` uint8 -> ``(3, H, W)`` float32, rescaled and normalised."""
        scaled = pixels.astype(np.float32)
        scaled *= np.float32(self.rescale)
        scaled -= np.asarray(self.mean, np.float32)
        scaled /= np.asarray(self.std, np.float32)
        return np.ascontiguousarray(scaled.transpose(2, 0, 1))

    def __call__(self, rgb: UInt8Image) -> dict[str, np.ndarray]:
        """One image's model inputs, without the batch axis."""
        from PIL import Image

        image = Image.fromarray(rgb, "RGB")
        if self.family == "siglip2":
            assert self.patch_size is not None and self.max_num_patches is not None
            p = self.patch_size
            h, w = naflex_size(image.height, image.width, p, self.max_num_patches)
            x = self._normalise(np.asarray(image.resize((w, h), resample=self.resample)))
            nh, nw = h // p, w // p
            patches = x.reshape(3, nh, p, nw, p).transpose(1, 3, 2, 4, 0).reshape(nh * nw, p * p * 3)
            padded = np.zeros((self.max_num_patches, p * p * 3), np.float32)
            padded[: nh * nw] = patches
            mask = np.zeros(self.max_num_patches, np.int64)
            mask[: nh * nw] = 1
            return {
                "pixel_values": padded,
                "pixel_attention_mask": mask,
                "spatial_shapes": np.asarray([nh, nw], np.int64),
            }
        if self.shortest_edge is not None:
            short, long = min(image.size), max(image.size)
            new_long = int(self.shortest_edge * long / short)
            w, h = (
                (self.shortest_edge, new_long)
                if image.width <= image.height
                else (new_long, self.shortest_edge)
            )
            image = image.resize((w, h), resample=self.resample)
        elif self.size is not None:
            image = image.resize((self.size[1], self.size[0]), resample=self.resample)
        arr = np.asarray(image)
        if self.crop is not None:
            ch, cw = self.crop
            top, left = max((arr.shape[0] - ch) // 2, 0), max((arr.shape[1] - cw) // 2, 0)
            arr = arr[top : top + ch, left : left + cw]
        return {"pixel_values": self._normalise(arr)}


@dataclass(frozen=True, slots=True)
class TextPrep:
    """How texts become token ids for this family (see the module docstring)."""

    max_length: int
    pad_to_max: bool
    lowercase: bool
    use_attention_mask: bool

    def key(self) -> dict[str, Any]:
        return {
            "max_length": self.max_length,
            "pad": self.pad_to_max,
            "lower": self.lowercase,
            "mask": self.use_attention_mask,
        }


# --- the adapter --------------------------------------------------------------------------------------------------


def _check_images(images: Sequence[Any]) -> list[UInt8Image]:
    out = []
    for i, img in enumerate(images):
        arr = np.asarray(img)
        if (
            arr.dtype != np.uint8
            or arr.ndim != 3
            or arr.shape[2] != 3
            or arr.shape[0] < 1
            or arr.shape[1] < 1
        ):
            raise InvalidArgumentError(
                f"image {i} must be a (height, width, 3) uint8 RGB array, got shape {arr.shape} dtype {arr.dtype}"
            )
        out.append(np.ascontiguousarray(arr))
    return out


def _weights_fingerprint(path: Path) -> str:
    """Identifies the weights without reading a 1.5 GB file: config, and each weight file's size, head and tail."""
    h = hashlib.sha256()
    config = path / "config.json"
    if config.is_file():
        h.update(config.read_bytes())
    for file in sorted(p for p in path.iterdir() if p.suffix in WEIGHT_SUFFIXES):
        size = file.stat().st_size
        h.update(f"{file.name}:{size}".encode())
        with file.open("rb") as fh:
            h.update(fh.read(1 << 20))
            if size > 2 << 20:
                fh.seek(-(1 << 20), os.SEEK_END)
                h.update(fh.read(1 << 20))
    return h.hexdigest()


def _default_cache_dir(path: Path, spec: ModelSpec) -> Path:
    """``<model folder>/text_embeddings`` for a folder we own; the user cache for a Hugging Face cache snapshot
    (whose folders belong to huggingface_hub) or a read-only folder."""
    if path.parent.name != "snapshots" and os.access(path, os.W_OK):
        return path / TEXT_CACHE_FOLDER
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "imagelens" / TEXT_CACHE_FOLDER / spec.id


class SiglipAdapter:
    """A loaded image-text embedding model. Thread-safe: torch modules are read-only after loading; the tokenizer
    (whose padding settings are mutable state) and the prompt cache are guarded by locks."""

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
    ) -> None:
        import torch

        self.spec = spec
        self.family: Family = family
        self.image_prep = image_prep
        self.text_prep = text_prep
        self.path = path
        self.cache_dir = cache_dir
        self.fingerprint = fingerprint
        self._model = model
        self._tokenizer = tokenizer
        self._torch = torch
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
        cache_dir = Path(cache).expanduser() if cache else _default_cache_dir(root, spec)
        return cls(
            spec,
            model,
            tokenizer,
            family,
            ImagePrep.from_config(prep_cfg, family),
            text_prep,
            path=root,
            cache_dir=cache_dir,
            fingerprint=_weights_fingerprint(root),
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
        return [self.image_prep(img) for img in _check_images(images)]

    def forward_images(self, inputs: Sequence[Mapping[str, np.ndarray]]) -> FloatArray:
        """Stacked inputs -> raw (unnormalised) image features, in batches."""
        torch = self._torch
        chunks = []
        with torch.inference_mode():
            for start in range(0, len(inputs), self.image_batch_size):
                batch = inputs[start : start + self.image_batch_size]
                tensors = {k: torch.from_numpy(np.stack([b[k] for b in batch])) for k in batch[0]}
                out = self._model.get_image_features(**tensors)
                feats = out.pooler_output if hasattr(out, "pooler_output") else out
                chunks.append(feats.float().numpy())
        return np.concatenate(chunks, axis=0)

    def embed_images(self, images: Sequence[UInt8Image]) -> FloatArray:
        """``(N, D)`` L2-normalised float32 embeddings of uint8 RGB ``(H, W, 3)`` images (upright, original pixels)."""
        if len(images) == 0:
            return np.zeros((0, self.dim), np.float32)
        return _l2_normalise(self.forward_images(self.preprocess_images(images)))

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
                enc = self.tokenize(texts[start : start + self.text_batch_size])
                out = self._model.get_text_features(**{k: torch.from_numpy(v) for k, v in enc.items()})
                feats = out.pooler_output if hasattr(out, "pooler_output") else out
                chunks.append(feats.float().numpy())
        return _l2_normalise(np.concatenate(chunks, axis=0))

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
            array = _read_npy(file, expected) if file is not None else None
            if array is None:
                embed = embed_texts or self.embed_texts
                log.info(
                    "embedding %d labels x %d templates with %s", len(labels), len(templates), self.spec.id
                )
                total = np.zeros(expected, np.float32)
                for template in templates:
                    total += embed([template.format(label) for label in labels])
                array = _l2_normalise(total)
                if file is not None:
                    _write_npy(file, array)
            array.setflags(write=False)
            self._prompt_cache[key] = array
            return array

    # --- tiny model -----------------------------------------------------------------------------------------------

    @classmethod
    def write_tiny(cls, path: Path, spec: ModelSpec, seed: int = 0) -> None:
        """A random-weight model of ``spec.options["family"]`` (default ``siglip``, as SigLIP 2 fixed-resolution
        checkpoints) in the Hugging Face layout :meth:`load` reads, with a tokenizer built in code."""
        family = spec.options.get("family", "siglip")
        if family not in FAMILIES:
            raise InvalidArgumentError(f"family must be one of {', '.join(FAMILIES)}, got {family!r}")
        write_tiny_model(Path(path), family, seed)
        mark_tiny(Path(path), spec, seed)


def _l2_normalise(x: npt.ArrayLike) -> FloatArray:
    arr = np.asarray(x, np.float32)
    norms = np.linalg.norm(arr, axis=-1, keepdims=True)
    return (arr / np.maximum(norms, np.float32(1e-12))).astype(np.float32)


def _read_npy(file: Path, shape: tuple[int, int]) -> FloatArray | None:
    if not file.is_file():
        return None
    try:
        array = np.load(file, allow_pickle=False)
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable text-embedding cache %s: %s", file, exc)
        return None
    if array.shape != shape or array.dtype != np.float32 or not np.all(np.isfinite(array)):
        log.warning(
            "ignoring text-embedding cache %s: shape %s dtype %s, expected %s",
            file,
            array.shape,
            array.dtype,
            shape,
        )
        return None
    return np.asarray(array)


def _write_npy(file: Path, array: FloatArray) -> None:
    """Write atomically (temp file + rename), so a crash or a concurrent reader never sees half a file.
    A cache that cannot be written is a slower restart, not an error."""
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=file.stem, suffix=".tmp", dir=file.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                np.save(fh, array, allow_pickle=False)
            os.replace(tmp, file)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        log.warning("could not write the text-embedding cache %s: %s", file, exc)


# --- tiny random models -------------------------------------------------------------------------------------------

_TINY_WIDTH = 32
_TINY_TEXT_LENGTH = 48  # the longest RAM prompt is 42 characters + EOS: nothing is truncated


def _gemma_tokenizer() -> Any:
    """A Gemma-style tokenizer (as SigLIP 2's): specials, the 256 byte-fallback symbols, a few characters; no merges.
    Adds EOS and no BOS, pads on the right with id 0: how SigLIP 2 was trained."""
    from transformers import GemmaTokenizer

    vocab = {"<pad>": 0, "<eos>": 1, "<bos>": 2, "<unk>": 3, "<mask>": 4}
    for b in range(256):
        vocab[f"<0x{b:02X}>"] = len(vocab)
    for ch in "▁abcdefghijklmnopqrstuvwxyz0123456789.,'-":
        vocab.setdefault(ch, len(vocab))
    return GemmaTokenizer(
        vocab=vocab, merges=[], add_bos_token=False, add_eos_token=True, padding_side="right"
    )


def write_tiny_model(path: Path, family: Family, seed: int = 0) -> None:
    """Write config, random weights, tokenizer and preprocessor config of a tiny ``family`` model to ``path``."""
    import torch

    path.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    block = {
        "hidden_size": _TINY_WIDTH,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
    }
    if family == "clip":
        from transformers import CLIPConfig, CLIPModel
        from transformers.models.clip import CLIPImageProcessorPil

        tokenizer = byte_level_clip_tokenizer()
        bos, eos = tokenizer.convert_tokens_to_ids(["<|startoftext|>", "<|endoftext|>"])
        config: Any = CLIPConfig(
            text_config={**block, "vocab_size": len(tokenizer), "max_position_embeddings": _TINY_TEXT_LENGTH,
                         "bos_token_id": bos, "eos_token_id": eos, "pad_token_id": eos},
            vision_config={**block, "image_size": 32, "patch_size": 8},
            projection_dim=_TINY_WIDTH,
        )  # fmt: skip
        model: Any = CLIPModel(config)
        processor: Any = CLIPImageProcessorPil(
            size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
        )
    else:
        tokenizer = _gemma_tokenizer()
        text = {**block, "vocab_size": len(tokenizer), "max_position_embeddings": _TINY_TEXT_LENGTH,
                "projection_size": _TINY_WIDTH, "pad_token_id": 0, "eos_token_id": 1, "bos_token_id": 2}  # fmt: skip
        if family == "siglip2":
            from transformers import Siglip2Config, Siglip2Model
            from transformers.models.siglip2 import Siglip2ImageProcessorPil

            config = Siglip2Config(
                text_config=text, vision_config={**block, "patch_size": 8, "num_patches": 16}
            )
            model = Siglip2Model(config)
            processor = Siglip2ImageProcessorPil(patch_size=8, max_num_patches=16)
        else:
            from transformers import SiglipConfig, SiglipModel
            from transformers.models.siglip import SiglipImageProcessorPil

            config = SiglipConfig(
                text_config=text, vision_config={**block, "image_size": 32, "patch_size": 8}
            )
            model = SiglipModel(config)
            # SigLIP 2's fixed-resolution checkpoints squash with bilinear resampling (resample=2)
            processor = SiglipImageProcessorPil(size={"height": 32, "width": 32}, resample=2)
    model.eval().save_pretrained(path)
    tokenizer.save_pretrained(path)
    processor.save_pretrained(path)
