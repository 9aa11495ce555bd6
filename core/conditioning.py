"""Conditionings cut to what one sampling call sees: a crop of the frame, a window of the clip.

CONDITIONING is a list of ``[tensor, dict]``; a dict may hold a ``"mask"`` (from
ConditioningSetMask) drawn over the whole frame, ``[M, Hm, Wm]`` or ``[Hm, Wm]``, at any
resolution, and a ``"control"`` (a ControlNet chain) whose hints may be per frame. When a
region of the frame is sampled on its own, each mask is cut to the same region; when a
window of the clip is sampled on its own, per-frame masks and hints are cut to its frames.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

import torch

from .crop_windows import CropWindows
from .masks import resize_masks

# Cuts a ControlNet chain's per-frame hints to a range of frames: (control, frames, frame_count) -> control.
SliceControl = Callable[[Any, range, int], Any]


def map_conditioning(conditioning: Any, change: Callable[[dict], dict | None]) -> Any:
    """A copy of a CONDITIONING where ``change(options)`` gives each entry's new options dict
    (or None to share the entry's own); the embeddings are shared. None stays None."""
    if conditioning is None:
        return None
    mapped = []
    for entry in conditioning:
        embedding, options = entry[0], entry[1]
        changed = change(options) if isinstance(options, dict) else None
        mapped.append([embedding, options if changed is None else changed, *entry[2:]])
    return mapped


def crop_condition_mask(mask: torch.Tensor, crop_windows: CropWindows, frame_width: int, frame_height: int) -> torch.Tensor:
    """Cut a frame-sized conditioning mask ``[M, Hm, Wm]`` or ``[Hm, Wm]`` to the crop windows.

    The mask may have another resolution than the frame: it is first resampled to the
    frame's size (so x follows the width ratio and y the height ratio; Impact measures
    against the crop and gets the scale wrong), then cut. A fixed window keeps the mask's
    frame count; moving windows give one mask per frame.
    """
    squeeze = mask.ndim == 2
    masks = mask.unsqueeze(0) if squeeze else mask
    if masks.shape[-2:] != (frame_height, frame_width):
        masks = resize_masks(masks.to(torch.float32), frame_height, frame_width)
    frame_count = crop_windows.origins.shape[0]
    if not crop_windows.is_fixed and masks.shape[0] not in (1, frame_count):
        raise ValueError(
            f"a conditioning mask has {masks.shape[0]} frames but the clip has {frame_count}: "
            f"give one mask or one per frame (ConditioningSetMask)"
        )
    cropped = crop_windows.cut(masks)
    return cropped[0] if squeeze and crop_windows.is_fixed else cropped


def crop_conditioning(conditioning: Any, crop_windows: CropWindows, frame_width: int, frame_height: int) -> Any:
    """A copy of a CONDITIONING whose masks are cut to the crop windows; entries without a mask are shared."""

    def cut(options: dict) -> dict | None:
        if not isinstance(options.get("mask"), torch.Tensor):
            return None
        return {**options, "mask": crop_condition_mask(options["mask"], crop_windows, frame_width, frame_height)}

    return map_conditioning(conditioning, cut)


def conditioning_for_frames(conditioning: Any, frames: range, frame_count: int, slice_control: SliceControl | None = None,
                            latent_frames: range | None = None) -> Any:
    """A CONDITIONING for a window of the clip: per-frame masks (``[frame_count, h, w]``) cut to
    ``frames``; ControlNet chains cut by ``slice_control``; VACE control latents (``vace_frames``,
    ``vace_mask``: ``[1, C, T, h, w]``) cut to ``latent_frames``; everything else shared."""

    def cut(options: dict) -> dict:
        options = dict(options)
        mask = options.get("mask")
        if isinstance(mask, torch.Tensor) and mask.ndim == 3 and mask.shape[0] == frame_count:
            options["mask"] = mask[frames.start : frames.stop]
        if options.get("control") is not None and slice_control is not None:
            options["control"] = slice_control(options["control"], frames, frame_count)
        if latent_frames is not None:
            for key in ("vace_frames", "vace_mask"):
                if options.get(key):
                    options[key] = [value[:, :, latent_frames.start : latent_frames.stop] for value in options[key]]
        return options

    return map_conditioning(conditioning, cut)


@dataclass(frozen=True)
class Conditionings:
    """The CONDITIONING lists a pass samples with (the refiner's may be None)."""

    positive: Any
    negative: Any
    refiner_positive: Any = None
    refiner_negative: Any = None

    def mapped(self, change: Callable[[Any], Any]) -> Conditionings:
        """The conditionings with ``change`` applied to each CONDITIONING list (None ones too)."""
        return Conditionings(*(change(getattr(self, field.name)) for field in fields(self)))

    def cropped(self, crop_windows: CropWindows, frame_width: int, frame_height: int) -> Conditionings:
        """The same conditionings with every mask cut to the crop windows of the full frame."""
        return self.mapped(lambda c: crop_conditioning(c, crop_windows, frame_width, frame_height))

    def for_frames(self, frames: range, frame_count: int, slice_control: SliceControl | None = None,
                   latent_frames: range | None = None) -> Conditionings:
        """The same conditionings for a window of the clip (see :func:`conditioning_for_frames`)."""
        return self.mapped(lambda c: conditioning_for_frames(c, frames, frame_count, slice_control, latent_frames))
