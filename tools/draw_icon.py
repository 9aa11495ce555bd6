"""Draw the pack's icon for the Comfy Registry (``docs/icon.png``; ``[tool.comfy] Icon`` in pyproject.toml
points at it): a strip of video frames, the same face-sized region marked sharp in each. Pillow only.

    python tools/draw_icon.py [OUT.png]
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from pack_paths import REPO_ROOT

log = logging.getLogger("draw_icon")

DEFAULT_OUT = REPO_ROOT / "docs" / "icon.png"
SIZE = 256
BACKGROUND = (24, 26, 33)
FILM = (58, 62, 74)
HOLE = (24, 26, 33)
SCENE = ((52, 84, 120), (64, 104, 140), (78, 122, 156))  # the three frames, lighter to the right
SUBJECT = (236, 196, 120)
MARK = (255, 132, 52)


def draw_icon(size: int = SIZE):
    """The icon as a PIL image (square, RGBA, transparent corners)."""
    from PIL import Image, ImageDraw

    scale = 4  # drawn large, then scaled down: smooth edges
    big = size * scale
    image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle([0, 0, big - 1, big - 1], radius=big // 6, fill=BACKGROUND)
    top, bottom = round(big * 0.22), round(big * 0.78)
    draw.rectangle([0, top, big, bottom], fill=FILM)
    hole = big // 26
    for x in range(hole, big, hole * 3):
        for y in (top + hole, bottom - 2 * hole):
            draw.rounded_rectangle([x, y, x + hole * 1.6, y + hole], radius=hole // 3, fill=HOLE)
    frame_w, gap = round(big * 0.28), round(big * 0.04)
    frame_top, frame_bottom = top + round(hole * 3.2), bottom - round(hole * 3.2)
    left = (big - 3 * frame_w - 2 * gap) // 2
    for index, colour in enumerate(SCENE):
        x0 = left + index * (frame_w + gap)
        draw.rectangle([x0, frame_top, x0 + frame_w, frame_bottom], fill=colour)
        cx = x0 + frame_w * (0.38 + 0.12 * index)
        cy = (frame_top + frame_bottom) / 2 + big * 0.02 * (1 - index)
        radius = frame_w * 0.2
        draw.ellipse([cx - radius, cy - radius, cx + radius, cy + radius], fill=SUBJECT)
        box = radius * 1.55
        draw.rectangle([cx - box, cy - box, cx + box, cy + box], outline=MARK, width=max(2, big // 90))
    return image.resize((size, size), Image.LANCZOS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    draw_icon().save(args.out, optimize=True)
    log.info("wrote %s", args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
