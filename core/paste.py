"""Pasting refined SEGS back onto the frames."""

from __future__ import annotations

import logging
from typing import Any

import torch

from .colour import ColourMatch, match_colours
from .images import check_frames, crop_frames, resize_frames
from .frames import per_frame
from .masks import feather_masks
from .regions import fit_segs
from .segs import as_image_tensor

log = logging.getLogger(__name__)

PASTE_FIX = "paste SEGS made from the same clip"


def inner_feather(masks: torch.Tensor, feather: int) -> torch.Tensor:
    """Soften mask edges inwards only: ``[F, h, w]`` values never exceed the mask's own.

    The blend then fades in over about ``feather`` pixels inside the mask and pixels outside
    the mask are never touched (Impact's blurred mask leaks outside it).
    """
    if feather <= 0:
        return masks
    return torch.minimum(masks, feather_masks(masks, feather))


def paste_segs(
    frames: torch.Tensor, segs: Any, feather: int, alpha: int = 255, ref_frames: torch.Tensor | None = None,
    colour_match: ColourMatch | None = None,
) -> torch.Tensor:
    """Blend each SEG's ``cropped_image`` into ``frames`` (IMAGE ``[F, H, W, 3]``) through its mask.

    Masks are per frame (or one for all frames), feathered inwards by ``feather`` pixels
    and scaled by ``alpha`` / 255. With ``ref_frames`` the pixels come from those frames
    instead of the SEGs' images. With ``colour_match`` each SEG's pixels first take the colour
    statistics of the frames around its mask edge (:func:`.colour.match_colours`). SEGS made for
    another size are rescaled. Pixels outside every mask are returned bit for bit unchanged
    (half-precision frames are widened to float32 exactly). Returns a new float32 tensor.
    """
    frames = check_frames(frames, "image")
    frame_count, height, width = frames.shape[:3]
    out = frames.to(torch.float32, copy=True)
    strength = max(0, min(255, int(alpha))) / 255.0
    for item in fit_segs(segs, height, width):
        if not item.usable:
            continue
        x1, y1, x2, y2 = item.rect
        if ref_frames is not None:
            source = crop_frames(per_frame(ref_frames, frame_count, "ref_image_opt", "image", PASTE_FIX), item.rect)
        else:
            image = as_image_tensor(item.seg.cropped_image, f"{item.name} cropped_image")
            if image is None:
                log.warning("%s has no cropped_image to paste; skipped", item.name)
                continue
            source = per_frame(resize_frames(image[..., :3], y2 - y1, x2 - x1), frame_count, f"{item.name} cropped_image",
                               "image", PASTE_FIX)
        masks = per_frame(inner_feather(item.mask, feather), frame_count, f"{item.name} cropped_mask", "image", PASTE_FIX)
        region = out[:, y1:y2, x1:x2, :]
        if colour_match is not None:
            edges = per_frame(item.mask, frame_count, f"{item.name} cropped_mask", "image", PASTE_FIX)
            source = match_colours(source.to(torch.float32), region, edges, colour_match)
        weight = (masks * strength).unsqueeze(-1).to(out.dtype)
        blended = torch.lerp(region, source.to(out.device, out.dtype), weight.to(out.device))
        out[:, y1:y2, x1:x2, :] = torch.where(weight > 0, blended, region)
    return out
