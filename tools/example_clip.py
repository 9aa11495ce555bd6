"""The demo clip of the example workflows: a bright textured disc crossing a dark background.

The example workflows find the subject with ComfyUI's own nodes (ImageToMask on the green
channel, then ThresholdMask at 0.5), so the clip is made for that: every background pixel
has green below 0.4 and every subject pixel green above 0.6. Plain numpy and Pillow.

Run ``python tools/example_clip.py OUT.webp`` to write it as an animated lossless WebP, which
ComfyUI's LoadImage node reads as a batch of frames.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
from PIL import Image

CLIP_FILE_NAME = "animatediff_detailer_example.webp"  # the name the example workflows load
MASK_CHANNEL = "green"
MASK_THRESHOLD = 0.5


def make_example_clip(frames: int = 8, width: int = 160, height: int = 128) -> np.ndarray:
    """Frames as uint8 ``[frames, height, width, 3]``: the disc moves left to right with a small bob."""
    if frames < 1 or width < 32 or height < 32:
        raise ValueError(f"need frames >= 1 and a size of at least 32x32, got {frames} frames of {width}x{height}")
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    u, v = xs / (width - 1), ys / (height - 1)
    background = np.stack([
        0.20 + 0.15 * u + 0.05 * np.sin(2 * math.pi * 5 * v),
        0.10 + 0.10 * v + 0.05 * np.sin(2 * math.pi * 4 * (u + v)),
        0.30 - 0.10 * u + 0.05 * np.cos(2 * math.pi * 6 * u),
    ], axis=-1)
    radius = 0.14 * min(width, height)
    out = np.empty((frames, height, width, 3), dtype=np.uint8)
    for i in range(frames):
        t = i / (frames - 1) if frames > 1 else 0.0
        cx = (0.22 + 0.56 * t) * width
        cy = (0.5 + 0.06 * math.sin(2 * math.pi * t)) * height
        inside = (xs + 0.5 - cx) ** 2 + (ys + 0.5 - cy) ** 2 <= radius * radius
        rings = 0.5 + 0.5 * np.sin(np.hypot(xs - cx, ys - cy) * 0.8)
        subject = np.stack([0.85 - 0.25 * rings, 0.70 + 0.25 * rings, 0.35 + 0.30 * rings], axis=-1)
        frame = np.where(inside[..., None], subject, background)
        out[i] = np.clip(np.rint(frame * 255.0), 0, 255).astype(np.uint8)
    return out


def write_animated_webp(frames: np.ndarray, path: str | Path, fps: float = 8.0) -> Path:
    """Write uint8 ``[frames, height, width, 3]`` as a lossless animated WebP (exact pixels)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    images = [Image.fromarray(frame, "RGB") for frame in frames]
    images[0].save(path, format="WEBP", save_all=True, append_images=images[1:], lossless=True, quality=100,
                   method=4, duration=max(1, round(1000 / fps)), loop=0)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", nargs="?", default=CLIP_FILE_NAME, help="where to write the animated WebP")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--width", type=int, default=160)
    parser.add_argument("--height", type=int, default=128)
    args = parser.parse_args(argv)
    path = write_animated_webp(make_example_clip(args.frames, args.width, args.height), args.output)
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
