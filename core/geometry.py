"""Rectangles and sizes: rescaling regions, clamping to the frame, sampling sizes.

Rectangles are ``(x1, y1, x2, y2)`` in integer pixels, end-exclusive. Sizes are
``(width, height)`` in pixels unless a name says otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

Rect = tuple[int, int, int, int]

VAE_STRIDE = 8
MAX_FRAME_PADDING = 64  # a video VAE's frame rule is a*n+b with a (its time compression) at most this


@dataclass(frozen=True)
class LatentLayout:
    """How a VAE (and the model sampling its latents) maps pixels to latents.

    ``spatial`` pixels along x and y make one latent cell; sampling sizes are multiples of
    ``size_multiple`` (``spatial`` times the model's patch size). An image VAE encodes each
    frame on its own: latents ``[F, C, h, w]``. A video VAE (``latent_frames`` set) encodes a
    clip as one latent ``[1, C, T, h, w]`` whose ``T = latent_frames(F)``; ``pixel_frames(T)``
    frames decode from it (ComfyUI's downscale and upscale formulas, e.g. Wan's
    ``(F + 3) // 4`` and ``4 T - 3``), so only some frame counts survive a round trip.
    ``channels`` is C.
    """

    spatial: int = VAE_STRIDE
    size_multiple: int = VAE_STRIDE
    latent_frames: Callable[[int], int] | None = None
    pixel_frames: Callable[[int], int] | None = None
    channels: int = 4

    @property
    def is_video(self) -> bool:
        return self.latent_frames is not None and self.pixel_frames is not None

    def encoded_frame_count(self, frames: int) -> int:
        """The smallest frame count >= ``frames`` that a video VAE encodes and decodes back whole
        (``frames`` itself for an image VAE): the count a clip is padded to before encoding."""
        if not self.is_video:
            return frames
        for count in range(frames, frames + MAX_FRAME_PADDING + 1):
            if self.pixel_frames(self.latent_frames(count)) == count:
                return count
        raise ValueError(
            f"basic_pipe: the VAE decodes no frame count between {frames} and {frames + MAX_FRAME_PADDING} whole "
            f"(its frame formulas are not of the form a*n+b): this VAE type is not supported by the detailer, "
            f"use the VAE that belongs to the model"
        )

    @property
    def time_compression(self) -> int:
        """Pixel frames per latent frame after the first (4 for Wan, 8 for LTX-Video; 1 for an image VAE)."""
        return len(self.latent_frame_spans(2)[1]) if self.is_video else 1

    def latent_frame_spans(self, latent_count: int) -> list[range]:
        """The pixel frames each latent frame holds: ``[pixel_frames(k), pixel_frames(k + 1))``
        (for Wan: frame 0 alone, then groups of 4). One frame each for an image VAE."""
        if not self.is_video:
            return [range(k, k + 1) for k in range(latent_count)]
        starts = [0] + [self.pixel_frames(k) for k in range(1, latent_count + 1)]
        return [range(starts[k], starts[k + 1]) for k in range(latent_count)]


def rect_size(rect: Rect) -> tuple[int, int]:
    """Width and height of a rectangle (0 when it is empty or inverted)."""
    x1, y1, x2, y2 = rect
    return max(0, x2 - x1), max(0, y2 - y1)


def scale_rect(rect: Rect, scale_x: float, scale_y: float) -> Rect:
    """Scale a rectangle: x coordinates by ``scale_x`` (width ratio), y by ``scale_y`` (height ratio)."""
    x1, y1, x2, y2 = rect
    return round(x1 * scale_x), round(y1 * scale_y), round(x2 * scale_x), round(y2 * scale_y)


def clamp_rect(rect: Rect, width: int, height: int) -> Rect:
    """Clip a rectangle to a ``width`` x ``height`` frame; the result may be empty."""
    x1, y1, x2, y2 = rect
    x1, x2 = min(max(x1, 0), width), min(max(x2, 0), width)
    y1, y2 = min(max(y1, 0), height), min(max(y2, 0), height)
    return x1, y1, max(x1, x2), max(y1, y2)


def align_down(value: float, stride: int = VAE_STRIDE) -> int:
    return int(value // stride) * stride


def align_nearest(value: float, stride: int = VAE_STRIDE) -> int:
    """Round to the nearest positive multiple of ``stride``."""
    return max(stride, int(math.floor(value / stride + 0.5)) * stride)


@dataclass(frozen=True)
class SamplingSize:
    """Where a crop is sampled: ``width`` x ``height`` pixels, multiples of the VAE stride.

    ``scale`` is the upscale factor asked for by guide_size after the max_size cap
    (the aligned size differs from ``crop * scale`` by less than one stride).
    """

    width: int
    height: int
    scale: float


def sampling_size(
    crop_size: tuple[int, int],
    bbox_size: tuple[int, int],
    guide_size: float,
    guide_for_bbox: bool,
    max_size: float,
    stride: int = VAE_STRIDE,
) -> SamplingSize:
    """Size at which a crop is sampled.

    The crop is scaled so that the shorter side of the bbox (``guide_for_bbox``) or of
    the crop reaches ``guide_size``; a crop that would not grow is sampled at its own
    size (as Impact's "force inpaint"). ``max_size`` caps the longer side in every
    case, also when the crop itself is already larger (Impact does not cap those).
    Both sides are then aligned to ``stride`` without exceeding the cap.
    """
    crop_w, crop_h = crop_size
    if crop_w <= 0 or crop_h <= 0:
        raise ValueError(f"cannot sample an empty crop of {crop_w}x{crop_h} pixels")
    if guide_size <= 0 or max_size <= 0:
        raise ValueError(f"guide_size and max_size must be positive, got {guide_size} and {max_size}")
    reference = min(bbox_size) if guide_for_bbox and min(bbox_size) > 0 else min(crop_w, crop_h)
    scale = max(1.0, guide_size / reference)
    if max(crop_w, crop_h) * scale > max_size:
        scale = max_size / max(crop_w, crop_h)
    cap = max(stride, align_down(max_size, stride))
    width = min(align_nearest(crop_w * scale, stride), cap)
    height = min(align_nearest(crop_h * scale, stride), cap)
    return SamplingSize(width, height, scale)


def _place(start: float, size: float, limit: int) -> tuple[int, int]:
    """An interval of ``size`` starting near ``start``, shifted (not shrunk) to fit in ``0..limit``."""
    size = min(int(round(size)), limit)
    start = int(math.floor(start))
    start = min(max(start, 0), limit - size)
    return start, start + size


def expand_region(bbox: Rect, crop_factor: float, frame_width: int, frame_height: int) -> Rect:
    """A crop region ``crop_factor`` times the bbox, centred on it, moved to stay inside the frame.

    As Impact's crop regions: the region keeps its size when it touches a frame edge (it
    shifts inwards) and is only cut where it is larger than the frame itself.
    """
    x1, y1, x2, y2 = bbox
    width, height = (x2 - x1) * crop_factor, (y2 - y1) * crop_factor
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    rx1, rx2 = _place(cx - width / 2, width, frame_width)
    ry1, ry2 = _place(cy - height / 2, height, frame_height)
    return rx1, ry1, rx2, ry2
