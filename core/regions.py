"""Fitting SEGS to the frames they are applied to: rescale, clamp, normalise masks."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import torch

from .geometry import Rect, clamp_rect, rect_size, scale_rect
from .images import resize_frames
from .masks import resize_masks
from .segs import as_image_tensor, as_mask_tensor, as_rect, replace_seg, seg_label, unpack_segs

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FittedSeg:
    """One SEG placed on the frames.

    ``seg`` is the SEG in frame coordinates: the input object itself when nothing had
    to change, else a new SEG with rescaled or clamped region and matching mask.
    ``mask`` is its mask as float32 ``[M, h, w]`` with ``(w, h)`` the region's size.
    ``mask`` is None when the SEG has no area inside the frame (it cannot be used).
    """

    index: int
    seg: Any
    rect: Rect
    bbox: Rect
    mask: torch.Tensor | None

    @property
    def usable(self) -> bool:
        return self.mask is not None

    @property
    def name(self) -> str:
        return seg_label(self.seg, self.index)


def fit_segs(segs: Any, frame_height: int, frame_width: int, what: str = "segs") -> list[FittedSeg]:
    """Place every SEG of a SEGS on frames of ``frame_width`` x ``frame_height``.

    SEGS made for another size are rescaled, x by the width ratio and y by the height
    ratio (Impact mixes the two up). Regions are clamped to the frame and their masks
    cut to match; a SEG left with no area is returned unusable, with a warning.
    """
    (seg_height, seg_width), items = unpack_segs(segs, what)
    rescale = (seg_height, seg_width) != (frame_height, frame_width) and seg_height > 0 and seg_width > 0
    scale_x = frame_width / seg_width if rescale else 1.0
    scale_y = frame_height / seg_height if rescale else 1.0
    return [
        _fit_seg(seg, index, scale_x, scale_y, frame_width, frame_height, f"{what}[{index}]")
        for index, seg in enumerate(items)
    ]


def _fit_seg(seg: Any, index: int, scale_x: float, scale_y: float, frame_w: int, frame_h: int, what: str) -> FittedSeg:
    region = as_rect(seg.crop_region, f"{what}.crop_region")
    bbox = as_rect(seg.bbox, f"{what}.bbox")
    mask = as_mask_tensor(seg.cropped_mask, f"{what}.cropped_mask")
    image = seg.cropped_image
    changed = False

    if (scale_x, scale_y) != (1.0, 1.0):
        region = scale_rect(region, scale_x, scale_y)
        bbox = scale_rect(bbox, scale_x, scale_y)
        changed = True

    width, height = rect_size(region)
    if width > 0 and height > 0 and mask.shape[-2:] != (height, width):
        if not changed:
            log.warning(
                "%s: cropped_mask is %dx%d but crop_region is %dx%d; resizing the mask to the region",
                seg_label(seg, index), mask.shape[-1], mask.shape[-2], width, height,
            )
        mask = resize_masks(mask, height, width)
        if image is not None:
            image = resize_frames(as_image_tensor(image, f"{what}.cropped_image"), height, width)
        changed = True

    clamped = clamp_rect(region, frame_w, frame_h)
    clamped_w, clamped_h = rect_size(clamped)
    if clamped_w == 0 or clamped_h == 0:
        log.warning(
            "%s: crop_region %s has no area inside the %dx%d frames; it is passed through unchanged",
            seg_label(seg, index), list(region), frame_w, frame_h,
        )
        return FittedSeg(index, seg, clamped, bbox, None)

    if clamped != region:
        dx, dy = clamped[0] - region[0], clamped[1] - region[1]
        mask = mask[:, dy : dy + clamped_h, dx : dx + clamped_w]
        if image is not None:
            image = as_image_tensor(image, f"{what}.cropped_image")[:, dy : dy + clamped_h, dx : dx + clamped_w]
        bbox = clamp_rect(bbox, frame_w, frame_h)
        changed = True

    if changed:
        seg = replace_seg(seg, cropped_image=image, cropped_mask=mask, crop_region=clamped, bbox=bbox)
    return FittedSeg(index, seg, clamped, bbox, mask)

