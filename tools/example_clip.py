"""The demo clips: a bright textured disc crossing a dark background (the example workflows), and
two such subjects crossing each other (the tracker's picture).

The example workflows find the subject with ComfyUI's own nodes (ImageToMask on the green
channel, then ThresholdMask at 0.5), so the clip is made for that: every background pixel
has green below 0.4 and every subject pixel green above 0.6. Plain numpy and Pillow (the video
file: PyAV, which ComfyUI itself requires).

Run ``python tools/example_clip.py OUT.webp`` to write it as an animated lossless WebP, which
ComfyUI's LoadImage node reads as a batch of frames, or ``OUT.mp4`` to write it as a video with
a sound track (H.264 and AAC), which ComfyUI's Load Video node reads.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
from PIL import Image

CLIP_FILE_NAME = "animatediff_detailer_example.webp"  # the name the example workflows load
VIDEO_FILE_NAME = "animatediff_detailer_example.mp4"  # the name the VIDEO example loads (Load Video)
MASK_CHANNEL = "green"
MASK_THRESHOLD = 0.5


def _background(width: int, height: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The dark textured background ``[height, width, 3]`` float, and the pixel grids ``ys, xs``."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    u, v = xs / (width - 1), ys / (height - 1)
    background = np.stack([
        0.20 + 0.15 * u + 0.05 * np.sin(2 * math.pi * 5 * v),
        0.10 + 0.10 * v + 0.05 * np.sin(2 * math.pi * 4 * (u + v)),
        0.30 - 0.10 * u + 0.05 * np.cos(2 * math.pi * 6 * u),
    ], axis=-1)
    return background, ys, xs


def _disc(ys: np.ndarray, xs: np.ndarray, cx: float, cy: float, radius: float,
          tint: tuple[float, float, float] = (0.85, 0.70, 0.35)) -> tuple[np.ndarray, np.ndarray]:
    """A bright ringed disc: its pixels ``[height, width]`` bool and its colours ``[height, width, 3]``
    (green always above 0.6, so the example's threshold finds it)."""
    inside = (xs + 0.5 - cx) ** 2 + (ys + 0.5 - cy) ** 2 <= radius * radius
    rings = 0.5 + 0.5 * np.sin(np.hypot(xs - cx, ys - cy) * 0.8)
    red, green, blue = tint
    colours = np.stack([red - 0.25 * rings, green + 0.25 * rings, blue + 0.30 * rings], axis=-1)
    return inside, colours


def _to_uint8(frame: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(frame * 255.0), 0, 255).astype(np.uint8)


def make_example_clip(frames: int = 8, width: int = 160, height: int = 128) -> np.ndarray:
    """Frames as uint8 ``[frames, height, width, 3]``: the disc moves left to right with a small bob."""
    if frames < 1 or width < 32 or height < 32:
        raise ValueError(f"need frames >= 1 and a size of at least 32x32, got {frames} frames of {width}x{height}")
    background, ys, xs = _background(width, height)
    radius = 0.14 * min(width, height)
    out = np.empty((frames, height, width, 3), dtype=np.uint8)
    for i in range(frames):
        t = i / (frames - 1) if frames > 1 else 0.0
        inside, subject = _disc(ys, xs, (0.22 + 0.56 * t) * width, (0.5 + 0.06 * math.sin(2 * math.pi * t)) * height,
                                radius)
        out[i] = _to_uint8(np.where(inside[..., None], subject, background))
    return out


def make_crossing_clip(frames: int = 12, width: int = 256, height: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """Two subjects crossing: frames uint8 ``[frames, height, width, 3]`` and each subject's pixels
    bool ``[2, frames, height, width]``. Subject 0 (smaller, yellow) goes left to right in front;
    subject 1 (larger, pale green) right to left behind it; their discs overlap mid-clip, so a mask
    of the clip merges them into one region there."""
    if frames < 2 or width < 64 or height < 32:
        raise ValueError(f"need frames >= 2 and a size of at least 64x32, got {frames} frames of {width}x{height}")
    background, ys, xs = _background(width, height)
    subjects = ((0.15, 0.85, 0.50, 0.13, (0.90, 0.72, 0.20)), (0.85, 0.15, 0.56, 0.17, (0.55, 0.66, 0.55)))
    out = np.empty((frames, height, width, 3), dtype=np.uint8)
    masks = np.zeros((2, frames, height, width), dtype=bool)
    for i in range(frames):
        t = i / (frames - 1)
        frame = background
        for index in (1, 0):  # the one behind first
            x_start, x_end, y, size, tint = subjects[index]
            inside, colours = _disc(ys, xs, (x_start + (x_end - x_start) * t) * width, y * height,
                                    size * min(width, height) * 1.4, tint)
            frame = np.where(inside[..., None], colours, frame)
            masks[index, i] = inside
        out[i] = _to_uint8(frame)
    return out, masks


def write_animated_webp(frames: np.ndarray, path: str | Path, fps: float = 8.0) -> Path:
    """Write uint8 ``[frames, height, width, 3]`` as a lossless animated WebP (exact pixels)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    images = [Image.fromarray(frame, "RGB") for frame in frames]
    images[0].save(path, format="WEBP", save_all=True, append_images=images[1:], lossless=True, quality=100,
                   method=4, duration=max(1, round(1000 / fps)), loop=0)
    return path


def write_video(frames: np.ndarray, path: str | Path, fps: int = 8, tone_hz: float = 440.0,
                sample_rate: int = 44100) -> Path:
    """Write uint8 ``[frames, height, width, 3]`` (even height and width) as an MP4 file: H.264 video at
    ``fps`` and a stereo AAC sound track of a ``tone_hz`` sine as long as the clip (lossy, as any MP4)."""
    import av  # PyAV: imported here so that the rest of this module needs only numpy and Pillow

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    samples = round(sample_rate * len(frames) / fps)
    tone = 0.2 * np.sin(2 * math.pi * tone_hz * np.arange(samples) / sample_rate).astype(np.float32)
    with av.open(str(path), mode="w", format="mp4") as container:
        video = container.add_stream("h264", rate=fps)
        video.width, video.height, video.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        audio = container.add_stream("aac", rate=sample_rate, layout="stereo")
        for frame in frames:
            container.mux(video.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")))
        container.mux(video.encode(None))
        sound = av.AudioFrame.from_ndarray(np.stack([tone, tone]), format="fltp", layout="stereo")
        sound.sample_rate, sound.pts = sample_rate, 0
        container.mux(audio.encode(sound))
        container.mux(audio.encode(None))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", nargs="?", default=CLIP_FILE_NAME,
                        help="where to write the animated WebP (or, ending in .mp4, the video with sound)")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--width", type=int, default=160)
    parser.add_argument("--height", type=int, default=128)
    args = parser.parse_args(argv)
    frames = make_example_clip(args.frames, args.width, args.height)
    if Path(args.output).suffix.lower() == ".mp4":
        path = write_video(frames, args.output)
    else:
        path = write_animated_webp(frames, args.output)
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
