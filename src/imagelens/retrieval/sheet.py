"""A contact sheet of search hits: thumbnails in a grid, each captioned with its rank and relevance."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from imagelens.retrieval.base import Hit

CELL = 192
CAPTION = 28


def contact_sheet(hits: Sequence[Hit], out: Path, title: str = "", columns: int = 5) -> Path:
    """Write a PNG grid of the hits' images (a grey tile where a source can no longer be read)."""
    from PIL import Image, ImageDraw, ImageOps

    columns = max(1, min(columns, len(hits) or 1))
    rows = max(1, -(-len(hits) // columns))
    head = 24 if title else 0
    sheet = Image.new("RGB", (columns * CELL, head + rows * (CELL + CAPTION)), "white")
    draw = ImageDraw.Draw(sheet)
    if title:
        draw.text((6, 6), title[:120], fill="black")
    for n, hit in enumerate(hits):
        x, y = (n % columns) * CELL, head + (n // columns) * (CELL + CAPTION)
        source = hit.metadata.get("uri") or hit.document_id
        try:
            with Image.open(source) as im:
                tile = ImageOps.contain(ImageOps.exif_transpose(im).convert("RGB"), (CELL - 8, CELL - 8))
        except Exception:
            tile = Image.new("RGB", (CELL - 8, CELL - 8), (200, 200, 200))
        sheet.paste(tile, (x + (CELL - tile.width) // 2, y + (CELL - tile.height) // 2))
        name = Path(str(source)).name[:26]
        draw.text((x + 4, y + CELL), f"#{n + 1} {hit.relevance:.3f} {name}", fill="black")
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out, format="PNG")
    return out
