"""SigLIP / SigLIP 2 / CLIP inputs: images from ``preprocessor_config.json`` (Pillow and numpy, no torchvision)
and how texts are tokenised per family."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from imagelens.errors import InvalidArgumentError

Family = Literal["siglip", "siglip2", "clip"]
FAMILIES: tuple[Family, ...] = ("siglip", "siglip2", "clip")
FloatArray = npt.NDArray[np.float32]
UInt8Image = npt.NDArray[np.uint8]

PREPROCESSOR_FILE = "preprocessor_config.json"


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


def check_images(images: Sequence[Any]) -> list[UInt8Image]:
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
