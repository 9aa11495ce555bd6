"""The CONDITIONING lists of a detail pass, and ConditioningSetMask's masks cut to a crop.

CONDITIONING is a list of ``[tensor, dict]``; a dict may hold a ``"mask"`` (from
ConditioningSetMask) drawn over the whole frame, ``[M, Hm, Wm]`` or ``[Hm, Wm]``, at any
resolution. How every entry laid over the frame is cut per SEG and per context window:
:mod:`.frame_conditioning`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

import torch

from .crop_windows import CropWindows
from .masks import resize_masks


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

