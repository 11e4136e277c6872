"""Tile images into one captioned sheet (contact sheets of candidates, grids of variants)."""

from __future__ import annotations

import math
from typing import Sequence

from PIL import Image, ImageDraw, ImageFont


def tile_images(
    images: Sequence[Image.Image],
    captions: Sequence[str],
    *,
    cell: int = 320,
    columns: int | None = None,
    background: tuple[int, int, int] = (24, 24, 24),
) -> Image.Image:
    """Fit every image (aspect kept) into a `cell`-wide box with its caption underneath.

    Rows are as tall as the tallest fitted image (at most `cell`), so a sheet of landscape frames
    has no empty bands; mixed aspect ratios are centred in their cells.
    """
    if not images:
        raise ValueError("no images to tile")
    n = len(images)
    cols = columns or min(n, max(1, math.ceil(math.sqrt(n * 1.5))))
    rows = math.ceil(n / cols)
    font = ImageFont.load_default(size=max(12, cell // 20))
    caption_h = int(getattr(font, "size", max(12, cell // 20)) * 1.6)  # a bitmap font has no size
    pad = max(4, cell // 40)
    cell_h = max(min(cell, round(cell * im.height / im.width)) if im.width else cell for im in images)
    sheet = Image.new("RGB", (cols * (cell + pad) + pad, rows * (cell_h + caption_h + pad) + pad), background)
    draw = ImageDraw.Draw(sheet)
    for i, (img, caption) in enumerate(zip(images, captions)):
        r, c = divmod(i, cols)
        x0 = pad + c * (cell + pad)
        y0 = pad + r * (cell_h + caption_h + pad)
        thumb = img.convert("RGB").copy()
        thumb.thumbnail((cell, cell_h), Image.Resampling.LANCZOS)
        sheet.paste(thumb, (x0 + (cell - thumb.width) // 2, y0 + (cell_h - thumb.height) // 2))
        draw.text((x0 + cell // 2, y0 + cell_h + caption_h // 2), caption, fill=(235, 235, 235), font=font, anchor="mm")
    return sheet
