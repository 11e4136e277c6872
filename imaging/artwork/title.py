"""Title overlays: the largest legible title in the least busy place that covers no face.

Font: Pillow's bundled scalable font (`ImageFont.load_default(size=...)`, FreeType, Pillow >= 10.1),
so nothing is downloaded and every platform renders the same glyphs.

Placement: candidate regions are the top, middle and bottom bands (and on landscape images also
their left and right halves). In each region the title is word-wrapped (up to `MAX_LINES` lines,
never breaking a word, never clipped) at the largest size that fits without its box (text,
stroke, shadow and scrim padding) touching a face. Regions are scored first by how much salient
content (spectral residual, `imaging.analysis.saliency`) the box would hide, read on the whole
source picture's map when the caller has it (a crop's own map, zoomed in, loses a person standing in
it), then by edge density under the box (busy backgrounds hurt legibility, but a scrim fixes that),
by head-room (the top band costs a little more: heads sit there, and profile faces escape the
frontal cascade), and by how much smaller than the best size the text had to get. The box never covers more than MAX_AREA of the image; the middle band and boxes on the
salient subject (MAX_SUBJECT_DENSITY) are a last resort. White text with a dark stroke and soft shadow; a translucent dark scrim when the background
is bright, has bright patches (90th percentile luma > 150) or is busy. A title that fits nowhere
raises ImagingError (one line for the CLI).
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple, Sequence

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from imaging.analysis.faces import Box
from imaging.analysis.saliency import spectral_residual_saliency
from imaging.errors import ImagingError

MAX_LINES = 3
MIN_SIZE_FRACTION = 0.035  # smallest legible text: 3.5% of the shorter side (and >= 10 px)
MAX_SIZE_FRACTION = 0.16
FACE_MARGIN = 0.08  # keep this share of a face's size clear around it
MAX_AREA = 0.12  # the title's box (plate included) covers at most this share of the image
# salient mass under the box over its area share above which the box sits on the subject (refused
# while another region takes the title)
MAX_SUBJECT_DENSITY = 2.0
# The cost of a place: what it hides of the subject (salient mass over area share, 1 = average,
# full cost at SUBJECT_SCALE) outweighs a busy background (Canny edge share x4), which the scrim
# makes legible anyway; hiding a head cannot be fixed by a scrim.
SUBJECT_SCALE = 2.0
BUSY_WEIGHT = 0.5
# Head-room: people's heads (profile faces the cascade misses, helmets, hair) sit at the top of a
# picture, so of two places that hide about as much, the top one costs this much more.
TOP_COST = 0.1


class TitleLayout(NamedTuple):
    text: str  # with line breaks
    size: int
    box: tuple[int, int, int, int]  # everything drawn (text, stroke, shadow, scrim pad), image pixels
    origin: tuple[int, int]  # where multiline_text is drawn
    align: str


@functools.lru_cache(maxsize=256)
def _font(size: int) -> ImageFont.FreeTypeFont:
    font = ImageFont.load_default(size=size)
    if not isinstance(font, ImageFont.FreeTypeFont):
        raise ImagingError("this Pillow has no FreeType support, so titles cannot be rendered")
    return font


def _stroke(size: int) -> int:
    return max(1, round(size / 18))


def _wrap(words: list[str], font: ImageFont.FreeTypeFont, width: float, stroke: int) -> list[str] | None:
    lines: list[str] = []
    for word in words:
        trial = f"{lines[-1]} {word}" if lines else word
        if lines and font.getlength(trial) + 2 * stroke <= width:
            lines[-1] = trial
        elif font.getlength(word) + 2 * stroke <= width:
            lines.append(word)
        else:
            return None
    return lines if len(lines) <= MAX_LINES else None


def _regions(W: int, H: int) -> list[tuple[str, tuple[int, int, int, int]]]:
    m = max(2, round(0.04 * min(W, H)))
    band = round(0.32 * H)
    bands = {
        "top": (m, m + band),
        "bottom": (H - m - band, H - m),
        "middle": ((H - band) // 2, (H + band) // 2),
    }
    out = [(name, (m, y0, W - m, y1)) for name, (y0, y1) in bands.items()]
    if W > 1.2 * H:
        for name, (y0, y1) in bands.items():
            out.append((f"{name}-left", (m, y0, W // 2 - m // 2, y1)))
            out.append((f"{name}-right", (W // 2 + m // 2, y0, W - m, y1)))
    return out


def _overlaps(box: tuple[int, int, int, int], faces: Sequence[Box]) -> bool:
    x0, y0, x1, y1 = box
    for f in faces:
        pad = FACE_MARGIN * max(f.w, f.h)
        if x0 < f.x + f.w + pad and x1 > f.x - pad and y0 < f.y + f.h + pad and y1 > f.y - pad:
            return True
    return False


def _layout_in(
    region_name: str,
    region: tuple[int, int, int, int],
    words: list[str],
    size: int,
    faces: Sequence[Box],
    W: int,
    H: int,
) -> TitleLayout | None:
    rx0, ry0, rx1, ry1 = region
    font = _font(size)
    stroke = _stroke(size)
    pad = round(0.3 * size)
    lines = _wrap(words, font, rx1 - rx0 - 2 * pad, stroke)
    if lines is None:
        return None
    text = "\n".join(lines)
    spacing = round(0.2 * size)
    probe = ImageDraw.Draw(Image.new("L", (1, 1)))
    align = "left" if region_name.endswith("-left") else "right" if region_name.endswith("-right") else "center"
    tx0, ty0, tx1, ty1 = probe.multiline_textbbox(
        (0, 0), text, font=font, spacing=spacing, align=align, stroke_width=stroke
    )
    tw, th = math.ceil(tx1 - tx0), math.ceil(ty1 - ty0)
    bw, bh = tw + 2 * pad, th + 2 * pad
    if bw > rx1 - rx0 or bh > ry1 - ry0 or bw * bh > MAX_AREA * W * H:
        return None
    if align == "left":
        bx0 = rx0
    elif align == "right":
        bx0 = rx1 - bw
    else:
        bx0 = rx0 + (rx1 - rx0 - bw) // 2
    if region_name.startswith("top"):
        by0 = ry0
    elif region_name.startswith("bottom"):
        by0 = ry1 - bh
    else:
        by0 = ry0 + (ry1 - ry0 - bh) // 2
    box = (int(bx0), int(by0), int(bx0 + bw), int(by0 + bh))
    if box[0] < 0 or box[1] < 0 or box[2] > W or box[3] > H or _overlaps(box, faces):
        return None
    return TitleLayout(text, size, box, (int(bx0 + pad - tx0), int(by0 + pad - ty0)), align)


def place_title(
    rgb: np.ndarray, title: str, faces: Sequence[Box] = (), saliency: np.ndarray | None = None
) -> TitleLayout:
    """Choose size, wrapping and position for `title` on `rgb` (see the module docstring).

    `saliency`: a map of `rgb` (any resolution, sums to 1), e.g. `crop_saliency` of the source
    picture's map; without it the map of `rgb` itself is used."""
    words = title.split()
    if not words:
        raise ImagingError("--title is empty")
    H, W = rgb.shape[:2]
    faces = [Box(*f) for f in faces]
    min_size = max(10, round(MIN_SIZE_FRACTION * min(W, H)))
    max_size = max(min_size, round(MAX_SIZE_FRACTION * min(W, H)))
    sizes = []
    s = float(max_size)
    while s >= min_size:
        sizes.append(int(round(s)))
        s *= 0.9
    if sizes[-1] != min_size:
        sizes.append(min_size)
    edges = cv2.Canny(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), 100, 200)
    integral = cv2.integral((edges > 0).astype(np.uint8))
    if saliency is None:
        saliency = spectral_residual_saliency(rgb)  # sums to 1 over the image
    sal_integral = cv2.integral(saliency.astype(np.float64))
    sh, sw = saliency.shape
    found: list[tuple[TitleLayout, float, str, float]] = []
    for name, region in _regions(W, H):
        for size in sizes:
            lay = _layout_in(name, region, words, size, faces, W, H)
            if lay is not None:
                x0, y0, x1, y1 = lay.box
                n = integral[y1, x1] - integral[y0, x1] - integral[y1, x0] + integral[y0, x0]
                busy = min(1.0, 4.0 * float(n) / max(1, (x1 - x0) * (y1 - y0)))
                # Covering the salient subject is as bad as a busy background: salient mass in
                # the box relative to its area share (1 = average, 3+ = on the subject).
                sx0, sx1 = round(x0 * sw / W), max(round(x0 * sw / W) + 1, round(x1 * sw / W))
                sy0, sy1 = round(y0 * sh / H), max(round(y0 * sh / H) + 1, round(y1 * sh / H))
                mass = sal_integral[sy1, sx1] - sal_integral[sy0, sx1] - sal_integral[sy1, sx0] + sal_integral[sy0, sx0]
                share = (sx1 - sx0) * (sy1 - sy0) / float(sw * sh)
                density = float(mass) / share
                cost = (
                    BUSY_WEIGHT * busy
                    + min(1.0, density / SUBJECT_SCALE)
                    + (TOP_COST if name.startswith("top") else 0.0)
                )
                found.append((lay, cost, name, density))
                break
    if not found:
        raise ImagingError(
            f"title {title!r} cannot fit on a {W}x{H} variant (at >= {min_size} px, <= {MAX_LINES} lines, "
            "without covering a face); shorten it or use a wider aspect"
        )
    # Posters put the title above or below the subject: the middle band (where subjects stand)
    # and boxes on the salient subject are used only when nothing else takes the title.
    for keep in (
        lambda n, d: not n.startswith("middle") and d <= MAX_SUBJECT_DENSITY,
        lambda n, d: d <= MAX_SUBJECT_DENSITY,
        lambda n, d: True,
    ):
        pool = [(lay, cost) for lay, cost, name, density in found if keep(name, density)]
        if pool:
            break
    best = max(lay.size for lay, _ in pool)
    # Size matters most: a tiny title in a clean corner reads worse than a big one on a calm band.
    scored = [(cost + 1.5 * (1.0 - lay.size / best), i) for i, (lay, cost) in enumerate(pool)]
    return pool[min(scored)[1]][0]


def render_title(
    rgb: np.ndarray, title: str, faces: Sequence[Box] = (), saliency: np.ndarray | None = None
) -> tuple[np.ndarray, TitleLayout]:
    """`rgb` with the title drawn on it (a new array) and the layout used.

    All drawing happens on the layout's box alone (cheap, and nothing can spill outside it).
    """
    lay = place_title(rgb, title, faces, saliency)
    x0, y0, x1, y1 = lay.box
    patch = Image.fromarray(np.ascontiguousarray(rgb[y0:y1, x0:x1])).convert("RGBA")
    gray = np.asarray(patch.convert("L"))
    # White text needs help on a bright or busy background, or where any sizeable bright patch
    # (a lamp, the moon, a white shirt) sits under some of the letters.
    needs_scrim = (
        gray.mean() > 110 or float(np.percentile(gray, 90)) > 150 or (cv2.Canny(gray, 100, 200) > 0).mean() > 0.06
    )
    font = _font(lay.size)
    stroke = _stroke(lay.size)
    spacing = round(0.2 * lay.size)
    ox, oy = lay.origin[0] - x0, lay.origin[1] - y0
    overlay = Image.new("RGBA", patch.size, (0, 0, 0, 0))
    if needs_scrim:
        ImageDraw.Draw(overlay).rounded_rectangle(
            (0, 0, patch.width - 1, patch.height - 1), radius=max(2, lay.size // 4), fill=(0, 0, 0, 150)
        )
    shadow = Image.new("RGBA", patch.size, (0, 0, 0, 0))
    off = max(1, lay.size // 20)
    ImageDraw.Draw(shadow).multiline_text(
        (ox + off, oy + off),
        lay.text,
        font=font,
        fill=(0, 0, 0, 170),
        spacing=spacing,
        align=lay.align,
        stroke_width=stroke,
        stroke_fill=(0, 0, 0, 170),
    )
    shadow = shadow.filter(ImageFilter.GaussianBlur(max(1, lay.size // 16)))
    overlay = Image.alpha_composite(overlay, shadow)
    ImageDraw.Draw(overlay).multiline_text(
        (ox, oy),
        lay.text,
        font=font,
        fill=(248, 248, 248, 255),
        spacing=spacing,
        align=lay.align,
        stroke_width=stroke,
        stroke_fill=(16, 16, 16, 255),
    )
    out = rgb.copy()
    out[y0:y1, x0:x1] = np.asarray(Image.alpha_composite(patch, overlay).convert("RGB"))
    return out, lay
