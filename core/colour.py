"""Colour matching of a refined crop to the frames it is pasted into.

A detailed region often comes back with a colour cast against its frame (VAE round trip, the
model's own drift), which shows as a patch after pasting. Here each frame's refined crop is given
the mean and standard deviation per channel that the original frame has, both measured on the
same pixels: a ring ``ring_width`` pixels wide just outside the mask's edge, where the refined crop
should show the surroundings unchanged, so any difference there is the cast. Inside the mask the
detailer is meant to change the picture: measured there, the match would undo the change it was
asked for.

The statistics are taken in log light: the logarithm of each linear-light channel (perceived
brightness follows the ratio of light, not its difference). There a white-balance or exposure
cast, a gain per channel, is a constant offset on every pixel whatever its colour, so matching the
ring's mean removes it exactly on the subject too, and the spread ratio takes up a contrast
change. In an opponent space (OKLab, Reinhard's lαβ) a gain per channel shifts each hue
differently: the offset measured on a blue-green background then pushes a red subject the wrong
way (compared while writing this, on the engine tier's synthetic clip, a gain cast on a red disc:
mean error 0.030 -> 0.058 in OKLab, 0.030 -> 0.003 here). The correction (mean offset, log of the spread ratio) is smoothed over
frames with a Gaussian, so it does not flicker; frames whose ring is too small to measure take it
from their neighbours.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import torch

from .masks import morph_masks
from .tracking import smooth_path

log = logging.getLogger(__name__)

RING_WIDTH = 4  # pixels outside the mask edge
TEMPORAL_SIGMA = 2.0  # frames
MIN_RING_PIXELS = 16  # a frame whose ring has fewer pixels is not measured
MAX_GAIN = 1.5  # the spread ratio is kept within 1/MAX_GAIN .. MAX_GAIN
SPREAD_PRIOR = 0.05  # log-light units added to both spreads: a flat ring (a plain wall) gives a gain near 1
LIGHT_FLOOR = 1e-3  # linear light added before the logarithm, so black stays finite


def srgb_to_log_light(rgb: torch.Tensor) -> torch.Tensor:
    """IMAGE values ``[..., 3]`` (sRGB, 0..1) to log light ``[..., 3]``: ``ln(linear + floor)``, float32."""
    rgb = rgb.to(torch.float32)
    linear = torch.where(rgb <= 0.04045, rgb / 12.92, ((rgb.clamp(min=0.0) + 0.055) / 1.055) ** 2.4)
    return torch.log(linear + LIGHT_FLOOR)


def log_light_to_srgb(values: torch.Tensor) -> torch.Tensor:
    """Log light ``[..., 3]`` back to sRGB ``[..., 3]``, clamped to 0..1."""
    linear = (torch.exp(values) - LIGHT_FLOOR).clamp(0.0, 1.0)
    return torch.where(linear <= 0.0031308, linear * 12.92, 1.055 * linear.pow(1.0 / 2.4) - 0.055).clamp_(0.0, 1.0)


@dataclass(frozen=True)
class ColourMatch:
    """How the refined crops are matched: ``strength`` 0..1 (0 leaves them as they are, 1 matches
    fully), ``ring_width`` pixels outside the mask edge, ``smoothing`` the Gaussian sigma over frames."""

    strength: float = 1.0
    ring_width: int = RING_WIDTH
    smoothing: float = TEMPORAL_SIGMA

    def __post_init__(self) -> None:
        if not 0.0 <= self.strength <= 1.0:
            raise ValueError(f"color_match_strength must be within 0..1, got {self.strength}")
        if self.ring_width < 1:
            raise ValueError(f"the colour match ring must be at least 1 pixel wide, got {self.ring_width}")


def border_ring(masks: torch.Tensor, width: int) -> torch.Tensor:
    """bool ``[F, h, w]``: the pixels outside masks ``[F, h, w]`` (read as mask > 0.5) within
    ``width`` pixels of their edge (a square neighbourhood), inside the crop."""
    solid = masks > 0.5
    return (morph_masks(solid.to(torch.float32), 2 * width + 1) > 0.5) & ~solid


def frame_statistics(values: torch.Tensor, frames: torch.Tensor,
                     frame_count: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per frame and channel, the mean and standard deviation of pixels ``values`` ``[N, C]`` that
    belong to ``frames`` (int64 ``[N]``): ``(mean [F, C], std [F, C], pixel count [F])``."""
    count = torch.zeros(frame_count, dtype=values.dtype).index_add_(0, frames, torch.ones_like(values[:, 0]))
    total = torch.zeros(frame_count, values.shape[1], dtype=values.dtype).index_add_(0, frames, values)
    mean = total / count.clamp(min=1.0).unsqueeze(1)
    squares = torch.zeros_like(total).index_add_(0, frames, (values - mean[frames]) ** 2)
    return mean, (squares / count.clamp(min=1.0).unsqueeze(1)).sqrt(), count


def smooth_measured(values: torch.Tensor, measured: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian smoothing over frames of ``values`` ``[F, D]`` using only the ``measured`` frames
    (bool ``[F]``); a frame with no measured frame near it takes the mean of all measured ones."""
    weight = measured.to(values.dtype).unsqueeze(1)
    total = smooth_path(values * weight, sigma)
    norm = smooth_path(weight, sigma)
    overall = (values * weight).sum(dim=0) / weight.sum().clamp(min=1.0)
    return torch.where(norm > 1e-6, total / norm.clamp(min=1e-6), overall)


def match_colours(refined: torch.Tensor, original: torch.Tensor, masks: torch.Tensor,
                  options: ColourMatch) -> torch.Tensor:
    """``refined`` crops ``[F, h, w, 3]`` with the colour statistics of ``original`` ``[F, h, w, 3]``
    (the frames cut at the same place) on the border ring of ``masks`` ``[F, h, w]``; float32.

    Per frame, in log light: ``x' = mean_r + gain * (x - mean_r) + offset`` with ``offset = mean_o - mean_r``
    and ``gain = (std_o + prior) / (std_r + prior)`` (within 1/1.5..1.5), offset and log gain smoothed
    over time, then ``x + strength * (x' - x)``. Only the pixels under the masks (the ones a
    paste shows) are changed, and only they and the ring are converted. Returns ``refined`` itself
    when strength is 0 or no frame's ring can be measured.
    """
    if options.strength <= 0.0:
        return refined
    frame_count = refined.shape[0]
    ring = border_ring(masks, options.ring_width)
    ring_frames = ring.nonzero()[:, 0]
    refined_mean, refined_std, count = frame_statistics(srgb_to_log_light(refined[ring]), ring_frames, frame_count)
    original_mean, original_std, _ = frame_statistics(srgb_to_log_light(original[ring]), ring_frames, frame_count)
    measured = count >= MIN_RING_PIXELS
    if not bool(measured.any()):
        log.info("colour match: no frame has a mask edge of %d pixels or more to measure; left as it is",
                 MIN_RING_PIXELS)
        return refined
    log_gain = torch.log((original_std + SPREAD_PRIOR) / (refined_std + SPREAD_PRIOR))
    log_gain = log_gain.clamp(-math.log(MAX_GAIN), math.log(MAX_GAIN))
    correction = smooth_measured(torch.cat([log_gain, original_mean - refined_mean, refined_mean], dim=1), measured,
                                 options.smoothing)
    gain, offset, centre = correction[:, :3].exp(), correction[:, 3:6], correction[:, 6:]
    centre = torch.where(measured.unsqueeze(1), refined_mean, centre)
    shown = masks > 0
    frames = shown.nonzero()[:, 0]
    light = srgb_to_log_light(refined[shown])
    matched = centre[frames] + gain[frames] * (light - centre[frames]) + offset[frames]
    out = refined.to(torch.float32, copy=True)
    out[shown] = log_light_to_srgb(light + options.strength * (matched - light))
    return out
