"""A before/after frame strip of a detailed region: the same crop of a few frames, input above, output below.

Plain numpy and Pillow. ``tools/run_example.py`` writes one after every run; the README's strip
is made by it.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw

LABEL_WIDTH = 64
GAP = 4
BACKGROUND = (24, 24, 24)
TEXT = (230, 230, 230)


def as_uint8_frames(frames) -> np.ndarray:
    """IMAGE ``[frames, height, width, 3]`` (torch or numpy, float 0..1 or uint8) as uint8 numpy."""
    array = frames.detach().cpu().numpy() if hasattr(frames, "detach") else np.asarray(frames)
    if array.ndim != 4 or array.shape[-1] != 3:
        raise ValueError(f"frames must be [frames, height, width, 3], got shape {tuple(array.shape)}")
    if array.dtype != np.uint8:
        array = np.clip(np.rint(array.astype(np.float32) * 255.0), 0, 255).astype(np.uint8)
    return array


def pick_frames(count: int, wanted: int) -> list[int]:
    """``wanted`` frame indices spread evenly over ``count`` frames, first and last included."""
    if count < 1:
        raise ValueError("no frames")
    wanted = max(1, min(wanted, count))
    if wanted == 1:
        return [0]
    return sorted({round(i * (count - 1) / (wanted - 1)) for i in range(wanted)})


def before_after_strip(before, after, region: Sequence[int], columns: int = 6, tile_height: int = 128,
                       labels: tuple[str, str] = ("before", "after")) -> Image.Image:
    """Two rows of ``columns`` tiles: ``region`` ``(x1, y1, x2, y2)`` in pixels cut from the same
    frames of ``before`` (top) and ``after`` (bottom), scaled with nearest neighbour to
    ``tile_height`` pixels so single pixels stay visible."""
    before, after = as_uint8_frames(before), as_uint8_frames(after)
    if before.shape != after.shape:
        raise ValueError(f"before {before.shape} and after {after.shape} must have the same shape")
    height, width = before.shape[1:3]
    x1, y1, x2, y2 = (int(v) for v in region)
    x1, y1, x2, y2 = max(0, x1), max(0, y1), min(width, x2), min(height, y2)
    if x2 <= x1 or y2 <= y1:
        raise ValueError(f"region {tuple(region)} is empty inside {width}x{height} frames")
    tile_width = max(1, round((x2 - x1) * tile_height / (y2 - y1)))
    indices = pick_frames(before.shape[0], columns)
    strip = Image.new("RGB", (LABEL_WIDTH + len(indices) * (tile_width + GAP), 2 * (tile_height + GAP) + 18),
                      BACKGROUND)
    draw = ImageDraw.Draw(strip)
    for row, (frames, label) in enumerate(zip((before, after), labels)):
        top = row * (tile_height + GAP)
        draw.text((6, top + tile_height // 2 - 6), label, fill=TEXT)
        for column, index in enumerate(indices):
            tile = Image.fromarray(frames[index, y1:y2, x1:x2]).resize((tile_width, tile_height), Image.NEAREST)
            strip.paste(tile, (LABEL_WIDTH + column * (tile_width + GAP), top))
    for column, index in enumerate(indices):
        draw.text((LABEL_WIDTH + column * (tile_width + GAP) + 2, 2 * (tile_height + GAP) + 2), f"frame {index}",
                  fill=TEXT)
    return strip


def segs_region(segs, pad: int = 0) -> tuple[int, int, int, int]:
    """The union of the SEGS' crop regions ``(x1, y1, x2, y2)``, grown by ``pad`` pixels."""
    (height, width), items = segs
    if not items:
        raise ValueError("the SEGS are empty: nothing was detailed")
    boxes = np.array([[int(v) for v in seg.crop_region] for seg in items])
    x1, y1 = boxes[:, :2].min(axis=0) - pad
    x2, y2 = boxes[:, 2:].max(axis=0) + pad
    return max(0, int(x1)), max(0, int(y1)), min(int(width), int(x2)), min(int(height), int(y2))
