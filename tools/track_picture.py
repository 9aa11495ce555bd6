"""A picture of subject tracks: each track's per-frame box and label drawn on a strip of frames.

The clip is the synthetic crossing of two subjects (``example_clip.make_crossing_clip``); its mask
is found as the example workflows find theirs (green above 0.5), so the two subjects merge into one
region while they cross. The pack's tracker (``core/track_segs.py``) links the regions frame by
frame; boxes it detected are drawn solid, boxes it filled (the merged frames) dashed. Plain numpy,
torch and Pillow.

    python tools/track_picture.py [OUT.png] [--frames 12] [--columns 6]

The README's ``docs/tracks.png`` is made by it with the defaults.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from before_after import BACKGROUND, GAP, TEXT, pick_frames
from example_clip import MASK_THRESHOLD, make_crossing_clip
from pack_paths import REPO_ROOT, load_pack

DEFAULT_OUT = REPO_ROOT / "docs" / "tracks.png"
TRACK_COLOURS = ((255, 120, 40), (60, 200, 255), (230, 80, 220), (120, 230, 90))
DASH = 5


def crossing_tracks(frames: int, width: int, height: int):
    """The crossing clip uint8 ``[F, H, W, 3]`` and the tracks the pack finds in its green-channel mask."""
    load_pack()
    from animatediff_detailer.core.track_segs import TrackOptions, link_tracks, mask_detections, select_tracks

    clip, _ = make_crossing_clip(frames, width, height)
    masks = torch.from_numpy((clip[..., 1] / 255.0 > MASK_THRESHOLD).astype(np.float32))
    options = TrackOptions()
    tracks = select_tracks(link_tracks(mask_detections(masks, 0.5, 0, 10), options.max_gap), options)
    return clip, tracks


def _dashed_rectangle(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], colour, width: int) -> None:
    x1, y1, x2, y2 = box
    for a, b in (((x1, y1), (x2, y1)), ((x2, y1), (x2, y2)), ((x2, y2), (x1, y2)), ((x1, y2), (x1, y1))):
        length = max(abs(b[0] - a[0]), abs(b[1] - a[1]))
        for start in range(0, length, 2 * DASH):
            stop = min(length, start + DASH)
            draw.line([(a[0] + (b[0] - a[0]) * start // length, a[1] + (b[1] - a[1]) * start // length),
                       (a[0] + (b[0] - a[0]) * stop // length, a[1] + (b[1] - a[1]) * stop // length)],
                      fill=colour, width=width)


def track_strip(clip: np.ndarray, tracks, columns: int = 6) -> Image.Image:
    """``columns`` frames of ``clip`` side by side, each with every track's box and label on it."""
    frame_count, height, width = clip.shape[:3]
    tile_w, tile_h = width, height
    indices = pick_frames(frame_count, columns)
    strip = Image.new("RGB", (len(indices) * (tile_w + GAP) - GAP, tile_h + 36), BACKGROUND)
    draw = ImageDraw.Draw(strip)
    for column, index in enumerate(indices):
        left = column * (tile_w + GAP)
        strip.paste(Image.fromarray(clip[index]), (left, 0))
        for number, track in enumerate(tracks):
            if not bool(track.present[index]):
                continue
            colour = TRACK_COLOURS[number % len(TRACK_COLOURS)]
            x1, y1, x2, y2 = (float(v) for v in track.boxes[index])
            box = (left + round(x1), round(y1), left + round(x2) - 1, round(y2) - 1)
            if track.detections[index] is not None:
                draw.rectangle(box, outline=colour, width=2)
            else:
                _dashed_rectangle(draw, box, colour, 2)
            draw.text((box[0] + 3, box[1] - 12 if box[1] >= 12 else box[3] + 2), track.label, fill=colour)
        draw.text((left + 2, tile_h + 4), f"frame {index}", fill=TEXT)
    draw.text((2, tile_h + 20), "solid: detected   dashed: filled (the two subjects' masks merged into one region)",
              fill=TEXT)
    return strip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", nargs="?", default=str(DEFAULT_OUT), help="where to write the PNG")
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--columns", type=int, default=6)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--height", type=int, default=128)
    args = parser.parse_args(argv)
    clip, tracks = crossing_tracks(args.frames, args.width, args.height)
    path = Path(args.output)
    path.parent.mkdir(parents=True, exist_ok=True)
    track_strip(clip, tracks, args.columns).save(path, optimize=True)
    print(path, "tracks:", ", ".join(f"{t.label} frames {t.first_frame}-{t.first_frame + t.length - 1}" for t in tracks))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
