"""Conditioning masks cut to a crop.

CONDITIONING is a list of ``[tensor, dict]``; a dict may hold a ``"mask"`` (from
ConditioningSetMask) drawn over the whole frame, ``[M, Hm, Wm]`` or ``[Hm, Wm]``, at
any resolution. When a region of the frame is sampled on its own, each such mask must
be cut to the same region so that it covers the same content inside the crop.
"""

from __future__ import annotations

from typing import Any

import torch

from .masks import resize_masks
from .windows import CropWindows


def crop_condition_mask(mask: torch.Tensor, windows: CropWindows, frame_width: int, frame_height: int) -> torch.Tensor:
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
    frame_count = windows.origins.shape[0]
    if not windows.is_fixed and masks.shape[0] not in (1, frame_count):
        raise ValueError(
            f"a conditioning mask has {masks.shape[0]} frames but the clip has {frame_count}: "
            f"give one mask or one per frame (ConditioningSetMask)"
        )
    cropped = windows.cut(masks)
    return cropped[0] if squeeze and windows.is_fixed else cropped


def crop_conditioning(conditioning: Any, windows: CropWindows, frame_width: int, frame_height: int) -> Any:
    """A copy of a CONDITIONING whose masks are cut to the crop windows; entries without a mask are shared."""
    if conditioning is None:
        return None
    cropped = []
    for entry in conditioning:
        embedding, options = entry[0], entry[1]
        if isinstance(options, dict) and isinstance(options.get("mask"), torch.Tensor):
            options = dict(options)
            options["mask"] = crop_condition_mask(options["mask"], windows, frame_width, frame_height)
        cropped.append([embedding, options, *entry[2:]])
    return cropped
