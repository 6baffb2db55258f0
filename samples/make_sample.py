"""Draw the sample image kept in the repository (samples/shop_receipt.png): a receipt beside a photo-like scene.

The project made it itself (no third-party content): text for OCR on the left, a bright subject on a textured
background on the right for smart crops. Run: python samples/make_sample.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

LINES = [
    ("IMAGELENS CORNER SHOP", 34),
    ("12 Harbour Road, Portsmouth", 24),
    ("Receipt 0042   2026-11-26 09:41", 24),
    ("", 10),
    ("Coffee beans 500g      8.50", 26),
    ("Oat milk 1L            2.10", 26),
    ("Sourdough bread        3.80", 26),
    ("Blueberries            4.25", 26),
    ("", 10),
    ("TOTAL                 18.65", 32),
    ("Paid by card. Thank you!", 24),
]


def make(path: Path) -> None:
    rng = np.random.default_rng(7)
    width, height = 1280, 720
    # textured, mostly dull background
    noise = rng.normal(0, 1, (height // 8, width // 8)).astype(np.float32)
    base = Image.fromarray(((noise - noise.min()) / np.ptp(noise) * 60 + 60).astype(np.uint8)).resize((width, height))
    img = Image.merge("RGB", (base, base.point(lambda v: v + 10), base.point(lambda v: v + 25)))
    img = img.filter(ImageFilter.GaussianBlur(3))
    draw = ImageDraw.Draw(img)
    # the receipt: white paper with black text
    draw.rectangle((40, 40, 600, 680), fill=(250, 250, 245))
    y = 70
    for text, size in LINES:
        font = ImageFont.load_default(size=size)
        if text:
            draw.text((70, y), text, fill=(15, 15, 15), font=font)
        y += int(size * 1.6)
    # the subject: a bright orange fruit with a highlight, right of centre
    cx, cy, r = 960, 400, 130
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(245, 140, 20))
    draw.ellipse((cx - 60, cy - 80, cx - 10, cy - 40), fill=(255, 210, 140))
    draw.rectangle((cx - 6, cy - r - 40, cx + 6, cy - r + 5), fill=(90, 60, 20))
    draw.ellipse((cx + 4, cy - r - 40, cx + 60, cy - r - 10), fill=(40, 150, 40))
    img.save(path, optimize=True)


if __name__ == "__main__":
    make(Path(__file__).with_name("shop_receipt.png"))
